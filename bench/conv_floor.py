#!/usr/bin/python3
"""conv_floor.py -- the least time any float32 implementation of the spam_assassin text bench
can take on this machine, from the arithmetic of Ludwig's parallel_cnn.

The bench config (../shared/bench/configs/spam_assassin.yaml) trains four convolutions of widths
2, 3, 4, 5 (64 -> 256 channels) over 256 steps, 5 epochs of 4232 training rows (forward and both
backward passes) plus a forward pass over 1814 validation and test rows per epoch. Kiln and the
reference (ref_torch.py) do the same convolutions; only their overheads differ. This script
measures (1) the float32 matrix-multiply rate of this machine (torch.mm, the best rate a
convolution lowered to GEMM could reach) and (2) the rate of the four convolutions themselves
(forward + backward, channels-last, through oneDNN as Kiln runs them), and prints the time the
convolutions alone take at each rate.

  bench/conv_floor.py [--threads 2] [--ref_seconds 57.4]

With --ref_seconds (the reference's wall time from the same machine) it also prints the ratio
the convolutions alone reach, i.e. the best Kiln/ref ratio possible in float32.
Run with ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 to see what a CPU without AMX gets.
"""
import argparse
import time

import torch

WIDTHS = (2, 3, 4, 5)
BATCH, STEPS, EMBED, FILTERS = 64, 256, 64, 256
TRAIN_ROWS, EVAL_ROWS, EPOCHS = 4232, 605 + 1209, 5


def rate(fn, flops, warmup=3, runs=10):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(runs):
        fn()
    return flops * runs / (time.perf_counter() - t) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ref_seconds", type=float, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    n = 2048
    x, y = torch.randn(n, n), torch.randn(n, n)
    gemm = rate(lambda: x @ y, 2 * n**3, runs=20)

    inp = torch.randn(BATCH, EMBED, 1, STEPS + 4).contiguous(memory_format=torch.channels_last)
    inp.requires_grad_()
    ws = [torch.randn(FILTERS, EMBED, 1, k, requires_grad=True) for k in WIDTHS]

    def step():
        s = 0
        for w in ws:
            s = s + torch.nn.functional.conv2d(inp, w).sum()
        s.backward()

    fwd_flops = sum(2 * BATCH * STEPS * EMBED * k * FILTERS for k in WIDTHS)  # per batch of 64
    conv = rate(step, 3 * fwd_flops)

    total = EPOCHS * (3 * fwd_flops * TRAIN_ROWS / BATCH + fwd_flops * EVAL_ROWS / BATCH) / 1e9
    print(f"threads {a.threads}: float32 GEMM {gemm:.0f} GFLOP/s; the four convolutions "
          f"(forward + backward) {conv:.0f} GFLOP/s")
    print(f"convolution work of the bench: {total:.0f} GFLOP -> {total / gemm:.1f} s at the GEMM rate, "
          f"{total / conv:.1f} s at the convolutions' rate")
    if a.ref_seconds > 0:
        print(f"reference {a.ref_seconds:.1f} s: the convolutions alone are {total / gemm / a.ref_seconds:.2f}x "
              f"(GEMM rate) / {total / conv / a.ref_seconds:.2f}x (convolution rate) of it")


if __name__ == "__main__":
    main()

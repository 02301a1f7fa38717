#!/usr/bin/python3
"""Serving benchmark: `kiln serve` against ../shared/bench/ref_serve.py (plain PyTorch + the
standard library's threading HTTP server, no micro-batching) on the same configs and data, one
run of this script on one machine. Both servers are up at once; the load generator
(build/kiln_loadgen: keep-alive connections, a fixed request count, closed loop) drives one at a
time, alternating. Reports, per case and concurrency (1, 8, 64), throughput and p50/p99 latency of
single-row /predict (attrition: tabular JSON rows; spam_assassin: text; fashion_mnist: multipart
image uploads), /batch_predict rows/s (attrition), and Kiln's first answer after start.
Medians over --runs. Writes bench/results/serve.md and the README's <!-- serve:begin/end --> block.

  bench/run_serve_bench.py [--runs 3] [--cases attrition,spam_assassin,fashion_mnist]
                           [--kiln_threads 1] [--ref_threads 1]

Needs the [bench] packages (scripts/setup.sh bench), build/kiln and build/kiln_loadgen.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "bench")
KILN = os.path.join(ROOT, "build", "kiln")
LOADGEN = os.path.join(ROOT, "build", "kiln_loadgen")
CONCURRENCY = [1, 8, 64]
REQUESTS = {1: 1000, 8: 3000, 64: 6000}  # per measurement; halved for the text case, see below
BATCH_ROWS = 20000


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def start(cmd, log):
    """Starts a server whose stderr or stdout announces 'http://127.0.0.1:PORT'; returns (proc, port)."""
    f = open(log, "w")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    for _ in range(6000):  # the reference trains first: up to 10 minutes
        text = open(log).read()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", text)
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            sys.exit(f"server exited: {' '.join(cmd)}\n{text[-2000:]}")
        time.sleep(0.1)
    sys.exit(f"server did not start: {' '.join(cmd)}")


def post(port, path, body, content_type="application/json"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(),
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def loadgen(port, args):
    p = subprocess.run([LOADGEN, "--port", str(port)] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"kiln_loadgen failed ({p.returncode}) on port {port}: {p.stderr}{p.stdout}")
    return json.loads(p.stdout)


def inputs_of(config):
    return [f.get("column", f["name"]) for f in yaml.safe_load(open(config))["input_features"]]


def rows_of(csv_path, columns, split="2"):
    import csv
    rows = [r for r in csv.DictReader(open(csv_path, newline="")) if r.get("split", split) == split]
    return [{c: r[c] for c in columns} for r in rows]


def case_setup(case, tmp, epochs):
    """Config (epochs cut: serving speed does not depend on training quality), CSV, request files."""
    cfg_text = open(os.path.join(SHARED, "configs", case + ".yaml")).read()
    cfg_text = re.sub(r"(?m)^  epochs: \d+", f"  epochs: {epochs}", cfg_text).split("\nhyperopt:")[0] + "\n"
    cfg = os.path.join(tmp, case + ".yaml")
    open(cfg, "w").write(cfg_text)
    data_name = "fashion_mnist_small" if case == "fashion_mnist" else case
    csv_path = os.path.join(SHARED, "data", data_name + ".csv")
    columns = inputs_of(cfg)
    rows = rows_of(csv_path, columns)
    req = {}
    if case == "fashion_mnist":
        lst = os.path.join(tmp, case + "_files.txt")
        base = os.path.dirname(csv_path)
        for r in rows:  # absolute paths: a JSON row's path is read relative to the server's directory
            r["image_path"] = os.path.normpath(os.path.join(base, r["image_path"]))
        open(lst, "w").write("".join(r["image_path"] + "\n" for r in rows))
        req["predict"] = ["--upload_field", "image_path", "--upload_list", lst]
    else:
        bodies = os.path.join(tmp, case + "_rows.jsonl")
        open(bodies, "w").write("".join(json.dumps(r) + "\n" for r in rows))
        req["predict"] = ["--bodies", bodies]
        if case == "attrition":
            data = [[r[c] for c in columns] for r in rows]
            data = (data * (BATCH_ROWS // len(data) + 1))[:BATCH_ROWS]
            batch = os.path.join(tmp, case + "_batch.jsonl")
            open(batch, "w").write(json.dumps({"columns": columns, "data": data}) + "\n")
            req["batch"] = ["--path", "/batch_predict", "--bodies", batch]
    return cfg, csv_path, rows, req


def first_answer(cmd, log, row):
    """Seconds from spawning `kiln serve` to its first 200 answer of /predict (polled every 5 ms)."""
    t0 = time.time()
    f = open(log, "w")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    port = None
    while time.time() - t0 < 60:
        if port is None:
            m = re.search(r"http://127\.0\.0\.1:(\d+)", open(log).read())
            if m:
                port = int(m.group(1))
        if port is not None:
            try:
                post(port, "/predict", json.dumps(row))
                return p, port, time.time() - t0
            except Exception:
                pass
        if p.poll() is not None:
            sys.exit(f"kiln serve exited: {open(log).read()[-2000:]}")
        time.sleep(0.005)
    sys.exit("kiln serve did not answer within 60 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="attrition,spam_assassin,fashion_mnist")
    ap.add_argument("--kiln_threads", type=int, default=1)
    ap.add_argument("--ref_threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    for exe in (KILN, LOADGEN):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: build first (scripts/build.sh)")
    tmp = args.tmp or tempfile.mkdtemp(prefix="kiln-serve-bench-")
    os.makedirs(tmp, exist_ok=True)
    results = []  # (case, measurement, kiln values, ref values)
    for case in args.cases.split(","):
        cfg, csv_path, rows, req = case_setup(case, tmp, args.epochs)
        out = os.path.join(tmp, "kiln_" + case)
        subprocess.run([KILN, "train", "--config", cfg, "--dataset", csv_path, "--output_directory", out,
                        "--threads", "2", "-q", "--overwrite"], check=True, stdout=subprocess.DEVNULL)
        ref, ref_port = start(["/usr/bin/python3", os.path.join(SHARED, "ref_serve.py"), "--config", cfg,
                               "--dataset", csv_path, "--port", "0", "--threads", str(args.ref_threads),
                               "--epochs", str(args.epochs)], os.path.join(tmp, f"ref_{case}.log"))
        scale = 0.5 if case == "spam_assassin" else 1.0
        per = {}
        try:
            for run in range(args.runs):
                kiln_cmd = [KILN, "serve", "--model_path", os.path.join(out, "model"), "--port", "0",
                            "--threads", str(args.kiln_threads)]
                kiln, kiln_port, first = first_answer(kiln_cmd, os.path.join(tmp, f"kiln_{case}.log"), rows[0])
                per.setdefault(("first answer after start", "s"), ([], []))[0].append(first)
                try:
                    for c in CONCURRENCY:
                        n = str(int(REQUESTS[c] * scale))
                        for side, port in (("kiln", kiln_port), ("ref", ref_port)):
                            r = loadgen(port, req["predict"] + ["--concurrency", str(c), "--requests", n])
                            for key, unit in (("p50_ms", "ms"), ("p99_ms", "ms"), ("throughput", "req/s")):
                                per.setdefault((f"/predict c={c} {key.split('_')[0]}", unit), ([], []))[
                                    0 if side == "kiln" else 1].append(r[key])
                            print(f"{case} run {run + 1} c={c} {side}: {r}", file=sys.stderr)
                    if "batch" in req:
                        for side, port in (("kiln", kiln_port), ("ref", ref_port)):
                            r = loadgen(port, req["batch"] + ["--concurrency", "1", "--requests", "5", "--warmup", "1"])
                            per.setdefault(("/batch_predict rows/s", "rows/s"), ([], []))[
                                0 if side == "kiln" else 1].append(BATCH_ROWS * r["throughput"])
                            print(f"{case} run {run + 1} batch {side}: {r}", file=sys.stderr)
                finally:
                    kiln.terminate()
                    kiln.wait()
        finally:
            ref.terminate()
            ref.wait()
        for (what, unit), (k, r) in per.items():
            results.append((case, what, unit, k, r))

    def fmt(values):
        if not values:
            return "–"
        m = statistics.median(values)
        spec = "{:.3g}" if m < 100 else "{:,.0f}"
        return spec.format(m) + (f" [{spec.format(min(values))}–{spec.format(max(values))}]" if len(values) > 1 else "")

    lines = [f"Measured {datetime.date.today()} on {cpu_name()} ({os.cpu_count()} cores), median of "
             f"{args.runs} runs [min–max]; `kiln serve --threads {args.kiln_threads}` (defaults: "
             f"--max_batch_size 64, --batch_timeout_us 500) vs `ref_serve.py --threads {args.ref_threads}`; "
             f"models trained {args.epochs} epochs; load from build/kiln_loadgen (keep-alive, closed loop).",
             "", "| case | measurement | kiln | ref | ratio (kiln / ref) |", "|---|---|---|---|---|"]
    for case, what, unit, k, r in results:
        ratio = f"**{statistics.median(k) / statistics.median(r):.2f}×**" if r else ""
        lines.append(f"| {case} | {what} ({unit}) | {fmt(k)} | {fmt(r)} | {ratio} |")
    table = "\n".join(lines) + "\n"
    print(table)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    open(os.path.join(ROOT, "bench", "results", "serve.md"), "w").write(table)
    readme = os.path.join(ROOT, "bench", "README.md")
    text = open(readme).read()
    if "<!-- serve:begin -->" in text:
        text = re.sub(r"<!-- serve:begin -->.*<!-- serve:end -->", "<!-- serve:begin -->\n" + table.replace("\\", "\\\\") +
                      "<!-- serve:end -->", text, flags=re.S)
        open(readme, "w").write(text)


if __name__ == "__main__":
    main()

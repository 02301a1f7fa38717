#!/usr/bin/python3
"""Side-by-side benchmark: `kiln experiment` against ../shared/bench/ref_torch.py on the same
config, CSV and split, runs alternating, median of N. Writes a markdown table (wall seconds, peak
RSS, test metrics, ratios) to bench/results/tabular.md and into bench/README.md between the
<!-- tabular:begin --> / <!-- tabular:end --> markers.

  bench/run_bench.py [--runs 3] [--cases attrition,ames,penguins,attrition_1m] [--threads 2]
  bench/run_bench.py --table text --cases spam_assassin     # -> <!-- text:begin --> markers
  (variant: spam_assassin_fp32; see VARIANTS)

Needs the [bench] packages (scripts/setup.sh bench) and build/kiln.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "bench")
KILN = os.path.join(ROOT, "build", "kiln")

# kiln metric name -> reference metric name, per output type
METRICS = {
    "binary": [("accuracy", "accuracy"), ("roc_auc", "roc_auc")],
    "category": [("accuracy", "accuracy")],
    "number": [("root_mean_squared_error", "rmse"), ("mean_absolute_error", "mae"), ("r2", "r2")],
}


def timed(cmd, cwd=None, env=None):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MiB, stdout)."""
    with tempfile.NamedTemporaryFile("r") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M"] + cmd, cwd=cwd,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
        wall, rss_kb = tf.read().split()[-2:]
    return float(wall), int(rss_kb) / 1024.0, p.stdout


def make_1m(tmp):
    csv = os.path.join(tmp, "attrition_1m.csv")
    if not os.path.exists(csv):
        print("making the 1M-row attrition CSV with scale.py ...", file=sys.stderr)
        subprocess.run(["/usr/bin/python3", os.path.join(SHARED, "scale.py"), "--dataset",
                        os.path.join(SHARED, "data", "attrition.csv"), "--rows", "1000000",
                        "--out", csv], check=True, stdout=subprocess.DEVNULL)
    cfg = os.path.join(tmp, "attrition_1epoch.yaml")
    text = open(os.path.join(SHARED, "configs", "attrition.yaml")).read()
    open(cfg, "w").write(re.sub(r"(?m)^  epochs: 30", "  epochs: 1", text))
    return cfg, csv


def matched(name, tmp):
    """The same model in both programs: category inputs one-hot encoded (Kiln's dense embedding
    is capped at the vocabulary size, as in Ludwig; the reference's is not), early stopping on
    validation loss with patience 5 (both then evaluate the best-validation-loss epoch), and no
    gradient clipping (Ludwig's default clips at global norm 0.5). Only initialisation and
    shuffling draws differ."""
    base = name[: -len("_same")]
    text = open(os.path.join(SHARED, "configs", base + ".yaml")).read()
    text = text.replace("encoder: {type: dense, embedding_size: 50}", "encoder: {type: onehot}")
    text = text.split("\nhyperopt:")[0] + "\n"
    ref_cfg = os.path.join(tmp, name + "_ref.yaml")  # the reference accepts only early_stop
    open(ref_cfg, "w").write(re.sub(r"(?m)^  early_stop: -1.*$", "  early_stop: 5", text))
    kiln_cfg = os.path.join(tmp, name + ".yaml")
    open(kiln_cfg, "w").write(re.sub(r"(?m)^  early_stop: -1.*$", "  early_stop: 5\n  validation_metric: loss\n"
                                     "  gradient_clipping: {clipglobalnorm: null}", text))
    return kiln_cfg, ref_cfg, os.path.join(SHARED, "data", base + ".csv")


# Kiln-side variants of the text and image cases: (base case, edit of the config, what it shows).
# (The bench's fashion_mnist config writes `padding: same` itself, so Kiln builds the reference's
# layers from it unchanged; a variant adding it is no longer needed.)
VARIANTS = {
    # trainer.use_mixed_precision defaults to auto (bfloat16 for text on AMX CPUs): float32 here.
    "spam_assassin_fp32": ("spam_assassin", lambda t: re.sub(
        r"(?m)^  early_stop: -1.*$", "  early_stop: -1\n  use_mixed_precision: false", t)),
}


def variant(name, tmp):
    base, edit = VARIANTS[name]
    ref_cfg = os.path.join(SHARED, "configs", CONFIG_NAMES.get(base, base) + ".yaml")
    text = open(ref_cfg).read()
    kiln_cfg = os.path.join(tmp, name + ".yaml")
    edited = edit(text)
    if edited == text:
        sys.exit(f"{name}: the edit did not change {ref_cfg}")
    open(kiln_cfg, "w").write(edited)
    return kiln_cfg, ref_cfg, os.path.join(SHARED, "data", base + ".csv")


def case_paths(name, tmp):
    """(kiln config, reference config, CSV)."""
    if name == "attrition_1m":
        cfg, csv = make_1m(tmp)
        return cfg, cfg, csv
    if name in VARIANTS:
        return variant(name, tmp)
    if name.endswith("_same"):
        return matched(name, tmp)
    cfg = os.path.join(SHARED, "configs", CONFIG_NAMES.get(name, name) + ".yaml")
    return cfg, cfg, os.path.join(SHARED, "data", name + ".csv")


CONFIG_NAMES = {"fashion_mnist_small": "fashion_mnist"}  # data file name -> config name


def output_type(cfg):
    m = re.search(r"output_features:\s*\n\s*- name: (\S+)\s*\n\s*type: (\S+)", open(cfg).read())
    return m.group(1), m.group(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="attrition,ames,penguins,attrition_same,ames_same,penguins_same,attrition_1m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tmp", default="/tmp/kiln_bench")
    ap.add_argument("--table", default="tabular", help="results/<table>.md and README markers")
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    rows = []
    for name in args.cases.split(","):
        cfg, ref_cfg, csv = case_paths(name, args.tmp)
        out_name, out_type = output_type(cfg)
        k_wall, k_rss, r_wall, r_rss, r_total = [], [], [], [], []
        k_metrics = r_metrics = None
        for i in range(args.runs):
            out = os.path.join(args.tmp, "kiln_" + name)
            w, m, _ = timed([KILN, "experiment", "--config", cfg, "--dataset", csv,
                             "--output_directory", out, "--threads", str(args.threads),
                             "--skip_cache", "--overwrite", "-q"])
            k_wall.append(w), k_rss.append(m)
            k_metrics = json.load(open(os.path.join(out, "test_statistics.json")))[out_name]
            w, m, stdout = timed(["/usr/bin/python3", os.path.join(SHARED, "ref_torch.py"),
                                  "--config", ref_cfg, "--dataset", csv, "--threads",
                                  str(args.threads)])
            ref = json.loads(stdout.strip().splitlines()[-1])
            r_wall.append(w), r_rss.append(m), r_total.append(ref["total_s"])
            r_metrics = ref["test"][out_name]
            print(f"{name} run {i + 1}: kiln {k_wall[-1]:.2f}s, ref {r_wall[-1]:.2f}s "
                  f"(ref total_s {ref['total_s']:.2f})", file=sys.stderr)
        kw, rw, rt = (statistics.median(x) for x in (k_wall, r_wall, r_total))
        metrics = []
        for km, rm in METRICS[out_type]:
            metrics.append(f"{km} {k_metrics[km]:.4g} / {r_metrics[rm]:.4g}")
        rows.append((name, kw, min(k_wall), max(k_wall), rw, min(r_wall), max(r_wall), rt,
                     max(k_rss), max(r_rss), "; ".join(metrics)))
    date = datetime.date.today().isoformat()
    lines = [
        f"Measured {date} on {platform.node()} ({os.cpu_count()} cores), `--threads "
        f"{args.threads}`, median of {args.runs} alternating runs [min–max]. Wall = whole process "
        "(kiln: `experiment --skip_cache`, i.e. reading, preprocessing, training with per-epoch "
        "validation and test evaluation, final test evaluation, writing the model; ref: "
        "`ref_torch.py`, including Python start-up). `ref total_s` excludes the reference's "
        "imports. Metrics: kiln / ref on the test split.",
        "",
        "| case | kiln wall s | ref wall s | ratio | ref total_s | ratio vs total_s | kiln peak RSS MiB | ref peak RSS MiB | test metrics (kiln / ref) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, kw, kmin, kmax, rw, rmin, rmax, rt, krss, rrss, met) in rows:
        lines.append(f"| {name} | {kw:.2f} [{kmin:.2f}–{kmax:.2f}] | {rw:.2f} [{rmin:.2f}–{rmax:.2f}] "
                     f"| **{kw / rw:.2f}×** | {rt:.2f} | {kw / rt:.2f}× | {krss:.0f} | {rrss:.0f} | {met} |")
    table = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", args.table + ".md"), "w") as f:
        f.write(table)
    readme = os.path.join(ROOT, "bench", "README.md")
    text = open(readme).read()
    text = re.sub(r"(<!-- " + args.table + r":begin -->\n).*?(<!-- " + args.table + r":end -->)",
                  lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
    open(readme, "w").write(text)
    print(table)


if __name__ == "__main__":
    main()

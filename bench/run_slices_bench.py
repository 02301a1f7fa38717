#!/usr/bin/python3
"""Slice-monitor benchmark on the 1M-row attrition (../shared/bench/scale.py):
  * `kiln evaluate` on a model with 20 declared slices against the same model without slices
    (alternating runs, median of N);
  * `kiln slices find` (SliceLine, k 10, max_level 3) on a copy whose labels are flipped where
    Department == 'Sales' and OverTime == 'Yes' plus 10 % random noise.
Writes a table into bench/README.md between <!-- slices:begin --> / <!-- slices:end -->.

  bench/run_slices_bench.py [--runs 3] [--threads 2]
"""
import argparse, datetime, json, os, random, re, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from run_bench import KILN, SHARED, make_1m, timed  # noqa: E402

SLICES = """
slices:
  define:
    - {name: young, where: "Age < 30"}
    - {name: old, where: "Age >= 50"}
    - {name: sales_overtime, where: "Department == 'Sales' and OverTime == 'Yes'"}
    - {name: low_income, where: "MonthlyIncome < 3000"}
    - {name: high_income, where: "MonthlyIncome between 10000 and 20000"}
    - {name: far, where: "DistanceFromHome > 20"}
    - {name: new_hires, where: "YearsAtCompany <= 1"}
    - {name: single_travel, where: "MaritalStatus == 'Single' and BusinessTravel in ['Travel_Frequently', 'Travel_Rarely']"}
    - {name: unhappy, where: "JobSatisfaction in ['Low', 'Medium'] or EnvironmentSatisfaction == 'Low'"}
    - {name: not_rnd, where: "not Department == 'Research_Development'"}
    - {by: JobRole, top_k: 10}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tmp", default="/tmp/kiln_bench")
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    cfg, csv = make_1m(a.tmp)
    cfg_slices = os.path.join(a.tmp, "attrition_1epoch_slices.yaml")
    open(cfg_slices, "w").write(open(cfg).read() + SLICES)
    models = {}
    for name, c in (("plain", cfg), ("slices", cfg_slices)):
        out = os.path.join(a.tmp, "sb_" + name)
        subprocess.run([KILN, "train", "--config", c, "--dataset", csv, "--output_directory", out,
                        "--threads", str(a.threads), "--overwrite", "-q"], check=True)
        models[name] = os.path.join(out, "model")
    walls = {"plain": [], "slices": []}
    for i in range(a.runs):
        for name in ("plain", "slices"):
            w, _, _ = timed([KILN, "evaluate", "--model_path", models[name], "--dataset", csv,
                             "--threads", str(a.threads), "--output_directory",
                             os.path.join(a.tmp, "sb_eval_" + name), "-q"])
            walls[name].append(w)
        print(f"evaluate run {i + 1}: plain {walls['plain'][-1]:.2f}s, 20 slices "
              f"{walls['slices'][-1]:.2f}s", file=sys.stderr)
    planted = os.path.join(a.tmp, "planted_1m.csv")
    if not os.path.exists(planted):
        rng = random.Random(7)
        with open(csv) as src, open(planted, "w") as dst:
            header = src.readline()
            dst.write(header)
            col = {n: i for i, n in enumerate(header.rstrip("\n").split(","))}
            for line in src:
                f = line.rstrip("\n").split(",")
                if (f[col["Department"]] == "Sales" and f[col["OverTime"]] == "Yes") or rng.random() < 0.1:
                    f[col["Attrition"]] = "No" if f[col["Attrition"]] == "Yes" else "Yes"
                dst.write(",".join(f) + "\n")
    found = os.path.join(a.tmp, "sb_found.json")
    sl_wall = []
    for i in range(a.runs):
        w, rss, _ = timed([KILN, "slices", "find", "--model_path", models["plain"], "--dataset", planted,
                           "--k", "10", "--max_level", "3", "--threads", str(a.threads), "--output", found, "-q"])
        sl_wall.append(w)
    res = json.load(open(found))
    p, s = statistics.median(walls["plain"]), statistics.median(walls["slices"])
    table = (
        f"Measured {datetime.date.today().isoformat()}, 1,000,000 rows, `--threads {a.threads}`, median of {a.runs}.\n\n"
        "| measurement | value | target |\n|---|---|---|\n"
        f"| `kiln evaluate`, no slices | {p:.2f} s [{min(walls['plain']):.2f}–{max(walls['plain']):.2f}] | |\n"
        f"| `kiln evaluate`, 20 declared slices (10 predicates + 10 JobRole values) | {s:.2f} s "
        f"[{min(walls['slices']):.2f}–{max(walls['slices']):.2f}] | |\n"
        f"| ratio | **{s / p:.2f}×** | ≤ 1.1× |\n"
        f"| `kiln slices find` (k 10, max_level 3), whole command | **{statistics.median(sl_wall):.2f} s** "
        f"[{min(sl_wall):.2f}–{max(sl_wall):.2f}], peak RSS {rss:.0f} MiB | ≤ 30 s |\n"
        f"| SliceLine: slices evaluated / top slice | {res['slices_evaluated']} / `{res['slices'][0]['where']}` "
        f"({res['slices'][0]['size']} rows, error {res['slices'][0]['error']:.3f}) | the planted slice |\n")
    readme = os.path.join(ROOT, "bench", "README.md")
    text = open(readme).read()
    text = re.sub(r"(<!-- slices:begin -->\n).*?(<!-- slices:end -->)",
                  lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
    open(readme, "w").write(text)
    print(table)


if __name__ == "__main__":
    main()

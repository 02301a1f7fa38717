#!/usr/bin/python3
"""How many of a set of Ludwig model configs Kiln accepts, and what blocks the rest.

    bench/ludwig_compat.py [--kiln build/kiln] [--train] [--json out.json] PATH...

PATH: folders or files. YAML files whose top level is a model config (input_features and
output_features, or model_type: llm) are checked; Markdown files contribute their ```yaml blocks
that are model configs (Ludwig's documentation). A checkout of Ludwig's repository
(github.com/ludwig-ai/ludwig) and of its documentation (github.com/ludwig-ai/ludwig-docs) is the
intended input; nothing of theirs is stored here.

Each config goes through `kiln config --validate`. LLM fine-tuning configs (model_type: llm) and
configs that only run on Ray / DeepSpeed / Horovod backends, and configs Ludwig's own validation refuses
(an empty feature list, two input or two output features of one name), are counted apart (out of scope). Every
error line is put in a category (its key or the name Kiln lacks), and the table gives, per
category, how many configs it blocks. With --train, each accepted config also trains one epoch on
`kiln synthesize_dataset` output (200 rows) and predicts; failures are listed.

Pretrained encoders (bert, distilbert, auto_transformer) need the pretrained model's files, and this
machine downloads nothing: for a model name that is a BERT or DistilBERT checkpoint (bert-base-uncased,
distilbert-base-uncased, ...), --train writes a tiny random stand-in of that architecture
(tests/e2e/tiny_pretrained.py) into a temporary Hugging Face cache ($HF_HUB_CACHE) and counts the
configs that used one. Other names (e.g. a Llama or ModernBERT checkpoint) get no stand-in, and their
configs are listed as train failures with Kiln's message.
"""
import argparse
import collections
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import yaml


def is_model_config(d):
    return isinstance(d, dict) and (
        ("input_features" in d and "output_features" in d) or d.get("model_type") == "llm")


def yaml_blocks(md_text):
    """The ```yaml blocks of a Markdown file, also those indented under a list item or a tab."""
    for m in re.finditer(r"^([ \t]*)```\s*ya?ml[^\n]*\n(.*?)^[ \t]*```", md_text, re.S | re.M):
        yield textwrap.dedent(m.group(2))


def collect(paths):
    """(label, yaml text) of every model config under paths, without duplicates."""
    seen = set()
    out = []

    def add(label, text):
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError:
            return
        if not is_model_config(d):
            return
        key = hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()
        if key in seen:
            return
        seen.add(key)
        out.append((label, text, d))

    for p in paths:
        files = []
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [os.path.join(root, n) for n in sorted(names)]
        else:
            files.append(p)
        for f in files:
            try:
                text = open(f, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            if f.endswith((".yaml", ".yml")):
                add(f, text)
            elif f.endswith(".md"):
                for i, block in enumerate(yaml_blocks(text)):
                    add(f"{f}#yaml{i + 1}", block)
    return out


def has_placeholder(x):
    """A documentation fragment: '...' stands for the rest of a config."""
    if isinstance(x, dict):
        return any(has_placeholder(v) for v in x.values())
    if isinstance(x, list):
        return any(has_placeholder(v) for v in x)
    return isinstance(x, str) and x.strip() in ("...", "…") or x is Ellipsis


def out_of_scope(d):
    if has_placeholder(d):
        return "documentation fragment ('...' placeholders)"
    if d.get("model_type") == "llm":
        return "LLM fine-tuning (model_type: llm)"
    backend = d.get("backend")
    if isinstance(backend, dict):
        trainer = backend.get("trainer") or {}
        if backend.get("type") in ("deepspeed", "horovod") or (
                isinstance(trainer, dict) and trainer.get("strategy") in ("deepspeed", "fsdp")):
            return "Ray / DeepSpeed / Horovod only"
    return refused_by_ludwig(d)


def refused_by_ludwig(d):
    """What Ludwig 0.17.8's own validation refuses, so the config does not run in Ludwig either:
    an empty feature list (FeatureList's min_length 1, ludwig/schema/features/base.py) and two input
    or two output features of one name (check_feature_names_unique, ludwig/config_validation/checks.py)."""
    for key in ("input_features", "output_features"):
        features = d.get(key)
        if isinstance(features, list) and not features:
            return "refused by Ludwig 0.17.8 too (an empty feature list)"
        if isinstance(features, list):
            names = [f.get("name") for f in features if isinstance(f, dict)]
            if len(names) != len(set(names)):
                return "refused by Ludwig 0.17.8 too (two features of one name)"
    return None


# What an error line is about: the name Kiln lacks, or the key it does not know.
PATTERNS = [
    (re.compile(r"unknown (encoder|decoder|combiner|optimizer|loss|feature type|tokenizer|"
                r"reduce_output|scheduler|decay|activation|norm|split type|value) '([^']+)'"),
     lambda m: f"{m.group(1)} '{m.group(2)}'"),
    (re.compile(r"Ludwig's ([a-z ]+) '([^']+)' is not available in Kiln"),
     lambda m: f"not in Kiln: {m.group(1)} '{m.group(2)}'"),
    (re.compile(r"loss '([^']+)' does not fit"), lambda m: f"loss '{m.group(1)}'"),
    (re.compile(r"unknown key '([^']+)'(?: for ([^;]+))?"),
     lambda m: f"key '{m.group(1)}'" + (f" ({m.group(2)})" if m.group(2) else "")),
    (re.compile(r"feature type '([^']+)' cannot be an (input|output)"),
     lambda m: f"{m.group(1)} as {m.group(2)}"),
    (re.compile(r"feature name '([^']+)' is used twice"), lambda m: "same name for input and output"),
]


def category(line):
    msg = re.sub(r"^(error: )?\S+?:\d+:\d+: ", "", line.strip())
    for pat, name in PATTERNS:
        m = pat.search(msg)
        if m:
            return name(m)
    # "path: message": keep the path's last key and the message's start
    return re.sub(r"\[\d+\]", "[]", msg)[:90]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--kiln", default=os.path.join(os.path.dirname(__file__), "..", "build", "kiln"))
    ap.add_argument("--train", action="store_true", help="train each accepted config one epoch on synthesized data")
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--json", help="write every config's result here")
    ap.add_argument("--verbose", "-v", action="store_true")
    a = ap.parse_args()

    configs = collect(a.paths)
    blocked = collections.Counter()
    scope = collections.Counter()
    results = []
    accepted = 0
    trained = 0
    standins = 0
    train_failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, text, d) in enumerate(configs):
            why = out_of_scope(d)
            if why:
                scope[why] += 1
                results.append({"config": label, "status": "out of scope", "why": why})
                continue
            path = os.path.join(tmp, f"c{i}.yaml")
            with open(path, "w") as f:
                f.write(text)
            r = run([a.kiln, "config", "--validate", "--config", path])
            errors = [l for l in r.stderr.splitlines() if l.strip() and "warning" not in l.lower()]
            if r.returncode == 0:
                accepted += 1
                res = {"config": label, "status": "accepted"}
                if a.train:
                    res["train"] = train_one(a, path, os.path.join(tmp, f"t{i}"))
                    if res["train"].startswith("ok"):
                        trained += 1
                        standins += res["train"] != "ok"
                    else:
                        train_failures.append((label, res["train"]))
                results.append(res)
            else:
                cats = sorted({category(l) for l in errors}) or ["(no message)"]
                for c in cats:
                    blocked[c] += 1
                results.append({"config": label, "status": "refused", "errors": errors, "categories": cats})
                if a.verbose:
                    print(f"-- {label}\n   " + "\n   ".join(errors[:6]))

    in_scope = len(configs) - sum(scope.values())
    print(f"model configs found: {len(configs)}")
    for k, v in scope.most_common():
        print(f"  out of scope: {v:3d}  {k}")
    pct = 100.0 * accepted / in_scope if in_scope else 0.0
    print(f"accepted: {accepted} of {in_scope} in scope ({pct:.0f} %)")
    if a.train:
        print(f"trained one epoch and predicted: {trained} of {accepted}"
              + (f" ({standins} with tiny random stand-ins of their pretrained BERT/DistilBERT models)" if standins else ""))
        for label, why in train_failures:
            print(f"  train failed: {label}: {why}")
    if blocked:
        print("configs blocked, by category:")
        for k, v in sorted(blocked.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {v:3d}  {k}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


HF_DEFAULTS = {"bert": "bert-base-uncased", "distilbert": "distilbert-base-uncased"}
STANDIN = re.compile(r"(^|/)(distil)?bert-")


def pretrained_names(a, config):
    """The pretrained model names the config's encoders read (after Kiln's upgrade of old syntax)."""
    r = run([a.kiln, "config", "--upgrade", "--config", config])
    try:
        d = yaml.safe_load(r.stdout) if r.returncode == 0 else None
    except yaml.YAMLError:
        d = None
    names = set()
    for f in (d or {}).get("input_features") or []:
        e = f.get("encoder") if isinstance(f, dict) else None
        if isinstance(e, dict) and e.get("type") in ("bert", "distilbert", "auto_transformer"):
            n = e.get("pretrained_model_name_or_path") or HF_DEFAULTS.get(e["type"])
            if n:
                names.add(n)
    return names


def standin(hub, name):
    """A tiny random BERT (or DistilBERT) under `name` in the cache `hub`; False if `name` is not one."""
    if not STANDIN.search(name):
        return False
    snap = os.path.join(hub, "models--" + name.replace("/", "--"), "snapshots", "standin")
    if not os.path.isdir(snap):
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e", "tiny_pretrained.py")
        model = "distilbert" if "distilbert" in name else "bert"
        subprocess.run([sys.executable, tool, snap, "--model", model], check=True)
        os.makedirs(os.path.join(hub, "models--" + name.replace("/", "--"), "refs"), exist_ok=True)
        with open(os.path.join(hub, "models--" + name.replace("/", "--"), "refs", "main"), "w") as f:
            f.write("standin")
    return True


def train_one(a, config, work):
    os.makedirs(work, exist_ok=True)
    hub = os.path.join(os.path.dirname(work), "hub")
    names = pretrained_names(a, config)
    used = [n for n in sorted(names) if standin(hub, n)]
    env = dict(os.environ, HF_HUB_CACHE=hub)
    data = os.path.join(work, "data.csv")
    r = run([a.kiln, "synthesize_dataset", "--config", config, "--dataset_size", str(a.rows),
             "--output", data])
    if r.returncode != 0:
        return "synthesize_dataset: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    out = os.path.join(work, "results")
    r = run([a.kiln, "train", "--config", config, "--dataset", data, "--output_directory", out,
             "--epochs", "1", "--skip_cache", "-q"], env=env)
    if r.returncode != 0:
        return "train: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    models = [os.path.join(dp, d) for dp, dn, _ in os.walk(out) for d in dn if d == "model"]
    if not models:
        return "train: no model directory written"
    r = run([a.kiln, "predict", "--model_path", models[0], "--dataset", data, "--output_directory",
             os.path.join(work, "pred"), "-q"])
    if r.returncode != 0:
        return "predict: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return "ok (tiny random stand-in for " + ", ".join(used) + ")" if used else "ok"


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Writes a tiny, randomly initialized BERT or DistilBERT in the Hugging Face layout (config.json,
model.safetensors, vocab.txt, tokenizer_config.json) and, beside it, expected.json: what an
independent implementation (this file: Python's unicodedata for the tokenizer, plain PyTorch for
the network) computes for a few texts. Kiln's tests compare its tokenizer and encoders with it.

  /usr/bin/python3 tests/e2e/tiny_pretrained.py OUT_DIR --model bert|distilbert [--texts CSV --column C]

The vocabulary: BERT's special tokens, every printable ASCII character alone and as a "##"
continuation, then the most frequent lower-cased words of the texts (when given).
"""
import argparse
import collections
import csv
import json
import math
import os
import struct
import sys
import unicodedata

import torch

SAMPLES = [
    "Hello, World! This is a test.",
    "Héllo naïve café — déjà vu?",
    "unaffable 42 tokens ## and $money$",
    "混合 text 中文 ok",
    "tab\tand\nnewline\x07control",
    "",
    "supercalifragilisticexpialidocious" * 5,
]


# ---- tokenizer (Hugging Face BertTokenizer's rules, written from its documentation) -------------
def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                         (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def basic_tokens(text, lower=True):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif unicodedata.category(ch).startswith("C"):
            continue
        elif is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out))
    words = []
    for tok in text.split():
        if lower:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in tok:
            if is_punct(c):
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        found = None
        while end > start:
            sub = ("##" if start else "") + word[start:end]
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def encode(text, vocab, length):
    toks = [p for w in basic_tokens(text) for p in wordpiece(w, vocab)]
    ids = [vocab["[CLS]"]] + [vocab[t] for t in toks] + [vocab["[SEP]"]]
    if len(ids) > length:
        ids = ids[: length - 1] + [vocab["[SEP]"]]
    return ids + [0] * (length - len(ids))


# ---- network (BERT's equations) ---------------------------------------------------------------
def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def forward(W, cfg, ids, distil):
    p = "distilbert." if distil else "bert."
    H = cfg["dim"] if distil else cfg["hidden_size"]
    nh = cfg["n_heads"] if distil else cfg["num_attention_heads"]
    L = cfg["n_layers"] if distil else cfg["num_hidden_layers"]
    eps = 1e-12
    ids = torch.tensor(ids)
    B, T = ids.shape
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.position_embeddings.weight"][:T][None]
    if not distil:
        x = x + W[p + "embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, W[p + "embeddings.LayerNorm.weight"], W[p + "embeddings.LayerNorm.bias"], eps)
    keep = ids != 0
    for i in range(L):
        if distil:
            q, k, v, o = (f"{p}transformer.layer.{i}.attention.{n}_lin" for n in ("q", "k", "v", "out"))
            n1, f1, f2, n2 = (f"{p}transformer.layer.{i}.{n}" for n in ("sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"))
        else:
            base = f"{p}encoder.layer.{i}."
            q, k, v = (base + "attention.self." + n for n in ("query", "key", "value"))
            o, n1 = base + "attention.output.dense", base + "attention.output.LayerNorm"
            f1, f2, n2 = base + "intermediate.dense", base + "output.dense", base + "output.LayerNorm"
        lin = lambda name, t: t @ W[name + ".weight"].T + W[name + ".bias"]
        heads = lambda t: t.view(B, T, nh, H // nh).permute(0, 2, 1, 3)
        s = heads(lin(q, x)) @ heads(lin(k, x)).transpose(-1, -2) / math.sqrt(H // nh)
        s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
        ctx = (torch.softmax(s, -1) @ heads(lin(v, x))).permute(0, 2, 1, 3).reshape(B, T, H)
        h = layer_norm(lin(o, ctx) + x, W[n1 + ".weight"], W[n1 + ".bias"], eps)
        f = lin(f2, torch.nn.functional.gelu(lin(f1, h)))
        x = layer_norm(f + h, W[n2 + ".weight"], W[n2 + ".bias"], eps)
    pooled = None if distil else torch.tanh(lin(p + "pooler.dense", x[:, 0]))
    # mean over the tokens between [CLS] and [SEP]
    n = keep.sum(1)
    inner = torch.zeros(B, H, dtype=x.dtype)
    for b in range(B):
        if n[b] > 2:
            inner[b] = x[b, 1:n[b] - 1].mean(0)
    return pooled, inner


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].contiguous().to(torch.float32)
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", choices=["bert", "distilbert"], default="bert")
    ap.add_argument("--texts")
    ap.add_argument("--column")
    ap.add_argument("--words", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    vocab_list = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not ("A" <= chr(c) <= "Z")]
    vocab_list += chars + ["##" + c for c in chars]
    if a.texts:
        csv.field_size_limit(sys.maxsize)
        counts = collections.Counter()
        with open(a.texts, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts.update(basic_tokens(row[a.column]))
        seen = set(vocab_list)
        for w, _ in counts.most_common():
            if len(vocab_list) >= len(chars) * 2 + 6 + a.words:
                break
            if w not in seen and len(w) > 1:
                vocab_list.append(w)
                seen.add(w)
    vocab_list += ["café", "naïve"]  # accented entries never match: uncased text loses its accents
    vocab = {w: i for i, w in enumerate(vocab_list)}
    V, H, I, P = len(vocab_list), 32, 64, 64
    distil = a.model == "distilbert"
    if distil:
        cfg = {"model_type": "distilbert", "vocab_size": V, "dim": H, "n_layers": 2, "n_heads": 4, "hidden_dim": I,
               "max_position_embeddings": P, "dropout": 0.1, "attention_dropout": 0.1, "activation": "gelu",
               "initializer_range": 0.02, "sinusoidal_pos_embds": False}
    else:
        cfg = {"model_type": "bert", "vocab_size": V, "hidden_size": H, "num_hidden_layers": 2,
               "num_attention_heads": 4, "intermediate_size": I, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "max_position_embeddings": P, "type_vocab_size": 2,
               "initializer_range": 0.02, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
    p = "distilbert." if distil else "bert."
    W = {}
    def add(name, *shape, scale=0.3, center=0.0):
        W[p + name] = torch.randn(*shape) * scale + center
    add("embeddings.word_embeddings.weight", V, H)
    add("embeddings.position_embeddings.weight", P, H)
    if not distil:
        add("embeddings.token_type_embeddings.weight", 2, H)
    add("embeddings.LayerNorm.weight", H, scale=0.1, center=1.0)
    add("embeddings.LayerNorm.bias", H, scale=0.1)
    for i in range(2):
        if distil:
            names = {f"transformer.layer.{i}.attention.{n}_lin": (H, H) for n in ("q", "k", "v", "out")}
            names.update({f"transformer.layer.{i}.ffn.lin1": (I, H), f"transformer.layer.{i}.ffn.lin2": (H, I)})
            norms = [f"transformer.layer.{i}.sa_layer_norm", f"transformer.layer.{i}.output_layer_norm"]
        else:
            b = f"encoder.layer.{i}."
            names = {b + "attention.self." + n: (H, H) for n in ("query", "key", "value")}
            names.update({b + "attention.output.dense": (H, H), b + "intermediate.dense": (I, H), b + "output.dense": (H, I)})
            norms = [b + "attention.output.LayerNorm", b + "output.LayerNorm"]
        for n, shape in names.items():
            add(n + ".weight", *shape, scale=1.0 / math.sqrt(shape[1]))
            add(n + ".bias", shape[0], scale=0.1)
        for n in norms:
            add(n + ".weight", H, scale=0.1, center=1.0)
            add(n + ".bias", H, scale=0.1)
    if not distil:
        add("pooler.dense.weight", H, H, scale=1.0 / math.sqrt(H))
        add("pooler.dense.bias", H, scale=0.1)
        W["cls.predictions.bias"] = torch.zeros(V)  # a pretraining head's tensor, which encoders ignore
    os.makedirs(a.out, exist_ok=True)
    save_safetensors(os.path.join(a.out, "model.safetensors"), W)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(a.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab_list) + "\n")
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": P}, f)
    length = 16
    ids = [encode(t, vocab, length) for t in SAMPLES]
    with torch.no_grad():
        pooled, mean = forward(W, cfg, ids, distil)
    expected = {"texts": SAMPLES, "length": length, "ids": ids,
                "tokens": [[p for w in basic_tokens(t) for p in wordpiece(w, vocab)] for t in SAMPLES],
                "mean": mean.tolist()}
    if pooled is not None:
        expected["cls_pooled"] = pooled.tolist()
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()

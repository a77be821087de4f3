"""Pseudo-outliers for the OOS class, tried offline (BENCHMARKS.md, "Stop 48").

On the tuned sentence embeddings that `usher test nlu --save-probabilities`
writes for CLINC150 (`embeddings.f32`, `embeddings.json`), trains a
cosine-softmax head (scale 20, class vectors started at the class means,
300 full-batch Adam steps) with and without mixes `λ a + (1 − λ) b` of two
training sentences of different in-scope intents (λ uniform in [0.3, 0.7],
scaled to unit length) labelled out of scope (Zhan et al. 2021), and
reports val only: in-scope accuracy at the threshold reaching OOS recall
0.85 (confidence: best probability × cosine with the nearest training
sentence; the OOS class winning counts as out of scope), and in-scope
accuracy with no threshold. Test is not read.

    usher test nlu --data ../shared/data/clinc150/data_full.json --format clinc150 \
        --oos-recall 0.85 --save-probabilities --report /tmp/clinc --json
    python3 bench/oos_pseudo_outliers.py /tmp/clinc --mixes 1.0 --seeds 0 1
    python3 bench/oos_pseudo_outliers.py /tmp/clinc --mixes 0.05 --seeds 0
"""
import argparse
import json

import numpy as np

from oos_scores import OOS, rates, threshold_for_recall

SCALE = 20.0


def unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def train(x, y, classes, oos, mixes, seed, steps=300, lr=0.01):
    """Unit class vectors trained on `x`, plus `mixes` pseudo-outliers per in-scope sentence at each step."""
    rng = np.random.default_rng(seed)
    w = np.stack([x[y == c].mean(0) for c in range(classes)])
    m, v = np.zeros_like(w), np.zeros_like(w)
    scope = np.where(y != oos)[0]
    for t in range(1, steps + 1):
        xs, ys = x, y
        if mixes > 0:
            a, b = rng.choice(scope, int(mixes * len(scope))), rng.choice(scope, int(mixes * len(scope)))
            a, b = a[y[a] != y[b]], b[y[a] != y[b]]
            lam = rng.uniform(0.3, 0.7, size=(len(a), 1))
            xs = np.vstack([x, unit(lam * x[a] + (1 - lam) * x[b])])
            ys = np.concatenate([y, np.full(len(a), oos)])
        wn = unit(w)
        z = SCALE * xs @ wn.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(ys)), ys] -= 1
        g_unit = SCALE * p.T @ xs / len(ys)
        # Back through the rows' normalisation.
        g = (g_unit - wn * (g_unit * wn).sum(1, keepdims=True)) / np.linalg.norm(w, axis=1, keepdims=True)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return unit(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report", help="the --report directory of a CLINC150 run with --save-probabilities")
    ap.add_argument("--mixes", type=float, default=1.0, help="pseudo-outliers per in-scope sentence and step")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    meta = json.load(open(f"{args.report}/embeddings.json"))
    labels = meta["labels"]
    raw = np.fromfile(f"{args.report}/embeddings.f32", dtype="<f4").reshape(-1, meta["dim"])
    n_train, n_val = len(labels["train"]), len(labels["val"])
    x, xv = unit(raw[:n_train]), unit(raw[n_train:n_train + n_val])
    names = sorted(set(labels["train"]))
    oos = names.index(OOS)
    y = np.array([names.index(l) for l in labels["train"]])
    gold = np.array([-1 if l == OOS else names.index(l) for l in labels["val"]])
    near = np.clip((xv @ x.T).max(1), 0, 1)
    for mixes in (0.0, args.mixes):
        for seed in args.seeds:
            z = SCALE * xv @ train(x, y, len(names), oos, mixes, seed).T
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            pred, score = p.argmax(1), p.max(1) * near
            at, _ = rates(pred, score, gold, oos, threshold_for_recall(pred, score, gold, oos, 0.85))
            raw_acc = np.mean(pred[gold >= 0] == gold[gold >= 0])
            print(f"mixes {mixes} seed {seed}: val in scope {at:.2%} at 0.85 OOS recall, {raw_acc:.2%} with no threshold")


if __name__ == "__main__":
    main()

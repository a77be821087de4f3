#!/usr/bin/env python3
"""The Python peer Usher is measured against: sentence-transformers (PyTorch)
with the same all-MiniLM-L6-v2 weights, frozen, + scikit-learn
LogisticRegression with its C chosen by 5-fold stratified cross-validation
on the training split (LogisticRegressionCV over C in 0.1, 1, 10, 100, 1000), as a
careful user would tune it: the default C=1 underfits normalised
embeddings. Same data, same splits, same OOS protocol as `usher test nlu`
(threshold calibrated on CLINC150 val + oos_val).

    pip install -r bench/requirements.txt
    python3 bench/peer.py intents --data ../shared/data/banking77 --format banking77
    python3 bench/peer.py intents --data ../shared/data/clinc150/data_full.json --format clinc150
    python3 bench/peer.py encoder --data ../shared/data/banking77/test.csv
    python3 bench/peer.py encoder --data ../shared/data/banking77/test.csv --device cuda   # GPU machine

Each run prints one JSON object on its last line.
"""
import argparse, csv, json, os, statistics, sys, time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.metrics import f1_score


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def load(args):
    if args.format == "clinc150":
        d = json.load(open(args.data))
        return d["train"], d["val"] + d["oos_val"], d["test"] + d["oos_test"], "oos"
    path = args.data
    if os.path.isdir(path):
        return read_csv(os.path.join(path, "train.csv")), [], read_csv(os.path.join(path, "test.csv")), None
    test = os.path.join(os.path.dirname(path), "test.csv")
    if not os.path.exists(test):
        test = os.path.join(os.path.dirname(os.path.dirname(path)), "test.csv")
    return read_csv(path), [], read_csv(test), None


def intents(args, model):
    train, val, test, oos = load(args)
    t0 = time.time()
    xtr = model.encode([t for t, _ in train], batch_size=64, normalize_embeddings=True)
    ytr = [l for _, l in train]
    # 5 folds where every class has 5 examples (10-shot has 10), else fewer.
    folds = min(5, min(ytr.count(c) for c in set(ytr)))
    clf = LogisticRegressionCV(
        Cs=[0.1, 1.0, 10.0, 100.0, 1000.0],
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=42),
        max_iter=3000,
        n_jobs=args.threads,
    ).fit(xtr, ytr)
    train_seconds = time.time() - t0
    classes = list(clf.classes_)
    threshold = None
    if oos:
        pv = clf.predict_proba(model.encode([t for t, _ in val], batch_size=64, normalize_embeddings=True))
        best = (-1, 0.5)
        for step in range(1, 100):
            th = step / 100
            ins = [(p, l) for p, (_, l) in zip(pv, val) if l != oos]
            out = [p for p, (_, l) in zip(pv, val) if l == oos]
            acc = sum(p.max() >= th and classes[p.argmax()] == l for p, l in ins) / len(ins)
            rec = sum(p.max() < th for p in out) / len(out)
            best = max(best, (acc + rec, th))
        threshold = best[1]
    pt = clf.predict_proba(model.encode([t for t, _ in test], batch_size=64, normalize_embeddings=True))
    pred = [oos if threshold is not None and p.max() < threshold else classes[p.argmax()] for p in pt]
    gold = [l for _, l in test]
    result = {
        "accuracy": float(np.mean([p == g for p, g in zip(pred, gold)])),
        "macro_f1": float(f1_score(gold, pred, average="macro")),
        "train_seconds": train_seconds,
        "C": float(clf.C_[0]),
        "cv_folds": folds,
        "n_train": len(train),
        "n_test": len(test),
    }
    if oos:
        ins = [(p, g) for p, g in zip(pred, gold) if g != oos]
        out = [(p, g) for p, g in zip(pred, gold) if g == oos]
        result["in_scope_accuracy"] = sum(p == g for p, g in ins) / len(ins)
        result["oos_recall"] = sum(p == g for p, g in out) / len(out)
        result["oos_threshold"] = threshold
    return result


def encoder(args, model):
    texts = [t for t, _ in read_csv(args.data)][: args.sentences]
    model.encode(texts[:64], batch_size=64)
    t0 = time.time()
    model.encode(texts, batch_size=64)
    batched = len(texts) / (time.time() - t0)
    lat = []
    for t in texts[:300]:
        s = time.perf_counter()
        model.encode([t], batch_size=1)
        lat.append((time.perf_counter() - s) * 1000)
    lat.sort()
    return {"device": args.device, "threads": torch.get_num_threads(), "sentences": len(texts), "batch64_per_s": batched,
            "batch1_per_s": len(lat) / (sum(lat) / 1000), "p50_ms": statistics.median(lat),
            "p99_ms": lat[min(len(lat) - 1, len(lat) * 99 // 100)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["intents", "encoder"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", default="csv", choices=["csv", "banking77", "clinc150"])
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N on a GPU machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model, device=args.device)
    result = intents(args, model) if args.what == "intents" else encoder(args, model)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())

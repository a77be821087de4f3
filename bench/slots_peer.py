"""The slot-tagging peer for BENCHMARKS.md: a linear-chain CRF
(sklearn-crfsuite) with the standard word-shape features, on the SGD
entertainment turns (``../shared/data/sgd_entertainment``).

It tunes c1 and c2 by 3-fold cross-validation on the training split
(folds grouped by dialogue, so one dialogue's turns never sit on both
sides), retrains on all of train with the best pair, and writes one JSON
line per test frame: ``dialogue_id``, ``turn_index``, ``service`` and the
predicted ``spans`` (``slot``, ``start``, ``exclusive_end`` in characters,
with the training slot names). ``usher test entities --format sgd --peer
FILE`` scores those lines with the same scorer and the same schema mapping
as Usher's tagger.

    python bench/slots_peer.py --data DIR --out FILE [--jobs 2]

``--c1 C1 --c2 C2`` skips the cross-validation and fits with that pair
(for a rerun with the pair an earlier cross-validation chose: 0.2 and 0.1
on 2026-12-03, BENCHMARKS.md).
"""

import argparse
import itertools
import json
import re
import sys
import time

import sklearn_crfsuite
from joblib import Parallel, delayed

# The encoder's pre-tokenisation: runs of word characters, and every other
# non-space character on its own (BERT's basic tokenizer).
TOKEN = re.compile(r"\w+|[^\w\s]")
C1 = [0.0, 0.05, 0.2]
C2 = [0.01, 0.1]


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tokens(text):
    return [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def shape(word):
    s = re.sub("[A-Z]", "X", word)
    s = re.sub("[a-z]", "x", s)
    s = re.sub("[0-9]", "d", s)
    return re.sub(r"(.)\1+", r"\1\1", s)


def word_features(word, prefix):
    return {
        prefix + "lower": word.lower(),
        prefix + "suffix3": word[-3:].lower(),
        prefix + "suffix2": word[-2:].lower(),
        prefix + "prefix3": word[:3].lower(),
        prefix + "istitle": word.istitle(),
        prefix + "isupper": word.isupper(),
        prefix + "isdigit": word.isdigit(),
        prefix + "shape": shape(word),
    }


def features(toks):
    out = []
    for i in range(len(toks)):
        f = {"bias": 1.0}
        f.update(word_features(toks[i][0], ""))
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < len(toks):
                f.update(word_features(toks[j][0], f"{d:+d}:"))
            elif d in (-1, 1):
                f["BOS" if d < 0 else "EOS"] = True
        out.append(f)
    return out


def bio(toks, spans):
    tags, previous = [], None
    for _, start, _ in toks:
        hit = next((k for k, s in enumerate(spans) if s["start"] <= start < s["exclusive_end"]), None)
        if hit is None:
            tags.append("O")
        else:
            tags.append(("I-" if previous == hit else "B-") + spans[hit]["slot"])
        previous = hit
    return tags


def decode(toks, tags):
    spans = []
    for (_, start, end), tag in zip(toks, tags):
        if tag.startswith("I-") and spans and spans[-1]["slot"] == tag[2:]:
            spans[-1]["exclusive_end"] = end
        elif tag != "O":
            spans.append({"slot": tag[2:], "start": start, "exclusive_end": end})
    return spans


def span_f1(rows, predicted):
    tp = n_pred = n_gold = 0
    for row, spans in zip(rows, predicted):
        gold = {(s["start"], s["exclusive_end"], s["slot"]) for s in row["slots"]}
        pred = {(s["start"], s["exclusive_end"], s["slot"]) for s in spans}
        tp += len(gold & pred)
        n_pred += len(pred)
        n_gold += len(gold)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def fit(rows, c1, c2):
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=100, all_possible_transitions=True)
    toks = [tokens(r["text"]) for r in rows]
    crf.fit([features(t) for t in toks], [bio(t, r["slots"]) for t, r in zip(toks, rows)])
    return crf


def predict(crf, rows):
    toks = [tokens(r["text"]) for r in rows]
    tags = crf.predict([features(t) for t in toks])
    return [decode(t, g) for t, g in zip(toks, tags)]


def fold_score(rows, fold, c1, c2):
    train = [r for r in rows if hash_fold(r) != fold]
    held = [r for r in rows if hash_fold(r) == fold]
    return c1, c2, fold, span_f1(held, predict(fit(train, c1, c2), held))


def hash_fold(row):
    # Stable across runs (Python's hash() of a str is salted).
    return sum(row["dialogue_id"].encode()) % 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/sgd_entertainment")
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--c1", type=float, help="fit with this c1 (with --c2) instead of cross-validating")
    ap.add_argument("--c2", type=float)
    args = ap.parse_args()
    if (args.c1 is None) != (args.c2 is None):
        ap.error("--c1 and --c2 go together")
    train = read(f"{args.data}/train_turns.jsonl")
    test = read(f"{args.data}/test_turns.jsonl")
    started = time.time()
    grid = [(args.c1, args.c2)] if args.c1 is not None else list(itertools.product(C1, C2))
    scores = [] if args.c1 is not None else Parallel(n_jobs=args.jobs)(
        delayed(fold_score)(train, fold, c1, c2) for c1, c2 in grid for fold in range(3)
    )
    cv = {}
    for c1, c2, _, f1 in scores:
        cv.setdefault((c1, c2), []).append(f1)
    (c1, c2), f1s = max(cv.items(), key=lambda kv: sum(kv[1])) if cv else (grid[0], [])
    for (a, b), f in sorted(cv.items()):
        print(f"cv c1={a} c2={b}: span F1 {sum(f) / len(f):.4f}", file=sys.stderr)
    tuned = time.time() - started
    started = time.time()
    crf = fit(train, c1, c2)
    train_seconds = time.time() - started
    predicted = predict(crf, test)
    with open(args.out, "w", encoding="utf-8") as f:
        for row, spans in zip(test, predicted):
            keys = {k: row[k] for k in ("dialogue_id", "turn_index", "service")}
            f.write(json.dumps({**keys, "spans": spans}) + "\n")
    print(json.dumps({
        "peer": "sklearn-crfsuite",
        "c1": c1,
        "c2": c2,
        "cv_f1": sum(f1s) / len(f1s) if f1s else None,
        "cv_seconds": round(tuned, 1),
        "train_seconds": round(train_seconds, 1),
        "test_frames": len(test),
    }))


if __name__ == "__main__":
    main()

"""Out-of-scope scores from the frozen encoder beside the tuned one, offline
(BENCHMARKS.md, "Stop 51").

Fine-tuning pulls each intent's sentences together, and may pull an
out-of-scope sentence towards the nearest intent with them; the frozen
MiniLM space was trained on a billion sentence pairs and never saw the
intents. This script reads one tuned run (`parts.json`, with its
`embeddings.f32`) and one frozen run (`--fine-tune-layers 0`, its
`embeddings.f32`: the same sentences in the same order) and scores each val
and test message by:

- the frozen encoder's cosine with its nearest in-scope training sentence;
- the shipped confidence times that cosine, or times its square;
- the shipped confidence plus the frozen space's relative Mahalanobis
  distance (each standardised on val's in-scope messages).

Each threshold reaches OOS recall 0.85 on val; a message is also out of
scope when the OOS class wins. Prints val's in-scope accuracy there for
each score; test's figures only with `--test` (read once, after a choice).

    usher test nlu --data ../shared/data/clinc150/data_full.json --format clinc150 \
        --oos-recall 0.85 --save-probabilities --report /tmp/tuned
    usher test nlu --data ../shared/data/clinc150/data_full.json --format clinc150 \
        --fine-tune-layers 0 --oos-recall 0.85 --save-probabilities --report /tmp/frozen
    python3 bench/oos_frozen.py /tmp/tuned /tmp/frozen [--test]
"""
import json
import sys

import numpy as np

from oos_scores import OOS, SHIPPED, load, mahalanobis, rates, scores, standardised_sum, threshold_for_recall, vectors


def frozen_scores(directory):
    """Per split, the frozen space's nearest in-scope cosine and relative Mahalanobis."""
    splits, labels = vectors(directory)
    splits = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in splits.items()}
    x, y = splits["train"][labels != OOS], labels[labels != OOS]
    distances = mahalanobis(x, y)
    out = {}
    for name in ("val", "test"):
        v = splits[name]
        nearest, d0 = distances(v)
        out[name] = {"near": (v @ x.T).max(1), "relative": -(nearest - d0)}
    return out


def main():
    tuned_dir, frozen_dir = sys.argv[1], sys.argv[2]
    with_test = "--test" in sys.argv[3:]
    saved = json.load(open(f"{tuned_dir}/parts.json"))
    oos = saved["labels"].index(OOS)
    frozen = frozen_scores(frozen_dir)
    split_scores = {}
    for split in ("val", "test"):
        parts = load(saved, split)
        pred, s = scores(saved, *parts[:4], oos)
        shipped, near = s[SHIPPED], np.clip(frozen[split]["near"], 0, 1)
        split_scores[split] = (pred, parts[4], {
            SHIPPED: shipped,
            "(a) frozen nearest cosine": near,
            "(b) shipped x frozen nearest": shipped * near,
            "(c) shipped x frozen nearest^2": shipped * near**2,
        }, frozen[split]["relative"])
    pv, gv, sv, rel_v = split_scores["val"]
    _, _, st, rel_t = split_scores["test"]
    summed = standardised_sum(gv >= 0, [sv[SHIPPED], rel_v], [st[SHIPPED], rel_t])
    sv["(d) z(shipped) + z(frozen relative Mahalanobis)"], st["(d) z(shipped) + z(frozen relative Mahalanobis)"] = summed
    print("score | val in scope at 0.85 OOS recall" + (" | test in scope / OOS recall there" if with_test else ""))
    for name in sv:
        t = threshold_for_recall(pv, sv[name], gv, oos, 0.85)
        v, _ = rates(pv, sv[name], gv, oos, t)
        line = f"{name} | {v:.2%}"
        if with_test:
            pt, gt, st, _ = split_scores["test"]
            a, r = rates(pt, st[name], gt, oos, t)
            line += f" | {a:.2%} / {r:.2%}"
        print(line)


if __name__ == "__main__":
    main()

"""The nearest training sentences' vote under other k and scales, offline
(BENCHMARKS.md, "Stop 51").

`usher` mixes the vote of the ten training sentences nearest a message (a
softmax over their cosines x 20, summed per intent) into its confidences.
This script reads one `usher test nlu --save-probabilities` run (its
`parts.json` and the tuned encoder's sentence vectors, `embeddings.f32`),
recomputes the vote for each k and scale, mixes it the shipped way at the
run's weights and prints the accuracy on the run's test messages: on a
`--dev-only` run, the validation split, where choices are made.

    usher test nlu --data ../shared/data/banking77 --format banking77 --dev-only \
        --save-probabilities --report /tmp/dev42
    python3 bench/knn_vote.py /tmp/dev42
"""
import json
import sys

import numpy as np

from oos_scores import load, mixed, vectors

KS = (5, 10, 20, 40)
SCALES = (10.0, 20.0, 40.0)


def vote(sims, train_y, classes, k, scale):
    """The shipped vote (`knn_vote` in src/nlu/classifier.rs) for each row of `sims`."""
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, 1)
    w = np.exp((s - s.max(1, keepdims=True)) * scale)
    w /= w.sum(1, keepdims=True)
    out = np.zeros((len(sims), classes))
    np.add.at(out, (np.repeat(np.arange(len(sims)), k), train_y[top].ravel()), w.ravel())
    return out


def main():
    directory = sys.argv[1]
    saved = json.load(open(f"{directory}/parts.json"))
    splits, train_labels = vectors(directory)
    train_y = np.array([saved["labels"].index(l) for l in train_labels])
    head, cos, shipped_vote, _, gold = load(saved, "test")
    sims = splits["test"] @ splits["train"].T
    shipped = mixed(saved, head, cos, shipped_vote).argmax(1)
    print(f"shipped vote (k 10, scale 20) as saved: {np.mean(shipped == gold):.2%}")
    print("k \\ scale | " + " | ".join(f"{s:g}" for s in SCALES))
    for k in KS:
        votes = (vote(sims, train_y, len(saved["labels"]), k, s) for s in SCALES)
        row = [np.mean(mixed(saved, head, cos, v).argmax(1) == gold) for v in votes]
        print(f"{k} | " + " | ".join(f"{a:.2%}" for a in row))


if __name__ == "__main__":
    main()

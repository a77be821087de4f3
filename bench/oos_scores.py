"""Other out-of-scope scores, offline, on one `usher test nlu` run.

Reads the `parts.json` that `--save-probabilities` writes (each val and test
message's head, cosine-classifier and vote probabilities and its cosine with
the nearest training example) and, for each score, sets the threshold that
reaches OOS recall 0.85 on val (never test), then reports test's in-scope
accuracy and OOS recall at it, and at val's balanced threshold. The last
column is a ceiling, not a result: test's in-scope accuracy at the
threshold that reaches 0.85 OOS recall on test itself (an oracle
threshold; it chooses nothing, it says whether any threshold on that score
could meet the target). A message is also out of scope when the trained
OOS class wins. With `embeddings.f32` beside it (written whenever the sentence encoder is on), also distance scores on
the tuned sentence embeddings: Mahalanobis to the nearest intent (a shared
covariance; Lee et al. 2018), its relative form (minus the distance under
one Gaussian over all in-scope sentences; Ren et al. 2021), and the mean
cosine of the ten nearest training sentences, and the shipped confidence
plus relative Mahalanobis (each standardised on val's in-scope messages).

    usher test nlu --data ../shared/data/clinc150/data_full.json --format clinc150 \
        --oos-recall 0.85 --save-probabilities --report /tmp/clinc --json
    python3 bench/oos_scores.py /tmp/clinc/parts.json
"""
import json
import os
import sys

import numpy as np

OOS = "oos"
# The name of the confidence `usher` ships, among the scores below.
SHIPPED = "the shipped confidence (mix x nearest)"


def load(saved, split):
    labels = {l: i for i, l in enumerate(saved["labels"])}
    parts = saved[split]["parts"]
    head, cos, vote = (np.array([p[k] for p in parts]) for k in ("head", "cosine", "vote"))
    near = np.array([p["nearest"] for p in parts])
    gold = np.array([-1 if g == OOS else labels[g] for g in saved[split]["gold"]])
    return head, cos, vote, near, gold


def mixed(saved, head, cos, vote):
    """The shipped mix of the parts at the run's weights (`Parts::mix` in
    src/nlu/classifier.rs, before the nearest cosine scales it)."""
    c, k = saved["cosine_weight"], saved["knn_weight"]
    return (1 - k) * ((1 - c) * head + c * cos) + k * vote


def scores(saved, head, cos, vote, near, oos):
    p = mixed(saved, head, cos, vote)
    scope = p.copy()
    scope[:, oos] = -1
    near = np.clip(near, 0, 1)
    return p.argmax(1), {
        SHIPPED: p.max(1) * near,
        "nearest cosine alone (deep k-NN)": near,
        "the mix alone": p.max(1),
        "mix x nearest^2": p.max(1) * near**2,
        "(best in scope - OOS class) x nearest": (scope.max(1) - p[:, oos]) * near,
        "head's best x nearest": head.max(1) * near,
        "cosine classifier's best x nearest": cos.max(1) * near,
        "cosine classifier's best x nearest^3": cos.max(1) * near**3,
    }


def precision(centred):
    """The inverse of the covariance of already centred rows (lightly regularised)."""
    return np.linalg.inv(centred.T @ centred / len(centred) + 1e-6 * np.eye(centred.shape[1]))


def vectors(directory):
    """The sentence vectors of train, val and test (`embeddings.f32`), and train's labels."""
    meta = json.load(open(f"{directory}/embeddings.json"))
    labels = meta["labels"]
    raw = np.fromfile(f"{directory}/embeddings.f32", dtype="<f4").reshape(-1, meta["dim"])
    n_train, n_val = len(labels["train"]), len(labels["val"])
    splits = {"train": raw[:n_train], "val": raw[n_train:n_train + n_val], "test": raw[n_train + n_val:]}
    return splits, np.array(labels["train"])


def mahalanobis(x, y):
    """From in-scope training vectors `x` and their intents `y`: a function
    giving each row of `v` its Mahalanobis distance to the nearest intent's
    mean (one shared covariance) and its distance under one Gaussian over
    all of `x`."""
    classes = sorted(set(y))
    means = np.stack([x[y == c].mean(0) for c in classes])
    shared = precision(x - means[np.searchsorted(classes, y)])
    background = x.mean(0)
    overall = precision(x - background)

    def distances(v):
        # (v - m) P (v - m) for every intent mean m at once.
        vp = v @ shared
        d = (vp * v).sum(1)[:, None] - 2 * vp @ means.T + ((means @ shared) * means).sum(1)[None, :]
        off = v - background
        return d.min(1), ((off @ overall) * off).sum(1)

    return distances


def standardised_sum(scope, val, test):
    """Scores summed with equal weights, each standardised by its mean and
    spread over val's in-scope messages (`scope`); `val` and `test` list
    the same scores in the same order. Returns the sums on val and test."""
    stats = [(v[scope].mean(), v[scope].std()) for v in val]
    return tuple(sum((a - m) / d for a, (m, d) in zip(arrays, stats)) for arrays in (val, test))


def distance_scores(directory):
    splits, train_y = vectors(directory)
    distances = mahalanobis(splits["train"][train_y != OOS], train_y[train_y != OOS])
    out = {}
    for split in ("val", "test"):
        v = splits[split]
        nearest, d0 = distances(v)
        top10 = -np.sort(-(v @ splits["train"].T), 1)[:, :10].mean(1)
        out[split] = {
            "Mahalanobis to the nearest intent": -nearest,
            "relative Mahalanobis": -(nearest - d0),
            "mean cosine of the 10 nearest": top10,
        }
    return out


def rates(pred, score, gold, oos, t):
    rejected = (pred == oos) | (score < t)
    scope = gold >= 0
    return np.mean(~rejected[scope] & (pred[scope] == gold[scope])), np.mean(rejected[~scope])


def threshold_for_recall(pred, score, gold, oos, recall):
    missed = np.sort(score[(gold < 0) & (pred != oos)])
    need = int(np.ceil(recall * np.sum(gold < 0) - np.sum((gold < 0) & (pred == oos)) - 1e-9))
    return -np.inf if need <= 0 else np.nextafter(missed[need - 1], np.inf)


def balanced(pred, score, gold, oos):
    return max(np.unique(score), key=lambda t: sum(rates(pred, score, gold, oos, t)))


def main():
    saved = json.load(open(sys.argv[1]))
    oos = saved["labels"].index(OOS)
    val, test = load(saved, "val"), load(saved, "test")
    pv, sv = scores(saved, *val[:4], oos)
    pt, st = scores(saved, *test[:4], oos)
    try:
        extra = distance_scores(os.path.dirname(sys.argv[1]) or ".")
        sv.update(extra["val"])
        st.update(extra["test"])
        # The shipped confidence and relative Mahalanobis, each standardised
        # on val's in-scope messages, summed with equal weights.
        keys = (SHIPPED, "relative Mahalanobis")
        summed = standardised_sum(val[4] >= 0, [sv[k] for k in keys], [st[k] for k in keys])
        sv["z(shipped) + z(relative Mahalanobis)"], st["z(shipped) + z(relative Mahalanobis)"] = summed
    except FileNotFoundError:
        pass
    print(
        "score | val in scope at 0.85 | test in scope / recall there | test at val's balanced threshold"
        " | ceiling: test in scope at 0.85 on test"
    )
    for name in sv:
        t = threshold_for_recall(pv, sv[name], val[4], oos, 0.85)
        v, _ = rates(pv, sv[name], val[4], oos, t)
        a, r = rates(pt, st[name], test[4], oos, t)
        ab, rb = rates(pt, st[name], test[4], oos, balanced(pv, sv[name], val[4], oos))
        ceiling, _ = rates(pt, st[name], test[4], oos, threshold_for_recall(pt, st[name], test[4], oos, 0.85))
        print(f"{name} | {v:.2%} | {a:.2%} / {r:.2%} | {ab:.2%} / {rb:.2%} | {ceiling:.2%}")


if __name__ == "__main__":
    main()

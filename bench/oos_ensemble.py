"""Several `usher test nlu` runs as one classifier, offline (BENCHMARKS.md, "Stop 50").

Each run's `parts.json` (`--save-probabilities`) holds every val and test
message's head, cosine-classifier and vote probabilities and its cosine with
the nearest training sentence. The ensemble averages each part over the runs
(trained with different seeds on the same data) and mixes them with the
first run's weights, the shipped way; the confidence is the mix times the
mean nearest cosine. Reports val's in-scope accuracy at the threshold
reaching OOS recall 0.85 on val for each run alone and for the ensemble;
with `--test`, test's figures at that threshold too (read once, after the
choice).

    for s in 42 43; do usher test nlu --data ../shared/data/clinc150/data_full.json \
        --format clinc150 --seed $s --oos-recall 0.85 --save-probabilities --report /tmp/clinc$s; done
    python3 bench/oos_ensemble.py /tmp/clinc42/parts.json /tmp/clinc43/parts.json [--test]
"""
import json
import sys

import numpy as np

from oos_scores import OOS, SHIPPED, load, rates, scores, threshold_for_recall


def averaged(runs, split):
    """The parts of `split` averaged over the runs (the same labels in the same order)."""
    parts = [load(saved, split) for saved in runs]
    gold = parts[0][4]
    assert all((p[4] == gold).all() for p in parts), "the runs must share their data"
    return tuple(np.mean([p[i] for p in parts], axis=0) for i in range(4)) + (gold,)


def figures(saved, val, test, oos):
    """Val's figure, and test's at val's threshold when `test` is given."""
    pv, sv = scores(saved, *val[:4], oos)
    t = threshold_for_recall(pv, sv[SHIPPED], val[4], oos, 0.85)
    v, _ = rates(pv, sv[SHIPPED], val[4], oos, t)
    line = f"val in scope at 0.85 OOS recall {v:.2%}"
    if test is not None:
        pt, st = scores(saved, *test[:4], oos)
        a, r = rates(pt, st[SHIPPED], test[4], oos, t)
        line += f" | test in scope {a:.2%} / OOS recall {r:.2%}"
    return line


def main():
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    read_test = "--test" in sys.argv
    runs = [json.load(open(p)) for p in paths]
    assert all(r["labels"] == runs[0]["labels"] for r in runs), "the runs must share their labels"
    oos = runs[0]["labels"].index(OOS)
    for path, saved in zip(paths, runs):
        test = load(saved, "test") if read_test else None
        print(f"{path}: {figures(saved, load(saved, 'val'), test, oos)}")
    test = averaged(runs, "test") if read_test else None
    print(f"ensemble of {len(runs)}: {figures(runs[0], averaged(runs, 'val'), test, oos)}")


if __name__ == "__main__":
    main()

"""The recommender peer a Python user would run: implicit's ALS (and BPR).

Same protocol as `usher test recs`: MovieLens ml-latest-small, leave-one-out
split in splits/, the held-out item ranked against the whole catalogue with
the user's own items excluded, HR@10 and NDCG@10. Hyperparameters are chosen
by NDCG@10 on the validation split (trained on train); the chosen setting is
then refitted on train + valid and measured once on test.

Prints one JSON line per method (the format `usher test recs --peers` reads).
Run: bench/recs.sh (which runs this and Usher in one go).
"""

import argparse
import csv
import itertools
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from implicit.als import AlternatingLeastSquares  # noqa: E402
from implicit.bpr import BayesianPersonalizedRanking  # noqa: E402


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load(data):
    movies = read(os.path.join(data, "movies.csv"))
    index = {m["movieId"]: i + 1 for i, m in enumerate(movies)}  # 0 is padding, as in Usher
    def split(name):
        out = {}
        for r in read(os.path.join(data, "splits", name)):
            out.setdefault(int(r["userId"]), []).append(index[r["movieId"]])
        return out
    train, valid, test = split("train.csv"), split("valid.csv"), split("test.csv")
    users = sorted(train)
    return (len(movies) + 1, [train[u] for u in users], [valid[u][0] for u in users], [test[u][0] for u in users])


def matrix(histories, rows):
    r, c = [], []
    for u, h in enumerate(histories):
        for i in set(h):
            r.append(u)
            c.append(i)
    return sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(histories), rows))


def metrics(scores, histories, targets):
    ranks = []
    for u, (h, t) in enumerate(zip(histories, targets)):
        s = scores[u].copy()
        s[0] = -np.inf
        s[list(set(h))] = -np.inf
        # Ties count against the target when the other item has a smaller number, as in Usher.
        higher = np.sum(s > s[t]) + np.sum(s[:t] == s[t])
        ranks.append(int(higher))
    ranks = np.array(ranks)
    hit = ranks < 10
    return {
        "hr10": float(hit.mean()),
        "ndcg10": float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean()),
        "cases": len(ranks),
    }


def fit_score(make, histories, rows):
    m = make()
    m.fit(matrix(histories, rows), show_progress=False)
    uf, itf = m.user_factors, m.item_factors
    if hasattr(uf, "to_numpy"):
        uf, itf = uf.to_numpy(), itf.to_numpy()
    return uf @ itf.T


def tune(name, grid, build, rows, train, valid, test, log):
    full = [h + [v] for h, v in zip(train, valid)]
    best = None
    for params in grid:
        started = time.time()
        m = metrics(fit_score(lambda: build(params), train, rows), train, valid)
        log(f"{name} {params}: valid NDCG@10 {m['ndcg10']:.4f} ({time.time() - started:.1f} s)")
        if best is None or m["ndcg10"] > best[1]["ndcg10"]:
            best = (params, m)
    params, valid_m = best
    test_m = metrics(fit_score(lambda: build(params), full, rows), full, test)
    note = ", ".join(f"{k}={v}" for k, v in params.items()) + " chosen on valid"
    return {"name": name, "valid": valid_m, "test": test_m, "note": note}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/movielens")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)
    rows, train, valid, test = load(a.data)
    log(f"{len(train)} users, {rows - 1} items")
    als_grid = [
        {"factors": f, "regularization": r, "alpha": al, "iterations": 20}
        for f, r, al in itertools.product([32, 64, 128], [0.01, 0.1, 1.0], [1.0, 5.0, 20.0])
    ]
    als = tune(
        "implicit ALS",
        als_grid,
        lambda q: AlternatingLeastSquares(random_state=a.seed, num_threads=2, **q),
        rows, train, valid, test, log,
    )
    print(json.dumps(als), flush=True)
    bpr_grid = [
        {"factors": f, "learning_rate": lr, "regularization": 0.01, "iterations": it}
        for f, lr, it in itertools.product([64, 128], [0.01, 0.05], [100, 300])
    ]
    bpr = tune(
        "implicit BPR",
        bpr_grid,
        lambda q: BayesianPersonalizedRanking(random_state=a.seed, num_threads=2, **q),
        rows, train, valid, test, log,
    )
    print(json.dumps(bpr), flush=True)


if __name__ == "__main__":
    main()

"""CLINC150 out-of-scope detection on Usher's own MiniLM embeddings.

Reads the embedding cache that `usher test nlu --format clinc150` leaves in
DATA_DIR/models (so the vectors are exactly the ones Usher's head saw) and
compares, with a logistic-regression head (the peer's):

- the in-scope accuracy ceiling of a frozen encoder (no OOS rejection);
- OOS by softmax confidence, and by confidence x nearest-training-example
  cosine, each with the threshold that maximises in-scope accuracy + OOS
  recall on val + oos_val (never the test split).

    usher test nlu --data ../shared/data/clinc150/data_full.json --format clinc150
    python3 bench/clinc_oos.py [--data ../shared/data/clinc150/data_full.json] [--cache data/models]
"""
import argparse
import glob
import hashlib
import json

import numpy as np
from sklearn.linear_model import LogisticRegression


def load_cache(directory, dim=384):
    path = glob.glob(f"{directory}/embeddings-*.bin")[0]
    raw = open(path, "rb").read()
    rec = 32 + 4 * dim
    return {raw[i:i + 32]: np.frombuffer(raw[i + 32:i + rec], dtype="<f4") for i in range(0, len(raw) // rec * rec, rec)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/clinc150/data_full.json")
    ap.add_argument("--cache", default="data/models")
    args = ap.parse_args()
    cache = load_cache(args.cache)
    data = json.load(open(args.data))

    def split(name):
        rows = data[name]
        missing = sum(hashlib.sha256(t.encode()).digest() not in cache for t, _ in rows)
        if missing:
            raise SystemExit(f"{missing} {name} texts are not in the cache: run `usher test nlu` on CLINC150 first")
        return np.stack([cache[hashlib.sha256(t.encode()).digest()] for t, _ in rows]), [l for _, l in rows]

    x_train, y_train = split("train")
    x_val, y_val = split("val")
    x_oval, _ = split("oos_val")
    x_test, y_test = split("test")
    x_otest, _ = split("oos_test")
    labels = {l: i for i, l in enumerate(sorted(set(y_train)))}
    y_train, y_val, y_test = (np.array([labels[l] for l in y]) for y in (y_train, y_val, y_test))

    head = LogisticRegression(C=10, max_iter=2000).fit(x_train, y_train)
    nearest = lambda x: (x @ x_train.T).max(1)
    print(f"in-scope accuracy with no OOS rejection (the ceiling): {np.mean(head.predict(x_test) == y_test) * 100:.2f} %")
    scores = {
        "softmax confidence": lambda x: head.predict_proba(x).max(1),
        "confidence x nearest-example cosine": lambda x: head.predict_proba(x).max(1) * nearest(x),
    }
    for name, score in scores.items():
        sv, so = score(x_val), score(x_oval)
        pv = head.predict(x_val)
        best = max(np.unique(np.concatenate([sv, so])),
                   key=lambda t: np.mean((sv >= t) & (pv == y_val)) + np.mean(so < t))
        st, sot, pt = score(x_test), score(x_otest), head.predict(x_test)
        ins = np.mean((st >= best) & (pt == y_test)) * 100
        oos = np.mean(sot < best) * 100
        print(f"{name:38s} in-scope {ins:.2f} %  OOS recall {oos:.2f} %  (threshold {best:.3f}, from val)")


if __name__ == "__main__":
    main()

"""The frozen encoder's head mixed into a tuned run's confidences, offline
(BENCHMARKS.md, "Stop 51").

`usher serve` trains a head over the frozen encoder first and answers with
it while the layers are tuned. This script reads a tuned run's `parts.json`
and a frozen run's (`--fine-tune-layers 0`, the same data and split), mixes
the tuned run's confidences the shipped way, then mixes the frozen head's
probabilities in with weight f, and prints the accuracy on the runs' test
messages for each f: on `--dev-only` runs, the validation split.

    usher test nlu --data ../shared/data/banking77 --format banking77 --dev-only \
        --save-probabilities --report /tmp/dev42
    usher test nlu --data ../shared/data/banking77 --format banking77 --dev-only \
        --fine-tune-layers 0 --save-probabilities --report /tmp/devfrozen
    python3 bench/frozen_mix.py /tmp/dev42 /tmp/devfrozen
"""
import json
import sys

import numpy as np

from oos_scores import load, mixed

WEIGHTS = (0.0, 0.1, 0.2, 0.3)


def main():
    tuned = json.load(open(f"{sys.argv[1]}/parts.json"))
    frozen = json.load(open(f"{sys.argv[2]}/parts.json"))
    assert tuned["labels"] == frozen["labels"] and tuned["test"]["gold"] == frozen["test"]["gold"]
    head, cos, vote, _, gold = load(tuned, "test")
    mix = mixed(tuned, head, cos, vote)
    still = load(frozen, "test")[0]
    print(f"frozen head alone: {np.mean(still.argmax(1) == gold):.2%}")
    for f in WEIGHTS:
        print(f"frozen weight {f}: {np.mean(((1 - f) * mix + f * still).argmax(1) == gold):.2%}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The entertainment-slot table of BENCHMARKS.md in one run: the CRF peer
# (bench/slots_peer.py, c1 and c2 by 3-fold cross-validation on train) and
# then Usher's tagger, both scored by `usher test entities --format sgd`
# with the same scorer and the same schema map.
#   bench/slots.sh [SGD_DIR] [EPOCHS]
# USHER_BIN: the usher binary (default: the release build in
# CARGO_TARGET_DIR); PEER_PYTHON: a Python with sklearn-crfsuite
# (bench/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/sgd_entertainment}"
epochs="${2:-12}"
bin="${USHER_BIN:-${CARGO_TARGET_DIR:-target}/release/usher}"
python="${PEER_PYTHON:-python3}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
printf 'nlu: {encoder: %s/models/all-MiniLM-L6-v2}\n' "$PWD" > "$work/config.yaml"
echo "peer: CRF, tuned by cross-validation on train" >&2
"$python" bench/slots_peer.py --data "$data" --out "$work/crf.jsonl" | tail -1
"$bin" --config "$work/config.yaml" test entities --format sgd --data "$data" --epochs "$epochs" --peer "$work/crf.jsonl" --json

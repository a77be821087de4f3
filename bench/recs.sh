#!/usr/bin/env bash
# The recommendation table of BENCHMARKS.md in one run: implicit's ALS and
# BPR (bench/recs_peer.py, hyperparameters chosen on valid), then Usher's
# recommender with most-popular and item-kNN, on the same split, and one
# table of all of them (plus cold start).
#   bench/recs.sh [MOVIELENS_DIR] [usher test recs options...]
# USHER_BIN: the usher binary (default: the dev build in CARGO_TARGET_DIR);
# PEER_PYTHON: a Python with bench/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/movielens}"
shift || true
bin="${USHER_BIN:-${CARGO_TARGET_DIR:-target}/debug/usher}"
python="${PEER_PYTHON:-python3}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
started=$(date +%s)
"$python" bench/recs_peer.py --data "$data" > "$work/peers.jsonl"
echo "peers: $(( $(date +%s) - started )) s" >&2
"$bin" test recs --data "$data" --peers "$work/peers.jsonl" "$@"

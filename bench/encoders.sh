#!/usr/bin/env bash
# The encoder table of BENCHMARKS.md in one run: Usher's packed encoder with
# int8 products, int8 weights and f32, then the PyTorch peer, one after the
# other on the same sentences, and one table of the results.
#   bench/encoders.sh [DATA.csv] [SENTENCES]
# USHER_BIN: the usher binary (default: the release build in
# CARGO_TARGET_DIR); PEER_PYTHON: a Python with bench/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/banking77/test.csv}"
n="${2:-1000}"
bin="${USHER_BIN:-${CARGO_TARGET_DIR:-target}/release/usher}"
python="${PEER_PYTHON:-python3}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
rows=()
for precision in int8-compute int8 f32; do
  printf 'nlu: {encoder: %s/models/all-MiniLM-L6-v2, cpu_precision: %s}\n' "$PWD" "$precision" > "$work/config.yaml"
  out="$("$bin" --config "$work/config.yaml" bench encoder --data "$data" --sentences "$n" --json | tail -1)"
  rows+=("usher $precision|$out")
done
out="$("$python" bench/peer.py encoder --data "$data" --sentences "$n" | tail -1)"
rows+=("peer (PyTorch)|$out")
printf '| %-20s | %12s | %12s | %8s | %8s |\n' "" "batch 64 /s" "batch 1 /s" "p50 ms" "p99 ms"
printf '| %-20s | %12s | %12s | %8s | %8s |\n' "---" "---" "---" "---" "---"
for row in "${rows[@]}"; do
  name="${row%%|*}"; json="${row#*|}"
  python3 - "$name" "$json" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
print(f"| {name:<20} | {r['batch64_per_s']:12.0f} | {r['batch1_per_s']:12.0f} | {r['p50_ms']:8.2f} | {r['p99_ms']:8.2f} |")
PY
done

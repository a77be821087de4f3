#!/usr/bin/env bash
# Builds `usher` with `--features cuda` on a machine WITHOUT a GPU or CUDA
# toolkit (the binary then runs on a machine with an NVIDIA driver and the
# CUDA 13 runtime libraries, e.g. the ones PyTorch's wheels install):
#   - nvcc 13.0 and headers come from NVIDIA's PyPI wheels (pip download);
#   - libcuda/cublas/curand/nvrtc are linked against stub libraries whose
#     symbol lists are read from cudarc's bindings; the real ones load at run time.
# Output: $CARGO_TARGET_DIR/release/usher. Set CUDA_COMPUTE_CAP for your GPU (90 = H100/H200).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${CUDA_WORK:-/var/tmp/usher-cuda-toolchain}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/usher-target-cuda}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
V=13.0.88
mkdir -p "$WORK/wheels" "$WORK/root/lib/stubs"
if [ ! -x "$WORK/wheels/nvidia/cu13/bin/nvcc" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$WORK/wheels" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
    --python-version 3.12 "nvidia-cuda-nvcc==$V" "nvidia-cuda-crt==$V" "nvidia-cuda-runtime==$V" \
    "nvidia-nvvm==$V" "nvidia-cuda-cccl==13.0.85"
  for w in "$WORK"/wheels/*.whl; do unzip -q -o "$w" -d "$WORK/wheels"; done
  chmod +x "$WORK"/wheels/nvidia/cu13/bin/* "$WORK"/wheels/nvidia/cu13/nvvm/bin/*
fi
CU="$WORK/wheels/nvidia/cu13"
R="$WORK/root"
ln -sfn "$CU/bin" "$R/bin"; ln -sfn "$CU/include" "$R/include"; ln -sfn "$CU/nvvm" "$R/nvvm"
cp -a "$CU"/lib/* "$R/lib/"; ln -sf libcudart.so.13 "$R/lib/libcudart.so"
cargo fetch -q
CUDARC=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 1 -type d -name 'cudarc-0.19*' | sort | tail -1)
for spec in driver:cuda:libcuda.so.1 nvrtc:nvrtc:libnvrtc.so.13 curand:curand:libcurand.so.10 \
            cublas:cublas:libcublas.so.13 cublaslt:cublasLt:libcublasLt.so.13; do
  IFS=: read -r module lib soname <<< "$spec"
  grep -rhoE 'fn [A-Za-z][A-Za-z0-9_]*\(' "$CUDARC/src/$module/sys/" | sed -E 's/fn ([A-Za-z0-9_]+)\(/\1/' \
    | grep -E '^(cu|nvrtc|curand|cublas)' | sort -u | awk '{print "void "$1"(void){}"}' > "$R/lib/stubs/$lib.c"
  gcc -shared -fPIC -w -Wl,-soname,"$soname" -o "$R/lib/stubs/lib$lib.so" "$R/lib/stubs/$lib.c"
done
export CUDA_ROOT="$R" CUDA_HOME="$R" CUDA_PATH="$R" PATH="$R/bin:$PATH" CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH="$R/lib/stubs:$R/lib"
cargo build --release --features cuda --bin usher
echo "built $CARGO_TARGET_DIR/release/usher (needs libcuda.so.1 and the CUDA 13 cublas/curand/cudart at run time)"

#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 600) with AddressSanitizer.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Findings land in fuzz/artifacts/<target>/: fix them, then copy each into
# crates/fuzz-checks/regressions/<target>/ so `cargo test` replays it.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(intent_loader inbound)
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/usher-fuzz-target}"
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus"
    cp -n crates/fuzz-checks/regressions/"$t"/* "$corpus"/ 2>/dev/null || true
    [ "$t" = intent_loader ] && cp -n intents/*.yaml "$corpus"/ 2>/dev/null || true
    echo "== $t for ${seconds}s"
    cargo +nightly fuzz run "$t" "$corpus" -- -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -dict=fuzz/dicts/"$t".dict -print_final_stats=1
done

#!/usr/bin/env bash
# Start-up time and memory: starts `usher serve` (release build) on the demo
# domain with the MiniLM encoder, the sentiment GRU and the knowledge base,
# and prints, as one JSON line, the seconds until /readyz answers 200 and the
# resident memory (VmRSS, VmHWM) at idle. Run it twice: the first start
# trains and indexes (cold), the second reuses the caches (warm). With
# LOAD_RATE set, it then runs an open-loop load (LOAD_FANS fans, default
# 1000, LOAD_RATE messages/s for LOAD_SECONDS, default 60) and adds the
# peak resident memory under it.
#   scripts/bench-startup.sh [DATA_DIR]   (default: a fresh temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${USHER_BIN:-${CARGO_TARGET_DIR:-target}/release/usher}"
port="${PORT:-18097}"
data="${1:-$(mktemp -d)}"
scripts/bench-config.sh "$port" "$data/data" > "$data/config.yaml"
start=$(date +%s.%N)
"$bin" serve --config "$data/config.yaml" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do
  kill -0 $pid 2>/dev/null || { cat "$data/serve.log"; exit 1; }
  sleep 0.05
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
sleep 5
rss() { awk -v k="$1:" '$1 == k {print $2}' /proc/$pid/status; }
idle=$(rss VmRSS)
peak=""
if [ -n "${LOAD_RATE:-}" ]; then
  "$bin" bench load --url "ws://127.0.0.1:$port/ws" --fans "${LOAD_FANS:-1000}" --rate "$LOAD_RATE" \
    --duration "${LOAD_SECONDS:-60}" --json > "$data/load.json" || true
  peak=$(rss VmHWM)
fi
printf '{"ready_s": %.2f, "idle_rss_mb": %.1f, "hwm_mb": %.1f%s}\n' "$ready" "$(echo "$idle / 1024" | bc -l)" \
  "$(echo "$(rss VmHWM) / 1024" | bc -l)" "${peak:+, \"load_hwm_mb\": $(echo "$peak / 1024" | bc -l)}"

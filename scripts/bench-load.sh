#!/usr/bin/env bash
# Load benchmark: starts `usher serve` (release build) on SQLite or on a fresh
# PostgreSQL database, then runs `usher bench load` at each fan count and
# prints one JSON line per run. Usage:
#   scripts/bench-load.sh sqlite|postgres [FANS...]   (default: 100 500 1000)
# Messages per fan: MESSAGES (default 20). PostgreSQL admin URL:
# USHER_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
# USHER_BIN: an already built binary (skips the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
store="${1:-sqlite}"; shift || true
fans=("${@:-100 500 1000}"); fans=(${fans[@]})
messages="${MESSAGES:-20}"
timeout="${TIMEOUT:-900}"
port="${PORT:-18099}"
bin="${USHER_BIN:-${CARGO_TARGET_DIR:-target}/release/usher}"
[ -n "${USHER_BIN:-}" ] || cargo build --release --quiet
work="$(mktemp -d)"
admin="${USHER_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
db="usher_bench_$$"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ "$store" = postgres ] && psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
store_yaml="store: {kind: sqlite}"
if [ "$store" = postgres ]; then
  psql -q "$admin" -c "CREATE DATABASE $db"
  export DATABASE_URL="${admin%/*}/$db"
  store_yaml="store: {kind: postgres, pool_size: 16}"
fi
# The demo domain with the MiniLM encoder when fetched; limits opened up:
# every fan comes from 127.0.0.1 and sends 20 messages in a few seconds.
cat > "$work/config.yaml" <<YAML
http: {host: 127.0.0.1, port: $port, ip_per_second: 100000, ip_burst: 100000, conversation_per_minute: 600, conversation_burst: 100}
data_dir: $work/data
intents: $PWD/intents
nlu: {encoder: $PWD/models/all-MiniLM-L6-v2, sentiment: $PWD/models/sentiment}
knowledge: {dir: $PWD/knowledge}
$store_yaml
YAML
"$bin" serve --config "$work/config.yaml" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do grep -q "usher listening" "$work/serve.log" && break; sleep 0.5; done
grep -q "usher listening" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }
status=0
for n in "${fans[@]}"; do
  out="$("$bin" bench load --url "ws://127.0.0.1:$port/ws" --clients "$n" --messages "$messages" --timeout "$timeout" --json)" || status=1
  echo "$out" | tail -1 | sed "s/^{/{\"store\":\"$store\",/"
done
exit $status

#!/usr/bin/env bash
# Load benchmark: starts `usher serve` (release build) on SQLite or on a fresh
# PostgreSQL database, then runs `usher bench load` once per point and
# prints one JSON line per run. Usage:
#   scripts/bench-load.sh sqlite|postgres closed [FANS...]  (default: 100 500 1000)
#   scripts/bench-load.sh sqlite|postgres open [RATES...]   (default: 25 50 100 150 200 250)
# Closed loop: MESSAGES per fan (default 20), each sent when the previous is
# answered. Open loop: FANS fans (default 1000), Poisson arrivals at each
# rate for DURATION seconds (default 60). Latency against offered load:
#   usher bench plot-load sqlite.jsonl postgres.jsonl --out load.png
# PostgreSQL admin URL:
# USHER_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
# USHER_BIN: an already built binary (skips the release build); WARM: see
# below; PRECISION:
# nlu.cpu_precision (default int8-compute); PRIVACY: the privacy section.
# Retention and erasure under load: SEED_FANS fans (each SEED_MESSAGES
# messages, default MESSAGES) chat first; their conversations are then
# made AGE_DAYS (default 400) days old in the store, so a retention sweep
# (PRIVACY='{retention_days: 30, sweep_minutes: 1}') deletes them while the
# points run; ERASE=N erases N of them with `usher fans erase`, one after
# another, during each point. A last JSON line counts what was deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
store="${1:-sqlite}"; shift || true
mode="${1:-closed}"; shift || true
case "$mode" in
  closed) points=("${@:-100 500 1000}") ;;
  open) points=("${@:-25 50 100 150 200 250}") ;;
  *) echo "mode must be closed or open, not $mode" >&2; exit 2 ;;
esac
points=(${points[@]})
messages="${MESSAGES:-20}"
open_fans="${FANS:-1000}"
duration="${DURATION:-60}"
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
# WARM: a data directory of an earlier run whose model caches (not its
# database) are reused, so the server starts in seconds.
if [ -n "${WARM:-}" ]; then
  mkdir -p "$work/data" && cp -r "$WARM"/. "$work/data" && rm -f "$work/data"/usher.db*
fi
scripts/bench-config.sh "$port" "$work/data" "$store_yaml" > "$work/config.yaml"
"$bin" serve --config "$work/config.yaml" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do grep -q "usher listening" "$work/serve.log" && break; sleep 0.5; done
grep -q "usher listening" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }
# After a cold start the shipped settings fine-tune the encoder in the
# background (nlu.fine_tune_layers): measure once the tuned model serves.
if grep -q "fine-tuning the encoder in the background" "$work/serve.log"; then
  for _ in $(seq 1800); do grep -q "background fine-tuning" "$work/serve.log" && break; sleep 0.5; done
fi
sql() {
  if [ "$store" = postgres ]; then psql -qtA "$DATABASE_URL" -c "$1"; else sqlite3 -cmd ".timeout 10000" "$work/data/usher.db" "$1"; fi
}
if [ "${SEED_FANS:-0}" -gt 0 ]; then
  "$bin" bench load --url "ws://127.0.0.1:$port/ws" --fans "$SEED_FANS" --messages "${SEED_MESSAGES:-$messages}" \
    --timeout "$timeout" --json > "$work/seed.json" || { echo "seeding failed" >&2; tail -5 "$work/seed.json" >&2; exit 1; }
  sql "UPDATE conversations SET updated_ms = updated_ms - ${AGE_DAYS:-400} * 86400000" > /dev/null
  sql "SELECT id FROM conversations" > "$work/seeded"
fi
erased=0
erase() {
  local n=0
  while read -r id && [ "$n" -lt "${ERASE:-0}" ]; do
    "$bin" fans erase --config "$work/config.yaml" --conversation "$id" > /dev/null 2>> "$work/erase.log" && n=$((n + 1))
  done < <(tail -n "+$((erased + 1))" "$work/seeded")
  echo "$n"
}
status=0
for p in "${points[@]}"; do
  if [ "$mode" = open ]; then
    run=(--fans "$open_fans" --rate "$p" --duration "$duration")
  else
    run=(--fans "$p" --messages "$messages")
  fi
  [ "${ERASE:-0}" -gt 0 ] && { erase > "$work/erased" & eraser=$!; }
  out="$("$bin" bench load --url "ws://127.0.0.1:$port/ws" "${run[@]}" --timeout "$timeout" --json)" || status=1
  if [ -n "${eraser:-}" ]; then wait "$eraser"; erased=$((erased + $(cat "$work/erased"))); unset eraser; fi
  echo "$out" | tail -1 | sed "s/^{/{\"store\":\"$store\",/"
done
if [ "${SEED_FANS:-0}" -gt 0 ]; then
  swept=$(sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep retention | grep -o 'conversations=[0-9]*' | cut -d= -f2 | paste -sd+ | bc)
  echo "{\"store\":\"$store\",\"seeded\":$(wc -l < "$work/seeded"),\"retention_deleted\":${swept:-0},\"erased\":$erased,\"left\":$(sql "SELECT count(*) FROM conversations WHERE updated_ms < $(( $(date +%s) * 1000 - 30 * 86400000 ))")}"
fi
exit $status

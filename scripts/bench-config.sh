#!/usr/bin/env bash
# The benchmarks' config.yaml on stdout: the demo domain with the MiniLM
# encoder, the sentiment model, the knowledge base and the demo backend (on
# PORT + 1), limits opened up (every benchmark fan comes from 127.0.0.1).
#   scripts/bench-config.sh PORT DATA_DIR [STORE_YAML]
# PRECISION: nlu.cpu_precision (default int8-compute, as in config.yaml).
# SENTIMENT: the sentiment model's directory (default models/sentiment).
# PRIVACY: the privacy section as YAML (`{redact: false}`; default: the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
port="$1"; data="$2"; store="${3:-store: {kind: sqlite\}}"
cat <<YAML
http: {host: 127.0.0.1, port: $port, ip_per_second: 100000, ip_burst: 100000, conversation_per_minute: 600, conversation_burst: 100}
data_dir: $data
intents: $PWD/intents
nlu: {encoder: $PWD/models/all-MiniLM-L6-v2, sentiment: $PWD/${SENTIMENT:-models/sentiment}, cpu_precision: ${PRECISION:-int8-compute}}
knowledge: {dir: $PWD/knowledge}
actions: {endpoints: {encore: {url: "http://127.0.0.1:$((port + 1))"}}, demo_backend: {listen: "127.0.0.1:$((port + 1))"}}
$store
privacy: ${PRIVACY:-{\}}
YAML

#!/usr/bin/env bash
# Two gateway nodes on one PostgreSQL schema against one node, under the same total load: what
# the appenders' lock on the shared audit chain costs. Both gateways are pinned to CPU 0, the load
# generators to CPU 1; each run is HMAC, closed loop, 10 s. Prints verifies/s and p50 per run.
#
#   cargo build --release -p gateway -p loadtest
#   benches/scripts/two_nodes_on_postgres.sh [CONNECTIONS_PER_NODE]   # default 64
#
# PostgreSQL: MIANZHENG_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test (a schema of
# its own, dropped afterwards). Talks to 127.0.0.1 only and stops by itself.
set -euo pipefail
per_node=${1:-64}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
db=${MIANZHENG_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema=mz_two_nodes_$$
work=$(mktemp -d)
cleanup() {
  pkill -f "$work/node-" 2>/dev/null || true
  psql -q "$db" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$db" -c "CREATE SCHEMA $schema" >/dev/null
sed 's/^rate_per_sec = .*/rate_per_sec = 1000000/' "$root/config/venues.toml" > "$work/venues.toml"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/subject-key"

start_node() { # name plain-port
  mkdir -p "$work/$1"
  cat > "$work/$1/gateway.toml" <<TOML
[tls]
mode = "off"
[venues]
file = "$work/venues.toml"
[store]
url = "$db?options[search_path]=$schema"
[audit]
node = "$1"
subject_key_file = "$work/subject-key"
TOML
  (cd "$work/$1" && MIANZHENG_LOG=warn taskset -c 0 "$bin/gateway" --config "$work/$1/gateway.toml" \
    --listen-public 127.0.0.1:0 --listen-plain "127.0.0.1:$2" --listen-admin 127.0.0.1:0 \
    --data-dir "$work/$1/data" > "$work/$1/out.log" 2> "$work/$1/err.log" &)
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$2/" && return 0
    sleep 0.5
  done
  echo "node $1 did not start; see $work/$1/err.log" >&2
  exit 1
}
load() { # port connections report
  taskset -c 1 "$bin/loadtest" --target "http://127.0.0.1:$1" -c "$2" -z 10s --closed --profile hmac \
    --max-requests 400000 --no-tui --json -o "$3"
}
summary() { # label report...
  python3 - "$@" <<'PY'
import json, sys
label, files = sys.argv[1], sys.argv[2:]
results = [json.load(open(f))["result"] for f in files]
rate = sum(r["throughput_rps"] for r in results)
p50 = max(r["latency_ms"]["p50"] for r in results)
print(f"{label}: {rate:,.0f} verifies/s, p50 {p50} ms")
PY
}

port_a=$((20000 + $$ % 20000))
port_b=$((port_a + 1))
start_node node-a "$port_a"
load "$port_a" $((2 * per_node)) "$work/one.json"
summary "one node, $((2 * per_node)) connections" "$work/one.json"
start_node node-b "$port_b"
load "$port_a" "$per_node" "$work/a.json" & load "$port_b" "$per_node" "$work/b.json"; wait
summary "two nodes, $per_node connections each" "$work/a.json" "$work/b.json"

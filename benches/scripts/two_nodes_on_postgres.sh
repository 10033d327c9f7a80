#!/usr/bin/env bash
# Two gateway nodes on one PostgreSQL schema against one node, under the same total load: whether
# the nodes' audit commits wait for each other (each node appends to a chain of its own). Both
# gateways are pinned to CPU 0, the load generators to CPU 1; each run is HMAC, closed loop, 10 s.
# Prints verifies/s and p50 per run, and each node's audit commits: entries per commit and chain
# conflicts (batches re-chained because another writer had moved the node's chain).
#
#   cargo build --release -p gateway -p loadtest
#   benches/scripts/two_nodes_on_postgres.sh [CONNECTIONS_PER_NODE]   # default 64
#
# PostgreSQL: MIANZHENG_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test (a schema of
# its own, dropped afterwards). Talks to 127.0.0.1 only and stops by itself.
set -euo pipefail
per_node=${1:-64}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MIANZHENG_BIN:-$root/target/release}   # another build: MIANZHENG_BIN=DIR
db=${MIANZHENG_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema=mz_two_nodes_$$
work=$(mktemp -d)
cleanup() {
  pkill -f "$work/node-" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && { echo "kept $work" >&2; return; }
  psql -q "$db" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$db" -c "CREATE SCHEMA $schema" >/dev/null
sed 's/^rate_per_sec = .*/rate_per_sec = 1000000/' "$root/config/venues.toml" > "$work/venues.toml"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/subject-key"
chmod 600 "$work/subject-key"

start_node() { # name plain-port admin-port
  mkdir -p "$work/$1"
  cat > "$work/$1/gateway.toml" <<TOML
# The demo's venues and keys, on loopback only: a benchmark, not a deployment.
mode = "demo"
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
    --listen-public 127.0.0.1:0 --listen-plain "127.0.0.1:$2" --listen-admin "127.0.0.1:$3" \
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

audit() { # label admin-port
  curl -s "http://127.0.0.1:$2/metrics" | python3 -c '
import sys
label = sys.argv[1]
values = {}
for line in sys.stdin:
    if line.startswith("mz_audit_") and not line.startswith("#"):
        name, value = line.split()
        values[name] = float(value)
entries = values.get("mz_audit_entries_committed_total", 0)
batches = values.get("mz_audit_batches_committed_total", 0) or 1
conflicts = values.get("mz_audit_chain_conflicts_total", 0)
print(f"  {label}: {entries:,.0f} entries in {batches:,.0f} commits "
      f"({entries / batches:.1f} per commit), {conflicts:.0f} chain conflicts "
      f"({conflicts / batches:.3f} per commit)")
' "$1"
}

port_a=$((20000 + $$ % 20000))
port_b=$((port_a + 1))
start_node node-a "$port_a" $((port_a + 2))
load "$port_a" $((2 * per_node)) "$work/one.json"
summary "one node, $((2 * per_node)) connections" "$work/one.json"
audit "node a" $((port_a + 2))
start_node node-b "$port_b" $((port_a + 3))
load "$port_a" "$per_node" "$work/a.json" & load "$port_b" "$per_node" "$work/b.json"; wait
summary "two nodes, $per_node connections each" "$work/a.json" "$work/b.json"
audit "node a (both runs)" $((port_a + 2))
audit "node b" $((port_a + 3))

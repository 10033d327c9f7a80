#!/usr/bin/env bash
# Two production gateway nodes on one PostgreSQL behind HAProxy, on this machine's loopback —
# the README's "Production" steps as commands that run: platform keys, department seal keys,
# the departments (an `issuer` process), the catalogue pointed at it, a venue, the nodes, and
# HAProxy in front sending the PROXY protocol v2 header and checking /readyz.
#
#   deploy/two-nodes.sh [--bin DIR] [--database URL] [--redis URL] [--check] [--keep]
#
#   --bin DIR        where `gateway` and `issuer` are [default: target/release]
#   --database URL   PostgreSQL; a fresh schema is made in it and dropped at the end
#                    [default: postgres://postgres@127.0.0.1:5432/test]
#   --redis URL      Redis for the shared venue quotas [default: redis://127.0.0.1:6379]
#   --check          verify one code through HAProxy (200 pass), present it again (409
#                    code.replayed: the other node knows it is spent), then stop
#   --keep           keep the run folder (configurations, keys, logs) when it stops
#
# Without --check it runs until Ctrl-C. It needs haproxy (Debian: `apt-get install haproxy`),
# psql and python3; every port is a free loopback port, every file in a temporary folder.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$repo/target/release"
database="postgres://postgres@127.0.0.1:5432/test"
redis="redis://127.0.0.1:6379"
check=false
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$(cd "$2" && pwd)"; shift 2 ;;
    --database) database="$2"; shift 2 ;;
    --redis) redis="$2"; shift 2 ;;
    --check) check=true; shift ;;
    --keep) keep=true; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "two-nodes.sh: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
  esac
done
for tool in haproxy psql python3 curl; do
  command -v "$tool" >/dev/null || { echo "two-nodes.sh: \`$tool\` is missing" >&2; exit 2; }
done
for exe in gateway issuer; do
  [ -x "$bin/$exe" ] || { echo "two-nodes.sh: no \`$exe\` in $bin (cargo build --release -p gateway -p issuer)" >&2; exit 2; }
done

run="$(mktemp -d -t mianzheng-two-nodes.XXXXXX)"
schema="mz_two_nodes_$(basename "$run" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$database" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  if $keep; then echo "kept $run"; else rm -rf "$run"; fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# Free loopback ports: HAProxy, the issuer, and each node's public and admin listeners.
read -r front issuer_port public1 admin1 public2 admin2 < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

umask 077
cd "$run"
echo "run folder $run"

# 1. Platform keys (the minting platform's; the nodes get the trust list) and department seals.
"$bin/gateway" keys generate --out-secret platform.secret.toml --out-trust platform.trust.toml >/dev/null
"$bin/issuer" keygen --out-secret seals.secret.toml --out-trust seals.trust.toml >/dev/null

# 2. The departments: one issuer process serving every backend, sealing with its own keys.
"$bin/issuer" serve --listen "127.0.0.1:$issuer_port" --seal-keys seals.secret.toml \
  --admin-token "$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
  >issuer.log 2>&1 &
pids+=($!)

# 3. The catalogue, every backend pointed at the issuer instead of `embedded`.
mkdir catalogue
for file in certificates cities departments scenarios service-items; do
  cp "$repo/config/$file.toml" catalogue/
done
python3 - "$issuer_port" catalogue/departments.toml <<'PY'
import re, sys
port, path = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}/backends"
out, department, city, hub = [], None, None, False
for line in open(path, encoding="utf-8"):
    if line.startswith("[[department]]"):
        department, city, hub = None, None, False
    if line.startswith("[national_hub]"):
        department, city, hub = None, None, True
    m = re.match(r'\[department\.city\.(\d+)\]', line)
    if m:
        city = m.group(1)
    m = re.match(r'id = "([^"]+)"', line)
    if m and department is None:
        department = m.group(1)
    if 'endpoint = "embedded"' in line:
        if hub:
            scope = "national"
        elif line.startswith("province"):
            scope = "province"
        elif line.startswith("cities"):
            scope = "{city}"
        else:
            scope = city
        line = line.replace('"embedded"', f'"{base}/{department}/{scope}"')
    out.append(line)
open(path, "w", encoding="utf-8").write("".join(out))
PY

# 4. The store: a schema of its own on the PostgreSQL server, shared by both nodes, and the
#    subject-hash secret they must share too.
psql -q "$database" -c "CREATE SCHEMA $schema" >/dev/null
case "$database" in *\?*) sep="&" ;; *) sep="?" ;; esac
store="$database${sep}options[search_path]=$schema"
python3 -c 'import secrets; print(secrets.token_hex(32))' >subject-key

# 5. A venue, registered in the store before any node runs (its key is printed once).
key="$("$bin/gateway" venues add --id two-nodes-park --name "Two-node park" --city 370100 \
  --scenario park-entry-senior --rate 100 --store "$store" | tail -n 1)"

# 6. The nodes: production (no `mode`), plain HTTP behind HAProxy on the same host, which sends
#    the PROXY v2 header so quotas and logs see the venue's address.
export MIANZHENG_ADMIN_TOKEN
MIANZHENG_ADMIN_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
for n in 1 2; do
  public="public$n"; admin="admin$n"
  mkdir "data$n"
  cat >"node$n.toml" <<EOF
[listen]
public = "127.0.0.1:${!public}"
admin = "127.0.0.1:${!admin}"
proxy_protocol_from = ["127.0.0.1"]
[tls]
mode = "off"
[data]
dir = "data$n"
[catalogue]
dir = "catalogue"
[codes]
trust = "platform.trust.toml"
[departments]
seal_trust = "seals.trust.toml"
[venues]
seed = false
[store]
url = "$store"
[audit]
node = "node-$n"
subject_key_file = "subject-key"
[quotas]
redis_url = "$redis"
key_prefix = "$schema:quota:"
EOF
  "$bin/gateway" --config "node$n.toml" --log-format json >"node$n.out" 2>"node$n.log" &
  pids+=($!)
done

# 7. HAProxy in front: round robin, PROXY v2 to each node, /readyz on the admin port as the check.
cat >haproxy.cfg <<EOF
global
  log stderr format raw local0 warning
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend verify
  bind 127.0.0.1:$front
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  server node-1 127.0.0.1:$public1 send-proxy-v2 check port $admin1 inter 500ms
  server node-2 127.0.0.1:$public2 send-proxy-v2 check port $admin2 inter 500ms
EOF
haproxy -c -q -f haproxy.cfg
haproxy -db -f haproxy.cfg >haproxy.log 2>&1 &
pids+=($!)

# Ready: both nodes answer /readyz (a node that cannot start says why in its log).
for n in 1 2; do
  admin="admin$n"
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:${!admin}/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "${pids[$n]}" 2>/dev/null; then
      echo "node-$n stopped:" >&2; tail -n 20 "node$n.log" >&2; exit 1
    fi
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:${!admin}/readyz" >/dev/null || { echo "node-$n is not ready" >&2; tail -n 20 "node$n.log" >&2; exit 1; }
done
sleep 1.5 # HAProxy's first health checks
echo "ready: verify at http://127.0.0.1:$front/v1/verify (node-1 admin :$admin1, node-2 admin :$admin2)"
echo "venue key: $key"

if ! $check; then
  echo "Ctrl-C stops everything"
  wait
  exit 0
fi

# The check: a holder who passes park-entry-senior, one code, presented twice through HAProxy
# (round robin: once to each node).
read -r holder city < <("$bin/issuer" find --certificate senior-citizen-card --status valid \
  --min-age 60 -n 1 | python3 -c 'import json, sys; h = json.loads(sys.stdin.readline()); print(h["handle"], h["home_city"])')
code="$("$bin/gateway" code mint --keys platform.secret.toml --subject "$holder" --kind person \
  --city "$city" --format raw)"
body="$(python3 -c 'import json, sys; print(json.dumps({"code": sys.argv[1], "scenario": "park-entry-senior"}))' "$code")"
verify() { # answer-file
  curl -sS -o "$1" -w '%{http_code}' "http://127.0.0.1:$front/v1/verify" \
    -H "authorization: Bearer $key" -H 'content-type: application/json' -d "$body"
}
first="$(verify first.json)"
echo "first presentation: $first $(cat first.json)"
second="$(verify second.json)"
echo "second presentation: $second $(cat second.json)"
python3 - "$first" "$second" <<'PY'
import json, sys
first, second = sys.argv[1], sys.argv[2]
one, two = json.load(open("first.json")), json.load(open("second.json"))
if first != "200" or one.get("verdict") != "pass":
    sys.exit(f"the first presentation got {first} {one}, not 200 pass")
if second != "409" or two.get("code") != "code.replayed":
    sys.exit(f"the second presentation got {second} {two.get('code')}, not 409 code.replayed")
PY
# Round robin sent the second presentation to the other node: the one that logged its refusal.
refused_by="$(grep -l "$(python3 -c 'import json; print(json.load(open("second.json"))["request_id"])')" node1.log node2.log)"
accepted_by="$(python3 -c 'import json, re; print(re.search(r"node `([^`]+)`", json.load(open("second.json"))["detail"]).group(1))')"
refused_by="node-${refused_by//[!0-9]/}"
echo "accepted by $accepted_by, refused by $refused_by"
[ "$refused_by" != "$accepted_by" ] || { echo "both presentations reached $accepted_by" >&2; exit 1; }
echo "check passed: one code, two nodes behind HAProxy, accepted once"

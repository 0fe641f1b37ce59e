#!/usr/bin/env bash
# Where the CPU goes per operation: starts NODES real nodes on loopback (LMDB, flush durability,
# every key on min(NODES, 3) replicas), drives node 1 with redis-benchmark, and prints throughput,
# p50/p99 and each node's CPU (user + system, from /proc/PID/stat) per operation. With --cpu-prof
# every node writes a V8 CPU profile on exit; summarise one with
#   node scripts/cpu-profile-summary.mjs DIR/n1
#
# Usage: scripts/measure-cluster.sh [--nodes N] [--requests R] [--pipeline P] [--tests set,get]
#                                   [--durability flush|relaxed] [--keyspace K] [--cpu-prof] [--dir DIR]
# --keyspace 0: redis-benchmark without -r, so every request hits one key (a hot key).
# Example: scripts/measure-cluster.sh --nodes 3 --requests 30000 --tests set,get
# Needs: a build (npm run build), redis-benchmark and redis-cli (apt-get install redis-tools).
set -euo pipefail
NODES=3 REQUESTS=30000 PIPELINE=1 TESTS=set,get PROF=0 DIR="" DURABILITY=flush KEYSPACE=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --pipeline) PIPELINE=$2; shift 2 ;;
    --tests) TESTS=$2; shift 2 ;;
    --cpu-prof) PROF=1; shift ;;
    --durability) DURABILITY=$2; shift 2 ;;
    --keyspace) KEYSPACE=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "measure-cluster: unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "measure-cluster: $tool not found: apt-get install redis-tools" >&2; exit 2; }
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DIR:-$(mktemp -d /tmp/arpeggio-measure-XXXXXX)}; mkdir -p "$DIR"
BASE=$(( 20000 + RANDOM % 5000 * 2 ))
export ARPEGGIO_SECRET=${ARPEGGIO_SECRET:-$(openssl rand -hex 32 2>/dev/null || echo measure-cluster-development-secret)}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done; }
trap cleanup EXIT
resp() { echo $(( BASE + 10 * ($1 - 1) + 1 )); }
for i in $(seq 1 "$NODES"); do
  peer=$(( BASE + 10 * (i - 1) )); join=(); [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$BASE")
  prof=(); [ "$PROF" = 1 ] && prof=(--cpu-prof "--cpu-prof-dir=$DIR/n$i")
  node "${prof[@]}" "$ROOT/bin/arpeggio.js" start --data "$DIR/data-n$i" --id "n$i" --peer-port "$peer" \
    --resp-port "$(resp "$i")" --replicas $(( NODES < 3 ? NODES : 3 )) --durability "$DURABILITY" --log-level warn "${join[@]}" \
    >"$DIR/n$i.out" 2>"$DIR/n$i.log" &
  PIDS+=($!)
  until grep -q ready "$DIR/n$i.out" 2>/dev/null; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "n$i failed to start: $(tail -2 "$DIR/n$i.log")" >&2; exit 1; }
    sleep 0.2
  done
done
# Every node must be on the ring before the load starts.
until [ "$(redis-cli -p "$(resp 1)" ARPEGGIO.STATUS | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).core.ringMembers.length))')" = "$NODES" ]; do sleep 0.5; done
cpu() { for p in "${PIDS[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done; }
# Group commits so far per node (ARPEGGIO.STATUS storage.flushes): requests per flush shows how
# well the release queue groups writes.
flushes() { for i in $(seq 1 "$NODES"); do redis-cli -p "$(resp "$i")" ARPEGGIO.STATUS | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).storage.flushes))'; done; }
ticks=$(getconf CLK_TCK)
echo "nodes=$NODES durability=$DURABILITY requests=$REQUESTS pipeline=$PIPELINE clients=50 value=100B keys=$KEYSPACE dir=$DIR"
random=(); [ "$KEYSPACE" -gt 0 ] && random=(-r "$KEYSPACE")
for t in ${TESTS//,/ }; do
  mapfile -t before < <(cpu)
  mapfile -t fbefore < <(flushes)
  line=$(redis-benchmark -p "$(resp 1)" -t "$t" -n "$REQUESTS" "${random[@]}" -d 100 -c 50 -P "$PIPELINE" --csv | tail -1)
  mapfile -t after < <(cpu)
  mapfile -t fafter < <(flushes)
  per=() total=0 fl=()
  for i in "${!PIDS[@]}"; do
    us=$(( (after[i] - before[i]) * 1000000 / ticks / REQUESTS )); per+=("n$((i + 1))=${us}"); total=$(( total + us ))
    fl+=("n$((i + 1))=$(( fafter[i] - fbefore[i] ))")
  done
  IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
  echo "$t: ${rps} ops/s  p50 ${p50} ms  p99 ${p99} ms  CPU µs/op: ${per[*]} total=${total}  flushes: ${fl[*]}"
done

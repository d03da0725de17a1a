#!/usr/bin/env bash
# bench-proxy.sh: proxyd against the real pmproxy in front of the same collectord,
# same run, same clients: libpcp's fetchbench through each relay (HOST@PROXY), and
# curl for /metrics. Medians of ROUNDS alternating rounds. Loopback only.
set -uo pipefail
cd "$(dirname "$0")/.."
REF=scripts/reference-pcp
ITERS=${ITERS:-3000}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
[ -x /usr/lib/pcp/bin/pmproxy ] && [ -f /usr/include/pcp/pmapi.h ] || {
  echo "bench-proxy: real PCP missing: run $REF install" >&2; exit 1; }
cc -O2 -o "$work/fetchbench" bench/fetchbench.c -lpcp || exit 1
waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

p_coll=44721 p_real=44722 p_ours=44723
bin/collectord --config /dev/null -i 127.0.0.1 -p $p_coll --log-level error & pids+=($!)
printf '[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = false\nsecure.enabled = false\n[redis]\nenabled = false\n[discover]\nenabled = false\n[pmsearch]\nenabled = false\n[pmseries]\nenabled = false\n' > "$work/pmproxy.conf"
PCP_RUN_DIR=$work PCP_LOG_DIR=$work setsid /usr/lib/pcp/bin/pmproxy -f -A -i 127.0.0.1 -p $p_real -c "$work/pmproxy.conf" \
  -s "$work/pmproxy.socket" -l "$work/pmproxy.log" -U "$(id -un)" & pids+=($!)
bin/proxyd --config /dev/null -i 127.0.0.1 -p $p_ours --allow 127.0.0.1:$p_coll --log-level error & pids+=($!)
waitport $p_coll && waitport $p_real && waitport $p_ours || { echo "bench-proxy: a server did not start" >&2; exit 1; }
export PCP_DERIVED_CONFIG=

declare -A r
url="metrics?hostspec=127.0.0.1:$p_coll"
for round in $(seq "$ROUNDS"); do
  for s in 1 10 30; do
    for t in "direct 127.0.0.1:$p_coll" "pmproxy 127.0.0.1:$p_coll@127.0.0.1:$p_real" "proxyd 127.0.0.1:$p_coll@127.0.0.1:$p_ours"; do
      set -- $t
      r[$1.$s]+="$("$work/fetchbench" -h "$2" -n "$ITERS" -s $s | field p50_us) "
    done
  done
  for t in "pmproxy $p_real" "proxyd $p_ours"; do
    set -- $t
    curl -s -o /dev/null "http://127.0.0.1:$2/$url"   # warm the context
    for _ in $(seq 20); do
      r[$1.m]+="$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$2/$url" | awk '{printf "%.0f", $1*1e6}') "
    done
  done
done
echo "== p50 in microseconds, median of $ROUNDS alternating rounds"
printf '%-34s %10s %10s %10s\n' measurement direct pmproxy proxyd
for s in 1 10 30; do
  printf '%-34s %10s %10s %10s\n' "fetch set=$s (libpcp, HOST@PROXY)" \
    "$(echo ${r[direct.$s]} | tr ' ' '\n' | median)" "$(echo ${r[pmproxy.$s]} | tr ' ' '\n' | median)" "$(echo ${r[proxyd.$s]} | tr ' ' '\n' | median)"
done
printf '%-34s %10s %10s %10s\n' "GET /metrics, all metrics (curl)" "-" \
  "$(echo ${r[pmproxy.m]} | tr ' ' '\n' | median)" "$(echo ${r[proxyd.m]} | tr ' ' '\n' | median)"

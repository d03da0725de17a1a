#!/usr/bin/env bash
# bench-proxy.sh: proxyd against the real pmproxy in front of the same collectord,
# same run, same clients: libpcp's fetchbench through each relay (HOST@PROXY), and
# curl for /metrics. Medians of ROUNDS alternating rounds. Loopback only.
# Every process is pinned to BENCH_CPU (as in bench.sh), and beside each p50 the
# relay's own CPU per operation is shown: the delta of the first field of
# /proc/PID/task/*/schedstat over the run, summed over its threads, divided by the
# operations (the collector behind the relays is the same for both and not counted).
set -uo pipefail
cd "$(dirname "$0")/.."
REF=scripts/reference-pcp
ITERS=${ITERS:-3000}
ROUNDS=${ROUNDS:-5}
BENCH_CPU=${BENCH_CPU:-$(( $(nproc) > 1 ? 1 : 0 ))}
pin=(taskset -c "$BENCH_CPU")
command -v taskset >/dev/null || { echo "bench-proxy: taskset missing (util-linux)" >&2; exit 1; }
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
"${pin[@]}" bin/collectord --config /dev/null -i 127.0.0.1 -p $p_coll --log-level error & pids+=($!)
printf '[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = false\nsecure.enabled = false\n[redis]\nenabled = false\n[discover]\nenabled = false\n[pmsearch]\nenabled = false\n[pmseries]\nenabled = false\n' > "$work/pmproxy.conf"
PCP_RUN_DIR=$work PCP_LOG_DIR=$work "${pin[@]}" setsid /usr/lib/pcp/bin/pmproxy -f -A -i 127.0.0.1 -p $p_real -c "$work/pmproxy.conf" \
  -s "$work/pmproxy.socket" -l "$work/pmproxy.log" -U "$(id -un)" & pids+=($!); pid_pmproxy=$!
"${pin[@]}" bin/proxyd --config /dev/null -i 127.0.0.1 -p $p_ours --allow 127.0.0.1:$p_coll --log-level error & pids+=($!); pid_proxyd=$!
waitport $p_coll && waitport $p_real && waitport $p_ours || { echo "bench-proxy: a server did not start" >&2; exit 1; }
export PCP_DERIVED_CONFIG=

cpu_ns() {
  local total=0 f ns
  for f in /proc/"$1"/task/*/schedstat; do read -r ns _ <"$f" 2>/dev/null && total=$((total + ns)); done
  echo "$total"
}
declare -A relay=([pmproxy]=$pid_pmproxy [proxyd]=$pid_proxyd)
declare -A r c
# cpu_us NAME BEFORE OPS: the relay's CPU per operation since BEFORE, in µs.
cpu_us() { [ -n "${relay[$1]:-}" ] || return 0; awk -v d=$(( $(cpu_ns "${relay[$1]}") - $2 )) -v n="$3" 'BEGIN{printf "%.1f ", d/n/1000}'; }
url="metrics?hostspec=127.0.0.1:$p_coll"
for round in $(seq "$ROUNDS"); do
  for s in 1 10 30; do
    for t in "direct 127.0.0.1:$p_coll" "pmproxy 127.0.0.1:$p_coll@127.0.0.1:$p_real" "proxyd 127.0.0.1:$p_coll@127.0.0.1:$p_ours"; do
      set -- $t
      c0=$( [ -n "${relay[$1]:-}" ] && cpu_ns "${relay[$1]}" || echo 0)
      r[$1.$s]+="$("${pin[@]}" "$work/fetchbench" -h "$2" -n "$ITERS" -s $s | field p50_us) "
      c[$1.$s]+="$(cpu_us "$1" "$c0" "$ITERS")"
    done
  done
  for t in "pmproxy $p_real" "proxyd $p_ours"; do
    set -- $t
    "${pin[@]}" curl -s -o /dev/null "http://127.0.0.1:$2/$url"   # warm the context
    c0=$(cpu_ns "${relay[$1]}")
    for _ in $(seq 20); do
      r[$1.m]+="$("${pin[@]}" curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$2/$url" | awk '{printf "%.0f", $1*1e6}') "
    done
    c[$1.m]+="$(cpu_us "$1" "$c0" 20)"
  done
done
echo "== pinned to CPU $BENCH_CPU; p50 in microseconds and the relay's CPU per operation (µs), median of $ROUNDS alternating rounds"
med() { echo "${1:-}" | tr ' ' '\n' | grep . | median; }
printf '%-34s %10s %10s %10s %12s %12s\n' measurement direct pmproxy proxyd cpu-pmproxy cpu-proxyd
for s in 1 10 30; do
  printf '%-34s %10s %10s %10s %12s %12s\n' "fetch set=$s (libpcp, HOST@PROXY)" \
    "$(med "${r[direct.$s]:-}")" "$(med "${r[pmproxy.$s]:-}")" "$(med "${r[proxyd.$s]:-}")" \
    "$(med "${c[pmproxy.$s]:-}")" "$(med "${c[proxyd.$s]:-}")"
done
printf '%-34s %10s %10s %10s %12s %12s\n' "GET /metrics, all metrics (curl)" "-" \
  "$(med "${r[pmproxy.m]:-}")" "$(med "${r[proxyd.m]:-}")" "$(med "${c[pmproxy.m]:-}")" "$(med "${c[proxyd.m]:-}")"

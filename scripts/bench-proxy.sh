#!/usr/bin/env bash
# bench-proxy.sh: proxyd against the real pmproxy in front of the same collectord,
# same run, same clients: libpcp's fetchbench through each relay (HOST@PROXY), curl
# for the REST fetch of one metric (REST_ITERS requests over one keep-alive
# connection, in one context made first, as a dashboard polls) and for /metrics.
# Medians of ROUNDS alternating rounds. Loopback only.
# Every process is pinned to BENCH_CPU (as in bench.sh), and beside each p50 the
# relay's own CPU per operation is shown: the delta of the first field of
# /proc/PID/task/*/schedstat over the run, summed over its threads, divided by the
# operations. For the HTTP rows a second pair adds the collectord behind the
# proxy (the same process for both, so it counts only what each proxy asks of
# it: pmproxy and proxyd may send different PDUs for the same request). The
# ratio column is pmproxy's CPU over proxyd's, proxy alone (the goal's measure:
# the collector behind is the same process for both); ratio+c is the same with
# the collector's CPU added on both sides.
# The REST row also shows floor-go (cpu-floor): internal/cmd/floorserver -loop
# rest, the least a Go relay of proxyd's shape spends on the same REST fetch (a
# goroutine per connection, raw reads and writes, one prepared FETCH PDU sent
# to the same collectord, its reply written as proxyd's JSON; nothing else), in
# the same alternating rounds; ratio-floor is pmproxy's CPU over the floor's,
# the best ratio a Go proxyd could reach here. floor-block (-block: the same
# floor waiting inside blocking read(2) instead of the runtime's poller, which
# no real server can do: nothing else runs meanwhile) follows the table: what
# the poller's idle path costs.
# BEFORE=PATH adds a second proxyd, that binary (say, one built from an earlier
# commit), to the same rounds, so that a change is measured before and after
# under the same load; its rows follow, marked "(before)". BASE=PATH is the
# same knob under bench.sh's name.
set -uo pipefail
cd "$(dirname "$0")/.."
REF=scripts/reference-pcp
BIN=${BIN:-bin}   # where make build put the programs
ITERS=${ITERS:-3000}
REST_ITERS=${REST_ITERS:-2000}
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
go build -o "$work/floorserver" ./internal/cmd/floorserver || exit 1
waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

BEFORE=${BEFORE:-${BASE:-}}
# BENCH_PORT: the first of six ports (as in bench.sh; above Linux's ephemeral
# range, 32768-60999, other benchmarks' connections cannot hold them).
port0=${BENCH_PORT:-44721}
p_coll=$port0 p_real=$((port0 + 1)) p_ours=$((port0 + 2)) p_before=$((port0 + 3)) p_floor=$((port0 + 4)) p_floorblock=$((port0 + 5))
"${pin[@]}" "$BIN"/collectord --config /dev/null -i 127.0.0.1 -p $p_coll --log-level error & pids+=($!); pid_coll=$!
printf '[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = false\nsecure.enabled = false\n[redis]\nenabled = false\n[discover]\nenabled = false\n[pmsearch]\nenabled = false\n[pmseries]\nenabled = false\n' > "$work/pmproxy.conf"
PCP_RUN_DIR=$work PCP_LOG_DIR=$work "${pin[@]}" setsid /usr/lib/pcp/bin/pmproxy -f -A -i 127.0.0.1 -p $p_real -c "$work/pmproxy.conf" \
  -s "$work/pmproxy.socket" -l "$work/pmproxy.log" -U "$(id -un)" & pids+=($!); pid_pmproxy=$!
"${pin[@]}" "$BIN"/proxyd --config /dev/null -i 127.0.0.1 -p $p_ours --allow 127.0.0.1:$p_coll --log-level error & pids+=($!); pid_proxyd=$!
proxies=(pmproxy proxyd)
if [ -n "$BEFORE" ]; then
  "${pin[@]}" "$BEFORE" --config /dev/null -i 127.0.0.1 -p $p_before --allow 127.0.0.1:$p_coll --log-level error & pids+=($!); pid_before=$!
  waitport $p_before || { echo "bench-proxy: $BEFORE did not start" >&2; exit 1; }
  proxies+=(before)
fi
waitport $p_coll && waitport $p_real && waitport $p_ours || { echo "bench-proxy: a server did not start" >&2; exit 1; }
# The REST floor greets the collector and looks its metric up as it starts.
"${pin[@]}" "$work/floorserver" -p $p_floor -loop rest -collector 127.0.0.1:$p_coll -names kernel.all.load & pids+=($!); pid_floor=$!
"${pin[@]}" "$work/floorserver" -p $p_floorblock -loop rest -block -collector 127.0.0.1:$p_coll -names kernel.all.load & pids+=($!); pid_floorblock=$!
waitport $p_floor && waitport $p_floorblock || { echo "bench-proxy: the REST floor did not start" >&2; exit 1; }
export PCP_DERIVED_CONFIG=

cpu_ns() {
  local total=0 f ns
  for f in /proc/"$1"/task/*/schedstat; do read -r ns _ <"$f" 2>/dev/null && total=$((total + ns)); done
  echo "$total"
}
declare -A relay=([pmproxy]=$pid_pmproxy [proxyd]=$pid_proxyd [before]=${pid_before:-} [floor]=$pid_floor [floorblock]=$pid_floorblock)
declare -A port=([pmproxy]=$p_real [proxyd]=$p_ours [before]=$p_before [floor]=$p_floor [floorblock]=$p_floorblock)
declare -A r c k
# rest NAME PORT CTX: REST_ITERS fetches in context CTX over one connection
# (curl reuses it for every URL of its config file; the client is not counted).
rest() {
  local rurl="http://127.0.0.1:$2/pmapi/$3/fetch?names=kernel.all.load" c0 k0 t0 t1 conns _
  curl -s "$rurl" | grep -q '"name":"kernel.all.load"' || { echo "bench-proxy: $1 REST fetch failed" >&2; exit 1; }
  for _ in $(seq "$REST_ITERS"); do printf 'url = "%s"\noutput = /dev/null\n' "$rurl"; done >"$work/rest.$1"
  c0=$(cpu_ns "${relay[$1]}") k0=$(cpu_ns "$pid_coll") t0=$(date +%s%N)
  conns=$("${pin[@]}" curl -s -K "$work/rest.$1" -w '%{num_connects}\n' | awk '{n+=$1} END {print n}')
  t1=$(date +%s%N)
  [ "$conns" = 1 ] || echo "bench-proxy: $1 REST used $conns connections, not 1" >&2
  r[$1.r]+="$(( (t1 - t0) / REST_ITERS / 1000 )) "
  k[$1.r]+="$(awk -v d=$(( $(cpu_ns "${relay[$1]}") + $(cpu_ns "$pid_coll") - c0 - k0 )) -v n="$REST_ITERS" 'BEGIN{printf "%.1f ", d/n/1000}')"
  c[$1.r]+="$(cpu_us "$1" "$c0" "$REST_ITERS")"
}
# cpu_us NAME BEFORE OPS: the relay's CPU per operation since BEFORE, in µs.
cpu_us() { [ -n "${relay[$1]:-}" ] || return 0; awk -v d=$(( $(cpu_ns "${relay[$1]}") - $2 )) -v n="$3" 'BEGIN{printf "%.1f ", d/n/1000}'; }
url="metrics?hostspec=127.0.0.1:$p_coll"
for round in $(seq "$ROUNDS"); do
  for s in 1 10 30; do
    targets=("direct 127.0.0.1:$p_coll")
    for x in "${proxies[@]}"; do targets+=("$x 127.0.0.1:$p_coll@127.0.0.1:${port[$x]}"); done
    for t in "${targets[@]}"; do
      set -- $t
      c0=$( [ -n "${relay[$1]:-}" ] && cpu_ns "${relay[$1]}" || echo 0)
      r[$1.$s]+="$("${pin[@]}" "$work/fetchbench" -h "$2" -n "$ITERS" -s $s | field p50_us) "
      c[$1.$s]+="$(cpu_us "$1" "$c0" "$ITERS")"
    done
  done
  for x in "${proxies[@]}"; do
    set -- "$x" "${port[$x]}"
    # REST fetch: one context, then REST_ITERS fetches over one connection.
    ctx=$(curl -s "http://127.0.0.1:$2/pmapi/context?hostspec=127.0.0.1:$p_coll&polltimeout=600" | sed -n 's/^{"context":\([0-9]*\).*/\1/p')
    [ -n "$ctx" ] || { echo "bench-proxy: $1 made no context" >&2; exit 1; }
    rest "$1" "$2" "$ctx"
    # /metrics
    "${pin[@]}" curl -s -o /dev/null "http://127.0.0.1:$2/$url"   # warm the context
    c0=$(cpu_ns "${relay[$1]}") k0=$(cpu_ns "$pid_coll")
    for _ in $(seq 20); do
      r[$1.m]+="$("${pin[@]}" curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$2/$url" | awk '{printf "%.0f", $1*1e6}') "
    done
    k[$1.m]+="$(awk -v d=$(( $(cpu_ns "${relay[$1]}") + $(cpu_ns "$pid_coll") - c0 - k0 )) 'BEGIN{printf "%.1f ", d/20/1000}')"
    c[$1.m]+="$(cpu_us "$1" "$c0" 20)"
  done
  # The REST floor answers any context number: it has none.
  rest floor $p_floor 1
  rest floorblock $p_floorblock 1
done
echo "== pinned to CPU $BENCH_CPU; p50 in microseconds (REST: mean over the keep-alive run) and the relay's CPU per operation (µs), median of $ROUNDS alternating rounds"
med() { echo "${1:-}" | tr ' ' '\n' | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else print "-"}'; }
printf '%-36s %8s %8s %8s %11s %11s %11s %11s %7s %7s %10s %11s\n' measurement direct pmproxy proxyd cpu-pmproxy cpu-proxyd "+collector" "+collector" ratio ratio+c cpu-floor ratio-floor
# rows P LABEL-SUFFIX REST-LABEL METRICS-LABEL: the fetch, REST and /metrics rows
# with proxy P (proxyd, or the BEFORE build) in the "proxyd" columns.
rows() {
  local p=$1 s m x
  for s in 1 10 30; do
    printf '%-36s %8s %8s %8s %11s %11s %11s %11s %7s %7s %10s %11s\n' "fetch set=$s $2" \
      "$(med "${r[direct.$s]:-}")" "$(med "${r[pmproxy.$s]:-}")" "$(med "${r[$p.$s]:-}")" \
      "$(med "${c[pmproxy.$s]:-}")" "$(med "${c[$p.$s]:-}")" - - \
      "$(ratio "$(med "${c[pmproxy.$s]:-}")" "$(med "${c[$p.$s]:-}")")" - - -
  done
  for m in "r:$3" "m:$4"; do
    x=${m%%:*}
    printf '%-36s %8s %8s %8s %11s %11s %11s %11s %7s %7s %10s %11s\n' "${m#*:}" "-" \
      "$(med "${r[pmproxy.$x]:-}")" "$(med "${r[$p.$x]:-}")" "$(med "${c[pmproxy.$x]:-}")" "$(med "${c[$p.$x]:-}")" \
      "$(med "${k[pmproxy.$x]:-}")" "$(med "${k[$p.$x]:-}")" \
      "$(ratio "$(med "${c[pmproxy.$x]:-}")" "$(med "${c[$p.$x]:-}")")" \
      "$(ratio "$(med "${k[pmproxy.$x]:-}")" "$(med "${k[$p.$x]:-}")")" \
      "$([ "$x" = r ] && med "${c[floor.r]:-}" || echo -)" "$(ratio "$(med "${c[pmproxy.$x]:-}")" "$(med "${c[floor.$x]:-}")")"
  done
}
rows proxyd "(libpcp, HOST@PROXY)" "REST fetch, 1 metric (curl, 1 conn)" "GET /metrics, all metrics (curl)"
# The spread: each round's CPU per REST fetch (µs), in round order.
echo "REST floors, CPU per fetch (µs), median: floor-go $(med "${c[floor.r]:-}"), floor-block $(med "${c[floorblock.r]:-}") (pmproxy's over it: $(ratio "$(med "${c[pmproxy.r]:-}")" "$(med "${c[floorblock.r]:-}")"))"
for x in "${proxies[@]}" floor floorblock; do echo "REST fetch CPU per round, $x: ${c[$x.r]:-}(+collector: ${k[$x.r]:-})"; done
[ -n "$BEFORE" ] || exit 0
# The same rows for the BEFORE proxyd, in its "proxyd" columns.
rows before "(before)" "REST fetch (before)" "GET /metrics (before)"

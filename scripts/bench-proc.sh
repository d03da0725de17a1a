#!/usr/bin/env bash
# bench-proc.sh: the per-process metrics of 1,000 processes, our collectord beside
# the real pmcd + pmdaproc, in one run with the same libpcp client
# (bench/fetchbench.c). Figures go into BENCHMARKS.md ("1,000 processes").
#
# internal/cmd/procswarm starts NPROCS idle processes (sleep, each with its own
# argument) on top of what the machine already runs. Both servers and the client
# are pinned to one CPU (taskset, as scripts/bench.sh does), and the client fetches
# the per-process set below for every process, over each server's unix socket: a
# trusted client, the one both the real proc agent and collectord give every
# process's values to (collectord refuses them to an unauthenticated TCP client).
#
# For each server it reports the wall time per fetch (fetchbench's p50 and mean),
# the SERVER CPU time per fetch (scripts/bench-lib.sh cpu_ns: the schedstat delta
# summed over the server's threads, for the real pmcd over pmcd and its agents'
# processes, divided by the fetches) and the peak resident memory over the run
# (VmHWM): collectord's against pmcd + pmdaproc (pmdalinux, idle here, shown
# apart), with the ratios real/ours.
#
# Knobs (environment):
#   NPROCS=1000   idle processes started for the run
#   ROUNDS=5      alternating rounds; every figure is the median over them
#   ITERS=20      fetches per run
#   BENCH_CPU=1   the CPU every server and client is pinned to (taskset -c)
#   BENCH_PORT=45930  the first of the three loopback ports used
#   COLLECTORD=bin/collectord  the collectord binary measured
#   BASE=         another collectord binary (the build before a change) measured
#                 in the same rounds, in the base column
#   OURS_ARGS=, BASE_ARGS=  more collectord flags for each (for example
#                 BASE=bin/collectord BASE_ARGS="--memory-limit off")
# Quick try: NPROCS=200 ROUNDS=1 ITERS=5 scripts/bench-proc.sh
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
REF=scripts/reference-pcp
NPROCS=${NPROCS:-1000}
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-20}
COLLECTORD=${COLLECTORD:-bin/collectord}
BASE=${BASE:-}
OURS_ARGS=${OURS_ARGS:-} BASE_ARGS=${BASE_ARGS:-}
BENCH_CPU=${BENCH_CPU:-$(( $(nproc) > 1 ? 1 : 0 ))}
BENCH_PORT=${BENCH_PORT:-45930}
pin=(taskset -c "$BENCH_CPU")
command -v taskset >/dev/null || { echo "bench-proc: taskset missing (util-linux)" >&2; exit 1; }
[ -x /usr/lib/pcp/bin/pmcd ] && [ -f /usr/include/pcp/pmapi.h ] || {
  echo "bench-proc: real PCP missing: run $REF install" >&2; exit 1; }
[ -x "$COLLECTORD" ] || { echo "bench-proc: $COLLECTORD missing: make build first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || echo "bench-proc: not root: both servers see only some processes' files" >&2

# What `pcp ps`, pcp htop and pmrep's :proc-* views fetch for every process: six
# files of each (stat, cmdline, wchan, status, statm, io).
NAMES=(
  proc.psinfo.pid proc.psinfo.ppid proc.psinfo.cmd proc.psinfo.psargs proc.psinfo.sname
  proc.psinfo.utime proc.psinfo.stime proc.psinfo.start_time proc.psinfo.rss proc.psinfo.vsize
  proc.psinfo.ttyname proc.psinfo.wchan_s proc.psinfo.nice proc.psinfo.priority
  proc.psinfo.processor proc.psinfo.policy proc.psinfo.rt_priority proc.psinfo.threads
  proc.psinfo.minflt proc.psinfo.maj_flt proc.psinfo.vctxsw proc.psinfo.nvctxsw
  proc.psinfo.pgrp proc.psinfo.session proc.psinfo.tty
  proc.memory.size proc.memory.rss proc.memory.share proc.memory.textrss proc.memory.datrss
  proc.memory.vmrss proc.memory.vmswap
  proc.id.uid proc.id.uid_nm
  proc.io.rchar proc.io.wchar proc.io.read_bytes proc.io.write_bytes proc.io.cancelled_write_bytes
)

work=$(mktemp -d)
pids=()
swarm_in=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$swarm_in" ] && exec {swarm_in}>&-
  "$REF" stop "$work/pmcd" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -o "$work/fetchbench" bench/fetchbench.c -lpcp || exit 1
go build -o "$work/procswarm" ./internal/cmd/procswarm || exit 1

# The load: procswarm keeps its processes until its standard input (a fifo held
# open here) closes, and the kernel kills them if it dies.
mkfifo "$work/swarm.in"
"$work/procswarm" -n "$NPROCS" <"$work/swarm.in" >"$work/swarm.out" 2>"$work/swarm.err" & pids+=($!)
exec {swarm_in}>"$work/swarm.in"
for _ in $(seq 600); do grep -q '^ready' "$work/swarm.out" 2>/dev/null && break; sleep 0.1; done
grep -q "^ready $NPROCS\$" "$work/swarm.out" || {
  echo "bench-proc: procswarm did not start $NPROCS processes: $(cat "$work/swarm.err")" >&2; exit 1; }

p_real=$BENCH_PORT p_ours=$((BENCH_PORT + 1)) p_base=$((BENCH_PORT + 2))
# pmcd's agent timeout is raised from 5 s: on a loaded shared CPU one fetch of
# every process may take longer, and a timed-out agent would be dropped.
"${pin[@]}" "$REF" start "$work/pmcd" $p_real -- -t 60 >/dev/null || exit 1
sock_real=$work/pmcd/run/pmcd.socket
: >"$work/collectord.toml"
"${pin[@]}" "$COLLECTORD" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_ours -s "$work/ours.sock" --log-level error $OURS_ARGS & pids+=($!); pid_ours=$!
pid_base=
if [ -n "$BASE" ]; then
  "${pin[@]}" "$BASE" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_base -s "$work/base.sock" --log-level error $BASE_ARGS & pids+=($!); pid_base=$!
  waitport $p_base || { echo "bench-proc: $BASE did not start" >&2; exit 1; }
fi
waitport $p_ours || { echo "bench-proc: $COLLECTORD did not start" >&2; exit 1; }
export PCP_DERIVED_CONFIG=

declare -A srv host
pmcd_tree=$(tree "$(cat "$work/pmcd/pmcd.pid")" | tr '\n' ' ')
srv[real]=$pmcd_tree srv[ours]=$pid_ours srv[base]=$pid_base
host[real]=unix:$sock_real host[ours]=unix:$work/ours.sock host[base]=unix:$work/base.sock
# The processes of the real trio by name: pmcd and pmdaproc are what serves
# these metrics; pmdalinux is idle here and reported apart.
real_core= real_linux=
for p in $pmcd_tree; do
  case $(cat /proc/"$p"/comm 2>/dev/null) in
    pmcd|pmdaproc) real_core="$real_core $p" ;;
    pmdalinux) real_linux="$real_linux $p" ;;
  esac
done
set -- $real_core
[ $# -eq 2 ] || { echo "bench-proc: expected pmcd and pmdaproc among the real pmcd's processes ($pmcd_tree)" >&2; exit 1; }
targets=(real ours); [ -n "$BASE" ] && targets+=(base)

# A first fetch from each, outside the measurement: it checks that the client is
# trusted (every process's values, not a permission error) and warms both sides.
declare -A nvalues
for t in "${targets[@]}"; do
  out=$("${pin[@]}" "$work/fetchbench" -h "${host[$t]}" -n 1 "${NAMES[@]}") || {
    echo "bench-proc: fetchbench failed against $t (${host[$t]})" >&2; exit 1; }
  nvalues[$t]=$(echo "$out" | sed -n 's/.* values=\([0-9]*\).*/\1/p')
  if [ "${nvalues[$t]:-0}" -lt $((NPROCS * ${#NAMES[@]} * 9 / 10)) ]; then
    echo "bench-proc: $t gave ${nvalues[$t]:-0} values for ${#NAMES[@]} metrics of $NPROCS+ processes: not a trusted client?" >&2
    exit 1
  fi
done

declare -A p50 mean cpu
run() {
  local t=$1 out c0 c1
  c0=$(cpu_ns ${srv[$t]})
  out=$("${pin[@]}" "$work/fetchbench" -h "${host[$t]}" -n "$ITERS" "${NAMES[@]}") || out=""
  c1=$(cpu_ns ${srv[$t]})
  if [ -z "$out" ]; then echo "bench-proc: fetchbench failed against $t" >&2; return; fi
  p50[$t]+="$(echo "$out" | field p50_us) "
  mean[$t]+="$(echo "$out" | field mean_us) "
  # fetchbench also does one warm-up fetch per run, outside its own timing but
  # inside this CPU window: ITERS + 1 fetches.
  cpu[$t]+="$(awk -v d=$((c1 - c0)) -v n=$((ITERS + 1)) 'BEGIN{printf "%.2f", d/n/1e6}') "
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
nproc_host=$(set -- /proc/[0-9]*; echo $#)
for r in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do run "$t"; done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

ms() { awk -v u="$(echo "$1" | median)" 'BEGIN{if (u == "n/a") print u; else printf "%.1f", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else print "-"}'; }
# kib FIELD PID...: a /proc/PID/status field (VmRSS:, VmHWM:) summed, in KiB.
kib() { local k=$1 p t=0 v; shift; for p in "$@"; do v=$(awk -v k="$k" '$1 == k {print $2}' /proc/"$p"/status 2>/dev/null); t=$((t + ${v:-0})); done; echo $t; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

echo "== $NPROCS idle processes (procswarm) on top of the host's own; $nproc_host processes in all"
echo "== ${#NAMES[@]} per-process metrics, every process, over the unix socket (trusted client);"
echo "== pinned to CPU $BENCH_CPU (client and servers); median of $ROUNDS alternating rounds of $ITERS fetches"
echo "== load average before: $load0; after: $load1"
printf '%-28s | %8s | %10s %10s | %10s | %9s\n' server values wall-p50 wall-mean cpu/fetch peak-RSS
row() { printf '%-28s | %8s | %8s ms %8s ms | %7s ms | %5s MiB\n' "$@"; }
c_real=$(echo "${cpu[real]:-}" | median) c_ours=$(echo "${cpu[ours]:-}" | median)
h_core=$(kib VmHWM: $real_core) h_linux=$(kib VmHWM: $real_linux) h_ours=$(kib VmHWM: $pid_ours)
row "real pmcd + pmdaproc" "${nvalues[real]}" "$(ms "${p50[real]:-}")" "$(ms "${mean[real]:-}")" "$c_real" "$(mib "$h_core")"
row "collectord $OURS_ARGS" "${nvalues[ours]}" "$(ms "${p50[ours]:-}")" "$(ms "${mean[ours]:-}")" "$c_ours" "$(mib "$h_ours")"
if [ -n "$BASE" ]; then
  c_base=$(echo "${cpu[base]:-}" | median)
  row "collectord BASE $BASE_ARGS" "${nvalues[base]}" "$(ms "${p50[base]:-}")" "$(ms "${mean[base]:-}")" "$c_base" "$(mib "$(kib VmHWM: $pid_base)")"
fi
a=$(echo "${p50[real]:-}" | median) b=$(echo "${p50[ours]:-}" | median)
printf '%-28s | %8s | %11s %11s | %10s | %9s\n' "ratio real/ours" "" "$(ratio "$a" "$b")" \
  "$(ratio "$(echo "${mean[real]:-}" | median)" "$(echo "${mean[ours]:-}" | median)")" \
  "$(ratio "$c_real" "$c_ours")" "$(ratio "$h_core" "$h_ours")"
[ -n "$BASE" ] && printf '%-28s | %8s | %11s %11s | %10s | %9s\n' "ratio base/ours" "" \
  "$(ratio "$(echo "${p50[base]:-}" | median)" "$b")" \
  "$(ratio "$(echo "${mean[base]:-}" | median)" "$(echo "${mean[ours]:-}" | median)")" \
  "$(ratio "$c_base" "$c_ours")" "-"
echo "(peak RSS is VmHWM over the whole run; pmdalinux, idle here, adds $(mib "$h_linux") MiB to the real side;"
echo " resident now: pmcd + pmdaproc $(mib "$(kib VmRSS: $real_core)") MiB, collectord $(mib "$(kib VmRSS: $pid_ours)") MiB)"

#!/usr/bin/env bash
# bench.sh: our collectord against the real pmcd, same run, same libpcp client
# (bench/fetchbench.c), plaintext, TLS (ECDSA P-256 certificates from certdb
# quickstart) and mutual TLS (the same, plus a client certificate the server
# requires and verifies: collectord -Q, pmcd with tls-verify-clients), with
# three no-op floor servers as baselines for the plaintext rows. Figures go into
# BENCHMARKS.md. Loopback only.
#
# The floors answer lookups and fetches with canned values and do nothing else
# (internal/cmd/floorserver/floor says what, byte for byte the same in all
# three): what is left of a server's CPU per operation when it has no work is
# the cost of its runtime, the kernel and loopback on this machine.
#   floor-go   internal/cmd/floorserver: a goroutine per connection through the
#              net package as collectord serves them (keep-alive off, reads and
#              writes raw), so collectord less floor-go is its own work (the
#              cpu-floor column)
#   floor-raw  internal/cmd/floorserver -loop raw: one Go event loop, every
#              system call raw, waiting for its epoll fd in the runtime's poller:
#              the least a Go server spends without leaving the runtime
#   floor-C    bench/floorserver.c: one epoll loop in C, no runtime at all
# They get a table of their own after the main one (median and spread over the
# rounds), and rows in the memory table.
#
# For each measurement it reports the p50 latency, the single-client throughput
# and the SERVER CPU time per operation: the delta of the first field of
# /proc/PID/task/*/schedstat (nanoseconds on a CPU), summed over the server's
# threads (for the real pmcd over pmcd and its agents' processes), divided by the
# operations the client did. CPU time is what the goal is stated in, and unlike
# latency it hardly depends on what else the shared machine is doing.
#
# Knobs (environment):
#   ROUNDS=5      alternating rounds; every figure is the median over them
#   ITERS=5000    fetches per fetch measurement
#   CONNECTS=300  connect+lookup+fetch cycles per connect measurement
#   CLIENTS=200   concurrent clients in the throughput section (0 skips it); the
#                 section ends with each server's memory, the floors' too: at
#                 idle, with CLIENTS idle clients (each connected, names looked
#                 up, one fetch of the 30-metric set), and the peak (VmHWM)
#   BENCH_CPU=1   the CPU every server and client is pinned to (taskset -c)
#   BENCH_PORT=44711  the first of the twelve loopback ports used
#   COLLECTORD=bin/collectord  the collectord binary measured
#   BASE=         another collectord binary (the build before a change) measured
#                 in the same rounds (plaintext, TLS and mutual TLS), in the
#                 cpu-base column
#   ROWS=all      all rows; ROWS=tls measures only the TLS and mutual-TLS rows
#                 (and skips the concurrent clients)
# Quick try: ROUNDS=1 ITERS=500 CONNECTS=50 CLIENTS=0 scripts/bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REF=scripts/reference-pcp
ITERS=${ITERS:-5000}
CONNECTS=${CONNECTS:-300}
CLIENTS=${CLIENTS:-200}
ROUNDS=${ROUNDS:-5}
COLLECTORD=${COLLECTORD:-bin/collectord}
BASE=${BASE:-}
ROWS=${ROWS:-all}
case $ROWS in all|tls) ;; *) echo "bench: ROWS=$ROWS: all or tls" >&2; exit 2;; esac
# Client and servers share ONE CPU, as in the measurements the goal was set from:
# on a 2-CPU machine shared with other work, one pinned CPU for both sides keeps
# the other CPU's load and cross-CPU wake-ups out of the figures, and the real
# pmcd's three processes get the same single CPU as our one process.
BENCH_CPU=${BENCH_CPU:-$(( $(nproc) > 1 ? 1 : 0 ))}
pin=(taskset -c "$BENCH_CPU")
command -v taskset >/dev/null || { echo "bench: taskset missing (util-linux)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  "$REF" stop "$work/pmcd" >/dev/null 2>&1
  "$REF" stop "$work/pmcd-tls" >/dev/null 2>&1
  "$REF" stop "$work/pmcd-mtls" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
[ -x /usr/lib/pcp/bin/pmcd ] && [ -f /usr/include/pcp/pmapi.h ] || {
  echo "bench: real PCP missing: run $REF install" >&2; exit 1; }
cc -O2 -o "$work/fetchbench" bench/fetchbench.c -lpcp || exit 1
cc -O2 -o "$work/floorc" bench/floorserver.c || exit 1
# idleclients N HOST: N processes, each connects through libpcp, looks the
# 30-metric set up and fetches it once, then sits idle holding its connection;
# "ready K" (K that got their fetch) once all have, and all leave at end of input.
cat > "$work/idleclients.c" <<'CSRC'
#include <pcp/pmapi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static const char *names[] = {
	"kernel.percpu.cpu.user", "kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle",
	"network.interface.in.bytes", "network.interface.out.bytes", "network.interface.in.packets",
	"network.interface.out.packets", "disk.dev.read", "disk.dev.write", "disk.dev.read_bytes",
	"disk.dev.write_bytes", "mem.util.free", "mem.util.used", "mem.util.cached", "mem.util.bufmem",
	"kernel.all.load", "kernel.all.pswitch", "kernel.all.intr", "kernel.all.nprocs", "swap.used",
	"filesys.free", "filesys.used", "kernel.all.cpu.nice", "kernel.all.cpu.steal",
	"mem.util.available", "mem.util.slab", "kernel.all.running", "kernel.all.blocked",
	"kernel.all.uptime", "hinv.ncpu",
};
int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int n = atoi(argv[1]), p[2], good = 0;
	pid_t *kids = calloc(n > 0 ? n : 1, sizeof(pid_t));
	if (n < 1 || kids == NULL || pipe(p) < 0)
		return 2;
	for (int i = 0; i < n; i++) {
		if ((kids[i] = fork()) == 0) {
			char ok = 'n';
			pmID ids[30];
			pmResult *r;
			if (pmNewContext(PM_CONTEXT_HOST, argv[2]) >= 0 && pmLookupName(30, names, ids) >= 0 &&
			    pmFetch(30, ids, &r) >= 0) {
				ok = 'y';
				pmFreeResult(r);
			}
			if (write(p[1], &ok, 1) != 1 || ok != 'y')
				_exit(1);
			pause();
			_exit(0);
		}
	}
	close(p[1]);
	char c, buf[64];
	for (int i = 0; i < n; i++)
		if (read(p[0], &c, 1) == 1 && c == 'y')
			good++;
	printf("ready %d\n", good);
	fflush(stdout);
	while (read(0, buf, sizeof buf) > 0)
		;
	for (int i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
CSRC
cc -O2 -o "$work/idleclients" "$work/idleclients.c" -lpcp || exit 1

# waitport, tree, cpu_ns, now_ns, hwm, field, median: shared with scripts/bench-proc.sh.
. scripts/bench-lib.sh

# Certificates: one CA, a server certificate for 127.0.0.1 and a client
# certificate (all ECDSA P-256), PEM copies for PCP 6 tls.conf files.
bin/certdb quickstart --dir "$work/pki" >/dev/null
bin/certdb export -d "$work/pki/server" -n "PCP Collector certificate" -o "$work/server.pem" --format pem --with-key >/dev/null
bin/certdb export -d "$work/pki/server" -n "PCP CA" -o "$work/ca.pem" --format pem >/dev/null
bin/certdb export -d "$work/pki/client" -n "PCP client certificate" -o "$work/client.pem" --format pem --with-key >/dev/null
printf 'tls-cert-file = %s\ntls-key-file = %s\n' "$work/server.pem" "$work/server.pem" > "$work/pmcd-tls.conf"
# Mutual TLS: pmcd verifies client certificates against the CA (collectord -Q
# does the same from its store, where quickstart put the CA with trust CT).
printf 'tls-cert-file = %s\ntls-key-file = %s\ntls-ca-cert-file = %s\ntls-verify-clients = true\n' \
  "$work/server.pem" "$work/server.pem" "$work/ca.pem" > "$work/pmcd-mtls.conf"
printf 'tls-ca-cert-file = %s\n' "$work/ca.pem" > "$work/client-tls.conf"
printf 'tls-ca-cert-file = %s\ntls-cert-file = %s\ntls-key-file = %s\n' \
  "$work/ca.pem" "$work/client.pem" "$work/client.pem" > "$work/client-mtls.conf"

# Twelve consecutive ports from BENCH_PORT (they lie in Linux's ephemeral range, so
# a busy machine's outgoing connection can hold one: pick another base then, or
# one above the range's end, /proc/sys/net/ipv4/ip_local_port_range).
BENCH_PORT=${BENCH_PORT:-44711}
p_real=$BENCH_PORT p_ours=$((BENCH_PORT + 1)) p_real_tls=$((BENCH_PORT + 2)) p_ours_tls=$((BENCH_PORT + 3)) p_floor=$((BENCH_PORT + 4))
p_real_mtls=$((BENCH_PORT + 5)) p_ours_mtls=$((BENCH_PORT + 6)) p_base=$((BENCH_PORT + 7))
p_base_tls=$((BENCH_PORT + 8)) p_base_mtls=$((BENCH_PORT + 9)) p_floorraw=$((BENCH_PORT + 10)) p_floorc=$((BENCH_PORT + 11))
# All the clients come from 127.0.0.1, standing in for as many hosts: our
# per-address limit (64 by default) is raised above CLIENTS for the benchmark.
printf '[server]\nmax_clients_per_addr = %d\n' $((CLIENTS > 64 ? CLIENTS + 16 : 64)) > "$work/collectord.toml"
# taskset's affinity is inherited by pmcd and the agents it starts.
"${pin[@]}" "$REF" start "$work/pmcd" $p_real >/dev/null || exit 1
"${pin[@]}" "$REF" start "$work/pmcd-tls" $p_real_tls -t "$work/pmcd-tls.conf" >/dev/null || exit 1
"${pin[@]}" "$REF" start "$work/pmcd-mtls" $p_real_mtls -t "$work/pmcd-mtls.conf" >/dev/null || exit 1
"${pin[@]}" "$COLLECTORD" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_ours --log-level error & pids+=($!); pid_ours=$!
"${pin[@]}" "$COLLECTORD" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_ours_tls -C "$work/pki/server" -M "PCP Collector certificate" --log-level error & pids+=($!); pid_ourstls=$!
"${pin[@]}" "$COLLECTORD" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_ours_mtls -C "$work/pki/server" -M "PCP Collector certificate" -Q --log-level error & pids+=($!); pid_oursmtls=$!
pid_base= pid_basetls= pid_basemtls=
if [ -n "$BASE" ]; then
  "${pin[@]}" "$BASE" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_base --log-level error & pids+=($!); pid_base=$!
  "${pin[@]}" "$BASE" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_base_tls -C "$work/pki/server" -M "PCP Collector certificate" --log-level error & pids+=($!); pid_basetls=$!
  "${pin[@]}" "$BASE" --config "$work/collectord.toml" -i 127.0.0.1 -p $p_base_mtls -C "$work/pki/server" -M "PCP Collector certificate" -Q --log-level error & pids+=($!); pid_basemtls=$!
  waitport $p_base && waitport $p_base_tls && waitport $p_base_mtls || { echo "bench: $BASE did not start" >&2; exit 1; }
fi
go build -o "$work/floorserver" ./internal/cmd/floorserver || exit 1
"${pin[@]}" "$work/floorserver" -p $p_floor & pids+=($!); pid_floor=$!
"${pin[@]}" "$work/floorserver" -p $p_floorraw -loop raw & pids+=($!); pid_floorraw=$!
"${pin[@]}" "$work/floorc" -p $p_floorc & pids+=($!); pid_floorc=$!
waitport $p_ours && waitport $p_ours_tls && waitport $p_ours_mtls && waitport $p_floor && waitport $p_floorraw &&
  waitport $p_floorc || { echo "bench: a server did not start" >&2; exit 1; }
# A port held by someone else's server would pass waitport while ours exited on
# "address already in use" and every figure would be that other server's.
for p in $pid_ours $pid_ourstls $pid_oursmtls $pid_floor $pid_floorraw $pid_floorc $pid_base; do
  kill -0 "$p" 2>/dev/null || { echo "bench: a server exited at start (port busy? BENCH_PORT=$BENCH_PORT: pick another)" >&2; exit 1; }
done
export PCP_DERIVED_CONFIG=
# Let the real pmcd's agents settle before measuring.
pminfo -h 127.0.0.1:$p_real -f hinv.ncpu >/dev/null; pminfo -h 127.0.0.1:$p_real_tls -f hinv.ncpu >/dev/null
pminfo -h 127.0.0.1:$p_real_mtls -f hinv.ncpu >/dev/null

declare -A srv
srv[real]=$(tree "$(cat "$work/pmcd/pmcd.pid")" | tr '\n' ' ')
srv[realtls]=$(tree "$(cat "$work/pmcd-tls/pmcd.pid")" | tr '\n' ' ')
srv[realmtls]=$(tree "$(cat "$work/pmcd-mtls/pmcd.pid")" | tr '\n' ' ')
srv[ours]=$pid_ours srv[ourstls]=$pid_ourstls srv[oursmtls]=$pid_oursmtls srv[floor]=$pid_floor srv[base]=$pid_base
srv[floorraw]=$pid_floorraw srv[floorc]=$pid_floorc
srv[basetls]=$pid_basetls srv[basemtls]=$pid_basemtls
for k in real realtls realmtls; do
  set -- ${srv[$k]}
  [ $# -ge 3 ] || { echo "bench: expected pmcd and its two agents for $k, found pids: ${srv[$k]}" >&2; exit 1; }
done
# Memory of the given processes (summed) in MiB: "RSS/private". Private is
# Private_Clean + Private_Dirty of /proc/PID/smaps_rollup, the pages no other
# process maps, which exiting would free. Pages of a program file or library that
# other running processes map too (this run's other collectord or pmcd instances,
# libpcp shared by the agents) count in RSS and not in private.
mem() {
  local p rss=0 priv=0 a b
  for p in "$@"; do
    read -r a b < <(awk '/^Rss:/ {r=$2} /^Private_Clean:/ {pc=$2} /^Private_Dirty:/ {pd=$2} END {print r+0, pc+pd}' /proc/"$p"/smaps_rollup 2>/dev/null)
    rss=$((rss + ${a:-0})) priv=$((priv + ${b:-0}))
  done
  awk -v r=$rss -v p=$priv 'BEGIN{printf "%.1f/%.1f", r/1024, p/1024}'
}
pminfo -h 127.0.0.1:$p_ours -f hinv.ncpu >/dev/null
# The floors have served one client too (pminfo asks for descriptors, which a
# floor does not answer): one connect, lookup and fetch.
for p in $p_floor $p_floorraw $p_floorc; do "$work/fetchbench" -h 127.0.0.1:$p -C -n 1 >/dev/null; done
mem_idle_real=$(mem ${srv[real]}) mem_idle_ours=$(mem $pid_ours)
declare -A mem_idle
for k in floorc floor floorraw; do mem_idle[$k]=$(mem ${srv[$k]}); done

# run TARGET PORT OPS FETCHBENCH-ARGS...: one pinned fetchbench run; records its
# p50, the server's CPU per operation (µs) and operations per second.
declare -A p50 cpu ops
run() {
  local t=$1 port=$2 n=$3 env=() out c0 c1 w0 w1
  shift 3
  case $t in
    *mtls) env=(PCP_SECURE_SOCKETS=enforce PCP_TLSCONF_PATH="$work/client-mtls.conf");;
    *tls) env=(PCP_SECURE_SOCKETS=enforce PCP_TLSCONF_PATH="$work/client-tls.conf");;
  esac
  c0=$(cpu_ns ${srv[$t]}); w0=$(now_ns)
  out=$(env "${env[@]}" "${pin[@]}" "$work/fetchbench" -h 127.0.0.1:"$port" "$@") || out=""
  w1=$(now_ns); c1=$(cpu_ns ${srv[$t]})
  local key=$t.$KEY
  if [ -z "$out" ]; then echo "bench: fetchbench failed against $t ($*)" >&2; return; fi
  p50[$key]+="$(echo "$out" | field p50_us) "
  cpu[$key]+="$(awk -v d=$((c1 - c0)) -v n="$n" 'BEGIN{printf "%.2f", d/n/1000}') "
  # Wall time includes fetchbench's own start-up; fine for connects, and for
  # fetches fetchbench's own figure is used.
  local fps; fps=$(echo "$out" | field fetches_per_s)
  [ -z "$fps" ] && fps=$(awk -v w=$((w1 - w0)) -v n="$n" 'BEGIN{printf "%.0f", n/(w/1e9)}')
  ops[$key]+="$fps "
}

# The machine is shared, so the targets are measured in alternation, ROUNDS
# times, and the median of the rounds is reported.
# ROWS=tls keeps the targets whose name ends in tls.
rows() { local t; for t in "$@"; do case $ROWS:${t%% *} in tls:*tls|all:*) printf '%s\n' "$t";; esac; done; }
for r in $(seq "$ROUNDS"); do
  for s in 1 10 30; do
    KEY=$s
    while read -r t; do
      set -- $t
      run "$1" "$2" "$ITERS" -n "$ITERS" -s $s
    done < <(rows "real $p_real" "ours $p_ours" "realtls $p_real_tls" "ourstls $p_ours_tls" "floor $p_floor" \
      "floorraw $p_floorraw" "floorc $p_floorc" ${BASE:+"base $p_base"} ${BASE:+"basetls $p_base_tls"})
  done
  KEY=C
  while read -r t; do
    set -- $t
    run "$1" "$2" "$CONNECTS" -n "$CONNECTS" -C
  done < <(rows "real $p_real" "ours $p_ours" "realtls $p_real_tls" "ourstls $p_ours_tls" \
    "realmtls $p_real_mtls" "oursmtls $p_ours_mtls" "floor $p_floor" "floorraw $p_floorraw" "floorc $p_floorc" \
    ${BASE:+"base $p_base"} ${BASE:+"basetls $p_base_tls"} ${BASE:+"basemtls $p_base_mtls"})
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else print "-"}'; }
m() { echo "${1:-}" | median; }
echo "== pinned to CPU $BENCH_CPU (client and servers); median of $ROUNDS alternating rounds;"
echo "== $ITERS fetches or $CONNECTS connects per run; server CPU in µs per operation"
basecol() { [ -n "$BASE" ] && printf ' %9s %7s' "$@"; }
printf '%-26s | %9s %9s %7s | %9s %9s %9s %7s | %9s %9s' measurement \
  p50-real p50-ours speedup cpu-real cpu-ours cpu-floor ratio ops/s-real ops/s-ours
basecol cpu-base base/ours; echo
for k in 1 10 30 C; do
  for tls in "" tls mtls; do
    [ "$tls" = mtls ] && [ $k != C ] && continue
    [ "$ROWS" = tls ] && [ -z "$tls" ] && continue
    name="fetch set=$k"; [ $k = C ] && name="connect+lookup+fetch"
    [ "$tls" = tls ] && name="$name TLS"
    [ "$tls" = mtls ] && name="$name mTLS"
    a=$(m "${p50[real$tls.$k]:-}") b=$(m "${p50[ours$tls.$k]:-}")
    ca=$(m "${cpu[real$tls.$k]:-}") cb=$(m "${cpu[ours$tls.$k]:-}")
    cf="-"; [ -z "$tls" ] && cf=$(m "${cpu[floor.$k]:-}")
    printf '%-26s | %9s %9s %7s | %9s %9s %9s %7s | %9s %9s' "$name" "$a" "$b" "$(ratio "$a" "$b")" \
      "$ca" "$cb" "$cf" "$(ratio "$ca" "$cb")" "$(m "${ops[real$tls.$k]:-}")" "$(m "${ops[ours$tls.$k]:-}")"
    cx=$(m "${cpu[base$tls.$k]:-}"); basecol "$cx" "$(ratio "$cx" "$cb")"
    echo
  done
done
echo "(ratio = real pmcd's CPU per operation / collectord's; cpu-floor = floor-go below; mTLS:"
echo " the client presents an ECDSA P-256 certificate the server requires and verifies)"

# spread: "min-max" of the numbers on stdin.
spread() { tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR) printf "%s-%s", lo, hi; else print "n/a"}'; }
# ms TARGET.KEY: "median (min-max)" of a target's CPU per operation.
ms() { printf '%s (%s)' "$(m "${cpu[$1]:-}")" "$(echo "${cpu[$1]:-}" | spread)"; }
if [ "$ROWS" = all ]; then
  echo "== floors: server CPU in µs per operation, median (min-max) of $ROUNDS rounds, beside the"
  echo "== real pmcd and collectord of the same rounds"
  printf '%-22s | %-23s %-23s | %-23s %-23s %-23s\n' measurement real-pmcd collectord floor-C floor-go floor-raw
  for k in 1 10 30 C; do
    name="fetch set=$k"; [ $k = C ] && name="connect+lookup+fetch"
    printf '%-22s | %-23s %-23s | %-23s %-23s %-23s\n' "$name" "$(ms real.$k)" "$(ms ours.$k)" \
      "$(ms floorc.$k)" "$(ms floor.$k)" "$(ms floorraw.$k)"
  done
  echo "(floor-C: bench/floorserver.c, one epoll loop; floor-go: a goroutine per connection as"
  echo " collectord's; floor-raw: floorserver -loop raw, one Go event loop with raw system calls)"
fi

[ "$CLIENTS" -gt 0 ] && [ "$ROWS" = all ] || exit 0
# CLIENTS idle clients on one server at a time: its memory while they stay.
idle_mem() {
  local port=$1 out
  shift
  coproc IDLE { "${pin[@]}" "$work/idleclients" "$CLIENTS" 127.0.0.1:"$port" 2>/dev/null; }
  read -r out <&"${IDLE[0]}"
  sleep 1
  echo "$(mem "$@") (${out:-idleclients failed})"
  exec {IDLE[1]}>&-
  wait "$IDLE_PID" 2>/dev/null
}
mem_clients_real=$(idle_mem $p_real ${srv[real]})
mem_clients_ours=$(idle_mem $p_ours $pid_ours)
declare -A mem_clients port_of=([floorc]=$p_floorc [floor]=$p_floor [floorraw]=$p_floorraw)
for k in floorc floor floorraw; do mem_clients[$k]=$(idle_mem ${port_of[$k]} ${srv[$k]}); done
echo "== $CLIENTS concurrent clients, total fetches per second (same pinned CPU)"
for s in 1 10 30; do
  a=$("${pin[@]}" "$work/fetchbench" -h 127.0.0.1:$p_real -n $((ITERS / 5)) -c "$CLIENTS" -s $s 2>/dev/null | tr '\n' ' ')
  b=$("${pin[@]}" "$work/fetchbench" -h 127.0.0.1:$p_ours -n $((ITERS / 5)) -c "$CLIENTS" -s $s 2>/dev/null | tr '\n' ' ')
  echo "real-pmcd  ${a:-(fetchbench failed)}"
  echo "collectord ${b:-(fetchbench failed)}"
done
# Memory: at idle (before the rounds), with the idle clients, after the run, and
# the peak (VmHWM) over the whole run, the busy clients above included.
echo "== memory in MiB, RSS/private (real-pmcd: pmcd+pmdalinux+pmdaproc summed)"
printf '%-10s | %-9s | %-30s | %-13s | %s\n' server idle "$CLIENTS idle clients (ready K)" "after the run" "peak RSS (VmHWM) over the run"
printf '%-10s | %-9s | %-30s | %-13s | %s\n' real-pmcd "$mem_idle_real" "$mem_clients_real" "$(mem ${srv[real]})" "$(hwm ${srv[real]})"
printf '%-10s | %-9s | %-30s | %-13s | %s\n' collectord "$mem_idle_ours" "$mem_clients_ours" "$(mem $pid_ours)" "$(hwm $pid_ours)"
for k in floorc floor floorraw; do
  case $k in floorc) name=floor-C;; floor) name=floor-go;; *) name=floor-raw;; esac
  printf '%-10s | %-9s | %-30s | %-13s | %s\n' "$name" "${mem_idle[$k]}" "${mem_clients[$k]}" "$(mem ${srv[$k]})" "$(hwm ${srv[$k]})"
done

#!/usr/bin/env bash
# bench.sh: our collectord against the real pmcd, same run, same libpcp client
# (../shared/bench/fetchbench.c). Prints fetchbench's lines for both; BENCHMARKS.md
# records the figures. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GOPCP_SHARED:-../shared}
ITERS=${ITERS:-5000}
CLIENTS=${CLIENTS:-50}
work=$(mktemp -d)
cleanup() {
  [ -n "${ourpid:-}" ] && kill "$ourpid" 2>/dev/null || true
  "$SHARED/tools/reference-pcp" stop "$work/pmcd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -x /usr/lib/pcp/bin/pmcd ] && [ -f /usr/include/pcp/pmapi.h ] || {
  echo "bench: real PCP missing: run $SHARED/tools/reference-pcp install" >&2; exit 1; }
cc -O2 -o "$work/fetchbench" "$SHARED/bench/fetchbench.c" -lpcp
port_real=44711 port_ours=44712
"$SHARED/tools/reference-pcp" start "$work/pmcd" $port_real >/dev/null
bin/collectord -i 127.0.0.1 -p $port_ours --log-level warn &
ourpid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port_ours) 2>/dev/null && break; sleep 0.1; done
# Let the real pmcd's agents settle before measuring.
PCP_DERIVED_CONFIG= pminfo -h 127.0.0.1:$port_real -f hinv.ncpu >/dev/null
export PCP_DERIVED_CONFIG=
for target in "real-pmcd 127.0.0.1:$port_real" "collectord 127.0.0.1:$port_ours"; do
  set -- $target
  echo "== $1: one connection, sequential fetches"
  "$work/fetchbench" -h "$2" -n "$ITERS" -s all | sed "s/^/$1 /"
  echo "== $1: $CLIENTS concurrent clients"
  for s in 1 10 30; do "$work/fetchbench" -h "$2" -n $((ITERS / 5)) -c "$CLIENTS" -s $s | sed "s/^/$1 /"; done
  echo "== $1: connect + lookup + fetch"
  "$work/fetchbench" -h "$2" -n 500 -C | sed "s/^/$1 /"
done

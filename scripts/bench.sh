#!/usr/bin/env bash
# bench.sh: our collectord against the real pmcd, same run, same libpcp client
# (bench/fetchbench.c), plaintext and TLS (ECDSA P-256 certificates from
# certdb quickstart). Prints fetchbench's lines prefixed with the target; figures go
# into BENCHMARKS.md. Loopback only.
set -uo pipefail
cd "$(dirname "$0")/.."
REF=scripts/reference-pcp
ITERS=${ITERS:-5000}
CLIENTS=${CLIENTS:-50}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  "$REF" stop "$work/pmcd" >/dev/null 2>&1
  "$REF" stop "$work/pmcd-tls" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
[ -x /usr/lib/pcp/bin/pmcd ] && [ -f /usr/include/pcp/pmapi.h ] || {
  echo "bench: real PCP missing: run $REF install" >&2; exit 1; }
cc -O2 -o "$work/fetchbench" bench/fetchbench.c -lpcp || exit 1

waitport() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# Certificates: one CA, a server certificate for 127.0.0.1, PEM copies for tls.conf.
bin/certdb quickstart --dir "$work/pki" >/dev/null
bin/certdb export -d "$work/pki/server" -n "PCP Collector certificate" -o "$work/server.pem" --format pem --with-key >/dev/null
bin/certdb export -d "$work/pki/server" -n "PCP CA" -o "$work/ca.pem" --format pem >/dev/null
printf 'tls-cert-file = %s\ntls-key-file = %s\n' "$work/server.pem" "$work/server.pem" > "$work/pmcd-tls.conf"
printf 'tls-ca-cert-file = %s\n' "$work/ca.pem" > "$work/client-tls.conf"

p_real=44711 p_ours=44712 p_real_tls=44713 p_ours_tls=44714
"$REF" start "$work/pmcd" $p_real >/dev/null || exit 1
"$REF" start "$work/pmcd-tls" $p_real_tls -t "$work/pmcd-tls.conf" >/dev/null || exit 1
bin/collectord --config /dev/null -i 127.0.0.1 -p $p_ours --log-level error & pids+=($!)
bin/collectord --config /dev/null -i 127.0.0.1 -p $p_ours_tls -C "$work/pki/server" -M "PCP Collector certificate" --log-level error & pids+=($!)
p_floor=44715
go build -o "$work/floorserver" ./internal/cmd/floorserver || exit 1
"$work/floorserver" -p $p_floor & pids+=($!)
waitport $p_ours && waitport $p_ours_tls && waitport $p_floor || { echo "bench: a server did not start" >&2; exit 1; }
export PCP_DERIVED_CONFIG=
# Let the real pmcd's agents settle before measuring.
pminfo -h 127.0.0.1:$p_real -f hinv.ncpu >/dev/null; pminfo -h 127.0.0.1:$p_real_tls -f hinv.ncpu >/dev/null

fb() { "$work/fetchbench" "$@" || echo "(fetchbench exit $?)"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
ROUNDS=${ROUNDS:-5}

# The machine is shared, so the two collectors are measured in alternation, ROUNDS
# times, and the median of the rounds' p50 is reported.
declare -A p50
for r in $(seq "$ROUNDS"); do
  for s in 1 10 30; do
    for t in "real $p_real" "ours $p_ours" "realtls $p_real_tls" "ourstls $p_ours_tls" "floor $p_floor"; do
      set -- $t
      env=()
      case $1 in *tls) env=(PCP_SECURE_SOCKETS=enforce PCP_TLSCONF_PATH="$work/client-tls.conf");; esac
      v=$(env "${env[@]}" "$work/fetchbench" -h 127.0.0.1:$2 -n "$ITERS" -s $s | field p50_us)
      p50[$1.$s]+="$v "
    done
  done
  for t in "real $p_real" "ours $p_ours" "realtls $p_real_tls" "ourstls $p_ours_tls"; do
    set -- $t
    env=()
    case $1 in *tls) env=(PCP_SECURE_SOCKETS=enforce PCP_TLSCONF_PATH="$work/client-tls.conf");; esac
    v=$(env "${env[@]}" "$work/fetchbench" -h 127.0.0.1:$2 -n 300 -C | field p50_us)
    p50[$1.C]+="$v "
  done
done
echo "== p50 latency in microseconds, median of $ROUNDS alternating rounds ($ITERS fetches each)"
printf '%-28s %12s %12s %8s %12s\n' measurement real-pmcd collectord speedup no-op-server
for k in 1 10 30 C; do
  for tls in "" tls; do
    a=$(echo ${p50[real$tls.$k]} | tr ' ' '\n' | median); b=$(echo ${p50[ours$tls.$k]} | tr ' ' '\n' | median)
    name="fetch set=$k"; [ $k = C ] && name="connect+lookup+fetch"
    [ -n "$tls" ] && name="$name TLS"
    f=""; [ -z "$tls" ] && [ $k != C ] && f=$(echo ${p50[floor.$k]} | tr ' ' '\n' | median)
    printf '%-28s %12s %12s %8s %12s\n' "$name" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{if (b>0) printf "%.2fx", a/b}')" "$f"
  done
done
echo "== $CLIENTS concurrent clients, total fetches per second"
for s in 1 10 30; do
  a=$(fb -h 127.0.0.1:$p_real -n $((ITERS / 5)) -c "$CLIENTS" -s $s 2>/dev/null | tr '\n' ' ')
  b=$(fb -h 127.0.0.1:$p_ours -n $((ITERS / 5)) -c "$CLIENTS" -s $s 2>/dev/null | tr '\n' ' ')
  echo "real-pmcd  $a"
  echo "collectord $b"
done

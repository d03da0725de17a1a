#!/usr/bin/env bash
# run-demo.sh PORT: the `make run` demonstration. Creates a throwaway CA and
# certificates (certdb quickstart), starts a collector that requires client
# certificates on 127.0.0.1:PORT, and shows pminfo -f output through TLS.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-44399}
# A busy port would make the demonstration talk to whatever holds it: stop at once.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "make run: port $port on 127.0.0.1 is already in use; choose another: make run PORT=NNNNN" >&2
  exit 1
fi
tmp=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT

echo "== certdb quickstart --dir $tmp/pcp"
bin/certdb quickstart --dir "$tmp/pcp" | sed 's/^/   /'

echo "== collectord -C $tmp/pcp/server -M 'PCP Collector certificate' -Q -i 127.0.0.1 -p $port"
bin/collectord --config /dev/null -C "$tmp/pcp/server" -M 'PCP Collector certificate' -Q \
  -i 127.0.0.1 -p "$port" --log-level warn &
pid=$!
up=
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$up" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "make run: collectord did not start on 127.0.0.1:$port (see its messages above)" >&2
  exit 1
fi

echo "== pminfo without a client certificate (refused, as -Q requires)"
bin/pminfo -h "127.0.0.1:$port" -f kernel.uname.nodename || true

echo "== PCP_SECURE_SOCKETS=enforce PCP_SECURE_DB_PATH=$tmp/pcp/client pminfo -h 127.0.0.1:$port -f ..."
PCP_SECURE_SOCKETS=enforce PCP_SECURE_DB_PATH="$tmp/pcp/client" \
  bin/pminfo -h "127.0.0.1:$port" -f kernel.uname.nodename hinv.ncpu kernel.all.load mem.util.free

#!/usr/bin/env bash
# bench-fleet.sh: one proxyd in front of a fleet of collectord processes, as a
# monitoring site runs it. The script starts FLEET_SIZE (100) collectord on
# loopback ports, one proxyd whose configuration lists each of them as a
# [[collector]], Prometheus (/usr/bin/prometheus) scraping every collector
# through proxyd with the multi-target relabelling pattern (file service
# discovery, FLEET_INTERVAL, 15s by default), and REST_CLIENTS (20) dashboard
# clients that each poll /pmapi/fetch once a second over one keep-alive
# connection. After FLEET_WARMUP (20 s: every collector scraped once, so proxyd's
# metadata cache is filled, as in a fleet that has been running) it measures
# for FLEET_SECONDS (180) and prints proxyd's CPU (schedstat, all
# threads) and memory (VmRSS and VmHWM), the scrape duration per collector and
# the failed scrapes from Prometheus' own series (up, scrape_duration_seconds,
# through its HTTP API), and the REST clients' answers that were not 200.
# Everything listens on 127.0.0.1 and lives in a temporary directory; every
# process is stopped at the end. Nothing is pinned: a fleet shares the machine.
# The exit status is 1 when a scrape or a REST request failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
FLEET_SIZE=${FLEET_SIZE:-100}
FLEET_SECONDS=${FLEET_SECONDS:-180}
FLEET_WARMUP=${FLEET_WARMUP:-20}
FLEET_INTERVAL=${FLEET_INTERVAL:-15s}
REST_CLIENTS=${REST_CLIENTS:-20}
# FLEET_NAMES: what each scrape asks for (/metrics?names=), a host overview of
# about 190 series per collector. Empty scrapes everything (about 3,900 series
# and 0.1-1 s of proxyd per scrape here): on the shared 2-CPU machine 100 such
# collectors every 15 s overran the 10 s scrape timeout (BENCHMARKS.md, "Fleet").
FLEET_NAMES=${FLEET_NAMES-kernel.all,mem.util,disk.all,network.all,swap,hinv.ncpu}
BASE=${FLEET_PORT:-46000} # proxyd BASE, Prometheus BASE+1, collectors BASE+100...
p_proxy=$BASE p_prom=$((BASE + 1)) p_coll0=$((BASE + 100))
for c in "$BIN/collectord" "$BIN/proxyd" "$PROMETHEUS" curl jq stdbuf; do
  command -v "$c" >/dev/null || { echo "bench-fleet: $c missing (make build; apt-get install prometheus jq curl)" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

echo "== starting $FLEET_SIZE collectord on 127.0.0.1:$p_coll0-$((p_coll0 + FLEET_SIZE - 1))"
: >"$work/proxyd.toml"
targets=()
for i in $(seq 0 $((FLEET_SIZE - 1))); do
  port=$((p_coll0 + i))
  "$BIN/collectord" --config /dev/null -i 127.0.0.1 -p "$port" --log-level error 2>>"$work/collectord.log" & pids+=($!)
  printf '[[collector]]\nhost = "127.0.0.1"\nport = %d\n' "$port" >>"$work/proxyd.toml"
  targets+=("\"127.0.0.1:$port\"")
done
printf '[log]\nlevel = "warn"\n' >>"$work/proxyd.toml"
# FLEET_METADATA_TTL sets [upstream] metadata_ttl (proxyd's default, 1m, when empty).
[ -n "${FLEET_METADATA_TTL:-}" ] && printf '[upstream]\nmetadata_ttl = "%s"\n' "$FLEET_METADATA_TTL" >>"$work/proxyd.toml"
"$BIN/proxyd" --config "$work/proxyd.toml" -i 127.0.0.1 -p "$p_proxy" 2>"$work/proxyd.log" & pids+=($!); pid_proxyd=$!
for i in $(seq 0 $((FLEET_SIZE - 1))); do
  waitport $((p_coll0 + i)) || { echo "bench-fleet: collectord on $((p_coll0 + i)) did not start" >&2; cat "$work/collectord.log" >&2; exit 1; }
done
waitport "$p_proxy" || { echo "bench-fleet: proxyd did not start" >&2; cat "$work/proxyd.log" >&2; exit 1; }

# The Prometheus configuration documented in proxyd/README.md ("A fleet").
(IFS=,; printf '[{"targets": [%s], "labels": {"proxy": "127.0.0.1:%d"}}]\n' "${targets[*]}" "$p_proxy") >"$work/collectors.json"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: $FLEET_INTERVAL
scrape_configs:
  - job_name: pcp
    metrics_path: /metrics
$( [ -n "$FLEET_NAMES" ] && echo "    params: {names: ['$FLEET_NAMES']}" )
    file_sd_configs: [{files: ['$work/collectors.json']}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_hostspec
      - source_labels: [__param_hostspec]
        target_label: instance
      - source_labels: [proxy]
        target_label: __address__
      - regex: proxy
        action: labeldrop
EOF
"$PROMETHEUS" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$p_prom" --log.level=warn 2>"$work/prometheus.log" & pids+=($!)
waitport "$p_prom" || { echo "bench-fleet: Prometheus did not start" >&2; cat "$work/prometheus.log" >&2; exit 1; }

cpu_ns() {
  local total=0 f ns
  for f in /proc/"$1"/task/*/schedstat; do read -r ns _ <"$f" 2>/dev/null && total=$((total + ns)); done
  echo "$total"
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# REST clients: each makes a context on its own collector, then fetches a few
# metrics once a second over one connection (curl's --rate keeps it open).
n_req=$((FLEET_WARMUP + FLEET_SECONDS))
for c in $(seq 1 "$REST_CLIENTS"); do
  port=$((p_coll0 + (c - 1) * FLEET_SIZE / REST_CLIENTS))
  ctx=$(curl -s "http://127.0.0.1:$p_proxy/pmapi/context?hostspec=127.0.0.1:$port&polltimeout=60" | jq -r '.context // empty')
  [ -n "$ctx" ] || { echo "bench-fleet: REST client $c got no context from proxyd" >&2; exit 1; }
  for _ in $(seq "$n_req"); do
    printf 'url = "http://127.0.0.1:%d/pmapi/%s/fetch?names=kernel.all.load,mem.util.used,kernel.all.cpu.user,disk.all.read"\noutput = /dev/null\n' "$p_proxy" "$ctx"
  done >"$work/rest$c.curl"
  # Line-buffered, so that the answers before the measurement can be counted.
  stdbuf -oL curl -s --rate 1/s -K "$work/rest$c.curl" -w '%{http_code} %{num_connects}\n' >"$work/rest$c.out" & pids+=($!)
done

echo "== $FLEET_SIZE collectors behind proxyd 127.0.0.1:$p_proxy, Prometheus every $FLEET_INTERVAL (names=${FLEET_NAMES:-everything}), $REST_CLIENTS REST clients at 1/s; warm-up $FLEET_WARMUP s, then $FLEET_SECONDS s measured"
sleep "$FLEET_WARMUP"
hwm0=$(status_kb "$pid_proxyd" VmHWM)
rest0=$(cat "$work"/rest*.out | wc -l)
c0=$(cpu_ns "$pid_proxyd") t0=$(date +%s%N)
sleep "$FLEET_SECONDS"
c1=$(cpu_ns "$pid_proxyd") t1=$(date +%s%N)
rss=$(status_kb "$pid_proxyd" VmRSS) hwm=$(status_kb "$pid_proxyd" VmHWM)
for c in $(seq 1 "$REST_CLIENTS"); do kill "${pids[$((${#pids[@]} - REST_CLIENTS + c - 1))]}" 2>/dev/null; done

q() { curl -s --get "http://127.0.0.1:$p_prom/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // "n/a"'; }
win="$((FLEET_SECONDS))s"
scrapes=$(q "sum(count_over_time(up{job=\"pcp\"}[$win]))")
ok=$(q "sum(sum_over_time(up{job=\"pcp\"}[$win]))")
targets_up=$(q "count(up{job=\"pcp\"} == 1)")
d_p50=$(q "quantile(0.5, avg_over_time(scrape_duration_seconds{job=\"pcp\"}[$win]))")
d_p90=$(q "quantile(0.9, avg_over_time(scrape_duration_seconds{job=\"pcp\"}[$win]))")
d_max=$(q "max(max_over_time(scrape_duration_seconds{job=\"pcp\"}[$win]))")
samples=$(q "avg(avg_over_time(scrape_samples_scraped{job=\"pcp\"}[$win]))")
rest_total=$(( $(cat "$work"/rest*.out | wc -l) - rest0 ))
rest_bad=$(cat "$work"/rest*.out | awk '$1 != 200' | wc -l)   # warm-up included
rest_conns=$(cat "$work"/rest*.out | awk '{n += $2} END {print n + 0}')

ms() { awk -v s="$1" 'BEGIN{if (s == "n/a") print s; else printf "%.1f ms", s*1000}'; }
failed=$(awk -v a="$scrapes" -v b="$ok" 'BEGIN{if (a == "n/a" || b == "n/a") print "n/a"; else printf "%d", a-b}')
echo "== results"
awk -v d=$((c1 - c0)) -v t=$((t1 - t0)) -v s="$scrapes" -v r="$rest_total" 'BEGIN{
  printf "proxyd CPU            %.1f%% of one CPU (%.2f s over %.0f s)\n", 100*d/t, d/1e9, t/1e9
  if (s != "n/a" && s+r > 0) printf "proxyd CPU per request %.2f ms (scrapes and REST requests together)\n", d/1e6/(s+r)}'
echo "proxyd memory         RSS $((rss / 1024)) MiB at the end, peak $((hwm / 1024)) MiB (VmHWM; $((hwm0 / 1024)) MiB after the warm-up)"
echo "targets up            $targets_up of $FLEET_SIZE"
echo "scrapes               $scrapes, failed $failed; $(printf %.0f "$samples") samples per scrape"
echo "scrape duration       per collector, mean over the run: p50 $(ms "$d_p50"), p90 $(ms "$d_p90"); longest single scrape $(ms "$d_max")"
echo "REST requests         $rest_total, not 200 (warm-up included): $rest_bad, connections opened: $rest_conns"
grep -i -m5 'level=error\|level=warn' "$work/proxyd.log" >&2
[ "$failed" = 0 ] && [ "$rest_bad" = 0 ] && [ "$rest_total" -gt 0 ]

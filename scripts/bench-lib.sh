# bench-lib.sh: what the side-by-side benchmark scripts share, sourced by
# scripts/bench.sh and scripts/bench-proc.sh so that both measure a server the
# same way. Functions only; nothing runs when it is sourced.

# waitport PORT: wait up to 5 s for something to listen on 127.0.0.1:PORT.
waitport() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# tree PID...: the processes and all their descendants (the real pmcd runs its
# agents as children), one pid a line.
tree() {
  local p c
  for p in "$@"; do
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
  done
}

# cpu_ns PID...: nanoseconds on a CPU so far, summed over every thread of the
# given processes (the first field of /proc/PID/task/*/schedstat).
cpu_ns() {
  local p total=0 f ns
  for p in "$@"; do
    for f in /proc/"$p"/task/*/schedstat; do
      read -r ns _ <"$f" 2>/dev/null && total=$((total + ns))
    done
  done
  echo "$total"
}

now_ns() { date +%s%N; }

# hwm PID...: peak resident memory (VmHWM), summed over the processes, in MiB.
hwm() { local p t=0 v; for p in "$@"; do v=$(awk '/^VmHWM:/ {print $2}' /proc/"$p"/status 2>/dev/null); t=$((t + ${v:-0})); done; awk -v k=$t 'BEGIN{printf "%.1f MiB", k/1024}'; }

# field KEY: the number after KEY= in fetchbench's output on stdin.
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# median: the median of the numbers on stdin (space or newline separated).
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }

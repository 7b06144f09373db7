#!/bin/bash
# cubelet's footprint and reaction time with N static pods against a private, real containerd.
#   bench/bench_pods.sh [BUILD_DIR] [N]     (root; BUILD_DIR defaults to ./build, N to 30)
# Prints: RSS idle, RSS with N pods (5 s after they all run, and again IDLE_S later, once the burst's
# worker threads have gone), CPU used while N pods run (IDLE_S, default 60 s), time from writing N
# manifests to all N containers running, exit -> restart latency (event stream and relist only, 20 exits
# each), teardown time for N pods whose containers exit on SIGTERM.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
idle_s=${IDLE_S:-60}
kills=$(( n < 20 ? n : 20 ))
ctd=/tmp/cubelet-bench-ctd
work=$(mktemp -d /tmp/cubelet-bench.XXXXXX)
cri() { "$build/cri/cubelet-cri" -r "unix://$ctd/containerd.sock" "$@"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
anon_kb() { awk '/^Pss_Anon/ { print $2 }' "/proc/$1/smaps_rollup"; } # private heap/stacks, no shared libs
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
running() { cri ps | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c . || true; }
listed() { cri ps -a | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c . || true; }

cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubbench0 --pod-cidr 10.198.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null

mkdir -p "$work/m"
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node --healthz-port 10391 --local-socket "$work/cubelet.sock" \
  ${CUBELET_FLAGS:-} >"$work/cubelet.log" 2>&1 &
pid=$!
sleep 5
rss_idle=$(rss_kb "$pid") anon_idle=$(anon_kb "$pid")

t0=$(ms)
for i in $(seq 1 "$n"); do
  cat >"$work/m/.p$i.tmp" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
YAML
  mv "$work/m/.p$i.tmp" "$work/m/p$i.yaml"
done
while [ "$(running)" -lt "$n" ]; do
  [ $(( $(ms) - t0 )) -gt 120000 ] && { echo "bench: pods did not all start in 120 s" >&2; exit 1; }
  sleep 0.05
done
t_start=$(( $(ms) - t0 ))
sleep 5
rss_pods=$(rss_kb "$pid") anon_pods=$(anon_kb "$pid") threads=$(ls "/proc/$pid/task" | wc -l)
c0=$(cpu_ticks "$pid")
sleep "$idle_s"
c1=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
# Settled: the worker threads of the burst have gone (30 s idle) by the end of the CPU window.
rss_settled=$(rss_kb "$pid") anon_settled=$(anon_kb "$pid") threads_settled=$(ls "/proc/$pid/task" | wc -l)

# Exit -> restart: kill a container's process, then compare the runtime's own timestamps (the old
# instance's finishedAt, the new one's startedAt). Each pod is killed once per cubelet run, so no
# back-off applies.
ts() { "$build/cri/cubelet-cri" -r "unix://$ctd/containerd.sock" inspect "$1" | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }
cid() { cri ps | awk -F'\t' -v p="default/p$1-bench-node" 'NR > 1 && $5 == p { print $1 }'; }
restart_ms() {
  local victim new t0 vpid
  victim=$(cid "$1")
  vpid=$(ctr --address "$ctd/containerd.sock" -n k8s.io tasks ls | awk -v id="$victim" '$1 == id { print $2 }')
  t0=$(ms)
  kill -9 "$vpid"
  while :; do
    new=$(cid "$1")
    [ -n "$new" ] && [ "$new" != "$victim" ] && break
    [ $(( $(ms) - t0 )) -gt 30000 ] && { echo "bench: p$1 not restarted in 30 s" >&2; exit 1; }
    sleep 0.02
  done
  local fin line
  fin=$(ts "$victim" finishedAt)
  # When cubelet began the restart: its "Restarting container" log line (klog time of day, local time).
  line=$(grep "\"Restarting container\" pod=\"default/p$1-bench-node\"" "$work/cubelet.log" | tail -1 | awk '{ print $2 }')
  local began=$(( $(date -d "$(date +%F) $line" +%s%N) ))
  echo "$(( (began - fin) / 1000000 )) $(( ($(ts "$new" startedAt) - fin) / 1000000 ))"
}
# stats COLUMN: median and worst of one column of restart_ms's output
stats() { awk -v c="$1" '{ print $c }' | sort -n |
  awk '{ v[NR] = $1 } END { printf "median %d ms, worst %d ms", v[int((NR + 1) / 2)], v[NR] }'; }
ev=$(for i in $(seq 1 "$kills"); do restart_ms "$i"; done)

kill "$pid"; wait "$pid" 2>/dev/null || true
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node --healthz-port 10391 --local-socket "$work/cubelet.sock" \
  --runtime-event-stream=false ${CUBELET_FLAGS:-} >>"$work/cubelet.log" 2>&1 &
pid=$!
sleep 3
rl=$(for i in $(seq $(( n - kills + 1 )) "$n"); do restart_ms "$i"; done)

t0=$(ms)
rm -f "$work"/m/*.yaml
while [ "$(listed)" -gt 0 ]; do
  [ $(( $(ms) - t0 )) -gt 120000 ] && { echo "bench: pods not torn down in 120 s" >&2; exit 1; }
  sleep 0.05
done
t_stop=$(( $(ms) - t0 ))

echo "cubelet bench ($n pods, $(nproc) cores, containerd $(containerd --version | awk '{ print $3 }'))"
printf '  RSS idle                         %6d KiB  (private: %d KiB; the rest is shared libraries)\n' \
  "$rss_idle" "$anon_idle"
printf '  RSS with %d pods                 %6d KiB  (private: %d KiB; %d threads)\n' "$n" "$rss_pods" "$anon_pods" \
  "$threads"
printf '  RSS with %d pods, %d s later     %6d KiB  (private: %d KiB; %d threads)\n' "$n" "$((idle_s + 5))" \
  "$rss_settled" "$anon_settled" "$threads_settled"
printf '  CPU with %d pods (%d s, steady)  %6d ms  (%.2f%% of one core)\n' "$n" "$idle_s" \
  $(( (c1 - c0) * 1000 / hz )) "$(echo "($c1 - $c0) * 100 / $hz / $idle_s" | bc -l)"
printf '  %d manifests -> all running      %6d ms\n' "$n" "$t_start"
echo "  exit -> cubelet begins the restart ($kills exits each; the runtime's exit time to cubelet's log line):"
echo "    event stream: $(stats 1 <<<"$ev");  relist only: $(stats 1 <<<"$rl")"
echo "  exit -> new container running (the runtime's timestamps, create and start included):"
echo "    event stream: $(stats 2 <<<"$ev");  relist only: $(stats 2 <<<"$rl")"
printf '  %d pods removed -> all gone      %6d ms\n' "$n" "$t_stop"

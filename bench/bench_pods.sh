#!/bin/bash
# cubelet's footprint and reaction time with N static pods against a private, real containerd.
#   bench/bench_pods.sh [BUILD_DIR] [N]     (root; BUILD_DIR defaults to ./build, N to 30)
# Prints: RSS idle, RSS with N pods, CPU used while N pods run, time from writing N manifests to all N
# containers running, teardown time for N pods whose containers exit on SIGTERM.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
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
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node --healthz-port 10391 \
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
sleep 10
c1=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)

# Reaction to a container's death: kill one container's process, time until its replacement runs.
victim=$(cri ps | awk -F'\t' 'NR > 1 && $5 == "default/p1-bench-node" { print $1 }')
vpid=$(ctr --address "$ctd/containerd.sock" -n k8s.io tasks ls | awk -v id="$victim" '$1 == id { print $2 }')
t0=$(ms)
kill -9 "$vpid"
while :; do
  now_id=$(cri ps | awk -F'\t' 'NR > 1 && $5 == "default/p1-bench-node" { print $1 }')
  [ -n "$now_id" ] && [ "$now_id" != "$victim" ] && break
  [ $(( $(ms) - t0 )) -gt 30000 ] && { echo "bench: container not restarted in 30 s" >&2; exit 1; }
  sleep 0.01
done
t_restart=$(( $(ms) - t0 ))

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
printf '  CPU with %d pods (10 s, steady)  %6d ms  (%.2f%% of one core)\n' "$n" \
  $(( (c1 - c0) * 1000 / hz )) "$(echo "($c1 - $c0) * 100 / $hz / 10" | bc -l)"
printf '  %d manifests -> all running      %6d ms\n' "$n" "$t_start"
printf '  killed container -> restarted    %6d ms\n' "$t_restart"
printf '  %d pods removed -> all gone      %6d ms\n' "$n" "$t_stop"

#!/bin/bash
# The servers under load with 30 static pods: requests per second on /healthz (health port) and /pods
# (read-only port, plain HTTP) and on /pods and /stats/summary of the node API (HTTPS, AlwaysAllow), with cubelet's RSS during
# the load.
#   bench/bench_server.sh [BUILD_DIR] [N]     (root; needs wrk: apt-get install wrk)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
secs=${LOAD_S:-10}
command -v wrk >/dev/null || { echo "bench_server: needs wrk (apt-get install wrk)" >&2; exit 1; }
ctd=/tmp/cubelet-bench-srv-ctd
work=$(mktemp -d /tmp/cubelet-bench-srv.XXXXXX)
cri() { "$build/cri/cubelet-cri" -r "unix://$ctd/containerd.sock" "$@"; }
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ -n "${ctd_up:-}" ]; then
    rm -f "$work"/m/*
    sleep 1
  fi
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubbsrv0 --pod-cidr 10.194.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null
ctd_up=1
mkdir -p "$work/m"
for i in $(seq 1 "$n"); do
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: p%s}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "trap \x27exit 0\x27 TERM; while :; do sleep 1; done"]}\n' "$i" >"$work/m/p$i.yaml"
done
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs/pods" --hostname-override bench-node --healthz-port 10393 --local-socket "$work/cubelet.sock" \
  --read-only-port 10396 --address 127.0.0.1 --port 10395 --authorization-mode AlwaysAllow --anonymous-auth true --cgroup-root /cubelet-bench-srv \
  >"$work/cubelet.log" 2>&1 &
pid=$!
until [ "$(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c .)" -ge "$n" ]; do sleep 0.5; done
sleep 3
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
load() { # load NAME URL
  local out peak=0 r
  wrk -t2 -c16 -d"${secs}s" "$2" >"$work/wrk.out" 2>&1 &
  local w=$!
  while kill -0 "$w" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
  wait "$w" || true
  out=$(awk '/Requests\/sec/ { print $2 }' "$work/wrk.out")
  echo "$1: $out requests/s (wrk, 2 threads, 16 connections, ${secs} s); cubelet RSS peak $((peak / 1024)) MiB"
}
echo "cubelet RSS before the load with $n pods: $(( $(rss) / 1024 )) MiB"
load "/healthz (health port)" http://127.0.0.1:10393/healthz
load "/pods with $n pods (read-only port)" http://127.0.0.1:10396/pods
load "/pods with $n pods (node API, HTTPS)" https://127.0.0.1:10395/pods
load "/stats/summary with $n pods (node API, HTTPS)" https://127.0.0.1:10395/stats/summary
load "/stats/summary?only_cpu_and_memory=true (metrics-server's) with $n pods (node API, HTTPS)" \
  "https://127.0.0.1:10395/stats/summary?only_cpu_and_memory=true"

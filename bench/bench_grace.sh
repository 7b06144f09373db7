#!/bin/bash
# How cubelet and the upstream kubelet 1.20.2 end a removed static pod whose container takes SLOW_S (6) seconds
# to exit on SIGTERM, within its 30 s grace period, on a private containerd: each exit after the manifest's
# removal (containerd's events: the shims' exit times) with its status. A kubelet that honours the grace
# period lets the container exit 0 after SLOW_S s; upstream 1.20's housekeeping destroys the cgroup of a pod
# no source has any more (cleanupOrphanedPodCgroups spares pending mirror pods only) and SIGKILLs what runs
# in it within its 2 s period. What bench_pods.sh's teardown figures compare with.
#   bench/bench_grace.sh [BUILD_DIR]     (root; the upstream kubelet from tests/e2e/kube-build.sh's cache)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
slow=${SLOW_S:-6}
ctd=/tmp/cubelet-bench-ctd
endpoint="unix://$ctd/containerd.sock"
upstream=${UPSTREAM_KUBELET:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kubelet}
work=$(mktemp -d /tmp/cubelet-bench-grace.XXXXXX)
source "$top/bench/bench_lib.sh"
cri() { "$build/cri/cubelet-cri" -r "$endpoint" "$@"; }
pid= evpid=
cleanup() {
  { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; } || true
  { [ -n "$evpid" ] && kill "$evpid" 2>/dev/null && wait "$evpid" 2>/dev/null; } || true
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  local m
  for m in $(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
[ -x "$upstream" ] || { echo "bench_grace: no upstream kubelet at $upstream (tests/e2e/kube-build.sh builds it)" >&2; exit 1; }
bench_containerd "$ctd" cbr-grace 10.99.7.0/24
# until SECONDS COMMAND...: COMMAND succeeds within SECONDS, or the bench fails
until_ok() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || { echo "bench_grace: timed out: $*" >&2; exit 1; }; sleep 0.2; done
}
slow_running() { [ "$(cri ps | grep -c 'slow-bench-node')" -ge 1 ]; }
two_exits() { [ "$(grep -c '^exit	' "$w/events")" -ge 2 ]; }
slow_gone() { [ "$(cri ps | grep -c 'slow-bench-node')" = 0 ] && [ "$(cri pods | grep -c 'slow-bench-node.*READY')" = 0 ]; }
for agent in cubelet upstream; do
  w="$work/$agent"
  mkdir -p "$w/m"
  if [ "$agent" = cubelet ]; then
    bench_start_cubelet "$w" "$endpoint"
  else
    bench_start_upstream "$w" "$endpoint" "$upstream"
  fi
  until_ok 60 curl -sf http://127.0.0.1:10391/healthz -o /dev/null
  bench_pod_yaml slow 30 "" "trap 'sleep $slow; exit 0' TERM; while true; do sleep 0.2; done" >"$w/m/.slow.tmp"
  mv "$w/m/.slow.tmp" "$w/m/slow.yaml"
  until_ok 60 slow_running
  "$build/cri/cubelet-cri" -r "$endpoint" events >"$w/events" 2>"$w/events.err" &
  evpid=$!
  until_ok 10 grep -q subscribed "$w/events.err"
  sid=$(cri pods -q | head -1) # the pod's sandbox: the only one left on this containerd
  t0=$(date +%s%N)
  rm -f "$w/m/slow.yaml"
  until_ok $((slow + 60)) slow_gone
  until_ok 10 two_exits
  kill "$evpid"; wait "$evpid" 2>/dev/null || true; evpid=
  echo "$agent: exits after the manifest's removal (container or sandbox, status, ms):"
  awk -F'\t' -v t0="$t0" '$1 == "exit" { printf "  %s %s %d\n", $2 == sid ? "sandbox  " : "container", $4, ($5 - t0) / 1e6 }' \
    sid="$sid" "$w/events" | sort -k3 -n
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  for s in $(cri pods -q); do cri rmp -f "$s" >/dev/null 2>&1 || true; done
done

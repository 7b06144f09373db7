#!/bin/bash
# The eviction manager (#15), against a real kube-apiserver (tests/e2e/master.sh, on ports of the bench's own)
# and a private containerd:
#  (a) the time from crossing a memory threshold to the pod's kill, with the kernel's memory cgroup threshold
#      notification (--kernel-memcg-notification true) and with the housekeeping poll only (every 10 s, the
#      default as upstream 1.20's --experimental-kernel-memcg-notification=false). As the e2e eviction test:
#      kubepods sized to 900Mi by --system-reserved, a hard threshold 400Mi (allocatableMemory.available
#      beside memory.available), and a Burstable pod (so admitted under pressure too) that takes 600 MiB at
#      once. Crossed: the first sample (every 20 ms) of kubepods' working set (usage less total_inactive_file)
#      above 500Mi; killed: the first after it back below 300Mi. Needs the cgroup v1 memory hierarchy.
#  (b) the CPU the eviction manager's thread ("eviction" in /proc/PID/task, schedstat's time on CPU) takes per
#      housekeeping pass with 30 running pods and no pressure: the pods without local storage limits (the
#      node's part of the Summary alone each pass) and with an ephemeral-storage limit each (every pod's
#      usage each pass, as upstream's localStorageEviction), and cubelet's whole CPU over the same window.
#   bench/bench_eviction.sh [BUILD_DIR] [RUNS]   (root; BUILD_DIR defaults to ./build, RUNS to 3)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
runs=${2:-3}
ctd=/tmp/cubelet-bench-ev-ctd
master=/tmp/cubelet-bench-ev-master
export E2E_APISERVER_PORT=19443 E2E_ETCD_PORT=31790 # clear of the test instances' and the other benches'
work=$(mktemp -d /tmp/cubelet-bench-ev.XXXXXX)
healthz=19491
node=bench-ev-node
kubectl=/var/cache/cubelet-e2e/kubernetes-1.20.2/kubectl
cg_root=/cubelet-bench-ev
sock=$ctd/containerd.sock
k() { "$kubectl" --kubeconfig "$master/admin.kubeconfig" --request-timeout=10s "$@"; }
cri() { "$build/cri/cubelet-cri" -r "unix://$sock" "$@"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
pid=""

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
  local d
  for d in /sys/fs/cgroup/*"$cg_root" /sys/fs/cgroup"$cg_root"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
[ -x "$kubectl" ] || { echo "bench: no kubectl at $kubectl (tests/e2e/kube-build.sh)" >&2; exit 1; }
kp=/sys/fs/cgroup/memory$cg_root/kubepods
[ -r /sys/fs/cgroup/memory/memory.usage_in_bytes ] || { echo "bench: needs the cgroup v1 memory hierarchy" >&2; exit 1; }

"$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
"$top/tests/e2e/master.sh" start "$master" >/dev/null
"$top/tests/e2e/master.sh" node-kubeconfig "$master" "$node" "$work/node.kubeconfig" >/dev/null
"$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubbev0 --pod-cidr 10.191.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$sock" "$build/images" >/dev/null

mem_mi=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
start_cubelet() {
  # shellcheck disable=SC2086 # CUBELET_FLAGS: words
  "$build/agent/cubelet" --kubeconfig "$work/node.kubeconfig" --container-runtime-endpoint "unix://$sock" \
    --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override "$node" --healthz-port "$healthz" \
    --read-only-port 0 --port 19492 --address 127.0.0.1 --node-ip 127.0.0.1 --local-socket "$work/cubelet.sock" \
    --cgroup-root "$cg_root" --eviction-pressure-transition-period 5s "$@" ${CUBELET_FLAGS:-} >>"$work/cubelet.log" 2>&1 &
  pid=$!
  local t0
  t0=$(ms)
  until [ "$(k get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
    [ $(($(ms) - t0)) -gt 60000 ] && { echo "bench: cubelet did not start" >&2; exit 1; }
    sleep 0.1
  done
}
stop_cubelet() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
pod() { # pod NAME RESOURCES COMMAND
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $node
  hostNetwork: true
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, imagePullPolicy: Never, command: ["sh", "-c", "$3"], resources: $2}
YAML
}
phase() { k get pod "$1" -o 'jsonpath={.status.phase}' 2>/dev/null; }
wait_phase() { # wait_phase POD PHASE SECONDS
  local t0
  t0=$(ms)
  until [ "$(phase "$1")" = "$2" ]; do
    [ $(($(ms) - t0)) -gt $(($3 * 1000)) ] && { echo "bench: $1 not $2 in $3 s" >&2; exit 1; }
    sleep 0.1
  done
}
gone() { # gone POD: deleted, nothing of it left in containerd
  k delete pod "$1" --grace-period=0 --force >/dev/null 2>&1 || true
  local t0
  t0=$(ms)
  while cri pods | grep -q "$1"; do
    [ $(($(ms) - t0)) -gt 60000 ] && { echo "bench: $1 did not go" >&2; exit 1; }
    sleep 0.1
  done
}
no_pressure() {
  local t0
  t0=$(ms)
  until curl -sf "http://127.0.0.1:$healthz/healthz?verbose" | grep -qF '[+]pressure ok'; do
    [ $(($(ms) - t0)) -gt 60000 ] && { echo "bench: the pressure did not go" >&2; exit 1; }
    sleep 0.2
  done
}
ws_mi() { # kubepods' working set in MiB
  local u i
  u=$(cat "$kp/memory.usage_in_bytes")
  i=$(awk '$1 == "total_inactive_file" { print $2 }' "$kp/memory.stat")
  echo $(((u - i) >> 20))
}
# kill_ms: a hog started; the ms from its crossing 500Mi to kubepods back below 300Mi.
kill_ms() {
  local t0 t_cross="" now w
  pod hog '{requests: {memory: 8Mi}}' 'dd if=/dev/zero bs=600M count=1 | sleep 3600'
  t0=$(ms)
  while :; do
    now=$(ms)
    w=$(ws_mi)
    if [ -z "$t_cross" ]; then
      [ "$w" -gt 500 ] && t_cross=$now
    elif [ "$w" -lt 300 ]; then
      break
    fi
    [ $((now - t0)) -gt 120000 ] && { echo "bench: no kill in 120 s" >&2; exit 1; }
    sleep 0.02
  done
  echo $((now - t_cross))
  wait_phase hog Failed 60
  gone hog
  no_pressure
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "median %d ms, best %d ms, worst %d ms", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

# --- (a) the memory threshold.
for notify in true false; do
  start_cubelet --system-reserved "memory=$((mem_mi - 900))Mi" --eviction-hard 'memory.available<400Mi' \
    --kernel-memcg-notification "$notify"
  no_pressure
  t=$(for _ in $(seq 1 "$runs"); do kill_ms; done)
  [ "$notify" = true ] && with=$t || without=$t
  stop_cubelet
done

# --- (b) the eviction thread's CPU with 30 pods: pass_cpu LABEL RESOURCES
eviction_tid() { grep -lx eviction /proc/"$pid"/task/*/comm | head -1 | cut -d/ -f5; }
on_cpu_ns() { cut -d' ' -f1 "/proc/$pid/task/$1/schedstat"; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
pass_cpu() {
  start_cubelet
  local i tid c0 c1 p0 p1 n0 n1 t0 t1
  for i in $(seq 1 30); do pod "p$i" "$2" 'sleep 3600'; done
  for i in $(seq 1 30); do wait_phase "p$i" Running 120; done
  sleep 15 # the starts' own work settles
  tid=$(eviction_tid)
  n0=$(grep -c '' "$work/cubelet.log")
  c0=$(on_cpu_ns "$tid") p0=$(proc_ticks) t0=$(ms)
  sleep 60 # six housekeeping passes
  c1=$(on_cpu_ns "$tid") p1=$(proc_ticks) t1=$(ms)
  n1=$(grep -c '' "$work/cubelet.log")
  printf '  %-40s %5.1f ms CPU per pass (%d ms over %d s: 6 passes); cubelet in all: %.2f %% of a core (%d log lines)\n' \
    "$1" "$(echo "($c1 - $c0) / 6 / 1000000" | bc -l)" $(((c1 - c0) / 1000000)) $(((t1 - t0) / 1000)) \
    "$(echo "($p1 - $p0) * 1000 / $(getconf CLK_TCK) / ($t1 - $t0) * 100" | bc -l)" $((n1 - n0))
  for i in $(seq 1 30); do k delete pod "p$i" --grace-period=0 --force --wait=false >/dev/null 2>&1; done
  local t
  t=$(ms)
  until [ "$(cri pods | awk -F'\t' 'NR > 1' | grep -c . || true)" = 0 ]; do
    [ $(($(ms) - t)) -gt 120000 ] && { echo "bench: the pods did not go" >&2; exit 1; }
    sleep 0.5
  done
  stop_cubelet
}

echo "eviction (#15), $(nproc) cores, cgroup v1, $runs runs each:"
echo "  a memory threshold crossed -> the pod killed:"
echo "    with the memory cgroup notification  $(stats <<<"$with")"
echo "    polling every 10 s only              $(stats <<<"$without")"
echo "  the eviction manager with 30 running pods, no pressure:"
pass_cpu "no local storage limits" '{}'
pass_cpu "an ephemeral-storage limit each" '{limits: {ephemeral-storage: 100Mi}}'

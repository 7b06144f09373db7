#!/bin/bash
# cubelet against a real kube-apiserver (tests/e2e/master.sh) and a private containerd.
#   bench/bench_api.sh [BUILD_DIR] [N]     (root; BUILD_DIR defaults to ./build, N to 30)
# Prints: cubelet start -> Node Ready; kubectl create -> status Running for pods bound to the node
# (median and worst of 10); API requests per minute while idle with N pods (half static with mirror
# pods, half from the API), counted in the API server's audit log (requests by the node's user) over
# IDLE_S (default 60 s).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
idle_s=${IDLE_S:-60}
ctd=/tmp/cubelet-bench-api-ctd
master=/tmp/cubelet-bench-master
export E2E_APISERVER_PORT=18443 E2E_ETCD_PORT=25790
work=$(mktemp -d /tmp/cubelet-bench-api.XXXXXX)
node=bench-node
ms() { echo $(( $(date +%s%N) / 1000000 )); }
k() { kubectl --kubeconfig "$master/admin.kubeconfig" --request-timeout=10s "$@"; }

cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$top/tests/e2e/kube-build.sh" >/dev/null
"$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
"$top/tests/e2e/master.sh" start "$master" >/dev/null
"$top/tests/e2e/master.sh" node-kubeconfig "$master" "$node" "$work/node.kubeconfig" >/dev/null
"$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubbapi0 --pod-cidr 10.195.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null
mkdir -p "$work/m"

ready() { [ "$(k get node $node -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
t0=$(ms)
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override "$node" --healthz-port 10392 --local-socket "$work/cubelet.sock" \
  --node-ip 127.0.0.1 --kubeconfig "$work/node.kubeconfig" >"$work/cubelet.log" 2>&1 &
pid=$!
until ready; do
  [ $(( $(ms) - t0 )) -gt 60000 ] && { echo "bench: node not Ready in 60 s" >&2; tail "$work/cubelet.log" >&2; exit 1; }
  sleep 0.02
done
echo "cubelet start -> Node Ready: $(( $(ms) - t0 )) ms (includes kubectl's own start, ~50-100 ms per poll)"

source "$top/bench/bench_lib.sh"
pod_yaml() { bench_pod_yaml "$1" 1 "${2:-}"; } # pod_yaml NAME [nodeName]
lat=()
for i in $(seq 1 10); do
  t1=$(ms)
  pod_yaml "lat$i" "$node" | k create -f - >/dev/null
  until [ "$(k get pod "lat$i" -o 'jsonpath={.status.phase}' 2>/dev/null)" = Running ]; do
    [ $(( $(ms) - t1 )) -gt 60000 ] && { echo "bench: pod lat$i not Running in 60 s" >&2; exit 1; }
    sleep 0.02
  done
  lat+=($(( $(ms) - t1 )))
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
echo "kubectl create -> Running in the API: median $(echo "$sorted" | sed -n 5p) ms, worst $(echo "$sorted" | tail -1) ms (10 pods; includes kubectl create and polling)"
k delete pods --all --grace-period=1 >/dev/null

half=$(( n / 2 ))
for i in $(seq 1 "$half"); do pod_yaml "s$i" >"$work/m/s$i.yaml"; done
for i in $(seq 1 $(( n - half ))); do pod_yaml "a$i" "$node"; echo ---; done | k create -f - >/dev/null
all_running() {
  [ "$(k get pods -o json 2>/dev/null | jq '[.items[] | select(.status.phase == "Running")] | length')" -ge "$n" ]
}
t2=$(ms)
until all_running; do
  [ $(( $(ms) - t2 )) -gt 180000 ] && { echo "bench: $n pods not Running in 180 s" >&2; exit 1; }
  sleep 0.5
done
echo "$n pods ($half static with mirror pods, $(( n - half )) from the API) Running in the API after $(( $(ms) - t2 )) ms"
sleep 15 # let the start settle (status writes, events)
# Requests by the node, from the audit log: one auditID per request (a watch logs two stages).
requests() {
  jq -r --arg u "system:node:$node" 'select(.user.username == $u) | .auditID' "$master/audit.log" | sort -u | wc -l
}
by_kind() {
  jq -r --arg u "system:node:$node" --arg t "$1" \
    'select(.user.username == $u and .stageTimestamp > $t) | "\(.verb) \(.objectRef.resource)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end)"' \
    "$master/audit.log" | sort | uniq -c | sort -rn | awk '{ printf "%s%s %s %s", sep, $1, $2, $3; sep = ", " }'
}
since=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
r0=$(requests)
sleep "$idle_s"
r1=$(requests)
per_min=$(( (r1 - r0) * 60 / idle_s ))
echo "API requests by the node while idle with $n pods: $per_min per minute over ${idle_s} s ($(by_kind "$since"))"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
echo "cubelet RSS with $n pods and the API server: $(( rss / 1024 )) MiB"
k delete pods --all --grace-period=1 --wait=false >/dev/null
rm -f "$work/m"/*

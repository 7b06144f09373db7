#!/bin/bash
# Time spent in pod networking per pod, agent vs runtime network mode, against a private, real containerd.
#   bench/bench_cni.sh [BUILD_DIR] [N]     (root; BUILD_DIR defaults to ./build, N to 30)
# For each mode: N static pods are written at once, run, then removed. Prints medians over the N pods of
#   - RunPodSandbox (containerd's log: call -> "returns sandbox id"; pause start + CNI ADD),
#   - network teardown (containerd's log: StopPodSandbox call -> "TearDown network ... successfully"),
#   - agent mode only: CNI ADD and DEL as cubelet ran them (its "Pod network attached/detached" durationMs).
# Env: BENCH_BRIDGE [cubbenchn0], BENCH_CIDR [10.198.1.0/24].
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
ctd=/tmp/cubelet-bench-cni-ctd
bridge=${BENCH_BRIDGE:-cubbenchn0}
cidr=${BENCH_CIDR:-10.198.1.0/24}
work=$(mktemp -d /tmp/cubelet-bench-cni.XXXXXX)
sock="$work/cni.sock"
cri() { "$build/cri/cubelet-cri" -r "unix://$ctd/containerd.sock" "$@"; }
count() { cri "$@" | awk -F'\t' 'NR > 1 && /-bench-node/' | grep -c . || true; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_until() { # wait_until SECONDS COMMAND...
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || { echo "bench: timed out: $*" >&2; exit 1; }; sleep 0.2; done
}
# containerd's time="...Z" as milliseconds since the epoch
ctd_ms() { date -d "$1" +%s%3N; }

cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null

# Pairs containerd's log lines; prints one duration (ms) per sandbox.
run_sandbox_ms() {
  grep -o 'time="[^"]*" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:p[0-9]*-bench-node[^"]*' "$1" |
    sed -E 's/time="([^"]*)".*Name:(p[0-9]+)-bench-node.*/\1 \2/' | sort -k2,2 -s |
    while read -r t name; do echo "$name $(ctd_ms "$t")"; done |
    awk '{ if ($1 in start) print $2 - start[$1]; else start[$1] = $2 }'
}
teardown_ms() {
  grep -oE 'time="[^"]*" level=info msg="(StopPodSandbox for|TearDown network for sandbox) \\"[0-9a-f]{64}' "$1" |
    sed -E 's/time="([^"]*)".*msg="(StopPodSandbox|TearDown).*\\"([0-9a-f]{64})/\1 \2 \3/' |
    while read -r t what id; do echo "$id $what $(ctd_ms "$t")"; done |
    awk '$2 == "StopPodSandbox" && !($1 in s) { s[$1] = $3 } $2 == "TearDown" && ($1 in s) && !($1 in d) { d[$1] = 1; print $3 - s[$1] }'
}

bench_mode() { # bench_mode MODE
  local mode=$1 flags=()
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  "$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge "$bridge" --pod-cidr "$cidr" \
    --network-mode "$mode" --delegate-plugin "$build/cni/delegate/cubelet-delegate" --delegate-socket "$sock" \
    >/dev/null 2>"$work/ctd.err" || { cat "$work/ctd.err" >&2; exit 1; }
  "$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null 2>&1
  [ "$mode" = agent ] && flags=(--network-mode agent --cni-conf-dir "$ctd/agent-net.d" --cni-bin-dir /usr/lib/cni
    --cni-delegate-socket "$sock")
  rm -rf "$work/m" "$work/root"
  mkdir -p "$work/m"
  "$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
    --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node --healthz-port 10392 --local-socket "$work/cubelet.sock" \
    --file-check-frequency 1s "${flags[@]}" >"$work/cubelet-$mode.log" 2>&1 &
  pid=$!
  sleep 2
  for i in $(seq 1 "$n"); do
    cat >"$work/m/.p$i.tmp" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
YAML
    mv "$work/m/.p$i.tmp" "$work/m/p$i.yaml"
  done
  all_running() { [ "$(count ps)" = "$n" ]; }
  wait_until 180 all_running
  rm -f "$work/m"/*.yaml
  none_left() { [ "$(count pods)" = 0 ]; }
  wait_until 180 none_left
  kill "$pid"; wait "$pid" || true; pid=""
  local log="$ctd/containerd.log"
  printf '  %-7s RunPodSandbox %6s ms   network teardown %6s ms' "$mode" \
    "$(run_sandbox_ms "$log" | median)" "$(teardown_ms "$log" | median)"
  if [ "$mode" = agent ]; then
    printf '   CNI ADD %s ms   CNI DEL %s ms' \
      "$(grep '"Pod network attached"' "$work/cubelet-$mode.log" | sed -E 's/.*durationMs=([0-9]+).*/\1/' | median)" \
      "$(grep '"Pod network detached"' "$work/cubelet-$mode.log" | grep -v 'attachments=0' |
        sed -E 's/.*durationMs=([0-9]+).*/\1/' | median)"
  fi
  echo
}

echo "cubelet CNI bench ($n pods at once, medians, $(nproc) cores, containerd $(containerd --version | awk '{ print $3 }'))"
bench_mode runtime
bench_mode agent

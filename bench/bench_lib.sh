# Sourced by the bench scripts.
# bench_pod_yaml NAME GRACE [NODE [SCRIPT]]: a pod of one busybox container running the shell SCRIPT (by
# default one that exits on SIGTERM), bound to NODE if not empty.
bench_pod_yaml() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  ${3:+nodeName: $3}
  terminationGracePeriodSeconds: $2
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "${4:-trap 'exit 0' TERM; while true; do sleep 1; done}"]
YAML
}
# bench_write_pods DIR FROM TO GRACE: static pods pFROM..pTO into DIR, each written whole (a temporary name,
# then a rename).
bench_write_pods() {
  local dir=$1 i
  for i in $(seq "$2" "$3"); do
    bench_pod_yaml "p$i" "$4" >"$dir/.p$i.tmp"
    mv "$dir/.p$i.tmp" "$dir/p$i.yaml"
  done
}
# bench_containerd DIR BRIDGE CIDR: a fresh private containerd at DIR (what an earlier run left there purged)
# with the project's pause and busybox images ($top: the source tree, $build: the build directory).
bench_containerd() {
  "$top/packaging/containerd/stop-containerd.sh" --dir "$1" --purge >/dev/null 2>&1 || true
  PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
  # in UTC: bench_pods.sh reads the times of its log
  TZ=UTC "$top/packaging/containerd/start-containerd.sh" --dir "$1" --bridge "$2" --pod-cidr "$3" >/dev/null
  "$top/packaging/images/import-images.sh" "$1/containerd.sock" "$build/images" >/dev/null
}
# bench_start_cubelet DIR ENDPOINT [flags...]: cubelet on the static pods of DIR/m as node bench-node, its
# root, logs and local socket under DIR, its own log into DIR/cubelet.log, healthz on 10391, CUBELET_FLAGS
# (words) last; sets pid ($build: the build directory).
bench_start_cubelet() {
  local dir=$1 ep=$2
  shift 2
  # shellcheck disable=SC2086 # CUBELET_FLAGS: words
  "$build/agent/cubelet" --pod-manifest-path "$dir/m" --container-runtime-endpoint "$ep" \
    --root-dir "$dir/root" --pod-logs-dir "$dir/logs" --hostname-override bench-node --healthz-port 10391 \
    --local-socket "$dir/cubelet.sock" "$@" ${CUBELET_FLAGS:-} >>"$dir/cubelet.log" 2>&1 &
  pid=$!
}
# bench_start_upstream DIR ENDPOINT KUBELET [flags...]: the upstream kubelet KUBELET as a node would run it on
# this containerd (remote runtime, cgroupfs, pod cgroups by QoS) on the same static pods, its root under
# DIR/kroot, its log into DIR/upstream.log, healthz on 10391, UPSTREAM_FLAGS (words) last; sets pid.
bench_start_upstream() {
  local dir=$1 ep=$2 kubelet=$3
  shift 3
  mkdir -p "$dir/kroot"
  # shellcheck disable=SC2086 # UPSTREAM_FLAGS: words
  "$kubelet" --container-runtime=remote --container-runtime-endpoint="$ep" --image-service-endpoint="$ep" \
    --pod-manifest-path="$dir/m" --root-dir="$dir/kroot" --cert-dir="$dir/kroot/pki" --hostname-override=bench-node \
    --cgroup-driver=cgroupfs --cgroups-per-qos=true --fail-swap-on=false --healthz-port=10391 \
    --address=127.0.0.1 --read-only-port=0 --pod-infra-container-image=cubelet.local/pause:1.0 \
    --volume-plugin-dir="$dir/kroot/plugins" "$@" ${UPSTREAM_FLAGS:-} >>"$dir/upstream.log" 2>&1 &
  pid=$!
}

# Sourced by the bench scripts.
# bench_pod_yaml NAME GRACE [NODE]: a pod of one busybox container that exits on SIGTERM (bound to NODE).
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
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
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

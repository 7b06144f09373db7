# Sourced by the bench scripts. bench_write_pods DIR FROM TO GRACE: static pods pFROM..pTO into DIR, each one
# busybox container that exits on SIGTERM, written whole (a temporary name, then a rename).
bench_write_pods() {
  local dir=$1 i
  for i in $(seq "$2" "$3"); do
    cat >"$dir/.p$i.tmp" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: $4
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
YAML
    mv "$dir/.p$i.tmp" "$dir/p$i.yaml"
  done
}

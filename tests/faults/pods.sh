# The pods the fault tests and the churn soak (bench/bench_churn.sh) run, bash.

# fault_pod NAME [NODE]: pod NAME (bound to NODE: an API pod) with what a kill can leave behind: a network
# (address, veth), a tmpfs emptyDir and a subPath bind into it (2 mounts under <root>/pods/<uid>), a pod
# cgroup (burstable when NAME's number is even, besteffort when odd). Its container exits on SIGTERM.
fault_pod() {
  local res="" node=""
  local i=${1//[!0-9]/}
  [ $((${i:-0} % 2)) = 0 ] && res='
    resources: {requests: {cpu: 10m, memory: 8Mi}}'
  [ -z "${2:-}" ] || node="
  nodeName: $2"
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:$node
  terminationGracePeriodSeconds: 10
  volumes:
  - name: scratch
    emptyDir: {medium: Memory, sizeLimit: 1Mi}
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]$res
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: scratch, mountPath: /sub, subPath: sub}
YAML
}

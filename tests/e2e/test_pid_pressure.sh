#!/bin/bash
# PID pressure end to end (#15), against a real kube-apiserver and containerd. pid.available is, as cubelet and
# upstream compute it, /proc/sys/kernel/pid_max less the kernel's count of tasks (sysinfo's procs: every
# thread); the test counts the same from /proc and checks it against what cubelet observes. A fork loop (busybox
# sh starting sleeps) runs in a pod until the pod's pids limit (podPidsLimit 2000) stops it; cubelet is then
# restarted (the pods adopted) with a hard threshold pid.available 1000 above what is available now, the loop
# holding its 2000: pressure from the first pass, and evicting the loop's pod frees 1000 more than needed,
# whatever the rest of the machine (the other test pass among it: a kubeadm control plane, a churn of pods)
# does meanwhile, within 1000 tasks either way; the other pass's own fork loop waits for this test (a lock).
# (The threshold used to be set before the loop ran: on a busy machine the loop's pod was evicted before it
# reached its limit.)
# PIDPressure turns True on the Node (upstream's reason and message) and on /healthz?verbose, the fork-loop pod,
# first by process count, is evicted (Failed, reason Evicted, upstream's message, a Warning Event) while an idle
# pod runs on, and PIDPressure clears after the (shortened) transition period. Static pods are never evicted
# (critical, as upstream's), hence the API server. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR,
# KUBECTL.
# One such test at a time on the machine: the other pass's fork loop (2000 tasks) would hold this one's
# threshold crossed (and evict its idle pod). flock -o: what the test starts never holds the lock.
if [ -z "${PID_PRESSURE_LOCKED:-}" ]; then
  PID_PRESSURE_LOCKED=1 exec flock -o -w 300 /tmp/cubelet-pid-pressure.lock "$0" "$@"
fi
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
[ -r /sys/fs/cgroup/pids/pids.max ] || [ -d /sys/fs/cgroup/pids ] ||
  { echo "SKIP: needs the cgroup v1 pids hierarchy"; exit 77; }
MASTER=$(dirname "$0")/master.sh
NODE=e2e-pid-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
PODS="pid-fork pid-idle"
POD_PIDS=2000 # podPidsLimit: the most the fork loop can take
MARGIN=1000   # the threshold: this much below pid.available before the loop
TRIGGER="$WORK/trigger"
mkdir -p "$TRIGGER"
undo() {
  # shellcheck disable=SC2086
  k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
  cleanup_cgroups
  k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
  true
}
trap undo EXIT
undo

"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
node_cond() { k get node "$NODE" -o "jsonpath={.status.conditions[?(@.type==\"$1\")].$2}" 2>/dev/null; }
cond_is() { [ "$(node_cond "$1" status)" = "$2" ]; }
verbose() { curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz?verbose"; }
verbose_has() { verbose | grep -qF -- "$1"; }
event_is() { # event_is POD REASON MESSAGE: kubectl sees the Warning event
  [ "$(k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" \
    -o jsonpath='{.items[0].message}' 2>/dev/null)" = "$3" ]
}
# pid.available as cubelet computes it: pid_max less the kernel's task count (sysinfo's procs, every thread).
pid_available() {
  local tasks
  tasks=$(find /proc/[0-9]*/task -maxdepth 1 -mindepth 1 -name '[0-9]*' 2>/dev/null | wc -l)
  echo $(( $(cat /proc/sys/kernel/pid_max) - tasks ))
}
# What cubelet observes: its Summary's node.rlimit (read-only port), maxpid less curproc.
cubelet_pid_available() {
  curl -sf "http://127.0.0.1:$RO_PORT/stats/summary" | jq -r '.node.rlimit | select(.maxpid and .curproc) | .maxpid - .curproc'
}
has_observation() { [ -n "$(cubelet_pid_available)" ]; }

# First run: the pods, without a PID threshold.
start_cubelet "$WORK/manifests" --kubeconfig "$WORK/node.kubeconfig" --pod-max-pids "$POD_PIDS" \
  --eviction-pressure-transition-period 20s
check "node registers" wait_for 30 cond_is Ready True
check "PIDPressure False with upstream's reason" [ "$(node_cond PIDPressure reason)" = KubeletHasSufficientPID ]
check "... and message" [ "$(node_cond PIDPressure message)" = "kubelet has sufficient PID available" ]

pod() { # pod NAME VOLUMES MOUNTS SCRIPT
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  volumes: $2
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    volumeMounts: $3
    command:
    - sh
    - -c
    - |
$(sed 's/^/      /' <<<"$4")
YAML
}
pod pid-idle '[]' '[]' "trap 'exit 0' TERM; while true; do sleep 1; done"
# The loop runs in a subshell: a fork refused at the pids limit ends it, not the container. Then only
# builtins (no PID to spare): the container's own count into the trigger directory, and exec.
# shellcheck disable=SC2016 # expanded by the pod's shell
pod pid-fork "[{name: t, hostPath: {path: $TRIGGER, type: Directory}}]" '[{name: t, mountPath: /trigger}]' \
  'until [ -e /trigger/go ]; do sleep 0.2; done
( i=0; while [ $i -lt 2500 ]; do sleep 3600 & i=$((i + 1)); done ) 2>/dev/null
read -r n </sys/fs/cgroup/pids/pids.current; echo "$n" >/trigger/forked
exec sleep 3600'
check "the idle pod runs" wait_for 60 phase_is pid-idle Running
check "the fork-loop pod runs (waiting)" wait_for 60 phase_is pid-fork Running
uid=$(pod_jp pid-fork '{.metadata.uid}')
pod_cg=$(ls -d /sys/fs/cgroup/pids"$CGROUP_ROOT"/kubepods/besteffort/pod"$uid" 2>/dev/null)
check "the fork-loop pod's cgroup has pids.max $POD_PIDS (--pod-max-pids)" \
  [ "$(cat "$pod_cg/pids.max" 2>/dev/null)" = "$POD_PIDS" ]
check "cubelet's Summary has node.rlimit" wait_for 30 has_observation
ours=$(pid_available) theirs=$(cubelet_pid_available)
echo "# pid.available: $ours counted here, $theirs in cubelet's Summary (pid_max $(cat /proc/sys/kernel/pid_max))"
close() { local d=$(( $1 - $2 )); [ "${d#-}" -le 100 ]; }
check "... the same count as the test's (within 100)" close "$ours" "$theirs"
# The fork loop, no threshold yet: the pod's pids limit is what stops it.
touch "$TRIGGER/go"
forked() { [ -s "$TRIGGER/forked" ]; }
check "the fork loop ran into the pods limit" wait_for 120 forked
n=$(cat "$TRIGGER/forked" 2>/dev/null)
capped() { [ "${n:-0}" -ge $((POD_PIDS - 10)) ] && [ "${n:-0}" -le "$POD_PIDS" ]; }
check "... its container holds ${n:-no} PIDs: near, never past, the pod's $POD_PIDS" capped
check "no pressure without a threshold" verbose_has "[+]pressure ok"
# The threshold just above what is available now (cubelet's own threads counted); then cubelet again with it.
avail=$(pid_available)
check "cubelet stops" stop_cubelet
THRESHOLD=$((avail + MARGIN))
start_cubelet "$WORK/manifests" --kubeconfig "$WORK/node.kubeconfig" --pod-max-pids "$POD_PIDS" \
  --eviction-hard "pid.available<$THRESHOLD" --eviction-pressure-transition-period 20s
echo "# threshold pid.available<$THRESHOLD ($avail available)"
check "the idle pod adopted, not restarted" \
  [ "$(pod_jp pid-idle '{.status.phase}/{.status.containerStatuses[0].restartCount}')" = Running/0 ]
check "PIDPressure turns True on the Node" wait_for 60 cond_is PIDPressure True
check "... reason KubeletHasInsufficientPID" [ "$(node_cond PIDPressure reason)" = KubeletHasInsufficientPID ]
check "... message as upstream's" [ "$(node_cond PIDPressure message)" = "kubelet has insufficient PID available" ]
check "... and on /healthz?verbose" verbose_has "[-]pressure failed: PIDPressure"
check "the fork-loop pod is Failed" wait_for 60 phase_is pid-fork Failed
check "... reason Evicted" [ "$(pod_jp pid-fork '{.status.reason}')" = Evicted ]
check "... upstream's message" [ "$(pod_jp pid-fork '{.status.message}')" = "The node was low on resource: pids. " ]
check "... a Warning Event Evicted" wait_for 20 event_is pid-fork Evicted "The node was low on resource: pids. "
check "... logged with the signal" log_has '"Eviction manager: evicting pod" pod="default/pid-fork" .*signal="pid.available"'
check "... its processes are gone" wait_for 30 bash -c "[ ! -e '$pod_cg/pids.current' ] || [ \"\$(cat '$pod_cg/pids.current')\" = 0 ]"
check "the idle pod runs on, never restarted" \
  [ "$(pod_jp pid-idle '{.status.phase}/{.status.containerStatuses[0].restartCount}')" = Running/0 ]
check "PIDPressure back to False after the transition period" wait_for 90 cond_is PIDPressure False
check "... reason KubeletHasSufficientPID" [ "$(node_cond PIDPressure reason)" = KubeletHasSufficientPID ]
check "... and /healthz?verbose says so" wait_for 10 verbose_has "[+]pressure ok"
check "... logged" log_has '"Eviction manager: node condition changed" condition="PIDPressure" status="False"'
check "only the fork-loop pod was evicted" [ "$(grep -c '"Eviction manager: evicting pod"' "$WORK/cubelet.log")" = 1 ]

# shellcheck disable=SC2086
k delete pod $PODS --grace-period=0 --force >/dev/null 2>&1
check "cubelet exits cleanly" stop_cubelet
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

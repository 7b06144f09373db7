# Shared by the fault tests: lib.sh's helpers, the leak checks, and the pods they run.
FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$FAULTS_DIR/../integration/lib.sh"
source "$FAULTS_DIR/leaks.sh"
source "$FAULTS_DIR/pods.sh"
M="$WORK/manifests"
mkdir -p "$M"
# A test stopped half-way (ctest's timeout) leaves no cubelet behind.
faults_exit() {
  [ -z "$CUBELET_PID" ] || kill -KILL "$CUBELET_PID" 2>/dev/null
  cleanup_cgroups
}
trap faults_exit EXIT

# write_pods FIRST LAST: their manifests, each written whole (rename).
write_pods() {
  local i
  for i in $(seq "$1" "$2"); do
    fault_pod "p$i" >"$M/.p$i.tmp" && mv "$M/.p$i.tmp" "$M/p$i.yaml"
  done
}
pod_names() { local i; for i in "$@"; do echo "default/p$i-$NODE"; done; }

n_running() { cri ps | awk -F'\t' -v s="-$NODE" 'NR > 1 && $5 ~ s "$"' | grep -c .; }
n_listed() { { cri pods; cri ps -a; } | grep -c -- "-$NODE"; }
none_left() { [ "$(n_listed)" = 0 ]; }
# Quiet: every leak check passes (a wait's condition; lk_check_all reports them one by one).
leak_free() { lk_all; }

ms() { echo $(( $(date +%s%N) / 1000000 )); }

LK_CRI=$CUBELET_CRI LK_SOCK=$SOCK LK_CTD_DIR=$CTD_DIR LK_NODE=$NODE LK_ROOT="$WORK/root"
LK_CGROUP_ROOT=$CGROUP_ROOT LK_MOUNTS_PER_POD=2

# containerd 1.6 keeps the task of a StartContainer its caller abandoned at the wrong moment (TaskService
# Create returns "failed to get task pid: context canceled" without deleting the task it made): for CRI the
# container is EXITED (StartError, never started) while its task stays, and neither RemoveContainer nor
# RemovePodSandbox gets past it. cubelet speaks CRI only and cannot mend it; an operator deletes the task with
# ctr. Done here, and said, so that the checks judge what cubelet does.
LOST_TASKS=0
repair_lost_tasks() {
  local id tasks
  tasks=$(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null) || return 0
  for id in $(cri ps -a | awk -F'\t' -v s="-$NODE" 'NR > 1 && $2 == "EXITED" && $5 ~ s "$" { print $1 }'); do
    grep -qx "$id" <<<"$tasks" || continue
    "$CUBELET_CRI" -r "unix://$SOCK" inspect "$id" | grep -qx 'reason	StartError' || continue
    "$CUBELET_CRI" -r "unix://$SOCK" inspect "$id" | grep -qx 'startedAt	0' || continue
    echo "# containerd kept the task of an abandoned start (${id:0:13}); deleting it with ctr"
    ctr --address "$SOCK" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1
    LOST_TASKS=$((LOST_TASKS + 1))
  done
  return 0
}

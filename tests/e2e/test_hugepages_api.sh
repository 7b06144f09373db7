#!/bin/bash
# Hugepages against a real kube-apiserver and containerd, on 2Mi pages the test reserves (nr_hugepages, put
# back at the end). The Node reports each page size's pool as capacity and allocatable, as upstream names
# them, and takes the pools off its allocatable memory; a pod asking for 2Mi pages (with an emptyDir of medium
# HugePages) runs: its container's runtime config carries the hugetlb limits (what it asks for; 0 for the other
# sizes), the volume is hugetlbfs of the pod's page size, and it goes with the pod. A pod asking for more than
# is left is Failed OutOfhugepages-2Mi with upstream's message; a HugePages-1Gi medium without a 1Gi request
# is upstream's FailedMount. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/hugepages_lock.sh" -x
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
HP=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -w "$HP/nr_hugepages" ] || { echo "SKIP: no 2Mi hugepages on this machine"; exit 77; }
MASTER=$(dirname "$0")/master.sh
NODE=e2e-huge-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
PODS="hp-ok hp-big hp-1g"

# The pools go back as they were once the test's pods are gone (cleanup_cgroups stops what is left first); a
# run killed before its EXIT trap left the value it found in STATE: put back first.
STATE=/tmp/cubelet-test-hugepages.nr
[ -s "$STATE" ] && cat "$STATE" >"$HP/nr_hugepages"
OLD=$(cat "$HP/nr_hugepages")
echo "$OLD" >"$STATE"
trap 'cleanup_cgroups; echo "$OLD" >"$HP/nr_hugepages" && rm -f "$STATE"' EXIT
echo $((OLD + 2)) >"$HP/nr_hugepages"
N=$(cat "$HP/nr_hugepages")
if [ "$N" != $((OLD + 2)) ] || [ "$(cat "$HP/free_hugepages")" -lt 2 ]; then
  echo "SKIP: the kernel did not give 2 more free 2Mi pages (nr_hugepages $N, was $OLD)"
  exit 77
fi
# A size in bytes as a canonical binary quantity, as the API prints it ("4Mi", "1Gi", "0").
quantity() {
  local b=$1 u last=
  for u in Ki Mi Gi Ti; do
    [ "$b" -ne 0 ] && [ $((b % 1024)) -eq 0 ] || break
    b=$((b / 1024)) last=$u
  done
  echo "$b$last"
}
POOL=$((N * 2 * 1024 * 1024))

"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
# shellcheck disable=SC2086
k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1

pod() { # pod NAME HUGEPAGES-2Mi MEDIUM
  cat >"$WORK/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c", "grep ' /hp ' /proc/mounts; sleep 3600"]
    resources: {limits: {memory: 32Mi, hugepages-2Mi: $2}}
    volumeMounts: [{name: hp, mountPath: /hp}]
  volumes: [{name: hp, emptyDir: {medium: $3}}]
YAML
  k apply -f "$WORK/$1.yaml" >/dev/null
}
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
node_jq() { k get node "$NODE" -o json 2>/dev/null | jq -r "$1"; }
node_ready() { [ "$(node_jq '.status.conditions[] | select(.type == "Ready") | .status')" = True ]; }
event_is() { # event_is POD REASON MESSAGE: kubectl sees the Warning event
  k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" -o json 2>/dev/null |
    jq -e --arg m "$3" '[.items[] | select(.message == $m)] | length > 0' >/dev/null
}

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 30 node_ready
check "capacity hugepages-2Mi: the pool, $N pages ($(quantity $POOL))" \
    [ "$(node_jq '.status.capacity["hugepages-2Mi"]')" = "$(quantity $POOL)" ]
check "... allocatable the same" [ "$(node_jq '.status.allocatable["hugepages-2Mi"]')" = "$(quantity $POOL)" ]
if [ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ]; then
  gig=$(( $(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages) * 1024 * 1024 * 1024 ))
  check "capacity hugepages-1Gi: that pool ($(quantity $gig))" \
        [ "$(node_jq '.status.capacity["hugepages-1Gi"]')" = "$(quantity $gig)" ]
else
  gig=0
fi
MEMTOTAL_KI=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
check "allocatable memory: MemTotal less the 100Mi hard eviction threshold and the pools" \
    [ "$(node_jq .status.allocatable.memory)" = "$((MEMTOTAL_KI - 102400 - (POOL + gig) / 1024))Ki" ]

pod hp-ok 2Mi HugePages
check "a pod asking for 2Mi of 2Mi pages runs" wait_for 60 phase_is hp-ok Running
mount_line() { cat "$WORK/logs/default_hp-ok_"*/c/0.log 2>/dev/null | grep -qE ' nodev /hp hugetlbfs .*pagesize=2M'; }
check "... its emptyDir (medium HugePages) is hugetlbfs of 2Mi pages" wait_for 20 mount_line
cid=$(running_ids c default/hp-ok | head -n 1)
limits() {
  cri inspect "$cid" | awk -F'\t' '$1 == "info" && $2 == "info" { print $3 }' |
    jq -c '.config.linux.resources.hugepage_limits | map({(.page_size): (.limit // 0)}) | add'
}
want='{"2MB":2097152}'
[ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ] && want='{"1GB":0,"2MB":2097152}'
got=$(limits)
check "... its container's hugetlb limits in the runtime config: 2Mi of 2MB pages, 0 of the others ($got)" \
  [ "$got" = "$want" ]
hostdir=$WORK/root/pods/$(pod_jp hp-ok '{.metadata.uid}')/volumes/kubernetes.io~empty-dir/hp
check "... mounted on the node at $hostdir" grep -q " $hostdir hugetlbfs " /proc/self/mounts

pod hp-big "$(quantity $POOL)" HugePages
check "a pod asking for the whole pool with 2Mi of it taken: Failed" wait_for 30 phase_is hp-big Failed
check "... reason OutOfhugepages-2Mi" [ "$(pod_jp hp-big '{.status.reason}')" = OutOfhugepages-2Mi ]
msg="Node didn't have enough resource: hugepages-2Mi, requested: $POOL, used: 2097152, capacity: $POOL"
check "... upstream's message" [ "$(pod_jp hp-big '{.status.message}')" = "Pod $msg" ]
check "... and a Warning Event" wait_for 20 event_is hp-big OutOfhugepages-2Mi "$msg"

pod hp-1g 2Mi HugePages-1Gi
check "a HugePages-1Gi emptyDir in a pod asking for 2Mi pages: FailedMount as upstream's" wait_for 30 event_is \
  hp-1g FailedMount "MountVolume.SetUp failed for volume \"hp\" : medium HugePages-1Gi: hugePages storage requested, but there is no resource request for huge pages"
check "... and the pod does not run" phase_is hp-1g Pending

k delete pod hp-ok --grace-period=1 >/dev/null 2>&1
gone() { ! grep -q " $hostdir " /proc/self/mounts && [ -z "$(all_ids c default/hp-ok)" ]; }
check "hp-ok deleted: its container and its hugetlbfs go" wait_for 60 gone
# shellcheck disable=SC2086
k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
check "cubelet exits cleanly" stop_cubelet
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

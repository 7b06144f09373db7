#!/bin/bash
# Node-pressure eviction (#15) against a real kube-apiserver and containerd, with real memory pressure made
# safely and kept to this test: the pods' cgroup (kubepods, this instance's own) is sized to 900Mi by
# systemReserved, and the hard threshold 400Mi gives, as upstream under enforceNodeAllocatable "pods",
# allocatableMemory.available<400Mi beside memory.available<400Mi. A BestEffort pod that holds 600 MiB beside
# a Guaranteed one crosses the first (the second, node-wide, is far off: what the rest of the machine does,
# the other test pass among it, cannot keep the pressure on). The BestEffort pod is evicted (Failed, reason
# Evicted, upstream's message, a Warning Event), the Guaranteed one runs on, MemoryPressure turns True on the
# Node with upstream's reason and back False after the (shortened) transition period, and a new BestEffort
# pod is refused while it holds. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
# The Node's allocatable memory to the byte: never while test_hugepages_api changes the hugepage pools.
source "$(dirname "$0")/hugepages_lock.sh" -s
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
[ -r /sys/fs/cgroup/memory/memory.usage_in_bytes ] || { echo "SKIP: needs the cgroup v1 memory hierarchy"; exit 77; }
NODE=e2e-evict-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
PODS="ev-guar ev-hog ev-late ev-burst ev-ed ev-podlim ev-ctrlim"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
# shellcheck disable=SC2086
k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1

MEM_MI=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 )) # cubelet's memory capacity
PODS_MI=900  # kubepods' memory limit: the capacity less systemReserved
THRESHOLD=400 # crossed (allocatableMemory.available) once the pods hold 500Mi
cat >"$WORK/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
evictionHard: {memory.available: ${THRESHOLD}Mi}
systemReserved: {memory: $((MEM_MI - PODS_MI))Mi}
evictionPressureTransitionPeriod: 20s
kernelMemcgNotification: true
YAML

pod() { # pod NAME SPEC-EXTRA CONTAINER-EXTRA COMMAND
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 30
  $2
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c", "$4"]
    $3
YAML
}
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
node_cond() { k get node "$NODE" -o "jsonpath={.status.conditions[?(@.type==\"$1\")].$2}" 2>/dev/null; }
cond_is() { [ "$(node_cond "$1" status)" = "$2" ]; }
event_starts() { # event_starts POD REASON PREFIX: kubectl sees the Warning event
  k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" \
    -o jsonpath='{.items[0].message}' 2>/dev/null | grep -q "^$3"
}

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --config "$WORK/config.yaml" --container-gc-period 2s
check "node registers" wait_for 30 cond_is Ready True
check "MemoryPressure False with upstream's reason" [ "$(node_cond MemoryPressure reason)" = KubeletHasSufficientMemory ]
check "DiskPressure and PIDPressure False" [ "$(node_cond DiskPressure status)$(node_cond PIDPressure status)" = FalseFalse ]
MEMTOTAL_KI=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
check "kubepods' memory limit: the capacity less systemReserved" \
  [ "$(cat "/sys/fs/cgroup/memory$CGROUP_ROOT/kubepods/memory.limit_in_bytes")" = $(( (MEMTOTAL_KI - (MEM_MI - PODS_MI) * 1024) * 1024 )) ]
check "the Node's allocatable memory: that less the hard threshold (and the hugepage pools)" \
  [ "$(k get node "$NODE" -o jsonpath='{.status.allocatable.memory}')" = "$(( MEMTOTAL_KI - (MEM_MI - PODS_MI + THRESHOLD) * 1024 - $(hugepages_ki "$NODE") ))Ki" ]

pod ev-guar '' 'resources: {limits: {cpu: 100m, memory: 32Mi}}' 'sleep 3600'
check "the Guaranteed pod runs" wait_for 60 phase_is ev-guar Running
# The hog: dd's one 600 MiB buffer, filled and held while it waits to write into a pipe nobody reads
# (freed when it dies, unlike a tmpfs; a shell variable would peak at twice its size).
pod ev-hog '' '' 'dd if=/dev/zero bs=600M count=1 | sleep 3600'
check "MemoryPressure turns True" wait_for 90 cond_is MemoryPressure True
check "... reason KubeletHasInsufficientMemory" [ "$(node_cond MemoryPressure reason)" = KubeletHasInsufficientMemory ]
check "... message as upstream's" [ "$(node_cond MemoryPressure message)" = "kubelet has insufficient memory available" ]
check "the BestEffort pod is Failed" wait_for 60 phase_is ev-hog Failed
# A new BestEffort pod while the condition holds (the transition period) is refused at admission.
pod ev-late '' '' 'sleep 3600'
check "... reason Evicted" [ "$(pod_jp ev-hog '{.status.reason}')" = Evicted ]
msg=$(pod_jp ev-hog '{.status.message}')
check "... upstream's message ($msg)" grep -Eq '^The node was low on resource: memory\. Container c was using [0-9]+(Ki|Mi)?, which exceeds its request of 0\. $' <<<"$msg"
check "... a Warning Event Evicted" wait_for 20 event_starts ev-hog Evicted "The node was low on resource: memory."
check "... the memory cgroup threshold woke the manager" log_has '"Eviction manager: memory notification" kind="memory cgroup threshold"'
node_event() { # node_event REASON: kubectl sees the Node's event
  [ "$(k get events --field-selector "involvedObject.kind=Node,involvedObject.name=$NODE,reason=$1" \
    -o jsonpath='{.items[0].message}' 2>/dev/null)" = "$2" ]
}
check "... the Node's event NodeHasInsufficientMemory" \
  wait_for 20 node_event NodeHasInsufficientMemory "Node $NODE status is now: NodeHasInsufficientMemory"
check "... and EvictionThresholdMet" wait_for 20 node_event EvictionThresholdMet "Attempting to reclaim memory"
check "a new BestEffort pod under MemoryPressure: Failed" wait_for 30 phase_is ev-late Failed
check "... reason Evicted" [ "$(pod_jp ev-late '{.status.reason}')" = Evicted ]
check "... upstream's message" [ "$(pod_jp ev-late '{.status.message}')" = "Pod The node had condition: [MemoryPressure]. " ]
check "the Guaranteed pod runs on, never restarted" \
  [ "$(pod_jp ev-guar '{.status.phase}/{.status.containerStatuses[0].restartCount}')" = Running/0 ]
check "nothing of the hog runs" wait_for 30 bash -c "! $CUBELET_CRI -r unix://$SOCK ps | grep -q 'ev-hog'"
check "the container GC takes the evicted pod's dead container and sandbox (upstream's IsPodDeleted)" \
  wait_for 60 bash -c "! $CUBELET_CRI -r unix://$SOCK ps -a | grep -q 'ev-hog' && ! $CUBELET_CRI -r unix://$SOCK pods | grep -q 'ev-hog'"
check "... while its API object stays Failed" phase_is ev-hog Failed
check "MemoryPressure back to False after the transition period" wait_for 90 cond_is MemoryPressure False
check "... reason KubeletHasSufficientMemory" [ "$(node_cond MemoryPressure reason)" = KubeletHasSufficientMemory ]
pod ev-burst '' 'resources: {requests: {memory: 8Mi}}' 'sleep 3600'
check "pods are admitted again" wait_for 60 phase_is ev-burst Running
check "the Guaranteed pod was never evicted" [ "$(pod_jp ev-guar '{.status.phase}')" = Running ]

# --- Local ephemeral storage limits (upstream's localStorageEviction), each pod writing 4 MiB: an emptyDir
# over its sizeLimit, a pod over its containers' total limit, a container over its own limit.
WRITE='dd if=/dev/zero of=$0 bs=1024 count=4096 2>/dev/null; sleep 3600'
pod ev-ed 'volumes: [{name: data, emptyDir: {sizeLimit: 1Mi}}]' 'volumeMounts: [{name: data, mountPath: /data}]' \
  "${WRITE//\$0//data/f}"
pod ev-podlim 'volumes: [{name: data, emptyDir: {}}]' \
  'volumeMounts: [{name: data, mountPath: /data}]
    resources: {limits: {ephemeral-storage: 2Mi}}' "${WRITE//\$0//data/f}"
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ev-ctrlim}
spec:
  nodeName: $NODE
  containers:
  - {name: w, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "${WRITE//\$0//tmp/f}"], resources: {limits: {ephemeral-storage: 2Mi}}}
  - {name: idle, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"], resources: {limits: {ephemeral-storage: 100Mi}}}
YAML
evicted_with() { phase_is "$1" Failed && [ "$(pod_jp "$1" '{.status.reason}')" = Evicted ] && [ "$(pod_jp "$1" '{.status.message}')" = "$2" ]; }
check "an emptyDir over its sizeLimit: evicted, upstream's message" \
  wait_for 90 evicted_with ev-ed 'Usage of EmptyDir volume "data" exceeds the limit "1Mi". '
check "... a Warning Event Evicted" wait_for 20 event_starts ev-ed Evicted 'Usage of EmptyDir volume'
check "a pod over its containers' total limit: evicted, upstream's message" \
  wait_for 90 evicted_with ev-podlim 'Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. '
check "a container over its own limit (its writable layer): evicted, upstream's message" \
  wait_for 120 evicted_with ev-ctrlim 'Container w exceeded its local ephemeral storage limit "2Mi". '
check "... all three stopped at once (no grace)" wait_for 30 bash -c \
  "! $CUBELET_CRI -r unix://$SOCK ps | grep -qE 'ev-(ed|podlim|ctrlim)'"
check "the Guaranteed pod still runs" [ "$(pod_jp ev-guar '{.status.phase}')" = Running ]

# shellcheck disable=SC2086
k delete pod $PODS --grace-period=0 --force >/dev/null 2>&1
check "cubelet exits cleanly" stop_cubelet
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

#!/bin/bash
# Pod admission of API pods against a real kube-apiserver and containerd: pods that do not fit the node
# (cpu, memory), do not match its labels (nodeSelector, node affinity; the Node's labels as they are now)
# or do not tolerate its NoExecute taint are Failed with upstream's reason and message, in the API and as
# a Warning Event; pods that fit run. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
# The Node's allocatable memory to the byte: never while test_hugepages_api changes the hugepage pools.
source "$(dirname "$0")/hugepages_lock.sh" -s
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-admit-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
PODS="adm-cpu adm-mem adm-sel adm-aff adm-taint adm-late adm-static-$NODE adm-pvc adm-eph adm-third adm-fourth"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
# shellcheck disable=SC2086
k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1

pod() { # pod NAME SPEC-EXTRA CONTAINER-EXTRA
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  tolerations: [{key: dedicated, operator: Exists}]
  $2
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    $3
YAML
}
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
event_is() { # event_is POD REASON MESSAGE: kubectl sees the Warning event
  [ "$(k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" \
    -o jsonpath='{.items[0].message}' 2>/dev/null)" = "$3" ]
}
refused() { # refused POD REASON MESSAGE
  check "$1: Failed in the API" wait_for 30 phase_is "$1" Failed
  check "... status.reason $2" [ "$(pod_jp "$1" '{.status.reason}')" = "$2" ]
  check "... status.message as upstream's" [ "$(pod_jp "$1" '{.status.message}')" = "Pod $3" ]
  check "... and a Warning Event with the reason and message" wait_for 20 event_is "$1" "$2" "$3"
}

# A refused static pod: its mirror pod carries the Failed status.
cat >"$M/static.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: adm-static}
spec:
  securityContext: {sysctls: [{name: kernel.msgmax, value: "1"}]}
  containers: [{name: c, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"]}]
YAML
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --node-labels disk=hdd \
  --register-with-taints dedicated=db:NoExecute --max-pods 3
node_ready() {
  [ "$(k get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
check "node registers" wait_for 30 node_ready
cpu_m=$(( $(k get node "$NODE" -o jsonpath='{.status.allocatable.cpu}') * 1000 ))
mem=$(k get node "$NODE" -o jsonpath='{.status.allocatable.memory}')
mem=$(( ${mem%Ki} * 1024 ))

refused "adm-static-$NODE" SysctlForbidden 'forbidden sysctl: "kernel.msgmax" not whitelisted'
pod adm-cpu '' 'resources: {requests: {cpu: "1000"}}'
refused adm-cpu OutOfcpu "Node didn't have enough resource: cpu, requested: 1000000, used: 0, capacity: $cpu_m"
pod adm-mem '' 'resources: {requests: {memory: 64Ti}}'
refused adm-mem OutOfmemory "Node didn't have enough resource: memory, requested: 70368744177664, used: 0, capacity: $mem"
pod adm-sel 'nodeSelector: {disk: ssd}' ''
refused adm-sel NodeAffinity "Predicate NodeAffinity failed"
pod adm-eph '' 'resources: {requests: {ephemeral-storage: 100Ti}}'
eph_refused() {
  pod_jp adm-eph '{.status.reason}|{.status.message}' |
    grep -Eq "^OutOfephemeral-storage\|Pod Node didn't have enough resource: ephemeral-storage, requested: 109951162777600, used: 0, capacity: [0-9]+\$"
}
check "adm-eph: Failed, OutOfephemeral-storage with upstream's message" wait_for 30 eph_refused
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: adm-taint}
spec:
  nodeName: $NODE
  containers: [{name: c, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"]}]
YAML
refused adm-taint TaintToleration "Predicate TaintToleration failed"
# A volume type cubelet has no plugin for is refused at admission, never ignored.
pod adm-pvc 'volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]' 'volumeMounts: [{name: data, mountPath: /data}]'
refused adm-pvc UnsupportedPodSpec 'has fields this node cannot honour: spec.volumes[0].persistentVolumeClaim: Unsupported value: volume type "persistentVolumeClaim" is not supported by this node'
pods_gone() { ! "$CUBELET_CRI" -r "unix://$SOCK" pods | grep -q adm-; }
check "refused pods never got a sandbox" pods_gone

pod adm-aff 'affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: In, values: [hdd, nvme]}]}]}}}' \
  'resources: {requests: {cpu: 10m, memory: 8Mi}}'
check "a pod whose affinity matches and that fits runs" wait_for 40 phase_is adm-aff Running

# The Node's labels as they are now: relabelled, a pod selecting the new value is admitted.
k label node "$NODE" disk=ssd --overwrite >/dev/null
label_is_ssd() { [ "$(k get node "$NODE" -o jsonpath='{.metadata.labels.disk}')" = ssd ]; }
wait_for 30 label_is_ssd
pod adm-late 'nodeSelector: {disk: ssd}' ''
check "after kubectl label node, a pod selecting the new label runs" wait_for 40 phase_is adm-late Running
check "... and the running adm-aff stays (IgnoredDuringExecution)" phase_is adm-aff Running
# --max-pods 3: adm-aff, adm-late and a third run (refused pods do not count), a fourth does not fit.
pod adm-third '' ''
check "a third pod runs (maxPods 3)" wait_for 40 phase_is adm-third Running
pod adm-fourth '' ''
refused adm-fourth OutOfpods "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"

# shellcheck disable=SC2086
k delete pod $PODS --grace-period=0 --force >/dev/null 2>&1
check "deleted pods stop" wait_for 30 pods_gone
check "cubelet exits cleanly" stop_cubelet
# shellcheck disable=SC2086
k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

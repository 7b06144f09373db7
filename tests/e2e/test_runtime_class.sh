#!/bin/bash
# runtimeClassName against a real kube-apiserver and containerd: a RuntimeClass (node.k8s.io/v1) whose handler
# containerd's config names runs the pod's sandbox with that handler (API pods and static pods alike); a pod
# whose RuntimeClass is gone gets upstream's FailedCreatePodSandBox event and waits in ContainerCreating, and
# starts once the RuntimeClass exists. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH"
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-rc-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod rc-pod rc-gone --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
k delete runtimeclass rc-test rc-gone --ignore-not-found >/dev/null 2>&1

runtime_class() { # runtime_class NAME HANDLER
  k apply -f - >/dev/null <<YAML
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: $1}
handler: $2
YAML
}
api_pod() { # api_pod NAME RUNTIME_CLASS
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  runtimeClassName: $2
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"]}
YAML
}
phase_is() { [ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; }
# handler_is POD_NAME HANDLER: the pod's ready sandbox runs with that runtime handler.
handler_is() { cri pods | awk -F'\t' -v n="$1" '$4 == n && $2 == "READY" { print $7 }' | grep -qxF "$2"; }

runtime_class rc-test runc-test
# A pod admitted while its RuntimeClass existed, which is gone by the time the node sees the pod (the
# API server's RuntimeClass admission refuses a pod naming a missing one).
runtime_class rc-gone runc
api_pod rc-gone rc-gone
k delete runtimeclass rc-gone >/dev/null
cat >"$M/rc-static.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: rc-static}
spec:
  runtimeClassName: rc-test
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, command: ["sleep", "3600"]}
YAML

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 30 sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]"

api_pod rc-pod rc-test
check "a pod with runtimeClassName rc-test runs" wait_for 40 phase_is rc-pod Running
check "... its sandbox runs with the RuntimeClass's handler runc-test" handler_is rc-pod runc-test
check "... in runc-test's own state root" sh -c \
  "ls '$CTD_DIR/state/runc-test/k8s.io' | grep -q ."
check "a static pod naming rc-test: resolved through the API server too" wait_for 40 handler_is \
  "rc-static-$NODE" runc-test

gone_event() {
  k get events -o json 2>/dev/null | jq -e '[.items[] | select(.involvedObject.name == "rc-gone" and
    .reason == "FailedCreatePodSandBox" and .type == "Warning" and
    .message == "Failed to create pod sandbox: runtimeclass.node.k8s.io \"rc-gone\" not found")] | length > 0' >/dev/null
}
check "a missing RuntimeClass: upstream's FailedCreatePodSandBox event" wait_for 30 gone_event
check "... the pod stays Pending, its container in ContainerCreating" sh -c \
  "[ \"\$(kubectl get pod rc-gone -o jsonpath='{.status.phase} {.status.containerStatuses[0].state.waiting.reason}')\" = 'Pending ContainerCreating' ]"
check "... and no sandbox was made" sh -c "! cri pods | awk -F'\t' '\$4 == \"rc-gone\"' | grep -q ."
runtime_class rc-gone runc
check "... RuntimeClass created: the pod starts (the sync retries)" wait_for 40 phase_is rc-gone Running
check "... with the default handler runc" handler_is rc-gone runc

k delete pod rc-pod rc-gone --wait=false >/dev/null
rm -f "$M"/*
check "pods deleted: containers gone" wait_for 30 sh -c "! cri ps -a | grep -qE 'default/rc-(pod|gone|static)'"
check "cubelet stops cleanly" stop_cubelet
k delete runtimeclass rc-test rc-gone --ignore-not-found >/dev/null 2>&1
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

#!/bin/bash
# Pod lifetime and status through a real kube-apiserver: activeDeadlineSeconds lowered on a running pod
# (Failed/DeadlineExceeded, the containers stopped, the Event), and readiness gates (Ready waits for a
# condition someone else writes into the status; cubelet keeps conditions it does not own).
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
MASTER=$(dirname "$0")/master.sh
NODE=e2e-status
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete pods --all --grace-period=0 --force >/dev/null 2>&1
k delete events --all >/dev/null 2>&1 # from an earlier run on a kept control plane

# PATCH pods/<name>/status as another controller would (1.20's kubectl has no --subresource). Not with
# curl's own User-Agent: the API server pretty-prints for curl, and this Go 1.19 build of 1.20.2 (its old
# reflect2) dies with a SIGSEGV in json-iterator while doing so.
SERVER=$(awk '$1 == "server:" { print $2; exit }' "$KUBECONFIG")
patch_status() { # patch_status POD JSON
  curl -sf -A cubelet-e2e --cacert "$MASTER_DIR/pki/ca.crt" --cert "$MASTER_DIR/pki/admin.crt" --key "$MASTER_DIR/pki/admin.key" \
    -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' \
    "$SERVER/api/v1/namespaces/default/pods/$1/status" -d "$2" -o /dev/null
}
pod_json() { k get pod "$1" -o json 2>/dev/null; }
pod_is() { local p=$1 f=$2; shift 2; pod_json "$p" | jq -e "$@" "$f" >/dev/null; } # pod_is POD JQ-CONDITION [jq args]
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 30 sh -c "[ \"\$($KUBECTL get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]"

k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: dl}
spec:
  nodeName: $NODE
  activeDeadlineSeconds: 600
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  readinessGates: [{conditionType: example.com/gate}]
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"]}
YAML

# --- activeDeadlineSeconds lowered on a running pod (the API server allows only lowering)
check "pod with activeDeadlineSeconds 600: Running" wait_for 30 pod_is dl '.status.phase == "Running"'
check "... raising the deadline is refused by the API server" sh -c \
  "! $KUBECTL patch pod dl -p '{\"spec\":{\"activeDeadlineSeconds\":700}}' >/dev/null 2>&1"
t0=$(date +%s%N)
k patch pod dl -p '{"spec":{"activeDeadlineSeconds":1}}' >/dev/null
check "lowered to 1 s: Failed, DeadlineExceeded, upstream's message, within a few seconds" wait_for 10 pod_is dl \
  '.status | .phase == "Failed" and .reason == "DeadlineExceeded" and .message == "Pod was active on the node longer than the specified deadline"'
echo "# kubectl patch -> Failed in the API: $(ms_since "$t0") ms"
check "... its container stopped (TERM, exit 0) and shown terminated" wait_for 30 pod_is dl \
  '.status.containerStatuses[0] | .state.terminated.exitCode == 0 and .ready == false'
dl_stopped() {
  [ -z "$(running_ids c default/dl)" ] &&
    [ "$(cri pods | awk -F'\t' '$3 == "default" && $4 == "dl" { print $2 }')" = NOTREADY ]
}
check "... in containerd too, the sandbox stopped" dl_stopped
check "... the DeadlineExceeded event (Normal) through the API" wait_for 15 sh -c \
  "$KUBECTL get events -o json | jq -e '[.items[] | select(.involvedObject.name == \"dl\" and .reason == \"DeadlineExceeded\"
     and .type == \"Normal\" and .message == \"Pod was active on the node longer than the specified deadline\")] | length == 1' >/dev/null"

# --- readiness gates: Ready needs the gate's condition, which someone else writes into the status
gate_msg='corresponding condition of pod readiness gate "example.com/gate" does not exist.'
check "readiness gate without its condition: containers ready, Ready False (ReadinessGatesNotReady)" wait_for 30 pod_is gated "
  .status.phase == \"Running\" and
  ([.status.conditions[] | select(.type == \"ContainersReady\")][0].status == \"True\") and
  ([.status.conditions[] | select(.type == \"Ready\")][0] | .status == \"False\" and .reason == \"ReadinessGatesNotReady\"
     and .message == \$m)" --arg m "$gate_msg"
patch_status gated '{"status":{"conditions":[{"type":"example.com/gate","status":"False"},{"type":"example.com/other","status":"True"}]}}'
check "gate condition False: Ready says so" wait_for 30 pod_is gated \
  '[.status.conditions[] | select(.type == "Ready")][0].message == "the status of pod readiness gate \"example.com/gate\" is not \"True\", but False"'
t1=$(date +%s%N)
patch_status gated '{"status":{"conditions":[{"type":"example.com/gate","status":"True"}]}}'
check "gate condition True: Ready True within a few seconds" wait_for 10 pod_is gated \
  '[.status.conditions[] | select(.type == "Ready")][0] | .status == "True" and (has("reason") | not)'
echo "# gate True -> Ready True in the API: $(ms_since "$t1") ms"
check "... the conditions cubelet does not own are kept as written, once each" pod_is gated \
  '[.status.conditions[] | select(.type | startswith("example.com/")) | [.type, .status]] | sort == [["example.com/gate", "True"], ["example.com/other", "True"]]'
check "... and cubelet's four are there once each" pod_is gated \
  '[.status.conditions[].type | select(startswith("example.com/") | not)] | sort == ["ContainersReady", "Initialized", "PodScheduled", "Ready"]'

# --- a sandbox made again with another address: podIPs holds the new one only (it merges by ip)
old_ip=$(k get pod gated -o jsonpath='{.status.podIP}')
gated_sb=$(cri pods | awk -F'\t' '$3 == "default" && $4 == "gated" && $2 == "READY" { print $1 }')
cri rmp "$gated_sb" >/dev/null
new_ip() { pod_is gated '.status.podIP != $o and ([.status.podIPs[].ip] == [.status.podIP])' --arg o "$old_ip"; }
check "sandbox removed behind cubelet's back: a new one, podIPs only its address" wait_for 30 new_ip

check "the pod past its deadline never ran again" test "$(attempts c default/dl)" = 0
k delete pod dl gated --wait=false >/dev/null
check "pods deleted: gone" wait_for 20 sh -c "! $KUBECTL get pod dl >/dev/null 2>&1 && ! $KUBECTL get pod gated >/dev/null 2>&1"
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
finish

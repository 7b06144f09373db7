#!/bin/bash
# Pull secrets against a real kube-apiserver, registry and containerd: a pod's imagePullSecrets
# (kubernetes.io/dockerconfigjson made by kubectl, and the legacy kubernetes.io/dockercfg) are read through
# the object cache and given to the runtime's pull; a pod whose secret does not exist yet fails with
# ErrImagePull, and pulls with the secret once it is created; a static pod does not get them. Env from
# CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL, IMAGES_DIR.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH"
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
source "$(dirname "$0")/../integration/registry.sh"
NODE=e2e-img-node
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod img-secret img-legacy img-late --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
k delete secret regcred reglegacy reglate --ignore-not-found >/dev/null 2>&1
trap 'registry_stop; cleanup_cgroups' EXIT
registry_start private/busybox:1.35

api_pod() { # api_pod NAME SECRET
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  imagePullSecrets: [{name: $2}]
  containers:
  - {name: c, image: $IMAGE, imagePullPolicy: Always, command: ["sleep", "3600"]}
YAML
}
phase_is() { [ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; }
# waiting_in POD REGEX: the container waits for one of these reasons.
waiting_in() { k get pod "$1" -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' 2>/dev/null | grep -qxE "$2"; }

k create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" \
  --docker-password="$REG_PW" >/dev/null
# The legacy type: {"<registry>": {"auth": ...}} under .dockercfg.
legacy=$(printf '{"http://%s/v1/": {"auth": "%s"}}' "$REG" "$(printf '%s' "$REG_USER:$REG_PW" | base64 -w0)" | base64 -w0)
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: reglegacy}
type: kubernetes.io/dockercfg
data: {.dockercfg: $legacy}
YAML
# A static pod naming a pull secret: static pods use the node's credentials only (there are none here).
cat >"$M/img-static.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: img-static}
spec:
  imagePullSecrets: [{name: regcred}]
  containers:
  - {name: c, image: $IMAGE, imagePullPolicy: Always, command: ["sleep", "3600"]}
YAML

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 30 sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]"
api_pod img-secret regcred
api_pod img-legacy reglegacy
api_pod img-late reglate
check "a kubernetes.io/dockerconfigjson pull secret: the private image is pulled, the pod runs" wait_for 60 \
  phase_is img-secret Running
check "a kubernetes.io/dockercfg pull secret: runs too" wait_for 60 phase_is img-legacy Running
check "a pull secret that does not exist yet: the pull fails (ErrImagePull, then ImagePullBackOff)" wait_for 60 \
  waiting_in img-late 'ErrImagePull|ImagePullBackOff'
check "... and cubelet says which secret it could not read" log_has \
  "\"Unable to retrieve pull secret; the image pull may not succeed\" pod=\"default/img-late\" secret=\"reglate\""
check "a static pod's pull secret is not used: its pull fails" wait_for 60 sh -c \
  "curl -sf http://127.0.0.1:$RO_PORT/pods | jq -e '.items[] | select(.metadata.name == \"img-static-$NODE\") |
     .status.containerStatuses[0].state.waiting.reason | test(\"^(ErrImagePull|ImagePullBackOff)\$\")' >/dev/null"
k create secret docker-registry reglate --docker-server="$REG" --docker-username="$REG_USER" \
  --docker-password="$REG_PW" >/dev/null
check "... the secret created: the next try pulls with it and the pod runs" wait_for 90 phase_is img-late Running
check "no password in cubelet's log" sh -c "! grep -qF '$REG_PW' '$WORK/cubelet.log'"

k delete pod img-secret img-legacy img-late --wait=false >/dev/null
rm -f "$M"/*
check "pods deleted: containers gone" wait_for 30 sh -c "! cri ps -a | grep -qE 'default/img-'"
check "cubelet stops cleanly" stop_cubelet
k delete secret regcred reglegacy reglate --ignore-not-found >/dev/null 2>&1
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
registry_stop
finish

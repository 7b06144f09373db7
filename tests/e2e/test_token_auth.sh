#!/bin/bash
# A kubeconfig with a tokenFile: a token that is refused (401) is read again from its file, as a rotated
# projected token would be, and cubelet goes on with the new one. Env from CTest as test_node_api.sh.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-tok-node
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete clusterrolebinding e2e-tok --ignore-not-found >/dev/null 2>&1
k delete serviceaccount e2e-tok -n kube-system --ignore-not-found >/dev/null 2>&1
k create serviceaccount e2e-tok -n kube-system >/dev/null
k create clusterrolebinding e2e-tok --clusterrole=cluster-admin --serviceaccount=kube-system:e2e-tok >/dev/null
token=$(echo '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}' |
  k create --raw /api/v1/namespaces/kube-system/serviceaccounts/e2e-tok/token -f - | jq -r .status.token)
server=$(awk '/server:/ { print $2; exit }' "$KUBECONFIG")
cat >"$WORK/token.kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: tok
clusters: [{name: c, cluster: {server: "$server", certificate-authority: "$MASTER_DIR/pki/ca.crt"}}]
users: [{name: u, user: {tokenFile: "$WORK/token"}}]
contexts: [{name: tok, context: {cluster: c, user: u}}]
YAML
echo "not-a-valid-token" >"$WORK/token"
start_cubelet "$M" --kubeconfig "$WORK/token.kubeconfig"
check "a refused token: registration fails with 401" wait_for 15 log_has 'Unable to register node with API server.*HTTP 401'
printf '%s\n' "$token" >"$WORK/token"
node_ready() { [ "$(k get node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
check "the token file rotated: cubelet reads it again and the node registers" wait_for 30 node_ready
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
k delete clusterrolebinding e2e-tok >/dev/null 2>&1
k delete serviceaccount e2e-tok -n kube-system >/dev/null 2>&1
finish

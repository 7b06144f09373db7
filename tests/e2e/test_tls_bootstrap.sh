#!/bin/bash
# TLS bootstrap and client certificate rotation against the real kube-apiserver: cubelet starts with only a
# bootstrap kubeconfig (a bootstrap token, kubeadm's RBAC), its first CSR is denied (the clear error, the
# retry), static pods and healthz work meanwhile; the next is approved and issued, the files, the link and
# the kubeconfig appear and the Node registers as system:node:<node>. The certificate lives 2 minutes: it is
# rotated by a CSR made with itself, without a restart, and after the old one has expired the Lease still
# renews and a new pod bound to the node runs. Started again with an expired certificate, cubelet goes back
# to the bootstrap token. This script plays kube-controller-manager's approver and signer (none runs here):
# `kubectl certificate approve|deny`, the CSR signed with the master's CA (csr_sign.py), status.certificate
# PUT through the /status subresource. Env from CTest as test_node_api.sh.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: csr_sign.py needs python3-cryptography"; exit 77; }
E2E=$(cd "$(dirname "$0")" && pwd)
NODE=e2e-tls-node
IMG=cubelet.local/busybox:1.35
SHORT_S=120 # the first certificate's lifetime: rotated at 84-108 s
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests" PKI="$WORK/pki" KC="$WORK/kubelet.conf"
mkdir -p "$M"
TOKEN_ID=$(openssl rand -hex 3)     # [a-z0-9]{6}
TOKEN_SECRET=$(openssl rand -hex 8) # [a-z0-9]{16}
CSR_GROUP=/apis/certificates.k8s.io/v1/certificatesigningrequests

cleanup_api() {
  k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
  k delete pod after-rotation --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
  k delete secret -n kube-system "bootstrap-token-$TOKEN_ID" --ignore-not-found >/dev/null 2>&1
  k delete clusterrolebinding e2e-tls-bootstrappers --ignore-not-found >/dev/null 2>&1
  k get csr -o json 2>/dev/null | jq -r --arg n "system:node:$NODE" \
    '.items[] | select(.spec.username == $n or (.spec.username | startswith("system:bootstrap:"))) | .metadata.name' |
    xargs -r "$KUBECTL" delete csr >/dev/null 2>&1
}
cleanup_api

# What kubeadm init makes: a bootstrap token Secret and the bootstrappers' right to create CSRs.
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-$TOKEN_ID, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: "$TOKEN_ID"
  token-secret: "$TOKEN_SECRET"
  usage-bootstrap-authentication: "true"
  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token
YAML
k create clusterrolebinding e2e-tls-bootstrappers --clusterrole=system:node-bootstrapper \
  --group=system:bootstrappers >/dev/null
server=$(awk '/server:/ { print $2; exit }' "$KUBECONFIG")
cat >"$WORK/bootstrap.conf" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority: "$MASTER_DIR/pki/ca.crt"}}]
users: [{name: tls-bootstrap-token-user, user: {token: "$TOKEN_ID.$TOKEN_SECRET"}}]
contexts: [{name: tls-bootstrap, context: {cluster: c, user: tls-bootstrap-token-user}}]
current-context: tls-bootstrap
YAML

# ---- the approver and signer -------------------------------------------------------------------------
# MODE: deny (the next CSR is denied, then hold), hold (left pending), approve. The first certificate
# issued lives SHORT_S seconds, later ones an hour.
echo deny >"$WORK/mode"
: >"$WORK/signed"
sign_one() { # sign_one NAME
  local name=$1 life=3600
  [ -s "$WORK/signed" ] || life=$SHORT_S
  k certificate approve "$name" >/dev/null || return 1
  k get csr "$name" -o json >"$WORK/csr.json" || return 1
  jq -r .spec.request "$WORK/csr.json" | base64 -d |
    python3 "$E2E/csr_sign.py" "$MASTER_DIR/pki/ca.crt" "$MASTER_DIR/pki/ca.key" -1 "$life" >"$WORK/issued.pem" || return 1
  k get csr "$name" -o json | jq --arg c "$(base64 -w0 "$WORK/issued.pem")" '.status.certificate = $c' |
    k replace --raw "$CSR_GROUP/$name/status" -f - >/dev/null || return 1
  echo "$name $(jq -r .spec.username "$WORK/csr.json")" >>"$WORK/signed"
}
signer() {
  local name user mode
  while :; do
    k get csr -o json 2>/dev/null | jq -r --arg b "system:bootstrap:$TOKEN_ID" --arg n "system:node:$NODE" '
      .items[] | select(.spec.signerName == "kubernetes.io/kube-apiserver-client-kubelet")
      | select(.spec.username == $b or .spec.username == $n)
      | select((.status.certificate // "") == "")
      | select([.status.conditions[]?.type] | index("Denied") == null)
      | "\(.metadata.name) \(.spec.username)"' | while read -r name user; do
      mode=$(cat "$WORK/mode")
      case "$mode" in
      deny) k certificate deny "$name" >/dev/null && echo hold >"$WORK/mode" && echo "$name" >"$WORK/denied" ;;
      approve) sign_one "$name" || echo "signer: $name failed" >&2 ;;
      esac
    done
    sleep 0.3
  done
}
signer &
SIGNER_PID=$!
trap 'kill "$SIGNER_PID" 2>/dev/null; cleanup_cgroups' EXIT

cat >"$M/static-web.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: static-web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, command: ["sleep", "3600"]}
YAML

# ---- bootstrap ---------------------------------------------------------------------------------------
lines_before=$(wc -l <"$MASTER_DIR/audit.log" 2>/dev/null || echo 0)
BOOT_FLAGS=(--kubeconfig "$KC" --bootstrap-kubeconfig "$WORK/bootstrap.conf" --cert-dir "$PKI" --rotate-certificates)
start_cubelet "$M" "${BOOT_FLAGS[@]}"
check "healthz answers while the bootstrap waits" curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz" -o /dev/null
check "a denied CSR: the clear error, and a retry" \
  wait_for 60 log_has 'TLS bootstrap failed, will retry.*the certificate signing request was denied'
retried() { [ "$(k get csr -o json | jq --arg b "system:bootstrap:$TOKEN_ID" '[.items[] | select(.spec.username == $b)] | length')" -ge 2 ]; }
check "... a second CSR follows the back-off" wait_for 30 retried
check "a static pod runs while the bootstrap waits" wait_for 90 status_is static-web .phase Running
check "no kubeconfig before a certificate is issued" test ! -e "$KC"
echo approve >"$WORK/mode"

node_ready() { [ "$(k get node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
check "approved and issued: the Node registers and turns Ready" wait_for 90 node_ready
if [ "$failed" -gt 0 ]; then # the rest builds on a bootstrapped node: say why now, not after every timeout
  grep -E 'cert_manager|TLS bootstrap' "$WORK/cubelet.log" | tail -n 5
  cleanup_api
  finish
  exit 1
fi
first=$(readlink "$PKI/kubelet-client-current.pem")
check "kubelet-client-<time>.pem, mode 0600, and the current link" \
  bash -c "[[ '$first' =~ ^$PKI/kubelet-client-[0-9]{4}(-[0-9]{2}){5}\.pem$ ]] && [ \"\$(stat -c %a '$first')\" = 600 ]"
check "... holds the certificate then the key" \
  bash -c "grep -q 'BEGIN CERTIFICATE' '$first' && grep -q 'BEGIN EC PRIVATE KEY' '$first'"
check "... issued to CN=system:node:$NODE, O=system:nodes" \
  bash -c "openssl x509 -in '$first' -noout -subject | grep -q 'O = system:nodes, CN = system:node:$NODE'"
check "the kubeconfig is written and points at the link" \
  bash -c "grep -q 'client-certificate: \"$PKI/kubelet-client-current.pem\"' '$KC' && grep -q 'client-key: \"$PKI/kubelet-client-current.pem\"' '$KC' && [ \"\$(stat -c %a '$KC')\" = 600 ]"
registered_as_node() {
  tail -n +"$((lines_before + 1))" "$MASTER_DIR/audit.log" | jq -e -s --arg u "system:node:$NODE" \
    'any(.[]; .verb == "create" and .objectRef.resource == "nodes" and .user.username == $u and .responseStatus.code == 201)' >/dev/null
}
check "the Node was created by system:node:$NODE" wait_for 10 registered_as_node

# ---- rotation ----------------------------------------------------------------------------------------
old_end=$(date -d "$(openssl x509 -in "$first" -noout -enddate | cut -d= -f2)" +%s)
pid_before=$CUBELET_PID
rotated() { [ "$(readlink "$PKI/kubelet-client-current.pem")" != "$first" ]; }
check "the certificate is rotated before it expires (70-90 % of its life)" wait_for $((SHORT_S + 30)) rotated
# (the signer notes a CSR after its status is written: cubelet can have the certificate a moment before)
check "... by a CSR made with the current certificate" \
  wait_for 10 bash -c "grep -q ' system:node:$NODE\$' '$WORK/signed'"
check "... logged, without restarting" bash -c "grep -q 'Client certificate rotated' '$WORK/cubelet.log' && kill -0 $pid_before"
second=$(readlink "$PKI/kubelet-client-current.pem")
check "... the new pair in a new file" bash -c "[ -s '$second' ] && [ -s '$first' ] && ! cmp -s '$first' '$second'"
expired() { [ "$(date +%s)" -gt $((old_end + 1)) ]; }
wait_for $((SHORT_S + 30)) expired
renew_s() { date -d "$(k get lease -n kube-node-lease $NODE -o jsonpath='{.spec.renewTime}')" +%s 2>/dev/null || echo 0; }
renewed_after_expiry() { [ "$(renew_s)" -gt $((old_end + 1)) ]; }
check "after the old certificate expired, the Lease still renews (the new one is in use)" wait_for 30 renewed_after_expiry
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: after-rotation, namespace: default}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, command: ["sleep", "3600"]}
YAML
api_running() { [ "$(k get pod after-rotation -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
check "... the pod watch reconnected: a new pod bound to the node runs and its status is written" wait_for 90 api_running
check "no certificate or key in the log" bash -c "! grep -q 'BEGIN' '$WORK/cubelet.log'"
check "cubelet stops cleanly" stop_cubelet

# ---- an expired certificate falls back to the bootstrap credentials ------------------------------------
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/old.key" 2>/dev/null
openssl req -new -key "$WORK/old.key" -subj "/O=system:nodes/CN=system:node:$NODE" 2>/dev/null |
  python3 "$E2E/csr_sign.py" "$MASTER_DIR/pki/ca.crt" "$MASTER_DIR/pki/ca.key" -300 100 >"$WORK/old.crt"
cat "$WORK/old.crt" "$WORK/old.key" >"$PKI/kubelet-client-expired.pem"
ln -sfn "$PKI/kubelet-client-expired.pem" "$PKI/kubelet-client-current.pem"
n_boot_before=$(grep -c " system:bootstrap:$TOKEN_ID\$" "$WORK/signed")
mv "$WORK/cubelet.log" "$WORK/cubelet.log.1" # log_has reads the second run only
start_cubelet "$M" "${BOOT_FLAGS[@]}"
check "started with an expired certificate: it says so and bootstraps" \
  wait_for 20 log_has 'No usable client certificate; TLS bootstrap.*the certificate has expired'
boot_again() { [ "$(grep -c " system:bootstrap:$TOKEN_ID\$" "$WORK/signed")" -gt "$n_boot_before" ]; }
check "... a CSR made with the bootstrap token is issued" wait_for 60 boot_again
not_expired_link() { [ "$(readlink "$PKI/kubelet-client-current.pem")" != "$PKI/kubelet-client-expired.pem" ]; }
check "... the link points at the new pair" wait_for 30 not_expired_link
restart_s=$(date +%s)
renewed_after_restart() { [ "$(renew_s)" -gt "$restart_s" ]; }
check "... and the node goes on renewing its Lease" wait_for 40 renewed_after_restart
check "cubelet stops cleanly again" stop_cubelet

kill "$SIGNER_PID" 2>/dev/null
wait "$SIGNER_PID" 2>/dev/null
cleanup_api
finish

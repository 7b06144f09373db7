#!/bin/bash
# The serving certificate by CSR (serverTLSBootstrap, #14 item 3) against the real kube-apiserver: started
# with --rotate-server-certificates, cubelet asks for its node API's certificate with its own credentials
# (signer kubernetes.io/kubelet-serving, CN system:node:<node>, O system:nodes, the Node's Hostname and
# InternalIP as subjectAltNames, usages digital signature, key encipherment, server auth). Until it is
# issued the node API completes no TLS handshake while the health port answers (with tlsCertFile, that pair
# is served meanwhile, as upstream's file store); once issued the node API
# serves it (verified against the cluster CA, for 127.0.0.1), the pair is kubelet-server-<time>.pem with the
# kubelet-server-current.pem link, and the short-lived first certificate is rotated by a new CSR without a
# restart. Started again, the stored pair is served at once (not tlsCertFile), no CSR. This script plays the approver and
# signer (csr_sign.py, as test_tls_bootstrap.sh). Env from CTest as test_node_api.sh.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: csr_sign.py needs python3-cryptography"; exit 77; }
E2E=$(cd "$(dirname "$0")" && pwd)
NODE=e2e-serving-node
SHORT_S=60 # the first certificate's lifetime: rotated at 42-54 s
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
M="$WORK/manifests" PKI="$WORK/pki"
mkdir -p "$M"
CSR_GROUP=/apis/certificates.k8s.io/v1/certificatesigningrequests
CA=$MASTER_DIR/pki/ca.crt
"$(dirname "$0")/master.sh" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
serving_csrs() { # the node's serving CSRs as JSON lines
  k get csr -o json 2>/dev/null | jq -c --arg n "system:node:$NODE" \
    '.items[] | select(.spec.signerName == "kubernetes.io/kubelet-serving" and .spec.username == $n)'
}
cleanup_api() {
  k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
  serving_csrs | jq -r .metadata.name | xargs -r "$KUBECTL" delete csr >/dev/null 2>&1
}
cleanup_api

# ---- the approver and signer: the first certificate lives SHORT_S seconds, later ones an hour ----------
echo hold >"$WORK/mode"
: >"$WORK/signed"
signer() {
  local name life
  while :; do
    if [ "$(cat "$WORK/mode")" = approve ]; then
      serving_csrs | jq -r 'select((.status.certificate // "") == "") | .metadata.name' | while read -r name; do
        life=3600
        [ -s "$WORK/signed" ] || life=$SHORT_S
        k certificate approve "$name" >/dev/null &&
          k get csr "$name" -o json >"$WORK/csr.json" &&
          jq -r .spec.request "$WORK/csr.json" | base64 -d |
          python3 "$E2E/csr_sign.py" "$CA" "$MASTER_DIR/pki/ca.key" -1 "$life" serving >"$WORK/issued.pem" &&
          jq --arg c "$(base64 -w0 "$WORK/issued.pem")" '.status.certificate = $c' "$WORK/csr.json" |
          k replace --raw "$CSR_GROUP/$name/status" -f - >/dev/null &&
          echo "$name" >>"$WORK/signed" || echo "signer: $name failed" >&2
      done
    fi
    sleep 0.3
  done
}
signer &
SIGNER_PID=$!
trap 'kill "$SIGNER_PID" 2>/dev/null; cleanup_cgroups' EXIT

# What the node API presents: the serial of its certificate, verified against the cluster CA for 127.0.0.1
# (empty when no handshake completes).
served_serial() {
  openssl s_client -connect "127.0.0.1:$NODE_PORT" -CAfile "$CA" -verify_ip 127.0.0.1 -verify_return_error \
    </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
handshake_fails() { ! curl -s --max-time 5 --cacert "$CA" -o /dev/null "https://127.0.0.1:$NODE_PORT/healthz"; }

FLAGS=(--kubeconfig "$WORK/node.kubeconfig" --cert-dir "$PKI" --rotate-server-certificates)
start_cubelet "$M" "${FLAGS[@]}"
one_csr() { [ "$(serving_csrs | grep -c .)" -ge 1 ]; }
check "a serving CSR is made with the node's credentials" wait_for 60 one_csr
csr=$(serving_csrs | head -n 1)
check "... usages digital signature, key encipherment, server auth" \
  [ "$(jq -c '.spec.usages | sort' <<<"$csr")" = '["digital signature","key encipherment","server auth"]' ]
jq -r .spec.request <<<"$csr" | base64 -d >"$WORK/req.pem"
req_text=$(openssl req -in "$WORK/req.pem" -noout -text 2>/dev/null)
check "... subject O=system:nodes, CN=system:node:$NODE" \
  grep -q "Subject: O = system:nodes, CN = system:node:$NODE" <<<"$req_text"
check "... the Node's addresses as subjectAltNames" grep -q "DNS:$NODE, IP Address:127.0.0.1" <<<"$req_text"
check "... an ECDSA P-256 key" grep -q "ASN1 OID: prime256v1" <<<"$req_text"
check "until it is issued the node API completes no handshake" handshake_fails
check "... while the health port answers" curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz" -o /dev/null
node_known() { k get node "$NODE" >/dev/null 2>&1; }
check "... and the Node registers" wait_for 60 node_known
check "cubelet exits cleanly while its CSR waits" stop_cubelet
serving_csrs | jq -r .metadata.name | xargs -r "$KUBECTL" delete csr >/dev/null 2>&1

# tlsCertFile (a pair of the cluster CA for 127.0.0.1) is served until one is issued, as upstream's file
# store; it does not name the node, so a CSR is made at once.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/file.key" -subj /CN=file \
  -addext subjectAltName=IP:127.0.0.1 -out "$WORK/file.csr" 2>/dev/null
python3 "$E2E/csr_sign.py" "$CA" "$MASTER_DIR/pki/ca.key" -1 3600 serving <"$WORK/file.csr" >"$WORK/file.crt"
file_serial=$(openssl x509 -in "$WORK/file.crt" -noout -serial | cut -d= -f2)
start_cubelet "$M" "${FLAGS[@]}" --tls-cert-file "$WORK/file.crt" --tls-private-key-file "$WORK/file.key"
file_served() { [ "$(served_serial)" = "$file_serial" ]; }
check "with tlsCertFile: it is served until a pair is issued" wait_for 30 file_served
check "... and a CSR is made" wait_for 60 one_csr

echo approve >"$WORK/mode"
issued_served() { local s; s=$(served_serial); [ -n "$s" ] && [ "$s" != "$file_serial" ]; }
check "issued: the node API serves it, verified against the cluster CA for 127.0.0.1" wait_for 60 issued_served
first_serial=$(served_serial)
first=$(readlink "$PKI/kubelet-server-current.pem")
check "kubelet-server-<time>.pem, mode 0600, and the current link" \
  bash -c "[[ '$first' =~ ^$PKI/kubelet-server-[0-9]{4}(-[0-9]{2}){5}\.pem$ ]] && [ \"\$(stat -c %a '$first')\" = 600 ]"
check "... the certificate served is the file's" \
  [ "$(openssl x509 -in "$first" -noout -serial | cut -d= -f2)" = "$first_serial" ]
code=$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$NODE_PORT/healthz")
check "... a request over it is answered (an anonymous one refused: $code)" [ "$code" = 401 ]
check "logged (it replaced tlsCertFile's pair)" log_has '"Serving certificate rotated"'

# ---- rotation: before the first certificate's end, by a new CSR, without a restart ---------------------
rotated() { local s; s=$(served_serial); [ -n "$s" ] && [ "$s" != "$first_serial" ]; }
check "rotated before it expires: a new certificate is served" wait_for $((SHORT_S + 30)) rotated
# (the signer notes a CSR after its status is written: cubelet can serve the certificate a moment before)
check "... through a second CSR" wait_for 10 sh -c "[ \"\$(grep -c . '$WORK/signed')\" -ge 2 ]"
check "... the link points at the new pair" [ "$(readlink "$PKI/kubelet-server-current.pem")" != "$first" ]
check "... logged" [ "$(grep -c '"Serving certificate rotated"' "$WORK/cubelet.log")" -ge 2 ]
check "... the same cubelet (no restart)" kill -0 "$CUBELET_PID"
check "cubelet exits cleanly" stop_cubelet
FLAGS+=(--tls-cert-file "$WORK/file.crt" --tls-private-key-file "$WORK/file.key")

# ---- a restart: the stored pair at once --------------------------------------------------------------
n_csrs=$(serving_csrs | grep -c .)
second_serial=$(openssl x509 -in "$PKI/kubelet-server-current.pem" -noout -serial | cut -d= -f2)
start_cubelet "$M" "${FLAGS[@]}"
same() { [ "$(served_serial)" = "$second_serial" ]; }
check "started again, the stored pair is served" wait_for 30 same
check "... without a new CSR" [ "$(serving_csrs | grep -c .)" = "$n_csrs" ]
check "cubelet exits cleanly at the end" stop_cubelet

kill "$SIGNER_PID" 2>/dev/null
cleanup_api
finish

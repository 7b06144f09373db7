#!/bin/bash
# The fixture is a real control plane: TLS with the right names, admin rights, and the Node authorizer
# plus NodeRestriction holding a node's credentials to its own Node object.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
skip_unless_ready

port=$(awk '/server:/ { n = split($2, a, ":"); print a[n] }' "$ADMIN_KUBECONFIG")
ca=$MASTER_DIR/pki/ca.crt
ns=e2e-smoke-$$
node_kc=$WORK/node.kubeconfig
embed_kc=$WORK/node-embed.kubeconfig

node_yaml() { printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$1"; }
readyz_ok() { [ "$(kadmin get --raw /readyz 2>&1)" = ok ]; }
tls_name_ok() { curl -sf --max-time 5 --cacert "$ca" --resolve "$1:$port:127.0.0.1" "https://$1:$port/livez" -o /dev/null; }
loopback_only() { ! ss -Hltn "sport = :$port" | awk '{ print $4 }' | grep -vqx "127.0.0.1:$port"; }
anonymous_forbidden() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "https://127.0.0.1:$port/api/v1/nodes")" = 403 ]
}
ns_active() { [ "$(kadmin get ns "$ns" -o jsonpath='{.status.phase}')" = Active ]; }
node_subject_ok() {
  openssl x509 -in "$MASTER_DIR/pki/node-e2e-node.crt" -noout -subject |
    grep -q 'O = system:nodes, CN = system:node:e2e-node'
}
create_node() { node_yaml "$2" | kas "$1" create -f - 2>&1; } # create_node KUBECONFIG NAME
no_node() { ! kadmin get node "$1" >/dev/null 2>&1; }

check "admin: /readyz is ok" readyz_ok
for name in localhost kubernetes kubernetes.default; do
  check "serving cert is valid for $name" tls_name_ok "$name"
done
check "apiserver listens on 127.0.0.1 only" loopback_only
check "anonymous: listing nodes is forbidden" anonymous_forbidden

check "admin: create namespace $ns" kadmin create namespace "$ns"
check "admin: namespace $ns is Active" wait_for 30 ns_active
default_ns() { kadmin get namespace default -o name >/dev/null 2>&1; }
check "admin: the default namespace exists" wait_for 30 default_ns

check "node-kubeconfig with file paths" "$MASTER" node-kubeconfig "$MASTER_DIR" e2e-node "$node_kc"
check "node-kubeconfig with embedded data" "$MASTER" node-kubeconfig "$MASTER_DIR" e2e-node "$embed_kc" --embed
check "file-path kubeconfig names the cert file" grep -q "^    client-certificate: $MASTER_DIR/pki/" "$node_kc"
check "embedded kubeconfig has -data fields" grep -q '^    client-key-data: ' "$embed_kc"
check "node cert is O=system:nodes CN=system:node:e2e-node" node_subject_ok

out=$(create_node "$node_kc" e2e-node) rc=$?
check "node: create its own Node e2e-node ($out)" [ "$rc" -eq 0 ]
out=$(create_node "$node_kc" other-node) rc=$?
check "node: creating Node other-node is refused" [ "$rc" -ne 0 ]
check "node: ... with 403 Forbidden ($out)" grep -q '(Forbidden)' <<<"$out"
check "admin: Node other-node does not exist" no_node other-node
check "node (embedded credentials): get its own Node" kas "$embed_kc" get node e2e-node -o name
out=$(kas "$embed_kc" delete namespace "$ns" 2>&1)
check "node: deleting a namespace is forbidden" grep -q '(Forbidden)' <<<"$out"

check "admin: delete Node e2e-node" kadmin delete node e2e-node --wait=false
check "admin: delete namespace $ns" kadmin delete namespace "$ns" --wait=false

finish

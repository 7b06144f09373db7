#!/bin/bash
# WebSocket streams through a real kube-apiserver (tests/e2e/master.sh) and a real containerd: exec, attach
# and port-forward as newer kubectl and the client libraries speak them (channel.k8s.io,
# v4.channel.k8s.io, base64.channel.k8s.io; portforward.k8s.io), the API server passing the upgrade on to
# cubelet and cubelet to containerd's streaming server. The client is tests/e2e/ws_client.py
# (python3-websocket), authenticated with the admin kubeconfig's certificate.
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
# Debian's interpreter, where python3-websocket lives (not whatever python3 comes first in PATH).
PY=${PYTHON3:-/usr/bin/python3}
"$PY" -c 'import websocket' 2>/dev/null || { echo "SKIP: no python3-websocket (packaging/install-deps.sh)"; exit 77; }
WS="$(dirname "$0")/ws_client.py"
MASTER=$(dirname "$0")/master.sh
NODE=e2e-ws-node
IMG=cubelet.local/busybox:1.35
PKI=$MASTER_DIR/pki
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=15s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
"$MASTER" node-serving-cert "$MASTER_DIR" "$NODE" "$WORK/serving.crt" "$WORK/serving.key"
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod ws-shell ws-server --ignore-not-found --grace-period=0 --force >/dev/null 2>&1

node_ready() { [ "$(k get node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --tls-cert-file "$WORK/serving.crt" \
  --tls-private-key-file "$WORK/serving.key" --client-ca-file "$PKI/ca.crt"
check "cubelet serves the node API and its Node turns Ready" wait_for 30 node_ready

k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ws-shell}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c", "i=0; while true; do echo tick \$i; i=\$((i+1)); sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: ws-server}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: httpd, image: $IMG, imagePullPolicy: Never, command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]}
  - {name: nc, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "while true; do nc -l -p 9090 -e echo hi from nc; done"]}
YAML
running() { [ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
both_running() { running ws-shell && running ws-server; }
check "the pods run" wait_for 40 both_running

SERVER=$(awk '/server:/ { print $2; exit }' "$KUBECONFIG")
API=${SERVER/https:/wss:}/api/v1/namespaces/default/pods
ADMIN=(--ca "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key")
# ws NAME URL [client args...]: the client's JSON answer in $WORK/NAME.json.
ws() { local n=$1 url=$2; shift 2; timeout 40 "$PY" "$WS" "$url" "$@" >"$WORK/$n.json" 2>"$WORK/$n.err"; }
# jq_is NAME FILTER: the filter holds for NAME's answer (shown when not).
jq_is() { jq -e "$2" "$WORK/$1.json" >/dev/null || { echo "# $1: $(cat "$WORK/$1.json" "$WORK/$1.err")"; return 1; }; }

# exec, v4: output on channel 1, and on channel 3 a Status whose status is Success.
ws exec_v4 "$API/ws-shell/exec?command=sh&command=-c&command=echo+out+%24%28%286*7%29%29%3B+echo+oops+%3E%262&stdout=1&stderr=1" \
  "${ADMIN[@]}" --protocol v4.channel.k8s.io --protocol channel.k8s.io
check "exec over WebSocket (v4.channel.k8s.io): 101, the protocol negotiated, Sec-WebSocket-Accept back" \
  jq_is exec_v4 '.status == 101 and .protocol == "v4.channel.k8s.io" and (.headers["sec-websocket-accept"] | length > 0)'
check "... repeated command parameters run as one argv; stdout on channel 1, stderr on 2" \
  jq_is exec_v4 '.channels["1"] == "out 42\n" and .channels["2"] == "oops\n"'
check "... the exit status on channel 3: a Status with status Success" \
  jq_is exec_v4 '.channels["3"] | fromjson | .status == "Success"'

ws exec_fail "$API/ws-shell/exec?command=sh&command=-c&command=exit+3&stdout=1&stderr=1" \
  "${ADMIN[@]}" --protocol v4.channel.k8s.io
check "exec of a failing command: a Failure Status with reason NonZeroExitCode and exit code 3" \
  jq_is exec_fail '.channels["3"] | fromjson | .status == "Failure" and .reason == "NonZeroExitCode" and
    (.details.causes[] | select(.reason == "ExitCode") | .message) == "3"'

ws exec_stdin "$API/ws-shell/exec?command=sh&command=-c&command=read+x%3B+echo+got+%24x&stdin=1&stdout=1" \
  "${ADMIN[@]}" --protocol v4.channel.k8s.io --send '0:hello websocket\n'
check "exec with stdin: data on channel 0 reaches the command" \
  jq_is exec_stdin '.channels["1"] == "got hello websocket\n" and (.channels["3"] | fromjson | .status == "Success")'

ws exec_b64 "$API/ws-shell/exec?command=echo&command=base64+too&stdout=1" "${ADMIN[@]}" --protocol base64.channel.k8s.io
check "exec over base64.channel.k8s.io: text frames, output decoded" \
  jq_is exec_b64 '.protocol == "base64.channel.k8s.io" and .channels["1"] == "base64 too\n"'

ws exec_v1 "$API/ws-shell/exec?command=echo&command=plain&stdout=1" "${ADMIN[@]}" --protocol channel.k8s.io
check "exec over channel.k8s.io (before v4): output, no status on success" \
  jq_is exec_v1 '.protocol == "channel.k8s.io" and .channels["1"] == "plain\n" and (.channels["3"] // "") == ""'

ws exec_none "$API/ws-shell/exec?command=true&stdout=1" "${ADMIN[@]}" --protocol no.such.protocol
check "exec offering only an unknown protocol: refused, not upgraded" jq_is exec_none '.status != 101'

ws attach "$API/ws-shell/attach?container=c&stdout=1" "${ADMIN[@]}" --protocol v4.channel.k8s.io --duration 3
check "attach over WebSocket: the running process's output streams in" \
  jq_is attach '.status == 101 and (.channels["1"] | test("tick [0-9]+\n"))'

ws pf_http "$API/ws-server/portforward?ports=8080" "${ADMIN[@]}" --protocol v4.channel.k8s.io --port-prefix \
  --send '0:GET /hostname HTTP/1.0\n\n'
check "port-forward over WebSocket (v4.channel.k8s.io): channels start with the port; HTTP reaches the pod" \
  jq_is pf_http '.status == 101 and .ports["0"] == 8080 and .ports["1"] == 8080 and
    (.channels["0"] | test("^HTTP/1.[01] 200") and test("\nws-server\n?$"))'
# portforward.k8s.io names the SPDY protocol; over WebSocket the streaming server speaks only the v4 ones, so a
# client offering both gets v4.
ws pf_nc "$API/ws-server/portforward?ports=9090" "${ADMIN[@]}" --protocol portforward.k8s.io \
  --protocol v4.base64.channel.k8s.io --port-prefix
check "port-forward over WebSocket (v4.base64.channel.k8s.io) to nc: its greeting arrives" \
  jq_is pf_nc '.status == 101 and .protocol == "v4.base64.channel.k8s.io" and .ports["0"] == 9090 and
    .channels["0"] == "hi from nc\n"'
ws pf_spdy_only "$API/ws-server/portforward?ports=9090" "${ADMIN[@]}" --protocol portforward.k8s.io
check "port-forward over WebSocket offering only portforward.k8s.io: the runtime's refusal comes back" \
  jq_is pf_spdy_only '.status == 403'

# cubelet's own server directly, as a client library would call it: the API's parameter names.
NURL=wss://127.0.0.1:$NODE_PORT
KUBELET_CLIENT=(--ca "$PKI/ca.crt" --cert "$PKI/apiserver-kubelet-client.crt" --key "$PKI/apiserver-kubelet-client.key")
ws direct "$NURL/exec/default/ws-shell/c?command=echo&command=direct&stdout=true&stderr=true" "${KUBELET_CLIENT[@]}" \
  --protocol v4.channel.k8s.io
check "cubelet's /exec directly with stdout=true: output and Success" \
  jq_is direct '.channels["1"] == "direct\n" and (.channels["3"] | fromjson | .status == "Success")'
ws direct_pf "$NURL/portForward/default/ws-server" "${KUBELET_CLIENT[@]}" --protocol v4.channel.k8s.io
check "cubelet's /portForward over WebSocket without a port: 400" jq_is direct_pf '.status == 400'
ws direct_pf_bad "$NURL/portForward/default/ws-server?port=http" "${KUBELET_CLIENT[@]}" --protocol v4.channel.k8s.io
check "... with a port that is not a number: 400" jq_is direct_pf_bad '.status == 400'

# The handshake by hand (RFC 6455's example key): two Sec-WebSocket-Protocol lines reach the runtime as one
# list, and the runtime's Sec-WebSocket-Accept and Sec-WebSocket-Protocol come back.
curl -s -i --http1.1 --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-kubelet-client.crt" \
  --key "$PKI/apiserver-kubelet-client.key" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Protocol: no.such.protocol' -H 'Sec-WebSocket-Protocol: v4.channel.k8s.io' \
  "https://127.0.0.1:$NODE_PORT/exec/default/ws-shell/c?command=sleep&command=1&output=1" | tr -d '\r' >"$WORK/handshake.out"
check "a handshake by hand: 101 with the RFC's Sec-WebSocket-Accept and the second protocol chosen" sh -c \
  "head -1 '$WORK/handshake.out' | grep -q '^HTTP/1.1 101' &&
   grep -qix 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' '$WORK/handshake.out' &&
   grep -qix 'Sec-WebSocket-Protocol: v4.channel.k8s.io' '$WORK/handshake.out' &&
   grep -qix 'Upgrade: websocket' '$WORK/handshake.out'" || cat -A "$WORK/handshake.out" | head -12

# SPDY still works beside it.
check "kubectl exec (SPDY) still works" sh -c "[ \"\$('$KUBECTL' exec ws-shell -- echo spdy)\" = spdy ]"

k delete pod ws-shell ws-server --wait=false >/dev/null
check "pods deleted: their containers stop" wait_for 30 is_gone c default/ws-shell
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
finish

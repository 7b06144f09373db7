#!/bin/bash
# The node server through a real kube-apiserver (tests/e2e/master.sh) and a real containerd: kubectl logs
# (--tail, --previous, -f, --limit-bytes, --timestamps), kubectl exec/attach/port-forward, /stats/summary,
# /configz, /metrics (checked by promtool when installed), and who may ask: 401 without a client certificate
# or with a rejected token, 403 for identities the webhook authorizer (SubjectAccessReview) denies, 200 for
# the API server's.
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH" # 1.20.2
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-ns-node
IMG=cubelet.local/busybox:1.35
PKI=$MASTER_DIR/pki
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=15s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
"$MASTER" node-serving-cert "$MASTER_DIR" "$NODE" "$WORK/serving.crt" "$WORK/serving.key"
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod logger crasher finisher server --ignore-not-found --grace-period=0 --force >/dev/null 2>&1

# An unprivileged user with a certificate from the cluster CA: authenticated, but not allowed nodes/proxy.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=e2e-users/CN=jane" \
  -keyout "$WORK/jane.key" -out "$WORK/jane.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$WORK/jane.ext"
openssl x509 -req -in "$WORK/jane.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial 0x$(openssl rand -hex 8) \
  -days 1 -extfile "$WORK/jane.ext" -out "$WORK/jane.crt" 2>/dev/null
# A certificate from a CA cubelet does not trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=mallory" \
  -addext "extendedKeyUsage=clientAuth" -days 1 -keyout "$WORK/mallory.key" -out "$WORK/mallory.crt" 2>/dev/null

node_ready() { [ "$(k get node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --tls-cert-file "$WORK/serving.crt" \
  --tls-private-key-file "$WORK/serving.key" --client-ca-file "$PKI/ca.crt"
check "cubelet serves the node API and its Node turns Ready" wait_for 30 node_ready
check "... kubeletEndpoint is the node server's port" \
  test "$(k get node $NODE -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}')" = "$NODE_PORT"

URL=https://127.0.0.1:$NODE_PORT
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" "$@"; }
check "no client certificate: 401" test "$(code "$URL/pods")" = 401
check "a certificate from an unknown CA: 401" test "$(code --cert "$WORK/mallory.crt" --key "$WORK/mallory.key" "$URL/pods")" = 401
check "the node's own certificate (nodes/proxy denied by RBAC): 403" \
  test "$(code --cert "$PKI/node-$NODE.crt" --key "$PKI/node-$NODE.key" "$URL/pods")" = 403
check "an unprivileged user's certificate: 403 naming user, verb and subresource" sh -c \
  "curl -s --cacert '$PKI/ca.crt' --cert '$WORK/jane.crt' --key '$WORK/jane.key' '$URL/metrics' |
   grep -qx 'Forbidden (user=jane, verb=get, resource=nodes, subresource=metrics)'"
# Bearer tokens go to TokenReview: a service account's token authenticates (then RBAC says no), junk does not.
k delete serviceaccount e2e-sa --ignore-not-found >/dev/null 2>&1
k create serviceaccount e2e-sa >/dev/null
echo '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}' >"$WORK/tr.json"
TOKEN=$(k create --raw /api/v1/namespaces/default/serviceaccounts/e2e-sa/token -f "$WORK/tr.json" | jq -r .status.token)
check "a service account's bearer token: authenticated by TokenReview, then 403" sh -c \
  "curl -s --cacert '$PKI/ca.crt' -H 'Authorization: Bearer $TOKEN' '$URL/pods' |
   grep -qx 'Forbidden (user=system:serviceaccount:default:e2e-sa, verb=get, resource=nodes, subresource=proxy)'"
check "a bearer token TokenReview rejects: 401" test "$(code -H 'Authorization: Bearer not-a-token' "$URL/pods")" = 401
# TokenReview answers are kept (authentication.webhook.cacheTTL, 2m by default): the API server's audit log
# shows one review per token however often it comes, for a refused token as for an accepted one.
reviews() { grep '"requestURI":"/apis/authentication.k8s.io/v1/tokenreviews"' "$MASTER_DIR/audit.log" |
  grep -c "\"username\":\"system:node:$NODE\""; }
# Another expiry than $TOKEN's: within the same second the same claims would make the same token.
echo '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":700}}' >"$WORK/tr2.json"
TOKEN2=$(k create --raw /api/v1/namespaces/default/serviceaccounts/e2e-sa/token -f "$WORK/tr2.json" | jq -r .status.token)
before=$(reviews)
for _ in 1 2 3; do code -H "Authorization: Bearer $TOKEN2" "$URL/pods" >/dev/null; done
for _ in 1 2 3; do code -H 'Authorization: Bearer still-not-a-token' "$URL/pods" >/dev/null; done
two_more() { [ "$(reviews)" -ge $((before + 2)) ]; }
wait_for 30 two_more; sleep 1 # the audit log is written as each request completes: a third must not come
one_review_each() { local n; n=$(reviews); [ "$n" -eq $((before + 2)) ] || { echo "# $((n - before)) reviews"; return 1; }; }
check "the same bearer token three times: one TokenReview (three refused ones: one too)" one_review_each
AS=(--cert "$PKI/apiserver-kubelet-client.crt" --key "$PKI/apiserver-kubelet-client.key")
check "the API server's kubelet client certificate (system:masters): 200" test "$(code "${AS[@]}" "$URL/healthz")" = 200

k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: logger}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    # A first line alone: stdout and stderr are separate pipes, so their relative order is not fixed.
    command: ["sh", "-c", "echo start; sleep 0.5; i=0; while true; do echo line \$i; echo err \$i >&2; i=\$((i+1)); sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: httpd, image: $IMG, imagePullPolicy: Never, command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "echo run \$(cat /proc/sys/kernel/random/uuid); sleep 20; exit 1"]}
YAML
running() { [ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
check "a pod bound to the node runs" wait_for 30 running logger
check "/runningpods/ lists it" sh -c "curl -s --cacert '$PKI/ca.crt' --cert '$PKI/apiserver-kubelet-client.crt' --key '$PKI/apiserver-kubelet-client.key' '$URL/runningpods/' |
  jq -e '.items[] | select(.metadata.name == \"logger\" and .spec.containers[0].name == \"c\")' >/dev/null"
check "/configz through the API server: the effective KubeletConfiguration" sh -c \
  "kubectl get --raw /api/v1/nodes/$NODE/proxy/configz | jq -e '.kubeletconfig.port == $NODE_PORT and .kubeletconfig.authorization.mode == \"Webhook\" and .kubeletconfig.syncFrequency == \"1m0s\" and .kubeletconfig.authentication.webhook.cacheTTL == \"2m0s\"' >/dev/null"
check "/stats/summary through the API server: the node and the pod's container usage" sh -c \
  "kubectl get --raw /api/v1/nodes/$NODE/proxy/stats/summary | jq -e '.node.nodeName == \"$NODE\" and .node.memory.availableBytes > 0 and
   ([.pods[] | select(.podRef.name == \"logger\" and .podRef.namespace == \"default\") | .containers[0] | select(.name == \"c\" and .memory.workingSetBytes > 0 and .cpu.usageCoreNanoSeconds > 0)] | length == 1)' >/dev/null"
check "/metrics/resource through the API server (metrics-server's): the pod's container CPU" sh -c \
  "kubectl get --raw /api/v1/nodes/$NODE/proxy/metrics/resource | grep -q '^container_cpu_usage_seconds_total{container=\"c\",namespace=\"default\",pod=\"logger\"} [0-9.]* [0-9]*$'"
# /metrics, through the API server's node proxy as Prometheus would scrape it.
scrape() { kubectl get --raw "/api/v1/nodes/$NODE/proxy/metrics" >"$WORK/$1" 2>&1; }
value() { awk -v k="$2" '$1 == k { print $2 }' "$WORK/$1"; }
check "/metrics through the API server" scrape metrics1
check "... with upstream's names" sh -c "grep -qx 'kubelet_running_pods [1-9][0-9]*' '$WORK/metrics1' &&
  grep -qx 'kubelet_running_containers{container_state=\"running\"} [1-9][0-9]*' '$WORK/metrics1' &&
  grep -q '^kubelet_pod_start_duration_seconds_count [1-9]' '$WORK/metrics1' &&
  grep -q '^kubelet_runtime_operations_errors_total{operation_type=' '$WORK/metrics1'"
if command -v promtool >/dev/null; then
  check "... valid Prometheus text (promtool check metrics)" sh -c "promtool check metrics <'$WORK/metrics1'"
else
  echo "# promtool not installed (Debian: prometheus): the text is not checked by a real parser"
fi
# The PLEG relists rarely while containerd's event stream is up (every 5 minutes): one at start is enough.
ops() { awk '$1 ~ /^kubelet_runtime_operations_total[{]/ { n += $2 } END { print n + 0 }' "$WORK/$1"; }
counters_move() { scrape metrics2 && [ "$(ops metrics2)" -gt "$(ops metrics1)" ] &&
  [ "$(value metrics2 kubelet_pleg_relist_duration_seconds_count)" -ge 1 ]; }
check "... counters move: runtime operations (and the PLEG has relisted)" wait_for 30 counters_move
# stdout and stderr are separate pipes: their relative order is not guaranteed.
check "kubectl logs: stdout and stderr" wait_for 10 sh -c \
  "kubectl logs logger >'$WORK/all.out' && grep -qx 'line 0' '$WORK/all.out' && grep -qx 'err 0' '$WORK/all.out'"
# Until the log has six lines at least (the check above waited for three: "start", "line 0", "err 0").
check "kubectl logs --tail 3: the three newest lines" wait_for 10 sh -c \
  "kubectl logs logger --tail 3 >'$WORK/tail.out'; kubectl logs logger >'$WORK/all.out';
   [ \$(wc -l <'$WORK/tail.out') = 3 ] && grep -Fxq \"\$(head -1 '$WORK/tail.out')\" '$WORK/all.out' &&
   [ \$(grep -Fxn \"\$(head -1 '$WORK/tail.out')\" '$WORK/all.out' | cut -d: -f1) -gt 3 ]"
# "line 0" and "err 0" go out on separate pipes at the same moment: either may be the log's second line.
limit_bytes() { local out; out=$(k logs logger --limit-bytes 8)
  [ "$out" = "$(printf 'start\nli')" ] || [ "$out" = "$(printf 'start\ner')" ] ||
    { echo "# got: $(printf '%s' "$out" | od -c | head -3)"; return 1; }; }
check "kubectl logs --limit-bytes 8" limit_bytes
check "kubectl logs --timestamps: RFC 3339 with nanoseconds" sh -c \
  "kubectl logs logger --timestamps | head -1 | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z start$'"
check "kubectl logs --since 1s: only the newest lines" sh -c \
  "n=\$(kubectl logs logger --since 1s | wc -l); [ \$n -ge 1 ] && [ \$n -lt \$(kubectl logs logger | wc -l) ]"
kubectl logs -f logger --tail 1 >"$WORK/follow.out" 2>&1 &
follow=$!
check "kubectl logs -f: new lines stream in" wait_for 30 sh -c "[ \$(wc -l <'$WORK/follow.out') -ge 8 ]"
kill "$follow" 2>/dev/null; wait "$follow" 2>/dev/null
check "kubectl logs on an unknown container: upstream's error" sh -c \
  "kubectl logs logger -c nope 2>&1 | grep -q 'container nope is not valid for pod logger'"
check "the server itself: 404 for a container the pod does not have" sh -c \
  "curl -s --cacert '$PKI/ca.crt' --cert '$PKI/apiserver-kubelet-client.crt' --key '$PKI/apiserver-kubelet-client.key' \
   '$URL/containerLogs/default/logger/nope' | grep -qx 'container \"nope\" not found in pod \"logger\"'"
check "kubectl logs --previous before any restart: upstream's error" sh -c \
  "kubectl logs logger --previous 2>&1 | grep -q 'previous terminated container \"c\" in pod \"logger\" not found'"

# kubectl exec: the API server's SPDY stream, proxied to containerd's streaming server (CRI Exec).
check "kubectl exec: stdout, stderr and the exit code" sh -c \
  "kubectl exec logger -- sh -c 'echo out \$((6*7)); echo oops >&2; exit 3' >'$WORK/exec.out' 2>'$WORK/exec.err'; rc=\$?;
   [ \$rc = 3 ] && [ \"\$(cat '$WORK/exec.out')\" = 'out 42' ] && grep -qx oops '$WORK/exec.err'"
check "kubectl exec -i: stdin reaches the command" sh -c "[ \"\$(printf 'a\\nb\\n' | kubectl exec -i logger -- wc -l)\" = 2 ]"
check "kubectl exec into a container the pod does not have: an error" sh -c "! kubectl exec logger -c nope -- true 2>/dev/null"

check "kubectl attach: the running process's output streams in" sh -c \
  "timeout 3 kubectl attach logger >'$WORK/attach.out' 2>&1; grep -q '^line [0-9]' '$WORK/attach.out'"
PF_PORT=$((NODE_PORT + 1000))
check "the server pod runs" wait_for 30 running server
kubectl port-forward pod/server "$PF_PORT:8080" >"$WORK/pf.out" 2>&1 &
pf=$!
check "kubectl port-forward: an HTTP request reaches the pod's port" wait_for 10 sh -c \
  "curl -sf --max-time 2 http://127.0.0.1:$PF_PORT/hostname | grep -qx server"
kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null

check "a crashing pod restarts" wait_for 90 sh -c "[ \"\$(kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null)\" -ge 1 ]"
# kubectl logs --previous is upstream's lastState: while a new instance runs, the run before it; while the
# container waits in CrashLoopBackOff, the run that just crashed (which plain kubectl logs shows then too).
# Each instance runs 20 s: a try (four kubectl calls) must fit in one state, and on a loaded machine it takes
# several seconds (with 8 s runs, the suite beside two CPU hogs missed every window for a minute). The bounds
# outlast a back-off of 80 s and the run after it.
crasher_state() { k get pod crasher -o jsonpath='{.status.containerStatuses[0].state}' 2>/dev/null | jq -r 'keys[0] // empty'; }
previous_is() { # previous_is STATE: in that state (before and after the two reads), --previous is one run's
  # output, other than the current one's (running) or the same (waiting)
  local p c
  [ "$(crasher_state)" = "$1" ] || return 1
  p=$(kubectl logs crasher --previous 2>&1)
  c=$(kubectl logs crasher 2>&1)
  [ "$(crasher_state)" = "$1" ] || return 1
  echo "$p" | grep -q '^run ' || { echo "# --previous: $p"; return 1; }
  if [ "$1" = running ]; then [ "$p" != "$c" ]; else [ "$p" = "$c" ]; fi
}
check "kubectl logs --previous while it runs again: the earlier run's output" wait_for 150 previous_is running
check "... in CrashLoopBackOff: the run that just crashed, as upstream" wait_for 150 previous_is waiting

# -f ends by itself when the container finishes.
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: finisher}
spec:
  nodeName: $NODE
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "echo one; sleep 3; echo two"]}
YAML
check "finisher starts" wait_for 30 sh -c "kubectl logs finisher 2>/dev/null | grep -q one"
check "kubectl logs -f follows a container to its end and returns" sh -c \
  "[ \"\$(timeout 20 kubectl logs -f finisher | tr '\n' ,)\" = 'one,two,' ]"

k delete pod logger crasher finisher server --wait=false >/dev/null
k delete serviceaccount e2e-sa >/dev/null 2>&1
check "pods deleted: their containers stop" wait_for 30 is_gone c default/logger
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
finish

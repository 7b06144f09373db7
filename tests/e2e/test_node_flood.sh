#!/bin/bash
# The node server under hostile clients, through a real kube-apiserver: while one address holds 400 idle
# connections (more than the server's old limit of all connections) and another sends requests with random
# bearer tokens as fast as it can, `kubectl logs` (the API server's client certificate) answers within a
# second, `kubectl exec` (a new connection each time) answers, the flood costs TokenReviews at the node
# server's own bounded rate only (the rest is 503 at once), and the node's pod and status work (its own
# client and rate limit) is not slowed: a pod created during the flood is reported Running promptly. And
# an x509 user is in system:authenticated, as upstream's (SubjectAccessReview sees the group).
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3 for the flood helper"; exit 77; }
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH"
MASTER=$(dirname "$0")/master.sh
FLOOD=$(dirname "$0")/../integration/flood.py
NODE=e2e-flood-node
IMG=cubelet.local/busybox:1.35
PKI=$MASTER_DIR/pki
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=15s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
"$MASTER" node-serving-cert "$MASTER_DIR" "$NODE" "$WORK/serving.crt" "$WORK/serving.key"
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod talker late --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
k delete clusterrolebinding e2e-flood-spec --ignore-not-found >/dev/null 2>&1
k delete clusterrole e2e-flood-spec --ignore-not-found >/dev/null 2>&1
# A user of the cluster CA in no group RBAC knows; nodes/spec (which cubelet does not serve: 404 once
# authorized) is granted to system:authenticated only.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=e2e-flood-users/CN=carol" \
  -keyout "$WORK/carol.key" -out "$WORK/carol.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$WORK/carol.ext"
openssl x509 -req -in "$WORK/carol.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial 0x$(openssl rand -hex 8) \
  -days 1 -extfile "$WORK/carol.ext" -out "$WORK/carol.crt" 2>/dev/null
k create clusterrole e2e-flood-spec --verb=get --resource=nodes/spec >/dev/null
k create clusterrolebinding e2e-flood-spec --clusterrole=e2e-flood-spec --group=system:authenticated >/dev/null

node_ready() { [ "$(k get node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --tls-cert-file "$WORK/serving.crt" \
  --tls-private-key-file "$WORK/serving.key" --client-ca-file "$PKI/ca.crt"
check "cubelet serves the node API and its Node turns Ready" wait_for 30 node_ready
pod() { # pod NAME
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "i=0; while true; do echo line \$i; i=\$((i+1)); sleep 0.2; done"]}
YAML
}
running() { [ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" "$@"; }
code_is() { [ "$(code "${@:2}")" = "$1" ]; } # code_is STATUS CURL-ARGS...: asked anew at each try of wait_for
CAROL=(--cert "$WORK/carol.crt" --key "$WORK/carol.key")
check "an x509 user is in system:authenticated: nodes/spec allowed to that group only (then 404)" \
  wait_for 10 code_is 404 "${CAROL[@]}" "https://127.0.0.1:$NODE_PORT/spec/"
check "... and nothing else (nodes/metrics: 403)" \
  test "$(code "${CAROL[@]}" "https://127.0.0.1:$NODE_PORT/metrics")" = 403
pod talker
check "a pod bound to the node runs" wait_for 30 running talker
check "kubectl logs answers" wait_for 10 sh -c "kubectl logs talker --tail 1 | grep -q '^line '"

# logs_ms: how long `kubectl logs --tail 1` takes, in ms (and that it answered).
logs_ms() {
  local t0 t1
  t0=$(date +%s%N)
  kubectl --request-timeout=10s logs talker --tail 1 2>&1 | grep -q '^line ' || { echo 99999; return; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
# get_ms: the same for `kubectl get` of the pod, a request the API server answers alone: beside logs_ms it
# tells what the node adds from what the loaded machine (the flood's own clients included) costs every call.
# The real kubectl, as logs_ms runs (kubectl-lite, the tests' kubectl for reads, starts in a fifth of the time).
get_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "${KUBECTL_REAL:-kubectl}" --request-timeout=10s get pod talker -o name 2>&1 | grep -qx 'pod/talker' || { echo 99999; return; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
reviews() { grep '"requestURI":"/apis/authentication.k8s.io/v1/tokenreviews"' "$MASTER_DIR/audit.log" |
  grep -c "\"username\":\"system:node:$NODE\""; }
before=$(reviews)
URL=https://127.0.0.1:$NODE_PORT
"$FLOOD" idle --port "$NODE_PORT" --src 127.0.0.2 -n 400 --hold 20 >"$WORK/idle.json" &
idle=$!
t_flood=$(date +%s%N)
# Until the checks below are done (SIGTERM): on a busy machine they take longer than any fixed duration.
"$FLOOD" tokens --port "$NODE_PORT" --src 127.0.0.3 --workers 16 --duration 120 >"$WORK/tokens.json" &
tokens=$!
sleep 2 # the flood at full rate
pod late
# The node's own watch and status client against the flood; how long the sandbox and the container take is
# the runtime's share of the loaded cores (seconds in the sanitizer build beside the other suite), so the
# bound counts from when cubelet saw the container running.
check "a pod created during the flood reaches the node within 10 s (its watch is not starved)" \
  wait_for 10 log_has '"Pod added" pod="default/late"'
check "... and the runtime starts it" wait_for 60 log_has '"Pod phase changed" pod="default/late" .* to="Running"'
t_late=$(date +%s%N)
late_running() { running late && echo $((($(date +%s%N) - t_late) / 1000000)) >"$WORK/late_ms"; }
check "... reported Running within 10 s of that (pod work has its own client)" wait_for 10 late_running
: >"$WORK/ms"
: >"$WORK/get_ms"
for _ in 1 2 3 4 5 6 7 8; do logs_ms >>"$WORK/ms"; get_ms >>"$WORK/get_ms"; sleep 0.3; done
# exec: the API server dials the node anew for each stream.
exec_ok() { kubectl --request-timeout=10s exec talker -- echo exec-ok 2>&1 | grep -qx exec-ok; }
check "kubectl exec answers during the flood (a new connection to the node)" exec_ok
check "... twice" exec_ok
check "... the flood went on all along" kill -0 "$tokens"
kill -TERM "$tokens" 2>/dev/null
wait "$tokens"
t_end=$(date +%s%N)
wait "$idle"
echo "# kubectl logs during the flood (ms): $(tr '\n' ' ' <"$WORK/ms"); late pod Running $(cat "$WORK/late_ms" 2>/dev/null) ms after it started"
echo "# kubectl get of the pod, each after a logs (ms): $(tr '\n' ' ' <"$WORK/get_ms")"
echo "# idle: $(cat "$WORK/idle.json"); random tokens: $(cat "$WORK/tokens.json")"
# The node answers logs within a second of what an API-only request takes at the same moment (medians of 8:
# on a loaded 2-core machine, or in the sanitizer build, a kubectl call alone may take a second or two, the
# flood's clients taking their share of the cores), and none queued behind the flood (before, each waited
# tens of seconds on the shared rate limit).
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
get=$(median "$WORK/get_ms")
check "kubectl get answered every time during the flood" test "$(grep -c 99999 "$WORK/get_ms")" = 0
# Within a second, or within a get's own time when a get takes longer (a hogged machine: 2-3 s each; the
# difference was 0.7 s there): what the flood did before was tens of seconds.
slack=$((get > 1000 ? get : 1000))
check "kubectl logs answers during the flood within max(1 s, a get) of a kubectl get (median of 8)" \
  test $(($(median "$WORK/ms") - get)) -lt "$slack"
check "... every one answered, none more than 10 s over that (queued behind the flood: tens)" \
  test $(($(sort -n "$WORK/ms" | tail -1) - get)) -lt 10000
flood_is() { jq -e "$2" "$WORK/$1" >/dev/null || { echo "# $(cat "$WORK/$1")"; return 1; }; }
check "random tokens: refused (401), or 503 when no review could be made in time; never let in" \
  flood_is tokens.json '(.["401"] // 0) > 0 and (.["503"] // 0) > 0 and .["200"] == null and .["403"] == null'
check "idle connections from one address: 32 held, 368 closed at once" flood_is idle.json '.closed_fast == 368'
sleep 1 # the audit log is written as each request completes
secs=$(((t_end - t_flood) / 1000000000 + 1))
n=$(($(reviews) - before))
echo "# $n TokenReviews in ${secs} s of flood"
check "TokenReviews within the node server's own limit (burst 40 + 20/s)" test "$n" -le $((40 + 20 * secs + 5))
check "the API server's requests still pass (kubectl logs after the flood)" sh -c "kubectl logs talker --tail 1 | grep -q '^line '"

k delete pod talker late --wait=false >/dev/null
gone_both() { is_gone c default/talker && is_gone c default/late; }
check "pods deleted: their containers stop" wait_for 30 gone_both
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
k delete clusterrolebinding e2e-flood-spec >/dev/null 2>&1
k delete clusterrole e2e-flood-spec >/dev/null 2>&1
finish

#!/bin/bash
# cubelet against a real kube-apiserver (tests/e2e/master.sh) and a real containerd: Node registration and
# status, the Lease, pods bound to the node, pod status, deletion, mirror pods, Events, an API server
# outage, and NodeRestriction. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
# The Node's allocatable memory to the byte: never while test_hugepages_api changes the hugepage pools.
source "$(dirname "$0")/hugepages_lock.sh" -s
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH" # 1.20.2
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pods --all --grace-period=0 --force >/dev/null 2>&1

cat >"$M/web.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: httpd, image: $IMG, command: ["httpd", "-f", "-p", "8080"]}
YAML

jp() { k get "$@" 2>/dev/null; } # jp RESOURCE NAME -o jsonpath=...
node_ready() { [ "$(jp node $NODE -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }

# A kubeconfig that is wrong: cubelet refuses to start and names the field.
sed 's/^\(  *\)server:.*/\1server: ftp:\/\/127.0.0.1/' "$WORK/node.kubeconfig" >"$WORK/bad.kubeconfig"
bad_kubeconfig_refused() {
  local out rc=0
  out=$(timeout 20 "$CUBELET" --kubeconfig "$WORK/bad.kubeconfig" --pod-manifest-path "$M" --root-dir "$WORK/bad-root" \
    --container-runtime-endpoint "unix://$SOCK" --healthz-port 0 --cgroups-per-qos=false 2>&1) || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'clusters\[0\]\.cluster\.server: .*must start with https:// or http://' <<<"$out"
}
check "a bad kubeconfig: cubelet exits with an error naming the field" bad_kubeconfig_refused

t0=$(date +%s%N)
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --node-labels example.com/role=e2e \
  --register-with-taints example.com/dedicated=e2e:PreferNoSchedule --kube-reserved cpu=500m,memory=256Mi
check "node registers and turns Ready" wait_for 30 node_ready
echo "# cubelet start -> Node Ready: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "... with the default and --node-labels labels" sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.metadata.labels.kubernetes\.io/hostname},{.metadata.labels.kubernetes\.io/os},{.metadata.labels.example\.com/role}')\" = $NODE,linux,e2e ]"
check "... with the --register-with-taints taint" sh -c \
  "kubectl get node $NODE -o json | jq -e '.spec.taints | any(.key == \"example.com/dedicated\" and .value == \"e2e\" and .effect == \"PreferNoSchedule\")' >/dev/null"
check "... InternalIP, kubelet port and containerd runtime version" sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.status.addresses[?(@.type==\"InternalIP\")].address},{.status.daemonEndpoints.kubeletEndpoint.Port}')\" = 127.0.0.1,$NODE_PORT ] &&
   kubectl get node $NODE -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}' | grep -q '^containerd://'"
check "... capacity pods 110 and the four conditions" sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.status.capacity.pods} {.status.conditions[*].type}')\" = '110 MemoryPressure DiskPressure PIDPressure Ready' ]"
HUGE_KI=$(hugepages_ki "$NODE")
check "... allocatable: capacity minus --kube-reserved, the 100Mi hard eviction and the hugepage pools" sh -c \
  "kubectl get node $NODE -o json | jq -e '(.status.allocatable.cpu == \"\(.status.capacity.cpu | tonumber * 1000 - 500)m\") and
     ((.status.capacity.memory | rtrimstr(\"Ki\") | tonumber) - (.status.allocatable.memory | rtrimstr(\"Ki\") | tonumber) == 356 * 1024 + $HUGE_KI)' >/dev/null"
check "... and ephemeral-storage: capacity minus the 10% nodefs.available hard eviction" sh -c \
  "kubectl get node $NODE -o json | jq -e '(.status.capacity[\"ephemeral-storage\"] | rtrimstr(\"Ki\") | tonumber * 1024 * 0.9)
     - (.status.allocatable[\"ephemeral-storage\"] | tonumber) | . < 2048 and . > -2048' >/dev/null"
check "... the images it has" sh -c "kubectl get node $NODE -o jsonpath='{.status.images[*].names}' | grep -q cubelet.local/busybox"

lease_time() { jp lease -n kube-node-lease $NODE -o 'jsonpath={.spec.renewTime}'; }
check "Lease exists, held by the node, owned by the Node" sh -c \
  "[ \"\$(kubectl get lease -n kube-node-lease $NODE -o jsonpath='{.spec.holderIdentity},{.spec.leaseDurationSeconds},{.metadata.ownerReferences[0].kind}')\" = $NODE,40,Node ]"
l1=$(lease_time)
check "... and is renewed" wait_for 15 sh -c "[ \"\$(kubectl get lease -n kube-node-lease $NODE -o jsonpath='{.spec.renewTime}')\" != '$l1' ]"

# --- a deleted Node object comes back (upstream waits for a restart)
k delete node "$NODE" >/dev/null
check "kubectl delete node: the Node is registered again" wait_for 20 node_ready

# --- a static pod's mirror pod
mirror_phase() { jp pod "web-$NODE" -o 'jsonpath={.status.phase}'; }
check "static pod: mirror pod appears and shows Running" wait_for 30 sh -c "[ \"\$(kubectl get pod web-$NODE -o jsonpath='{.status.phase}' 2>/dev/null)\" = Running ]"
check "... with the mirror annotations and the Node as owner" sh -c \
  "kubectl get pod web-$NODE -o json | jq -e '.metadata.annotations[\"kubernetes.io/config.mirror\"] == .metadata.annotations[\"kubernetes.io/config.hash\"] and .metadata.annotations[\"kubernetes.io/config.source\"] == \"file\" and .metadata.ownerReferences[0].kind == \"Node\" and .status.containerStatuses[0].ready == true' >/dev/null"
uid1=$(jp pod "web-$NODE" -o 'jsonpath={.metadata.uid}')
cid1=$(running_ids httpd "default/web-$NODE")
k delete pod "web-$NODE" --wait=false >/dev/null
check "... re-created after kubectl delete" wait_for 30 sh -c \
  "u=\$(kubectl get pod web-$NODE -o jsonpath='{.metadata.uid}' 2>/dev/null); [ -n \"\$u\" ] && [ \"\$u\" != '$uid1' ] && [ -z \"\$(kubectl get pod web-$NODE -o jsonpath='{.metadata.deletionTimestamp}')\" ]"
check "... while the static pod's container kept running" test "$(running_ids httpd "default/web-$NODE")" = "$cid1"
check "... and the new mirror gets the status" wait_for 20 sh -c "[ \"\$(kubectl get pod web-$NODE -o jsonpath='{.status.phase}' 2>/dev/null)\" = Running ]"

# --- a pod bound to the node through the API
t1=$(date +%s%N)
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: api-web}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 5
  containers:
  - name: httpd
    image: $IMG
    imagePullPolicy: Never
    command: ["httpd", "-f", "-p", "8081"]
    readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
YAML
check "API pod: runs and shows Running" wait_for 30 sh -c "[ \"\$(kubectl get pod api-web -o jsonpath='{.status.phase}')\" = Running ]"
echo "# kubectl apply -> Running: $(( ($(date +%s%N) - t1) / 1000000 )) ms"
check "... with its podIP, hostIP and a ready container status" wait_for 15 sh -c \
  "kubectl get pod api-web -o json | jq -e '(.status.podIP | startswith(\"$TI_NET.\")) and .status.hostIP == \"127.0.0.1\" and .status.containerStatuses[0].ready == true and (.status.containerStatuses[0].containerID | startswith(\"containerd://\")) and ([.status.conditions[] | select(.type == \"Ready\")][0].status == \"True\")' >/dev/null"
check "... and its container runs in containerd" is_running httpd default/api-web

k delete pod api-web --wait=false >/dev/null
check "deleting it stops its containers" wait_for 20 is_gone httpd default/api-web
check "... and removes the API object" wait_for 20 sh -c "! kubectl get pod api-web >/dev/null 2>&1"
check "... Killing event" sh -c "kubectl get events -o json | jq -e '[.items[] | select(.involvedObject.name == \"api-web\" and .reason == \"Killing\")] | length > 0' >/dev/null"

# --- ConfigMaps and Secrets through the API server (watched), in env and envFrom
k delete configmap e2e-cfg --ignore-not-found >/dev/null 2>&1
k create secret generic e2e-sec --from-literal=PASSWORD=hunter2 >/dev/null 2>&1
k delete configmap e2e-cfg2 --ignore-not-found >/dev/null 2>&1
k create configmap e2e-cfg2 --from-literal=2nd=b --from-literal=1st=a --from-literal=OK=c >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: env-pod}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c", "echo \"color=\$CM_COLOR pw=\$PW node=\$NODE_NAME master=\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT\"; echo \"combo=\$COMBO cmd=\$(NODE_NAME)\"; exec sleep 3600"]
    envFrom: [{configMapRef: {name: e2e-cfg}, prefix: CM_}, {configMapRef: {name: e2e-cfg2}}]
    env:
    - {name: PW, valueFrom: {secretKeyRef: {name: e2e-sec, key: PASSWORD}}}
    - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: COMBO, value: "\$(CM_COLOR)-\$(PW)@\$(KUBERNETES_SERVICE_HOST)"}
YAML
check "missing ConfigMap: CreateContainerConfigError" wait_for 20 sh -c "[ \"\$(kubectl get pod env-pod -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}')\" = CreateContainerConfigError ]"
check "... with upstream's message in the status" sh -c \
  "kubectl get pod env-pod -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -q 'configmap \"e2e-cfg\" not found'"
k create configmap e2e-cfg --from-literal=COLOR=blue >/dev/null
check "ConfigMap created: the pod starts (the watch saw it)" wait_for 20 sh -c "[ \"\$(kubectl get pod env-pod -o jsonpath='{.status.phase}')\" = Running ]"
env_line() { cat "$WORK"/logs/default_env-pod_*/c/0.log 2>/dev/null | grep -q "color=blue pw=hunter2 node=$NODE master=10.0.0.1:443"; }
check "... with the values from the ConfigMap, the Secret, the fieldRef and the master Service" wait_for 30 env_line
combo_line() { cat "$WORK"/logs/default_env-pod_*/c/0.log 2>/dev/null | grep -q "combo=blue-hunter2@10.0.0.1 cmd=$NODE\$"; }
check "... \$(VAR) in env (envFrom, secretKeyRef, the master Service) and in command expanded" combo_line
bad_keys_event() {
  kubectl get events -o json | jq -e '[.items[] | select(.involvedObject.name == "env-pod" and .type == "Warning"
    and .reason == "InvalidEnvironmentVariableNames" and .message == "Keys [1st, 2nd] from the EnvFrom configMap default/e2e-cfg2 were skipped since they are considered invalid environment variable names.")] | length == 1' >/dev/null
}
check "... envFrom keys that are no variable names: skipped, upstream's event (sorted keys)" wait_for 15 bad_keys_event
k delete pod env-pod --wait=false >/dev/null

# --- a pod that finished never runs again, even when its containers are gone (as upstream)
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  nodeName: $NODE
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "echo ran"]}
YAML
once_phase() { jp pod once -o 'jsonpath={.status.phase}'; }
once_sandboxes() { cri pods | awk -F'\t' '$3 == "default" && $4 == "once" { print $1 }'; }
stays_gone() { # stays_gone SECONDS: no sandbox of "once" appears meanwhile
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do [ -z "$(once_sandboxes)" ] || return 1; sleep 0.2; done
}
check "restartPolicy Never pod: Succeeded" wait_for 30 sh -c "[ \"\$(kubectl get pod once -o jsonpath='{.status.phase}')\" = Succeeded ]"
# cubelet stops a finished pod's sandbox too, maybe at the same moment: containerd 1.6 then fails one of
# the two stops ("failed to destroy network ... unknown FS magic": the other unmounted the netns first),
# and a removal asked again finds the sandbox stopped.
remove_once() {
  local sb
  for sb in $(once_sandboxes); do cri rmp "$sb" 2>&1 >/dev/null | sed 's/^/# /'; done
  [ -z "$(once_sandboxes)" ]
}
check "... its sandbox and container removed behind cubelet's back" wait_for 30 remove_once
check "... it does not run again (no sandbox for 6 s)" stays_gone 6
check "... and stays Succeeded" [ "$(once_phase)" = Succeeded ]
check "cubelet stops cleanly" stop_cubelet
start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig" --node-labels example.com/role=e2e \
  --register-with-taints example.com/dedicated=e2e:PreferNoSchedule --kube-reserved cpu=500m,memory=256Mi
check "after a cubelet restart (its status only in the API server): still not run again" stays_gone 6
check "... and still Succeeded" [ "$(once_phase)" = Succeeded ]
k delete pod once --wait=false >/dev/null

# --- events for a crashing pod, with growing counts
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "exit 3"]}
YAML
backoff_count() {
  kubectl get events -o json 2>/dev/null |
    jq -r '[.items[] | select(.involvedObject.name == "crash" and .reason == "BackOff") | .count] | max // 0'
}
check "kubectl get events: BackOff for the crashing pod" wait_for 30 sh -c "[ \"\$($(declare -f backoff_count); backoff_count)\" -ge 1 ]"
check "... with a growing count" wait_for 40 sh -c "[ \"\$($(declare -f backoff_count); backoff_count)\" -ge 3 ]"
check "... and Created/Started events from source kubelet on this host" sh -c \
  "kubectl get events -o json | jq -e '[.items[] | select(.involvedObject.name == \"crash\" and .reason == \"Started\" and .source.component == \"kubelet\" and .source.host == \"$NODE\")] | length > 0' >/dev/null"
check "crashing pod's status shows restarts" sh -c "[ \"\$(kubectl get pod crash -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge 1 ]"

# --- events the API server keeps refusing (a failing admission webhook on one namespace's events) hold
# back no other event
k create namespace blocked >/dev/null 2>&1
k delete events --all -n blocked >/dev/null 2>&1 # from an earlier run on a kept control plane
k label namespace blocked cubelet-e2e/events=blocked --overwrite >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: cubelet-e2e-block-events}
webhooks:
- name: block-events.cubelet.e2e
  rules: [{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["events"]}]
  namespaceSelector: {matchLabels: {cubelet-e2e/events: blocked}}
  clientConfig: {url: "https://127.0.0.1:1/validate"}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: ["v1"]
  timeoutSeconds: 2
YAML
for p in "blocked noisy" "default quiet"; do
  set -- $p
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "sleep 1; exit 1"]}
YAML
done
check "events of namespace blocked: refused by the webhook (5xx), set aside" wait_for 30 log_has \
  'Event refused by the API server, will retry it on its own.*event="noisy\.'
quiet_events() { kubectl get events -o json | jq -e '[.items[] | select(.involvedObject.name == "quiet" and .reason == "Started")] | length > 0' >/dev/null; }
check "... while the events of another namespace get through" wait_for 20 quiet_events
check "... and the refused ones did not" [ "$(kubectl get events -n blocked -o name | grep -c .)" = 0 ]
k delete validatingwebhookconfiguration cubelet-e2e-block-events >/dev/null
k delete pod quiet --wait=false >/dev/null
k delete pod noisy -n blocked --wait=false >/dev/null
noisy_events() { kubectl get events -n blocked -o json | jq -e '[.items[] | select(.involvedObject.name == "noisy")] | length > 0' >/dev/null; }
check "webhook gone: the events set aside reach the API server on a retry" wait_for 30 noisy_events
check "... and both pods go" wait_for 30 sh -c "! kubectl get pod quiet >/dev/null 2>&1 && ! kubectl get pod noisy -n blocked >/dev/null 2>&1"

# --- a Service of the pod's namespace named like the master's takes its variables' place (upstream's
# getServiceEnvVarMap)
k create namespace svcns >/dev/null 2>&1
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: svcns}
spec: {ports: [{port: 8443}]}
---
apiVersion: v1
kind: Pod
metadata: {name: envsvc, namespace: svcns}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sh", "-c", "echo master=\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT; sleep 1; exit 1"]}
YAML
# (it restarts, each start taking the variables anew: the Service's watch event may come after the pod's)
own_ip=$(k get service kubernetes -n svcns -o jsonpath='{.spec.clusterIP}')
own_master() { cat "$WORK"/logs/svcns_envsvc_*/c/*.log 2>/dev/null | grep -q " master=$own_ip:8443\$"; }
check "a namespace's own 'kubernetes' Service gives KUBERNETES_SERVICE_HOST/PORT there" wait_for 30 own_master
k delete namespace svcns --wait=false >/dev/null

# --- API server outage: pods untouched, statuses flushed, Node Ready again
restarts_before=$(jp pod crash -o 'jsonpath={.status.containerStatuses[0].restartCount}')
backoffs_before=$(backoff_count)
web_cid=$(running_ids httpd "default/web-$NODE")
attempts_before=$(attempts c default/crash)
"$MASTER" stop-apiserver "$MASTER_DIR" >/dev/null
# The outage lasts until the crashing container has started again and exited (a status and a BackOff event
# that the API server missed) and cubelet has said it will retry: its back-off is a minute or two by now.
last_exited() { cri ps -a | awk -F'\t' '$3 == "c" && $5 == "default/crash" { print $4, $2 }' | sort -n | tail -1 | grep -q EXITED; }
outage_seen() { [ "$(attempts c default/crash)" -gt "$attempts_before" ] && last_exited && log_has "will retry"; }
check "API server away: the crashing container restarts meanwhile" wait_for 300 outage_seen
check "API server away: the static pod keeps running" test "$(running_ids httpd "default/web-$NODE")" = "$web_cid"
check "... and cubelet says so in its log" log_has "will retry"
"$MASTER" start "$MASTER_DIR" >/dev/null
t2=$(date +%s%N)
check "API server back: Node Ready" wait_for 15 node_ready
check "... missed statuses flushed (the restart count moved on)" wait_for 30 sh -c \
  "[ \"\$(kubectl get pod crash -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -gt $restarts_before ]"
echo "# API server back -> status flushed: $(( ($(date +%s%N) - t2) / 1000000 )) ms"
check "... events recorded during the outage reach the API server" wait_for 30 sh -c \
  "[ \"\$($(declare -f backoff_count); backoff_count)\" -gt $backoffs_before ]"
check "... the static pod was not restarted" test "$(running_ids httpd "default/web-$NODE")" = "$web_cid"
check "... the lease is renewed again" wait_for 15 sh -c \
  "[ \$(( \$(date +%s) - \$(date -d \"\$(kubectl get lease -n kube-node-lease $NODE -o jsonpath='{.spec.renewTime}')\" +%s) )) -le 12 ]"
k delete pod crash --wait=false >/dev/null
check "crashing pod deleted: gone from the API" wait_for 20 sh -c "! kubectl get pod crash >/dev/null 2>&1"
check "cubelet stops cleanly" stop_cubelet

# --- NodeRestriction: credentials of another node
"$MASTER" node-kubeconfig "$MASTER_DIR" other-node "$WORK/other.kubeconfig" >/dev/null
: >"$WORK/cubelet.log"
start_cubelet "$M" --kubeconfig "$WORK/other.kubeconfig"
check "credentials of another node: a clear error" wait_for 15 sh -c \
  "grep -q 'Unable to register node with API server.*node=\"$NODE\".*forbidden' '$WORK/cubelet.log'"
check "... static pods run regardless" wait_for 20 is_running httpd "default/web-$NODE"
rm -f "$M"/*
check "static pods removed" wait_for 20 is_gone httpd "default/web-$NODE"
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
finish

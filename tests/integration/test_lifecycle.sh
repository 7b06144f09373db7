#!/bin/bash
# Pod lifecycle against a real containerd: CrashLoopBackOff, restart counts across cubelet restarts,
# init containers in order, Events.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
start_cubelet "$M"

# --- CrashLoopBackOff: the first restart at once, the next after 10 s
cat >"$M/crash.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: $IMG, command: ["sh", "-c", "exit 1"]}
YAML
t0=$(date +%s)
at_least() { [ "$(attempts c default/crash-$NODE)" -ge "$1" ] 2>/dev/null; }
check "crashing container: first restart at once" wait_for 5 at_least 1
sleep 5
check "... second restart waits for the back-off" test "$(attempts c default/crash-$NODE)" = 1
check "... with upstream's CrashLoopBackOff message" log_has \
  "reason=\"CrashLoopBackOff\" err=\"back-off 10s restarting failed container=c pod=crash-${NODE}_default("
check "... and a BackOff event" log_has 'reason="BackOff" message="Back-off restarting failed container c in pod'
check "status: CrashLoopBackOff waiting, last state terminated with exit code 1" sh -c \
  "[ \"\$(curl -sf http://127.0.0.1:$RO_PORT/pods | jq -r '.items[] | select(.metadata.name == \"crash-$NODE\") |
     .status.containerStatuses[0] | [.state.waiting.reason, .lastState.terminated.exitCode, .restartCount] | join(\",\")')\" = CrashLoopBackOff,1,1 ]"
check "status: phase Running (restartPolicy Always), Ready False" status_is crash \
  '[.phase, (.conditions[] | select(.type == "Ready") | .status)] | join(",")' Running,False
check "... second restart after about 10 s" wait_for 10 at_least 2
echo "# second restart $(( $(date +%s) - t0 ))s after the first start"

# --- restart counts survive a cubelet restart
stop_cubelet
start_cubelet "$M"
check "after a cubelet restart the restart count goes on (not back to 0)" wait_for 25 at_least 3
rm -f "$M/crash.yaml"

# --- init containers run in order, each to success, before the app containers
cat >"$M/init.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - {name: first, image: $IMG, command: ["sh", "-c", "sleep 1; echo 1 > /work/first"],
     volumeMounts: [{name: work, mountPath: /work}]}
  - {name: second, image: $IMG, command: ["sh", "-c", "test -f /work/first && echo 2 > /work/second"],
     volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - {name: app, image: $IMG, command: ["sh", "-c", "trap 'exit 0' TERM; test -f /work/second || exit 7; while true; do sleep 0.2; done"],
     volumeMounts: [{name: work, mountPath: /work}]}
YAML
check "init containers then app: app running" wait_for 20 is_running app default/init-$NODE
check "... both init containers ran once and succeeded" test \
  "$(exited_count first default/init-$NODE)$(exited_count second default/init-$NODE)$(attempts app default/init-$NODE)" = 110
order_ok() {
  grep 'object="default/init-'"$NODE"'".*reason="Started"' "$WORK/cubelet.log" |
    sed 's/.*Started container //; s/"$//' | tr '\n' ' ' | grep -q '^first second app '
}
check "... started in order first, second, app" order_ok
check "status: Running, Initialized, init containers terminated Completed" status_is init \
  '[.phase, (.conditions[] | select(.type == "Initialized") | .status), (.initContainerStatuses[] | .state.terminated.reason)] | join(",")' \
  Running,True,Completed,Completed

cat >"$M/initfail.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: initfail}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: bad, image: $IMG, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: $IMG, command: ["sleep", "3600"]}
YAML
check "failing init container with restartPolicy Never: pod fails" wait_for 15 log_has \
  'Init container failed and the restart policy is Never'
sleep 2
check "... the app container never started, the init one did not restart" test \
  "$(all_ids app default/initfail-$NODE | wc -l)$(attempts bad default/initfail-$NODE)" = 00
sandbox_state() { cri pods | awk -F'\t' -v n="$1" '$4 == n { print $2 }'; }
check "... and its sandbox is stopped" test "$(sandbox_state initfail-$NODE)" = NOTREADY
check "status: phase Failed, app container waiting PodInitializing" status_is initfail \
  '[.phase, .containerStatuses[0].state.waiting.reason, .initContainerStatuses[0].state.terminated.exitCode] | join(",")' \
  Failed,PodInitializing,3

cat >"$M/initretry.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: initretry}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: bad, image: $IMG, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: $IMG, command: ["sleep", "3600"]}
YAML
retried() { [ "$(attempts bad default/initretry-$NODE)" -ge 1 ] 2>/dev/null; }
check "failing init container with restartPolicy Always: retried" wait_for 15 retried
check "... the app container does not start" test -z "$(all_ids app default/initretry-$NODE)"

# --- termination messages and terminal phases
cat >"$M/done.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  containers:
  - {name: msg, image: $IMG, command: ["sh", "-c", "echo bye > /dev/termination-log; exit 3"]}
  - {name: logs, image: $IMG, terminationMessagePolicy: FallbackToLogsOnError,
     command: ["sh", "-c", "echo line1; echo last words; exit 4"]}
YAML
check "restartPolicy Never, containers failed: phase Failed" wait_for 15 status_is done .phase Failed
check "... termination message from terminationMessagePath" status_is done \
  '.containerStatuses[] | select(.name == "msg") | .state.terminated.message' bye
check "... FallbackToLogsOnError takes the log's tail" status_is done \
  '.containerStatuses[] | select(.name == "logs") | .state.terminated.message | split("\n") | join("|")' "line1|last words|"
check "... hostIP from --node-ip, qosClass BestEffort" status_is done '[.hostIP, .qosClass] | join(",")' 127.0.0.1,BestEffort
cat >"$M/ok.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: c, image: $IMG, command: ["true"], resources: {limits: {cpu: 100m, memory: 32Mi}}}
YAML
check "OnFailure, container succeeded: phase Succeeded, Guaranteed" wait_for 15 status_is ok '[.phase, .qosClass] | join(",")' \
  Succeeded,Guaranteed
pod_ip() { [ -n "$(pod_status init '.podIP // empty')" ]; }
cat >"$M/oom.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: $IMG, command: ["sh", "-c", "head -c 200m /dev/zero | tail"], resources: {limits: {memory: 16Mi}}}
YAML
check "memory limit exceeded: terminated with reason OOMKilled" wait_for 20 status_is oom \
  '.containerStatuses[0].state.terminated.reason' OOMKilled
check "running pod has podIP from the sandbox" pod_ip

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "all pods removed" wait_for 20 gone
events_has() { curl -sf "http://127.0.0.1:$HEALTHZ_PORT/events" | jq -e "$1" >/dev/null; }
check "/events on the health port: Started with involvedObject and fieldPath" events_has \
  '.items[] | select(.reason == "Started" and .involvedObject.kind == "Pod" and .involvedObject.fieldPath == "spec.initContainers{first}" and .source.component == "kubelet")'
check "/pods on the health port" sh -c "curl -sf http://127.0.0.1:$HEALTHZ_PORT/pods | jq -e '.kind == \"PodList\"' >/dev/null"
check "events: Pulled, Created, Started, Killing" sh -c "grep -q 'reason=\"Pulled\" message=\"Container image' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Created\" message=\"Created container' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Started\" message=\"Started container' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Killing\" message=\"Stopping container' '$WORK/cubelet.log'"
check "cubelet exits cleanly" stop_cubelet
finish

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
at_least() { [ "$(attempts c default/crash-$NODE)" -ge "$1" ] 2>/dev/null; }
# When instance N started, in seconds of the day, from cubelet's log (klog's hh:mm:ss.uuuuuu): the gaps
# between starts say "at once" or "after the back-off" however slow a busy machine makes each step.
started_at() { grep "\"Container started\" pod=\"default/crash-$NODE\" container=\"c\" .* restartCount=$1\$" "$WORK/cubelet.log" |
  head -1 | awk '{ split($2, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3] }'; }
gap() { awk -v a="$(started_at "$1")" -v b="$(started_at "$2")" 'BEGIN { d = b - a; if (d < -43200) d += 86400; printf "%.1f", d }'; }
started() { [ -n "$(started_at "$1")" ]; }
check "crashing container: restarted" wait_for 30 started 1
g=$(gap 0 1)
check "... the first restart at once (${g}s after the first start, the back-off is 10 s)" awk "BEGIN { exit !($g < 8) }"
sleep 5
check "... second restart waits for the back-off" test "$(attempts c default/crash-$NODE)" = 1
check "... with upstream's CrashLoopBackOff message" log_has \
  "reason=\"CrashLoopBackOff\" err=\"back-off 10s restarting failed container=c pod=crash-${NODE}_default("
check "... and a BackOff event" log_has 'reason="BackOff" message="Back-off restarting failed container c in pod'
check "status: CrashLoopBackOff waiting, last state terminated with exit code 1" status_is crash \
  '.containerStatuses[0] | [.state.waiting.reason, .lastState.terminated.exitCode, .restartCount] | join(",")' \
  CrashLoopBackOff,1,1
check "status: phase Running (restartPolicy Always), Ready False" status_is crash \
  '[.phase, (.conditions[] | select(.type == "Ready") | .status)] | join(",")' Running,False
check "... second restart" wait_for 30 started 2
g=$(gap 1 2)
check "... after the 10 s back-off (${g}s after the first restart)" awk "BEGIN { exit !($g >= 9.5 && $g < 30) }"

# --- restart counts survive a cubelet restart
stop_cubelet
start_cubelet "$M"
check "after a cubelet restart the restart count goes on (not back to 0)" wait_for 25 at_least 3
rm -f "$M/crash.yaml"

# --- activeDeadlineSeconds (upstream's activeDeadlineHandler): a static pod active longer than its deadline
# fails and stops, and never runs again. Checked after the init containers below, which take longer.
cat >"$M/deadline.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 3
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: $IMG, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
cat >"$M/deadline0.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: deadline0}
spec:
  activeDeadlineSeconds: 0
  containers:
  - {name: c, image: $IMG, command: ["sleep", "3600"]}
YAML

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
# app starts on containerd's exit event for second, which CRI may list as exited a moment later.
inits_ran_once() {
  [ "$(exited_count first default/init-$NODE)$(exited_count second default/init-$NODE)$(attempts app default/init-$NODE)" = 110 ]
}
check "... both init containers ran once and succeeded" wait_for 30 inits_ran_once
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
# (the status may say Failed before the pod's own sync does, which then finds it finished: either way)
check "failing init container with restartPolicy Never: pod fails" wait_for 15 status_is initfail .phase Failed
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
  - {name: later, image: $IMG, command: ["true"]}
  containers:
  - {name: app, image: $IMG, command: ["sleep", "3600"]}
YAML
retried() { [ "$(attempts bad default/initretry-$NODE)" -ge 1 ] 2>/dev/null; }
check "failing init container with restartPolicy Always: retried" wait_for 15 retried
check "... the app container does not start" test -z "$(all_ids app default/initretry-$NODE)"
# Upstream's statuses, field by field: the failing one in CrashLoopBackOff with its restarts (the back-off
# its restart count set: 10 s after the first restart, 20 s after the second: a slow check may see either), the
# next init container and the app container PodInitializing, phase Pending, the conditions with their messages.
newest_id() { cri ps -a | awk -F'\t' -v p="$2" -v n="$1" '$3 == n && $5 == p { print $4, $1 }' | sort -n | tail -1 | cut -d' ' -f2; }
initretry_status_ok() {
  local cid restarts
  cid=$(newest_id bad default/initretry-$NODE)
  restarts=$(attempts bad default/initretry-$NODE)
  [ -n "$cid" ] || return 1
  curl -sf "http://127.0.0.1:$RO_PORT/pods" | jq -e --arg n "initretry-$NODE" --arg img "$IMG" \
    --arg cid "containerd://$cid" --argjson restarts "$restarts" '
    ([10 * pow(2; $restarts - 1), 300] | min | floor) as $backoff |
    .items[] | select(.metadata.name == $n) | .metadata.uid as $uid | .status as $s |
    ($s.initContainerStatuses | length) == 2 and
    ($s.initContainerStatuses[0] | keys == ["containerID", "image", "imageID", "lastState", "name", "ready", "restartCount", "state"]
      and .name == "bad" and .image == $img and (.imageID | test("^(sha256:[0-9a-f]{64}|.+@sha256:[0-9a-f]{64})$"))
      and .containerID == $cid and .ready == false and .restartCount == $restarts
      and .state == {waiting: {reason: "CrashLoopBackOff",
                               message: "back-off \($backoff)s restarting failed container=bad pod=\($n)_default(\($uid))"}}
      and (.lastState.terminated | keys == ["containerID", "exitCode", "finishedAt", "reason", "startedAt"]
           and .exitCode == 3 and .reason == "Error" and .containerID == $cid
           and (.startedAt | test("^[0-9-]+T[0-9:]+Z$")) and .finishedAt >= .startedAt)) and
    $s.initContainerStatuses[1] == {name: "later", image: $img, state: {waiting: {reason: "PodInitializing"}},
                                    lastState: {}, ready: false, restartCount: 0, imageID: ""} and
    $s.containerStatuses == [{name: "app", image: $img, state: {waiting: {reason: "PodInitializing"}},
                              lastState: {}, ready: false, restartCount: 0, imageID: "", started: false}] and
    $s.phase == "Pending" and
    ([$s.conditions[] | del(.lastTransitionTime)] == [
      {type: "Initialized", status: "False", lastProbeTime: null, reason: "ContainersNotInitialized",
       message: "containers with incomplete status: [bad later]"},
      {type: "Ready", status: "False", lastProbeTime: null, reason: "ContainersNotReady",
       message: "containers with unready status: [app]"},
      {type: "ContainersReady", status: "False", lastProbeTime: null, reason: "ContainersNotReady",
       message: "containers with unready status: [app]"},
      {type: "PodScheduled", status: "True", lastProbeTime: null}]) and
    all($s.conditions[]; .lastTransitionTime | test("^[0-9-]+T[0-9:]+Z$"))' >/dev/null
}
# ... and when they are not, what they were, beside the runtime's instances.
initretry_status_shown() {
  wait_for 20 initretry_status_ok && return
  { cri ps -a | grep -F "initretry-$NODE"; pod_status initretry tojson; grep -F "initretry-$NODE" "$WORK/cubelet.log" |
    cut -c1-300 | tail -n 12; } | sed 's/^/#   /'
  false
}
check "... statuses as upstream: CrashLoopBackOff with restarts and last state, PodInitializing, conditions" \
  initretry_status_shown
check "... and the later init container never started" test -z "$(all_ids later default/initretry-$NODE)"

# --- the deadline pod from above
deadline_msg="Pod was active on the node longer than the specified deadline"
check "activeDeadlineSeconds passed: phase Failed, reason DeadlineExceeded, upstream's message" wait_for 15 \
  status_is deadline '[.phase, .reason, .message] | join(",")' "Failed,DeadlineExceeded,$deadline_msg"
deadline_stopped() {
  [ "$(cri ps -a | awk -F'\t' -v p="default/deadline-$NODE" '$5 == p { print $2 }')" = EXITED ] &&
    [ "$(cri pods | awk -F'\t' -v n="deadline-$NODE" '$4 == n { print $2 }')" = NOTREADY ]
}
check "... its container stopped with its grace period (TERM), and its sandbox" wait_for 10 deadline_stopped
# Counted from the pod's startTime (the deadline's start), not the container's: on a busy machine the
# sandbox alone can take most of the 3 s, and the TERM may then come before the shell set its trap (143).
check "... the status shows it terminated by TERM (exit 0 or 143), after about the deadline" wait_for 10 \
  status_is deadline '.startTime as $st | .containerStatuses[0].state.terminated |
    [.exitCode == 0 or .exitCode == 143, ((.finishedAt | fromdate) - ($st | fromdate) | . >= 3 and . <= 15)] | join(",")' true,true
check "... Ready False (ContainersNotReady)" status_is deadline \
  '.conditions[] | select(.type == "Ready") | [.status, .reason] | join(",")' False,ContainersNotReady
check "... a DeadlineExceeded event" log_has "reason=\"DeadlineExceeded\" message=\"$deadline_msg\""
check "activeDeadlineSeconds 0 in a static pod: refused as the API server does" log_has \
  'deadline0.yaml" err="spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive'

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
  - {name: athosts, image: $IMG, terminationMessagePath: /etc/hosts,
     command: ["sh", "-c", "echo hosts words > /etc/hosts; exit 5"]}
YAML
check "restartPolicy Never, containers failed: phase Failed" wait_for 15 status_is done .phase Failed
# upstream's order: the hosts file, then the message file bound over it; the status reads the first mount at
# the path (the managed hosts file), the container's write went to the message file
check "... terminationMessagePath /etc/hosts: mounted as upstream (its message is the managed hosts file)" \
  status_is done '.containerStatuses[] | select(.name == "athosts") | .state.terminated.message | split("\n")[0]' \
  "# Kubernetes-managed hosts file."
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

check "the pod past its deadline never ran again" test "$(attempts c default/deadline-$NODE)$(count_running c default/deadline-$NODE)" = 00
check "... and stays Failed/DeadlineExceeded" status_is deadline '[.phase, .reason] | join(",")' Failed,DeadlineExceeded
check "... with one DeadlineExceeded event" test "$(grep -c 'reason="DeadlineExceeded"' "$WORK/cubelet.log")" = 1
rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "all pods removed" wait_for 20 gone
events_has() { local_get /events | jq -e "$1" >/dev/null; }
check "/events on the local socket: Started with involvedObject and fieldPath" events_has \
  '.items[] | select(.reason == "Started" and .involvedObject.kind == "Pod" and .involvedObject.fieldPath == "spec.initContainers{first}" and .source.component == "kubelet")'
check "/pods on the local socket" sh -c "curl -sf --unix-socket '$LOCAL_SOCK' http://localhost/pods | jq -e '.kind == \"PodList\"' >/dev/null"
hcode() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HEALTHZ_PORT$1"; }
check "the health port serves /healthz only: /pods and /events are 404" \
  test "$(hcode /pods) $(hcode /events) $(hcode /healthz)" = "404 404 200"
check "the local socket is root's, mode 0600" test "$(stat -c '%F %a %u' "$LOCAL_SOCK")" = "socket 600 0"
check "... and another user cannot connect to it" \
  sh -c "! setpriv --reuid 65534 --regid 65534 --clear-groups curl -s --unix-socket '$LOCAL_SOCK' http://localhost/pods"
check "events: Pulled, Created, Started, Killing" sh -c "grep -q 'reason=\"Pulled\" message=\"Container image' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Created\" message=\"Created container' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Started\" message=\"Started container' '$WORK/cubelet.log' && \
  grep -q 'reason=\"Killing\" message=\"Stopping container' '$WORK/cubelet.log'"
check "cubelet exits cleanly" stop_cubelet
check "... and removes its local socket" test ! -e "$LOCAL_SOCK"
finish

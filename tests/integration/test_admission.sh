#!/bin/bash
# Pod admission against a real containerd (static pods): a refused pod is Failed with upstream's reason
# and message, an Event and a log line, and never gets a sandbox; admitted pods run; a restart of cubelet
# keeps every decision (the pod that runs is adopted first, the one refused is refused again).
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35

pod() { # pod NAME CREATED SPEC-EXTRA CONTAINER-EXTRA [COMMAND]
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, creationTimestamp: "$2"}
spec:
  terminationGracePeriodSeconds: 1
  $3
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "${5:-sleep 3600}"]
    $4
YAML
}
# Static pods are critical: never refused for resources while preempting lower pods could make room;
# with nothing to preempt, upstream refuses them with its preemption error.
pod hog 2026-01-01T00:00:01Z '' 'resources: {requests: {cpu: "1000"}}'
pod web1 2026-01-01T00:00:02Z 'nodeSelector: {disk: hdd}' 'ports: [{containerPort: 80, hostPort: 18080}]'
pod web2 2026-01-01T00:00:03Z '' 'ports: [{containerPort: 81, hostPort: 18080}]'
pod ssd 2026-01-01T00:00:04Z 'nodeSelector: {disk: ssd}' ''
pod sysbad 2026-01-01T00:00:05Z 'securityContext: {sysctls: [{name: net.core.somaxconn, value: "1024"}]}' ''
pod sysok 2026-01-01T00:00:06Z 'securityContext: {sysctls: [{name: kernel.msgmax, value: "12345"}]}' '' \
  'echo msgmax=$(cat /proc/sys/kernel/msgmax); sleep 3600'
pod win 2026-01-01T00:00:07Z 'os: {name: windows}' ''
# Fields the API knows that cubelet cannot honour are refused, never ignored (docs/pod-fields.md).
pod unsup 2026-01-01T00:00:08Z 'hostUsers: false' 'securityContext: {procMount: Unmasked}'
# AppArmor is upstream 1.20's soft admission: a profile this host cannot enforce (it has no AppArmor) keeps
# the pod Pending with the reason, its containers Blocked; an unconfined one runs.
for p in "aa runtime/default" "aaok unconfined"; do
  set -- $p
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
  annotations: {container.apparmor.security.beta.kubernetes.io/c: $2}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: $IMG, command: ["sleep", "3600"]}]
YAML
done
start_cubelet "$M" --node-labels disk=hdd --allowed-unsafe-sysctls 'kernel.msg*'

no_sandbox() { ! cri pods | awk -F'\t' -v n="$1-$NODE" '$4 == n' | grep -q .; }
event_is() { # event_is NAME REASON MESSAGE: a Warning event on the local socket's /events
  local_get /events | jq -e --arg n "$1-$NODE" --arg r "$2" --arg m "$3" \
    '.items[] | select(.involvedObject.name == $n and .type == "Warning" and .reason == $r and .message == $m)' \
    >/dev/null
}
refused() { # refused NAME REASON MESSAGE
  check "$1: Failed with $2" wait_for 20 status_is "$1" .phase Failed
  check "... reason $2" status_is "$1" .reason "$2"
  check "... upstream's message" status_is "$1" .message "Pod $3"
  check "... a Warning event with the reason and message" wait_for 5 event_is "$1" "$2" "$3"
  check "... a log line" log_has "\"Pod rejected at admission\" pod=\"default/$1-$NODE\".* reason=\"$2\""
  check "... and never a sandbox" no_sandbox "$1"
}
log_of() { cat "$WORK"/logs/default_"$1"-"$NODE"_*/c/0.log 2>/dev/null | grep -Eq -- "$2"; }
only_instance() { [ "$(all_ids c "default/$1-$NODE")" = "$2" ]; }
gone_from_pods() { [ -z "$(pod_status "$1" .phase)" ]; }
none_left() { ! cri pods | grep -q -- "-$NODE"; }

check "web1 (its nodeSelector matches --node-labels) runs" wait_for 30 is_running c default/web1-$NODE
check "sysok (an unsafe sysctl allowed by --allowed-unsafe-sysctls) runs" wait_for 30 is_running c default/sysok-$NODE
check "... and the value is set inside" wait_for 10 log_of sysok 'msgmax=12345'
refused hog UnexpectedAdmissionError "Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: $(( 1000000 - $(nproc) * 1000 ))), ]"
refused web2 NodePorts "Predicate NodePorts failed"
refused ssd NodeAffinity "Predicate NodeAffinity failed"
refused sysbad SysctlForbidden 'forbidden sysctl: "net.core.somaxconn" not whitelisted'
refused win PodOSNotSupported "Failed to admit pod as the OS field doesn't match node OS"
check "aa (AppArmor runtime/default, no AppArmor here): Pending with upstream's reason and message" \
  wait_for 20 status_is aa '[.phase, .reason, .message] | join("|")' \
  'Pending|AppArmor|Cannot enforce AppArmor: AppArmor is not enabled on the host'
check "... its container waits, Blocked" status_is aa '.containerStatuses[0].state.waiting.reason' Blocked
check "... and never a sandbox" no_sandbox aa
check "aaok (AppArmor unconfined) runs" wait_for 30 is_running c default/aaok-$NODE
refused unsup UnsupportedPodSpec "has fields this node cannot honour: spec.hostUsers: Unsupported value: false: user namespaces are not supported by the container runtime; spec.containers[0].securityContext.procMount: Unsupported value: \"Unmasked\": the container runtime cannot leave /proc unmasked"

# A restart keeps every decision: web1 is adopted first (same container), web2 is refused again.
web1_id=$(running_ids c default/web1-$NODE)
check "cubelet exits cleanly before a restart" stop_cubelet
start_cubelet "$M" --node-labels disk=hdd --allowed-unsafe-sysctls 'kernel.msg*'
check "after a restart web2 is refused again" wait_for 20 status_is web2 .reason NodePorts
check "... and web1 runs on: one instance, the same container" only_instance web1 "$web1_id"
check "... web2 still has no sandbox" no_sandbox web2

# A refused pod whose manifest goes away is forgotten.
rm "$M/hog.yaml"
check "a refused pod's manifest removed: it leaves /pods" wait_for 20 gone_from_pods hog

rm -f "$M"/*.yaml
check "every pod stops" wait_for 30 none_left
check "cubelet exits cleanly" stop_cubelet
finish

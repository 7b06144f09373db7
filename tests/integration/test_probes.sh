#!/bin/bash
# Probes and lifecycle hooks against a real containerd: exec liveness restarts, httpGet/tcpSocket readiness
# in the status, startup gating liveness; postStart and preStop. Probe traffic goes from the node to pod IPs on the test bridge only.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
start_cubelet "$M"

# --- liveness (exec): healthy for 3 s, then failing twice -> killed and restarted
cat >"$M/live.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/healthy; sleep 3; rm /tmp/healthy; while true; do sleep 0.2; done"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
YAML
restarted() { [ "$(attempts c default/live-$NODE)" -ge 1 ] 2>/dev/null; }
check "liveness failure -> container restarted" wait_for 20 restarted
check "... with an Unhealthy event" log_has 'reason="Unhealthy" message="Liveness probe failed: cat: can.t open ./tmp/healthy.'
check "... and upstream's Killing message" log_has 'reason="Killing" message="Container c failed liveness probe, will be restarted"'
check "... restartCount 1 in the status" wait_for 5 status_is live '.containerStatuses[0].restartCount' 1
rm -f "$M/live.yaml"

# --- liveness (httpGet): the page goes away after 3 s -> restarted
cat >"$M/livehttp.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: livehttp}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: $IMG
    command: ["sh", "-c", "mkdir -p /www; echo ok > /www/healthz; (sleep 3; rm /www/healthz) & exec httpd -f -p 8080 -h /www"]
    livenessProbe:
      httpGet: {path: /healthz, port: 8080, httpHeaders: [{name: X-Probe, value: cubelet}]}
      periodSeconds: 1
      failureThreshold: 2
YAML
http_restarted() { [ "$(attempts web default/livehttp-$NODE)" -ge 1 ] 2>/dev/null; }
check "liveness httpGet failing -> container restarted" wait_for 20 http_restarted
check "... Unhealthy with the HTTP status" log_has 'reason="Unhealthy" message="Liveness probe failed: HTTP probe failed with statuscode: 404"'
rm -f "$M/livehttp.yaml"

# --- readiness (httpGet on a named port): not ready until the page exists, which the container makes when
# the test says so (a file in a hostPath): a page due a few seconds after the start was there already when
# a busy machine came to look.
mkdir -p "$WORK/ctl"
cat >"$M/ready.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: $IMG
    command: ["sh", "-c", "mkdir -p /www; (until [ -e /ctl/go ]; do sleep 0.2; done; echo ok > /www/ready) & exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    volumeMounts: [{name: ctl, mountPath: /ctl, readOnly: true}]
    readinessProbe:
      httpGet: {path: /ready, port: http}
      periodSeconds: 1
  - name: tcp
    image: $IMG
    command: ["sh", "-c", "exec nc -ll -p 9090 -e true"]
    readinessProbe:
      tcpSocket: {port: 9090}
      periodSeconds: 1
  - name: closed
    image: $IMG
    command: ["sleep", "3600"]
    readinessProbe:
      tcpSocket: {port: 9191}
      periodSeconds: 1
  volumes:
  - {name: ctl, hostPath: {path: "$WORK/ctl", type: Directory}}
YAML
ready_of() { pod_status ready ".containerStatuses[] | select(.name == \"$1\") | .ready"; }
running_not_ready() { [ "$(pod_status ready '.containerStatuses[] | select(.name == "web") | [(.state | keys[0]), .ready] | map(tostring) | join(",")')" = running,false ]; }
check "readiness: running but not ready before the page exists" wait_for 30 running_not_ready
touch "$WORK/ctl/go"
web_ready() { [ "$(ready_of web)" = true ]; }
check "httpGet readiness on a named port: ready once the page answers 200" wait_for 15 web_ready
tcp_ready() { [ "$(ready_of tcp)" = true ]; }
check "tcpSocket readiness: ready when the port accepts" wait_for 10 tcp_ready
check "tcpSocket readiness on a closed port: not ready" test "$(ready_of closed)" = false
check "pod condition Ready False while one container is not ready" status_is ready \
  '.conditions[] | select(.type == "Ready") | [.status, .message] | join(",")' "False,containers with unready status: [closed]"
check "readiness failures are Unhealthy events" log_has 'reason="Unhealthy" message="Readiness probe failed: '
repeats_counted() {
  local_get /events | jq -e '.items[] | select(.reason == "Unhealthy" and
    .involvedObject.fieldPath == "spec.containers{closed}" and .type == "Warning" and .count >= 3)' >/dev/null
}
check "/events: repeated probe failures are one event with a count" wait_for 10 repeats_counted
rm -f "$M/ready.yaml"

# --- startup probe gates liveness: slow start is not killed (it starts when the test says so)
cat >"$M/slow.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: ctl, mountPath: /ctl, readOnly: true}]
    startupProbe:
      exec: {command: ["cat", "/ctl/up"]}
      periodSeconds: 1
      failureThreshold: 120
    livenessProbe:
      exec: {command: ["cat", "/ctl/up"]}
      periodSeconds: 1
      failureThreshold: 1
  volumes:
  - {name: ctl, hostPath: {path: "$WORK/ctl", type: Directory}}
YAML
running_not_started() {
  status_is slow '.containerStatuses[0] | [(.state | keys[0]), .started, .ready] | map(tostring) | join(",")' \
    running,false,false
}
check "startup probe: running, not started, not ready while it fails" wait_for 30 running_not_started
touch "$WORK/ctl/up"
started() { status_is slow '.containerStatuses[0] | [.started, .ready] | map(tostring) | join(",")' true,true; }
check "... started and ready once it passes" wait_for 15 started
check "... liveness did not kill it meanwhile" test "$(attempts c default/slow-$NODE)" = 0
# --- lifecycle hooks: postStart runs after start; a failing one restarts the container; preStop runs
# before the stop, within the grace period
mkdir -p "$WORK/host"
cat >"$M/hooks.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{name: host, hostPath: {path: $WORK/host}}]
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: host, mountPath: /host}]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "echo started > /host/poststart"]}}
      preStop: {exec: {command: ["sh", "-c", "sleep 1; echo stopping > /host/prestop"]}}
  - name: bad
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "exit 5"]}}
  - name: badstop
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      preStop: {httpGet: {path: /stop, port: 9999}}
YAML
check "postStart ran" wait_for 15 test -s "$WORK/host/poststart"
bad_restarted() { [ "$(attempts bad default/hooks-$NODE)" -ge 1 ] 2>/dev/null; }
check "failing postStart: FailedPostStartHook event, container restarted" wait_for 15 sh -c \
  "grep -q 'reason=\"FailedPostStartHook\"' '$WORK/cubelet.log'"
check "... and restarted" wait_for 15 bad_restarted
rm -f "$M/hooks.yaml"
hooks_gone() { [ -z "$(all_ids c default/hooks-$NODE)" ]; }
check "pod with preStop removed" wait_for 15 hooks_gone
check "preStop ran before the stop" test "$(cat "$WORK/host/prestop" 2>/dev/null)" = stopping
check "failing httpGet preStop: FailedPreStopHook naming the refused connection" wait_for 15 log_has \
  'reason="FailedPreStopHook" message="PreStopHook failed: Get .*:9999/stop.*: dial tcp '"$TI_NET"'.0.[0-9]*:9999: connect: connection refused'
badstop_gone() { [ -z "$(all_ids badstop default/hooks-$NODE)" ]; } # its stop may end after c's
check "... and the container was stopped anyway" wait_for 15 badstop_gone

# --- gRPC readiness (grpc.health.v1): a hostNetwork pod, so its IP is the node's (127.0.0.1) and the probe
# reaches a health server this test runs there; readiness follows what the server answers
G="$WORK/grpc"
mkdir -p "$G"
echo SERVING >"$G/status"
"$GRPC_HEALTH_SERVER" --listen 127.0.0.1:0 --status-file "$G/status" --port-file "$G/port" --log "$G/log" \
  --service svc &
GRPC_PID=$!
trap 'kill $GRPC_PID 2>/dev/null; cleanup_cgroups' EXIT
check "gRPC health server listening" wait_for 10 test -s "$G/port"
GPORT=$(cat "$G/port")
cat >"$M/grpc.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: grpc}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: g
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    readinessProbe:
      grpc: {port: $GPORT, service: svc}
      periodSeconds: 1
YAML
grpc_ready() { status_is grpc '.containerStatuses[0].ready' "$1"; }
check "gRPC readiness: SERVING -> ready" wait_for 20 grpc_ready true
check "... the probe asked for the service, as kube-probe" grep -q "service=svc user-agent=kube-probe/" "$G/log"
echo NOT_SERVING >"$G/status.tmp" && mv "$G/status.tmp" "$G/status"
check "NOT_SERVING -> not ready" wait_for 10 grpc_ready false
check "... an Unhealthy event in upstream's words" log_has \
  'reason="Unhealthy" message="Readiness probe failed: service unhealthy (responded with \\"NOT_SERVING\\")"'
echo SERVING >"$G/status.tmp" && mv "$G/status.tmp" "$G/status"
check "SERVING again -> ready" wait_for 10 grpc_ready true
kill "$GRPC_PID"
wait "$GRPC_PID" 2>/dev/null
check "server gone -> not ready, connect timeout reported" wait_for 15 log_has \
  "Readiness probe failed: timeout: failed to connect service .*127.0.0.1:$GPORT.* within 1s: context deadline exceeded"
check "... and not ready" wait_for 10 grpc_ready false

rm -f "$M"/*

gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "all pods removed" wait_for 20 gone
check "cubelet exits cleanly" stop_cubelet
finish

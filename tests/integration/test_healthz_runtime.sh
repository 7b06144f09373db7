#!/bin/bash
# healthz while the runtime goes away and comes back; flags and config errors; ErrImageNeverPull.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
top=$(cd "$(dirname "$0")/../.." && pwd)
M="$WORK/manifests"
mkdir -p "$M"
HZ="http://127.0.0.1:$HEALTHZ_PORT/healthz"

# --- flags and configuration: clear error, exit 2, nothing started
"$CUBELET" --no-such-flag >"$WORK/out" 2>&1; rc=$?
check "unknown flag -> exit 2" test $rc = 2
check "... naming the flag" grep -q 'unknown flag: --no-such-flag' "$WORK/out"
"$CUBELET" --healthz-port 99999 >"$WORK/out" 2>&1; rc=$?
check "bad flag value -> exit 2 with the reason" sh -c "[ $rc = 2 ] && grep -q 'invalid value \"99999\" for flag --healthz-port' '$WORK/out'"
printf 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nhealthzPort: nope\n' >"$WORK/bad.yaml"
"$CUBELET" --config "$WORK/bad.yaml" >"$WORK/out" 2>&1; rc=$?
check "bad config file -> exit 2 naming file and field" sh -c "[ $rc = 2 ] && grep -q 'bad.yaml: field healthzPort' '$WORK/out'"
"$CUBELET" --version | grep -q '^Kubernetes v1\.20\.0-cubelet\.' && ok "--version" || not_ok "--version"
"$CUBELET" --help | grep -q -- '--pod-manifest-path' && ok "--help lists flags" || not_ok "--help lists flags"

# --- no runtime socket at all: cubelet starts, says why on /healthz, and keeps running (the first relist
# fails at once, racing with the start-up; five tries)
started_without_runtime() {
  "$CUBELET" --pod-manifest-path "$M" --container-runtime-endpoint "unix://$WORK/no-such.sock" \
    --root-dir "$WORK/root-nosock" --pod-logs-dir "$WORK/logs" --healthz-port "$HEALTHZ_PORT" --port 0 \
    --local-socket "$LOCAL_SOCK" --cgroup-root "$CGROUP_ROOT" >>"$WORK/nosock.log" 2>&1 &
  local pid=$! rc=0
  wait_for 10 sh -c "curl -s '$HZ' | grep -q 'failed'" || rc=1
  kill -0 "$pid" 2>/dev/null || rc=1
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" || rc=1
  return $rc
}
good=0
for _ in 1 2 3 4 5; do started_without_runtime && good=$((good + 1)); done
check "no runtime socket: healthz says so, cubelet runs on and stops cleanly (5 starts)" test "$good" = 5

# --- the local socket: a socket file left by a killed cubelet is replaced; a live one (another cubelet's)
# and a file that is not a socket are left alone, and cubelet says why and exits
no_runtime() { # no_runtime SOCKET LOG [flags...]
  local sock=$1 log=$2; shift 2
  exec "$CUBELET" --pod-manifest-path "$M" --container-runtime-endpoint "unix://$WORK/no-such.sock" \
    --root-dir "$WORK/root-nosock" --pod-logs-dir "$WORK/logs" --port 0 --local-socket "$sock" \
    --cgroup-root "$CGROUP_ROOT" "$@" >>"$log" 2>&1
}
LS="$WORK/run/sub/c.sock" # its directories are made
no_runtime "$LS" "$WORK/ls1.log" --healthz-port 0 & # exec: $! is cubelet
pid=$!
check "the socket's directory is made, 0755" wait_for 10 sh -c "[ \"\$(stat -c %a '$WORK/run/sub' 2>/dev/null)\" = 755 ]"
check "the socket answers /healthz" wait_for 10 sh -c "curl -s --unix-socket '$LS' http://localhost/healthz | grep -q 'runtime failed'"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
check "a killed cubelet leaves its socket file" test -S "$LS"
# ... which no one answers on any more (seen once on a loaded machine: an answer right after the kill).
check "... and no one answers on it" wait_for 10 sh -c "! curl -s --max-time 2 --unix-socket '$LS' http://localhost/pods -o /dev/null"
no_runtime "$LS" "$WORK/ls2.log" --healthz-port 0 &
pid=$!
check "the stale socket is replaced: the next cubelet answers on it" wait_for 20 sh -c \
  "grep -q 'Serving pods and events on the local socket' '$WORK/ls2.log' &&
   curl -sf --unix-socket '$LS' http://localhost/pods | jq -e '.kind == \"PodList\"' >/dev/null"
timeout 20 "$CUBELET" --pod-manifest-path "$M" --container-runtime-endpoint "unix://$WORK/no-such.sock" \
  --root-dir "$WORK/root-second" --pod-logs-dir "$WORK/logs" --port 0 --healthz-port 0 --local-socket "$LS" \
  --cgroup-root "$CGROUP_ROOT" >"$WORK/ls3.log" 2>&1; rc=$?
check "a second cubelet on a live socket exits, saying another process listens on it" \
  sh -c "[ $rc = 1 ] && grep -q 'Cannot serve the local socket.*another process listens on it' '$WORK/ls3.log'"
check "... and the first still answers there (500: no runtime)" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$LS" http://localhost/healthz)" = 500
kill -TERM "$pid"; wait "$pid"; rc=$?
check "a clean stop removes the socket" sh -c "[ $rc = 0 ] && [ ! -e '$LS' ]"
echo "not a socket" >"$WORK/plain"
timeout 20 "$CUBELET" --pod-manifest-path "$M" --container-runtime-endpoint "unix://$WORK/no-such.sock" \
  --root-dir "$WORK/root-second" --pod-logs-dir "$WORK/logs" --port 0 --healthz-port 0 --local-socket "$WORK/plain" \
  --cgroup-root "$CGROUP_ROOT" >"$WORK/ls4.log" 2>&1; rc=$?
check "a file that is not a socket at the path: cubelet exits saying so, the file untouched" \
  sh -c "[ $rc = 1 ] && grep -q 'a file that is not a socket is there' '$WORK/ls4.log' && [ \"\$(cat '$WORK/plain')\" = 'not a socket' ]"

# --- a config file sets the static pod path; a flag overrides its healthz port
cat >"$WORK/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $M
healthzPort: 1
someFutureField: true
# this test's own cgroup root, as every test's: a pod cgroup under /kubepods could be another run's (the
# other pass runs this same pod, same UID, at the same time; its teardown kills what is in the cgroup)
cgroupRoot: $CGROUP_ROOT
YAML
cat >"$M/web.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
  - name: never-pulled
    image: cubelet.local/absent:1.0
    imagePullPolicy: Never
YAML
"$CUBELET" --config "$WORK/config.yaml" --container-runtime-endpoint "unix://$SOCK" --root-dir "$WORK/root" \
  --pod-logs-dir "$WORK/logs" --hostname-override "$NODE" --healthz-port "$HEALTHZ_PORT" --port "$NODE_PORT" \
  --local-socket "$LOCAL_SOCK" >>"$WORK/cubelet.log" 2>&1 &
CUBELET_PID=$!
check "config file + flag override: healthz answers on the flag's port" wait_for 10 curl -sf "$HZ" -o /dev/null
check "unknown config field -> warning naming it" log_has 'field="someFutureField"'
check "cgroupRoot from the config file" log_has "cgroupRoot=\"$CGROUP_ROOT\""
check "pod from the config file's staticPodPath runs" wait_for 20 is_running c default/web-$NODE
check "image absent with pull policy Never -> ErrImageNeverPull" wait_for 10 log_has \
  'reason="ErrImageNeverPull" err="Container image \\"cubelet.local/absent:1.0\\" is not present with pull policy of Never'
check "healthz ok with the runtime up" test "$(curl -s "$HZ")" = ok

# --- the runtime stops: healthz 500 with the reason; pods untouched; back: ok again
id=$(running_ids c default/web-$NODE)
"$top/packaging/containerd/stop-containerd.sh" --dir "$CTD_DIR" >/dev/null
code() { curl -s -o "$WORK/hz" -w '%{http_code}' "$HZ"; }
is500() { [ "$(code)" = 500 ]; }
check "runtime stopped -> healthz 500" wait_for 10 is500
check "... naming the runtime" grep -q 'runtime failed: container runtime' "$WORK/hz"
check "... and logged once" wait_for 5 log_has 'Container runtime is not answering'
"$top/packaging/containerd/start-containerd.sh" --dir "$CTD_DIR" --bridge "$TI_BRIDGE" --pod-cidr "$TI_NET.0.0/24" >/dev/null
is200() { [ "$(code)" = 200 ]; }
check "runtime back -> healthz ok again" wait_for 15 is200
check "... and the pod's container is the same one" test "$(running_ids c default/web-$NODE)" = "$id"

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "pod removed" wait_for 15 gone
check "cubelet exits cleanly" stop_cubelet
finish

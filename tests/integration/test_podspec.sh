#!/bin/bash
# Pod spec semantics as upstream, against a real containerd: $(VAR) expansion in env, command, args and
# subPathExpr (refused when it expands to an escape); privileged containers (init containers too) in a
# privileged sandbox; the FallbackToLogsOnError message and `kubectl logs` joined by the CRI log tags.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
HOST="$WORK/host"
mkdir -p "$M" "$HOST"
IMG=cubelet.local/busybox:1.35

# --- $(VAR) expansion: env values, command and args, subPathExpr
cat >"$M/expand.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: expand}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "echo FOOBAR=\$FOOBAR; echo \$(TEST_VAR); echo '\$\$(TEST_VAR) \$(UNDEFINED)'; echo sub > /data/file"]
    args: []
    env:
    - {name: FOO, value: foo-value}
    - {name: BAR, value: bar-value}
    - {name: FOOBAR, value: "\$(FOO);;\$(BAR)"}
    - {name: TEST_VAR, value: test-value}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    volumeMounts: [{name: h, mountPath: /data, subPathExpr: "sub/\$(POD_NAME)"}]
  volumes: [{name: h, hostPath: {path: $HOST}}]
YAML
# Expansions that escape the volume or name nothing: refused before any container exists.
cat >"$M/badsub.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: badsub}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: abs
    image: $IMG
    command: ["sleep", "3600"]
    env: [{name: ABS, value: /etc}]
    volumeMounts: [{name: h, mountPath: /data, subPathExpr: "\$(ABS)"}]
  - name: up
    image: $IMG
    command: ["sleep", "3600"]
    env: [{name: UP, value: ..}]
    volumeMounts: [{name: h, mountPath: /data, subPathExpr: "x/\$(UP)/y"}]
  - name: missing
    image: $IMG
    command: ["sleep", "3600"]
    env: [{name: EMPTY, value: ""}]
    volumeMounts: [{name: h, mountPath: /data, subPathExpr: "\$(NOPE)/\$(EMPTY)"}]
  volumes: [{name: h, hostPath: {path: $HOST}}]
YAML
cat >"$M/both.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: both}
spec:
  containers:
  - name: c
    image: $IMG
    volumeMounts: [{name: h, mountPath: /data, subPath: a, subPathExpr: b}]
  volumes: [{name: h, emptyDir: {}}]
YAML

# --- privileged: an init container alone, and an app container, each writing to a hostPath
cat >"$M/privinit.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: privinit}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: $IMG
    command: ["sh", "-c", "grep CapEff /proc/self/status > /host/privinit-init"]
    securityContext: {privileged: true}
    volumeMounts: [{name: h, mountPath: /host}]
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "echo app-ran > /host/privinit-app"]
    volumeMounts: [{name: h, mountPath: /host}]
  volumes: [{name: h, hostPath: {path: $HOST}}]
YAML
cat >"$M/priv.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "grep CapEff /proc/self/status > /host/priv-app"]
    securityContext: {privileged: true}
    volumeMounts: [{name: h, mountPath: /host}]
  volumes: [{name: h, hostPath: {path: $HOST}}]
YAML

# --- FallbackToLogsOnError: the log as `kubectl logs` reads it, its last 80 lines
cat >"$M/tmsg.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: tmsg}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: done, image: $IMG, terminationMessagePolicy: FallbackToLogsOnError, command: ["sh", "-c", "echo -n DONE; exit 1"]}
  - {name: many, image: $IMG, terminationMessagePolicy: FallbackToLogsOnError, command: ["sh", "-c", "seq 1 100; exit 2"]}
YAML
# --- a pod with a hostPath on the logs directory puts a symlink to a root-owned file, and a FIFO, where its
# logs were: the fallback reader follows neither (nothing published, the worker never blocks)
SECRET="$WORK/secret"
echo "2026-11-27T03:51:49.107603964Z stdout F TOPSECRET" >"$SECRET"
chmod 600 "$SECRET"
cat >"$M/evil.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: evil}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: link
    image: $IMG
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", 'f=\$(ls /podlogs/default_evil-${NODE}_*/link/0.log) && rm \$f && ln -s $SECRET \$f && exit 1']
    volumeMounts: [{name: logs, mountPath: /podlogs}]
  - name: fifo
    image: $IMG
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", 'f=\$(ls /podlogs/default_evil-${NODE}_*/fifo/0.log) && rm \$f && mkfifo \$f && exit 1']
    volumeMounts: [{name: logs, mountPath: /podlogs}]
  volumes: [{name: logs, hostPath: {path: $WORK/logs}}]
YAML
# The node API for kubectl logs: anonymous and allowed, as the logrotate suite has it.
start_cubelet "$M" --anonymous-auth true --authorization-mode AlwaysAllow

log_of() { cat "$WORK"/logs/default_"$1"-"$NODE"_*/"$2"/0.log 2>/dev/null | grep -q -- "$3"; }
cstatus() { pod_status "$1" ".containerStatuses[] | select(.name == \"$2\") | $3"; }
waiting_says() { [ "$(cstatus "$1" "$2" .state.waiting.reason)" = CreateContainerConfigError ] &&
  [ "$(cstatus "$1" "$2" .state.waiting.message)" = "$3" ]; }

check "expand: the pod succeeds" wait_for 30 status_is expand .phase Succeeded
check "... env value: \$(FOO);;\$(BAR) expanded" log_of expand c 'F FOOBAR=foo-value;;bar-value$'
check "... command: \$(TEST_VAR) expanded" log_of expand c 'F test-value$'
check "... \$\$ escapes, an undefined \$(NAME) stays as written" log_of expand c 'F $(TEST_VAR) $(UNDEFINED)$'
check "... subPathExpr: the file lands in sub/<pod name> of the hostPath" \
  test "$(cat "$HOST/sub/expand-$NODE/file" 2>/dev/null)" = sub
check "... and nothing beside it at the volume's top" test ! -e "$HOST/file"

check "subPathExpr expanding to an absolute path: CreateContainerConfigError with upstream's message" \
  wait_for 30 waiting_says badsub abs 'error SubPath `/etc` must not be an absolute path'
check "... and a Failed event" log_has 'reason="Failed" message="Error: error SubPath `/etc` must not be an absolute path"'
check "subPathExpr expanding to a '..' component: refused" \
  waiting_says badsub up "unable to provision SubPath \`x/../y\`: must not contain '..'"
check "subPathExpr naming an undefined and an empty variable: refused" \
  waiting_says badsub missing 'missing value for EMPTY, NOPE'
check "... no container was created for any of them" test -z "$(all_ids abs default/badsub-$NODE)$(all_ids up default/badsub-$NODE)$(all_ids missing default/badsub-$NODE)"
check "subPath and subPathExpr together: the manifest is refused" wait_for 30 log_has \
  'both.yaml.*subPathExpr and subPath are mutually exclusive'

# Privileged: every capability the runtime itself has (the test runs as root with all of them).
full_caps() { [ "$(awk '{print $2}' "$1" 2>/dev/null)" = "$(awk '/^CapEff/ {print $2}' /proc/self/status)" ]; }
check "privileged init container: the pod succeeds" wait_for 30 status_is privinit .phase Succeeded
check "... the init container wrote to the hostPath with every capability" full_caps "$HOST/privinit-init"
check "... then the unprivileged app container ran" test "$(cat "$HOST/privinit-app" 2>/dev/null)" = app-ran
check "privileged app container: the pod succeeds" wait_for 30 status_is priv .phase Succeeded
check "... and wrote to the hostPath with every capability" full_caps "$HOST/priv-app"

check "FallbackToLogsOnError: the pod fails" wait_for 30 status_is tmsg .phase Failed
check "... 'echo -n DONE': message DONE, no newline added" \
  test "$(cstatus tmsg done '.state.terminated.message | tojson')" = '"DONE"'
check "... 100 lines: the last 80, each with its newline" \
  test "$(cstatus tmsg many '.state.terminated.message | tojson')" = "$(seq 21 100 | jq -Rs .)"
# logs_are URL PRINTF-FORMAT: the body is exactly that
logs_are() {
  curl -sSfk "$1" >"$WORK/logs.out" && printf "$2" | cmp -s - "$WORK/logs.out" && return 0
  od -c "$WORK/logs.out" | head -3 | sed 's/^/# got: /'
  return 1
}
URL="https://127.0.0.1:$NODE_PORT/containerLogs/default/tmsg-$NODE"
check "containerLogs (kubectl logs): DONE exactly, no newline added" logs_are "$URL/done" DONE
check "... full lines as written" logs_are "$URL/many?tailLines=2" '99\n100\n'

check "a log replaced by a symlink and one by a FIFO: the pod still fails (the worker is not stuck)" \
  wait_for 30 status_is evil .phase Failed
check "... the symlinked log: not followed, its target's line not published" \
  test "$(cstatus evil link .state.terminated.message)" = \
  "Error on reading termination message from logs: open $(echo "$WORK"/logs/default_evil-"$NODE"_*/link/0.log): Too many levels of symbolic links"
check "... the FIFO: not opened" test "$(cstatus evil fifo .state.terminated.message)" = \
  "Error on reading termination message from logs: open $(echo "$WORK"/logs/default_evil-"$NODE"_*/fifo/0.log): not a regular file"
check "... nor through containerLogs (kubectl logs)" sh -c \
  "! curl -sk 'https://127.0.0.1:$NODE_PORT/containerLogs/default/evil-$NODE/link' | grep -q TOPSECRET"

rm -f "$M"/*
gone() { for p in expand badsub privinit priv tmsg evil; do is_gone c "default/$p-$NODE" || return 1; done; }
check "pods removed" wait_for 30 gone
check "cubelet exits cleanly" stop_cubelet
finish

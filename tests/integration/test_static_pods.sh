#!/bin/bash
# Static pods against a real containerd: start, restart policies, change, removal, broken manifests,
# cubelet restarts.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35

# pod NAME RESTART_POLICY SCRIPT [GRACE]: a one-container pod whose shell exits on SIGTERM.
pod() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: $2
  terminationGracePeriodSeconds: ${4:-10}
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; $3"]
YAML
}
forever='while true; do sleep 0.2; done'

start_cubelet "$M"

# --- a manifest written: its container runs
pod web Always "$forever" >"$M/web.yaml"
check "manifest written -> container running" wait_for 20 is_running c default/web-$NODE
web_id=$(running_ids c default/web-$NODE)

# --- a second pod in one file with two documents
{ pod multi-a Always "$forever"; echo '---'; pod multi-b Always "$forever"; } | put "$M/multi.yaml"
both_multi() { is_running c default/multi-a-$NODE && is_running c default/multi-b-$NODE; }
check "two documents in one file -> two pods" wait_for 20 both_multi

# --- a broken manifest: clear log line, nothing else disturbed
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\nspec:\n  containers:\n  - name: c\n    image: [oops\n' \
  >"$M/broken.yaml"
check "broken YAML is reported with file and line" wait_for 30 log_has 'file=".*broken.yaml" err="line'
{ pod dup Always "$forever"; printf '  - name: c\n    image: %s\n' "$IMG"; } | put "$M/dup.yaml"
check "duplicate container names are reported with the field path" wait_for 30 log_has \
  'dup.yaml" err=".*spec.containers\[1\].name: Duplicate value: \\"c\\"'
pod noimage Always "$forever" | sed '/image:/d' >"$M/noimage.yaml"
check "missing image is reported with the field path" wait_for 30 log_has \
  'noimage.yaml" err="spec.containers\[0\].image: Required value'
head -c 5000000 /dev/zero | tr '\0' 'a' >"$M/big.yaml"
check "a too large file is refused" wait_for 30 log_has 'big.yaml" err="file is larger than'
sleep 1
check "other pods undisturbed by broken manifests" test "$(running_ids c default/web-$NODE)" = "$web_id"
check "no pod from a broken file" test -z "$(all_ids c default/broken-$NODE)$(all_ids c default/dup-$NODE)"

# --- fixing a broken file brings its pod up
pod broken Always "$forever" >"$M/broken.yaml"
check "fixed manifest -> pod runs" wait_for 20 is_running c default/broken-$NODE

# --- a file that turns bad keeps its last good pod
broken_id=$(running_ids c default/broken-$NODE)
echo "garbage: [" >>"$M/broken.yaml"
check "a good file turned bad is reported" wait_for 30 log_has 'its pods keep running as they were'
check "... and its pod keeps running" test "$(running_ids c default/broken-$NODE)" = "$broken_id"

# --- a container's process killed: restarted (Always)
task_pid() { ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
replaced() { local id; id=$(running_ids c "$1"); [ -n "$id" ] && [ "$id" != "$2" ]; }
kill -9 "$(task_pid "$web_id")"
check "killed container restarted (Always)" wait_for 20 replaced default/web-$NODE "$web_id"
check "restart count 1 in the new container's attempt" test "$(attempts c default/web-$NODE)" = 1

# --- restart policies on exit
pod never Never "exit 3" >"$M/never.yaml"
pod onfail-ok OnFailure "exit 0" >"$M/onfail-ok.yaml"
pod onfail-bad OnFailure "sleep 0.3; exit 1" >"$M/onfail-bad.yaml"
ran_once() { [ "$(exited_count c "$1")" -ge 1 ]; }
restarted() { [ "$(attempts c "$1")" -ge 1 ]; }
check "Never: the container ran once" wait_for 20 ran_once default/never-$NODE
check "OnFailure with exit 0: the container ran once" wait_for 20 ran_once default/onfail-ok-$NODE
check "OnFailure with a failing container: restarted" wait_for 20 restarted default/onfail-bad-$NODE
sleep 3
check "Never: not restarted" test "$(attempts c default/never-$NODE)" = 0
check "OnFailure with exit 0: not restarted" test "$(attempts c default/onfail-ok-$NODE)" = 0

# a crash-looping pod changes the runtime all the time: take it away before comparing listings
rm -f "$M/onfail-bad.yaml"

# --- a changed manifest replaces the pod (stop the old one, then start the new one)
old_id=$(running_ids c default/web-$NODE)
pod web Always "echo v2; $forever" >"$M/web.yaml"
check "changed manifest -> replaced by a new container" wait_for 30 replaced default/web-$NODE "$old_id"
old_gone() { ! cri ps -a | grep -q "^$1"; }
# The new pod starts once the old one's resources are reclaimed; its removal from the runtime comes after.
check "... and the old container is removed" wait_for 20 old_gone "$old_id"
check "... old pod stopped before the new one started" sh -c \
  "grep -n 'Pod killed.*web-$NODE\|Pod sandbox created.*web-$NODE' '$WORK/cubelet.log' | tail -2 | head -1 | grep -q 'Pod killed'"

# --- cubelet restarted: nothing is restarted, nothing duplicated
before=$(cri ps | sort)
check "cubelet exits cleanly on SIGTERM" stop_cubelet
check "a bad file's last good copy is kept for restarts" test -n "$(ls -A "$WORK/root/static-pods")"
check "pods keep running while cubelet is down" test "$(cri ps | sort)" = "$before"
start_cubelet "$M"
sleep 4
check "after a cubelet restart the same containers run, no duplicates" test "$(cri ps | sort)" = "$before"

# --- removed: gone within the grace period (10 s here; the containers exit on SIGTERM at once)
t0=$(date +%s)
rm -f "$M"/*
no_containers_left() { ! cri ps -a | grep -q -- "-$NODE"; }
# Bounded by the grace period plus 5 s for a busy machine's teardown.
check "removed manifests -> pods gone within the grace period" wait_for 15 no_containers_left
echo "# teardown took $(( $(date +%s) - t0 ))s"
no_sandboxes_left() { ! "$CUBELET_CRI" -r "unix://$SOCK" pods | grep -q -- "-$NODE"; }
check "sandboxes removed" wait_for 10 no_sandboxes_left
check "pod directories removed" sh -c "[ -z \"\$(ls -A '$WORK/root/pods')\" ]"
check "cubelet exits cleanly at the end" stop_cubelet
finish

#!/bin/bash
# Image and container garbage collection against a real containerd, as upstream's image manager and
# containerGC. Image GC with the thresholds forced (high 1 %, low 0 %) removes an unused image that was there
# before cubelet, but never the sandbox image, an image a container uses, or an image younger than
# imageMinimumGCAge (whose first-detected time survived a restart in <root>/image-records.json); freeing too
# little is FreeDiskSpaceFailed, failing twice ImageGCFailed, both on the Node. Container GC with
# --maximum-dead-containers=1 removes the older of two dead containers (its log with it) and keeps the
# newest; a crash-looping container keeps its newest dead instance (what --previous shows); the log
# directory of a pod no source knows goes. The GC periods are shortened with --image-gc-period and
# --container-gc-period (upstream: 5 min and 1 min).
source "$(dirname "$0")/lib.sh"
skip_unless_ready
top=$(cd "$(dirname "$0")/../.." && pwd)
M="$WORK/manifests"
mkdir -p "$M"
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
# The fixture's images come back whatever happened (other tests need them); the test's own go.
restore() {
  ctr_ images rm cubelet.local/gc-victim:1 cubelet.local/gc-victim:2 >/dev/null 2>&1
  "$top/packaging/images/import-images.sh" "$SOCK" "$IMAGES_DIR" >/dev/null 2>&1
  cleanup_cgroups
}
trap restore EXIT

source "$(dirname "$0")/make_image.sh"
has_image() { ctr_ images ls -q | grep -xF "$1" >/dev/null; } # no -q: ctr must not get SIGPIPE (pipefail)
RECORDS="$WORK/root/image-records.json"
record() { jq -r --arg id "$1" ".images[\$id].$2 // empty" "$RECORDS" 2>/dev/null; } # record ID FIELD
recorded() { [ -n "$(record "$1" "$2")" ]; }
detected_after_start() { [ "$(record "$1" firstDetected)" -gt 0 ] 2>/dev/null; }

cat >"$M/user.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
YAML

# --- 1. Records: an image there before cubelet is "first detected" at 0 (unknown, in the past); one that
# appears while cubelet runs at that moment. Image GC is off (high 100), detection still runs.
VICTIM1=$(make_image "$SOCK" "$CTD_DIR" cubelet.local/gc-victim:1 65536)
check "a test image is imported ($VICTIM1)" has_image cubelet.local/gc-victim:1
start_cubelet "$M" --image-gc-high-threshold 100 --image-gc-period 1s
check "a pod uses busybox" wait_for 60 is_running c "default/user-$NODE"
check "the image there before cubelet is recorded as first detected long ago" wait_for 10 recorded "$VICTIM1" firstDetected
check "... at 0" [ "$(record "$VICTIM1" firstDetected)" = 0 ]
VICTIM2=$(make_image "$SOCK" "$CTD_DIR" cubelet.local/gc-victim:2 65536)
check "an image imported while cubelet runs is recorded as first detected then" \
  wait_for 10 detected_after_start "$VICTIM2"
# The image ID (its config's digest), as the records key it: the container's imageRef is a repo digest once an
# earlier test pulled the same image from the local registry.
image_id() { # image_id REF
  local d m
  d=$(ctr_ images ls | awk -v r="$1" '$1 == r { print $3 }')
  m=$(ctr_ content get "$d") || return 1
  if jq -e '.manifests' <<<"$m" >/dev/null; then m=$(ctr_ content get "$(jq -r '.manifests[0].digest' <<<"$m")"); fi
  jq -r .config.digest <<<"$m"
}
BUSYBOX=$(image_id cubelet.local/busybox:1.35)
busybox_used() { [ "$(record "$BUSYBOX" lastUsed)" -gt 0 ] 2>/dev/null; }
check "the image in use has a last-used time ($BUSYBOX)" wait_for 10 busybox_used
check "high threshold 100: nothing is collected" has_image cubelet.local/gc-victim:1
first2=$(record "$VICTIM2" firstDetected)
check "cubelet exits cleanly" stop_cubelet
check "the records are on disk after the stop" [ "$(record "$VICTIM2" firstDetected)" = "$first2" ]

# --- 2. Thresholds forced: everything unused and old enough goes; the young image stays because its
# first-detected time came back from the records; freeing too little is an event on the Node.
GHOST="$WORK/logs/default_ghost-${NODE}_0d6f7a55-0000-4000-8000-00000000beef"
mkdir -p "$GHOST/c" && echo 'old' >"$GHOST/c/0.log"
start_cubelet "$M" --image-gc-high-threshold 1 --image-gc-low-threshold 0 --minimum-image-ttl-duration 1h \
  --image-gc-period 1s --container-gc-period 1s --maximum-dead-containers 1
check "the unused image older than imageMinimumGCAge is removed" wait_for 30 sh -c "! ctr --address '$SOCK' -n k8s.io images ls -q | grep -qxF cubelet.local/gc-victim:1"
check "... logged" log_has "\"Removing image to free bytes\" imageID=\"$VICTIM1\""
check "... and forgotten in the records" sh -c "[ -z \"\$(jq -r --arg id '$VICTIM1' '.images[\$id] // empty' '$RECORDS')\" ]"
check "freeing less than wanted: FreeDiskSpaceFailed on the Node, upstream's message" wait_for 30 log_has \
  'kind="Node" type="Warning" reason="FreeDiskSpaceFailed" message="failed to garbage collect required amount of images. Wanted to free [0-9]* bytes, but freed [0-9]* bytes"'
check "failing again: ImageGCFailed on the Node" wait_for 30 log_has 'kind="Node" type="Warning" reason="ImageGCFailed"'
node_event() { local_get /events | jq -e --arg r "$1" --arg n "$NODE" \
  '[.items[] | select(.involvedObject.kind == "Node" and .involvedObject.name == $n and .reason == $r)] | length > 0' >/dev/null; }
check "... in /events with the Node as involvedObject" node_event ImageGCFailed
check "the image first detected minutes ago survives: its time came back from the records" has_image cubelet.local/gc-victim:2
check "... with the same first-detected time" [ "$(record "$VICTIM2" firstDetected)" = "$first2" ]
check "the image a container uses stays" has_image cubelet.local/busybox:1.35
check "the sandbox image stays" has_image cubelet.local/pause:1.0
check "the pod runs on" is_running c "default/user-$NODE"

# Container GC: the log directory of a pod no source knows goes; a known pod's stays.
check "a pod log directory no source knows is removed" wait_for 30 test ! -e "$GHOST"
check "... the running pod's stays" sh -c "ls -d '$WORK'/logs/default_user-${NODE}_* >/dev/null"

# Two finished pods, one dead container each: --maximum-dead-containers=1 keeps the newer only.
for p in done-a done-b; do
  cat >"$M/$p.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $p}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "echo bye"]}
YAML
  check "$p runs to Succeeded" wait_for 60 status_is "$p" .phase Succeeded
done
done_a_gone() { [ -z "$(all_ids c "default/done-a-$NODE")" ]; }
check "the older dead container goes (beyond --maximum-dead-containers)" wait_for 30 done_a_gone
check "... logged" log_has '"Removed dead container"'
check "... its log with it" sh -c "! ls '$WORK'/logs/default_done-a-${NODE}_*/c/0.log 2>/dev/null"
check "the newer dead container stays" [ "$(exited_count c "default/done-b-$NODE")" = 1 ]
check "... with its log" sh -c "ls '$WORK'/logs/default_done-b-${NODE}_*/c/0.log >/dev/null"
check "the finished pod is not run again" status_is done-a .phase Succeeded
check "... no new container" done_a_gone
rm -f "$M/done-a.yaml" "$M/done-b.yaml"
check "cubelet exits cleanly" stop_cubelet

# --- 3. A crash-looping container: its newest dead instance (what --previous shows) stays through the GC.
cat >"$M/crash.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "echo run; exit 1"]}
YAML
start_cubelet "$M" --image-gc-high-threshold 100 --container-gc-period 1s -v 4
third_try() { [ "$(attempts c "default/crash-$NODE")" -ge 2 ] 2>/dev/null && [ "$(exited_count c "default/crash-$NODE")" -ge 1 ]; }
check "the container has crashed three times" wait_for 60 third_try
dead_attempts() { cri ps -a | awk -F'\t' -v p="default/crash-$NODE" '$3 == "c" && $5 == p && $2 == "EXITED" { print $4 }' | sort -n; }
# The newest dead instance: the newest instance when none runs, else the one before it.
newest_dead_present() {
  local newest dead
  newest=$(attempts c "default/crash-$NODE") dead=$(dead_attempts | tail -1)
  [ -n "$dead" ] && { [ "$dead" = "$newest" ] || [ "$dead" = $((newest - 1)) ]; }
}
only_newest_dead() { [ "$(dead_attempts | grep -c .)" = 1 ] && newest_dead_present; }
check "the GC trims the dead instances to one, the newest" wait_for 15 only_newest_dead
for i in 1 2 3; do
  passes=$(grep -c '"Container garbage collection succeeded"' "$WORK/cubelet.log")
  wait_for 30 log_count_ge '"Container garbage collection succeeded"' $((passes + 1))
  check "... GC pass $i: the newest dead instance is still there" newest_dead_present
done
rm -f "$M"/*
check "pods removed" wait_for 30 sh -c "! '$CUBELET_CRI' -r 'unix://$SOCK' ps -a | grep -q -- '-$NODE'"
check "cubelet exits cleanly" stop_cubelet
finish

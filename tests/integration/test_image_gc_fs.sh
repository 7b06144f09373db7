#!/bin/bash
# Image GC on a real, small image filesystem (#13): a containerd of the test's own whose root is a 200 MiB
# tmpfs, filled past the high threshold with unused images of 8 MiB of random bytes, each first detected by
# cubelet after the one before. With upstream's thresholds (high 85 %, low 80 %) the GC brings the
# filesystem, as statvfs sees it, below 80 %, removing unused images least recently used (here: first
# detected) first, so the images it removes are the oldest ones and the newest stay; the image a pod uses and
# the sandbox image stay, and the pod runs on. The periods are shortened (--image-gc-period 1s,
# --minimum-image-ttl-duration 1s) and the image filesystem's eviction threshold is off (its reclaim
# removes every unused image at once, as upstream's).
source "$(dirname "$0")/lib.sh"
skip_unless_ready
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/make_image.sh"
GC_CTD=/tmp/cubelet-it${TI_SUFFIX}-gcfs-ctd
M="$WORK/manifests"
mkdir -p "$M"
undo() {
  cleanup_cgroups
  "$top/packaging/containerd/stop-containerd.sh" --dir "$GC_CTD" --purge >/dev/null 2>&1
  mountpoint -q "$GC_CTD/root" && umount -l "$GC_CTD/root"
  rm -rf "$GC_CTD"
}
trap undo EXIT
undo
mkdir -p "$GC_CTD/root"
mount -t tmpfs -o size=200m cubelet-it-imagefs "$GC_CTD/root"
SOCK=$("$top/packaging/containerd/start-containerd.sh" --dir "$GC_CTD" --bridge "cubgc$TI" \
  --pod-cidr "$TI_NET.70.0/24" 2>/dev/null)
check "a containerd whose root is a 200 MiB tmpfs" test -S "$SOCK"
"$top/packaging/images/import-images.sh" "$SOCK" "$IMAGES_DIR" >/dev/null 2>&1
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
has_image() { ctr_ images ls -q | grep -xF "$1" >/dev/null; }
check "... with the test images" has_image cubelet.local/busybox:1.35
# The filesystem's use in hundredths of a percent, as statvfs (and cubelet) see it.
used() { stat -f -c '%b %a' "$GC_CTD/root" | awk '{ printf "%d", ($1 - $2) * 10000 / $1 }'; }
RECORDS="$WORK/root/image-records.json"
detected() { jq -r --arg id "$1" '.images[$id].firstDetected // empty' "$RECORDS" 2>/dev/null; }
detected_after() { local t; t=$(detected "$1"); [ -n "$t" ] && [ "$t" -gt "$2" ]; }

cat >"$M/user.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
YAML
# --- Detection only (high threshold 100): the images come one after the other, each first detected later.
start_cubelet "$M" --image-gc-high-threshold 100 --image-gc-period 1s
check "a pod uses busybox" wait_for 60 is_running c "default/user-$NODE"
ids=() last=0 n=0
while [ "$(used)" -lt 8800 ] && [ "$n" -lt 40 ]; do
  n=$((n + 1))
  id=$(make_image "$SOCK" "$GC_CTD" "cubelet.local/gc-fs:$n" $((8 << 20))) || break
  ids+=("$id")
  wait_for 10 detected_after "$id" "$last" || break
  last=$(detected "$id")
done
filled() { [ "$(used)" -ge 8800 ] && [ "${#ids[@]}" = "$n" ]; }
check "the filesystem is filled past 88 % with $n unused images ($(used) hundredths of a percent)" filled
check "... each first detected after the one before" [ "$last" -gt 0 ]
check "high threshold 100: nothing is collected" has_image cubelet.local/gc-fs:1
check "cubelet exits cleanly" stop_cubelet

# --- Upstream's thresholds: below 80 %, oldest first.
# The default hard eviction threshold imagefs.available<15% would be crossed too, and its reclaim removes
# every unused image at once (upstream's DeleteUnusedImages): only memory's is kept here.
start_cubelet "$M" --image-gc-high-threshold 85 --image-gc-low-threshold 80 --image-gc-period 1s \
  --minimum-image-ttl-duration 1s --eviction-hard 'memory.available<100Mi'
below() { [ "$(used)" -lt 8000 ]; }
check "image GC brings the filesystem below the low threshold" wait_for 60 below
check "... logged as upstream's" log_has '"Removing image to free bytes"'
gone=() kept=()
for i in $(seq 1 "$n"); do
  if has_image "cubelet.local/gc-fs:$i"; then kept+=("$i"); else gone+=("$i"); fi
done
echo "# removed: ${gone[*]:-none}; kept: ${kept[*]:-none}; now $(used) hundredths of a percent"
check "some images were removed" [ "${#gone[@]}" -gt 0 ]
oldest_first() { # the removed ones are 1..k: none kept before one removed
  local i
  for i in $(seq 1 "${#gone[@]}"); do [ "${gone[$((i - 1))]}" = "$i" ] || return 1; done
}
check "... the oldest first: the removed images are the first detected" oldest_first
check "... and only as many as the low threshold needed: the newest stay" has_image "cubelet.local/gc-fs:$n"
check "... (the filesystem not emptied: $(used) hundredths of a percent)" [ "$(used)" -ge 5000 ]
check "the image the pod uses stays" has_image cubelet.local/busybox:1.35
check "the sandbox image stays" has_image cubelet.local/pause:1.0
check "the pod runs on" is_running c "default/user-$NODE"
rm -f "$M/user.yaml"
check "the pod goes" wait_for 60 is_gone c "default/user-$NODE"
check "cubelet exits cleanly" stop_cubelet

finish

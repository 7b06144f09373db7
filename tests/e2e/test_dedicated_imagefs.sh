#!/bin/bash
# A dedicated image filesystem end to end (#15), against a real kube-apiserver: two small loop-mounted ext4
# filesystems the test makes, one the root of a containerd of the test's own (imagefs: images, writable
# layers), the other cubelet's root directory and pod logs (nodefs: pod directories, emptyDirs, logs). As
# upstream's with a dedicated imagefs:
# - cubelet says so (dedicatedImageFs=true) and /stats/summary shows the two filesystems apart;
# - local storage limits: a container whose writable layer is far over its ephemeral-storage limit runs on
#   (only its logs count: the layer is not on nodefs), a pod whose emptyDir is over its sizeLimit is evicted;
# - imagefs.available crossed (a filler file on imagefs, with a dead container's writable layer and unused
#   images enough to make up for it): the dead container and the images go, no pod is evicted, DiskPressure
#   turns True on the Node and back to False after the (shortened) transition period;
# - nodefs.available crossed by a pod writing into its emptyDir: the writer is evicted (upstream's message, a
#   Warning Event), not the pod with the big writable layer (ranked by logs and local volumes only).
# The imagefs crossing is a filler file made once everything reclaimable is in place and known to the image
# manager, so the pass that sees it finds all of it (images made while the pass runs could be too young).
# No machine-wide lock (unlike e2e_pid_pressure): both signals are the test's own filesystems, which the
# other pass's run of this test (its own files, names, bridge and CIDR) never touches.
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL, IMAGES_DIR.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
for tool in jq mkfs.ext4 losetup fallocate; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool"; exit 77; }
done
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/integration/make_image.sh"
MASTER=$(dirname "$0")/master.sh
NODE=e2e-imagefs-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
PODS="if-layer if-idle if-done if-scratch if-writer"
IF_CTD=/tmp/cubelet-it${TI_SUFFIX}-if-ctd # containerd; imagefs mounted on its root
IMAGEFS=$IF_CTD/root
NODEFS=/tmp/cubelet-it${TI_SUFFIX}-if-nodefs
IMAGEFS_FILE=/tmp/cubelet-it${TI_SUFFIX}-if-image.ext4 IMAGEFS_MIB=320
NODEFS_FILE=/tmp/cubelet-it${TI_SUFFIX}-if-node.ext4 NODEFS_MIB=64
IMAGEFS_MI=64 # imagefs.available<64Mi
NODEFS_MI=20  # nodefs.available<20Mi
LEAVE_MI=12   # what the nodefs writer leaves available
LAYER_MIB=64  # the writable layer of the pod with an ephemeral-storage limit of 8Mi

umount_below() { # everything mounted at or below $1, deepest first
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
undo() {
  # shellcheck disable=SC2086
  k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
  k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
  cleanup_cgroups
  "$top/packaging/containerd/stop-containerd.sh" --dir "$IF_CTD" --purge >/dev/null 2>&1
  cleanup_cgroups
  umount_below "$NODEFS"
  umount_below "$IMAGEFS"
  rm -rf "$IF_CTD" "$NODEFS" "$IMAGEFS_FILE" "$NODEFS_FILE"
  true
}
trap undo EXIT
undo

# The two filesystems: ext4 in files, no blocks reserved for root (statvfs's available is all that is free).
mkfs_mount() { # mkfs_mount FILE MIB DIR
  truncate -s "${2}M" "$1" && mkfs.ext4 -q -F -m 0 "$1" && mkdir -p "$3" && mount -o loop "$1" "$3"
}
mkfs_mount "$IMAGEFS_FILE" "$IMAGEFS_MIB" "$IMAGEFS"
mkfs_mount "$NODEFS_FILE" "$NODEFS_MIB" "$NODEFS"
check "imagefs: a ${IMAGEFS_MIB} MiB loop-mounted ext4" mountpoint -q "$IMAGEFS"
check "nodefs: a ${NODEFS_MIB} MiB one" mountpoint -q "$NODEFS"
SOCK=$("$top/packaging/containerd/start-containerd.sh" --dir "$IF_CTD" --bridge "cubif$TI" \
  --pod-cidr "$TI_NET.74.0/24" 2>/dev/null)
check "a containerd whose root is imagefs" test -S "$SOCK"
"$top/packaging/images/import-images.sh" "$SOCK" "$IMAGES_DIR" >/dev/null 2>&1
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
has_image() { ctr_ images ls -q | grep -xF "$1" >/dev/null; }
check "... with the test images" has_image "$IMG"
avail_mi() { echo $(( $(stat -f -c '%a * %S' "$1") / 1048576 )); }
bytes_of() { echo $(( $(stat -f -c "$2 * %S" "$1") )); }

"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
# The image GC's own thresholds off: the eviction manager's reclaim alone.
start_cubelet "$WORK/manifests" --kubeconfig "$WORK/node.kubeconfig" --root-dir "$NODEFS/cubelet" \
  --pod-logs-dir "$NODEFS/logs" \
  --eviction-hard "imagefs.available<${IMAGEFS_MI}Mi,nodefs.available<${NODEFS_MI}Mi" \
  --eviction-pressure-transition-period 10s \
  --image-gc-high-threshold 100 --image-gc-period 1s --minimum-image-ttl-duration 1s
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
node_cond() { k get node "$NODE" -o "jsonpath={.status.conditions[?(@.type==\"$1\")].$2}" 2>/dev/null; }
cond_is() { [ "$(node_cond "$1" status)" = "$2" ]; }
event_starts() { # event_starts POD REASON PREFIX: kubectl sees the Warning event
  k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" \
    -o jsonpath='{.items[0].message}' 2>/dev/null | grep -q "^$3"
}
summary() { curl -sf "http://127.0.0.1:$RO_PORT/stats/summary"; }
runs_on() { [ "$(pod_jp "$1" '{.status.phase}/{.status.containerStatuses[0].restartCount}')" = Running/0 ]; }
not_evicted() { runs_on "$1" && ! log_has "\"Eviction manager: evicting pod\" pod=\"default/$1\""; }
check "node registers" wait_for 30 cond_is Ready True
check "cubelet sees a dedicated imagefs" \
  wait_for 20 log_has '"Eviction manager: image filesystem" dedicatedImageFs=true'
S=$(summary)
check "/stats/summary: the node's fs is nodefs ($(jq -c '.node.fs.capacityBytes' <<<"$S") bytes)" \
  [ "$(jq '.node.fs.capacityBytes' <<<"$S")" = "$(bytes_of "$NODEFS" %b)" ]
check "... its imageFs is imagefs ($(jq -c '.node.runtime.imageFs.capacityBytes' <<<"$S") bytes)" \
  [ "$(jq '.node.runtime.imageFs.capacityBytes' <<<"$S")" = "$(bytes_of "$IMAGEFS" %b)" ]
check "... with their own free space" [ "$(jq '.node.fs.availableBytes != .node.runtime.imageFs.availableBytes' <<<"$S")" = true ]

pod() { # pod NAME RESTART-POLICY VOLUMES MOUNTS RESOURCES SCRIPT
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  hostNetwork: true
  restartPolicy: $2
  terminationGracePeriodSeconds: 1
  volumes: $3
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    volumeMounts: $4
    resources: $5
    command:
    - sh
    - -c
    - |
$(sed 's/^/      /' <<<"$6")
YAML
}
IDLE="trap 'exit 0' TERM; while true; do sleep 1; done"
# A writable layer of LAYER_MIB MiB against an ephemeral-storage limit of 8Mi: only its logs count.
pod if-layer Always '[]' '[]' '{limits: {ephemeral-storage: 8Mi}}' \
  "dd if=/dev/zero of=/blob bs=1M count=$LAYER_MIB 2>/dev/null; $IDLE"
pod if-idle Always '[]' '[]' '{}' "$IDLE"
# A finished pod: its dead container's writable layer holds 24 MiB on imagefs.
pod if-done Never '[]' '[]' '{}' 'dd if=/dev/zero of=/blob bs=1M count=24 2>/dev/null'
layer_seen() {
  local b
  b=$(summary | jq '[.pods[] | select(.podRef.name == "if-layer") | .containers[0].rootfs.usedBytes // 0] | add // 0')
  [ "${b:-0}" -gt $(((LAYER_MIB - 4) << 20)) ]
}
check "the pod with the big writable layer runs" wait_for 90 phase_is if-layer Running
check "... and /stats/summary shows its layer over its limit" wait_for 60 layer_seen
# Over its emptyDir's sizeLimit: evicted at once, dedicated imagefs or not.
pod if-scratch Always '[{name: data, emptyDir: {sizeLimit: 8Mi}}]' '[{name: data, mountPath: /data}]' '{}' \
  "dd if=/dev/zero of=/data/f bs=1M count=16 2>/dev/null; $IDLE"
check "the finished pod Succeeded" wait_for 60 phase_is if-done Succeeded
dead_ids() { cri ps -a | awk -F'\t' '$3 == "c" && $5 == "default/if-done" { print $1 }'; }
check "... its dead container stays" [ -n "$(dead_ids)" ]
check "the idle pod runs" wait_for 60 phase_is if-idle Running
n_images=3
ids=()
for i in $(seq 1 $n_images); do ids+=("$(make_image "$SOCK" "$IF_CTD" "cubelet.local/if-unused:$i" $((8 << 20)))"); done
check "$n_images unused images" has_image cubelet.local/if-unused:$n_images
RECORDS="$NODEFS/cubelet/image-records.json"
detected() { local id; for id in "${ids[@]}"; do jq -e --arg id "$id" '.images[$id].firstDetected' "$RECORDS" >/dev/null 2>&1 || return 1; done; }
check "... seen by the image manager (--image-gc-period 1s)" wait_for 30 detected

check "the pod over its emptyDir's sizeLimit is Failed" wait_for 60 phase_is if-scratch Failed
check "... reason Evicted" [ "$(pod_jp if-scratch '{.status.reason}')" = Evicted ]
check "... upstream's message" \
  [ "$(pod_jp if-scratch '{.status.message}')" = 'Usage of EmptyDir volume "data" exceeds the limit "8Mi". ' ]
check "... a Warning Event Evicted" wait_for 20 event_starts if-scratch Evicted 'Usage of EmptyDir volume "data"'
check "the pod whose writable layer is over its ephemeral-storage limit runs on" not_evicted if-layer

# imagefs crossed: a filler leaves 16 MiB below the threshold; the dead container and the images make up for it.
before=$(avail_mi "$IMAGEFS")
echo "# imagefs before the filler: $before MiB available, nodefs $(avail_mi "$NODEFS") MiB"
check "imagefs above its threshold so far" [ "$before" -gt $((IMAGEFS_MI + 8)) ]
fallocate -l "$((before - IMAGEFS_MI + 16))M" "$IMAGEFS/filler"
check "DiskPressure turns True on the Node" wait_for 60 cond_is DiskPressure True
check "the reclaim was attempted for imagefs" wait_for 20 log_has \
  "\"Eviction manager: attempting to reclaim\" resourceName=\"ephemeral-storage\" threshold=\"imagefs.available<${IMAGEFS_MI}Mi\""
check "... and was enough" wait_for 30 log_has '"Eviction manager: able to reduce pressure without evicting pods"'
check "the finished pod's dead container is gone" [ -z "$(dead_ids)" ]
images_gone() { local i; for i in $(seq 1 $n_images); do ! has_image "cubelet.local/if-unused:$i" || return 1; done; }
check "the unused images are gone" images_gone
check "the image in use stays" has_image "$IMG"
echo "# imagefs after the reclaim: $(avail_mi "$IMAGEFS") MiB available"
check "DiskPressure back to False after the transition period" wait_for 60 cond_is DiskPressure False
no_imagefs_eviction() { ! log_has '"Eviction manager: evicting pod" .*signal="imagefs'; }
check "no pod was evicted for it" no_imagefs_eviction
check "... the pod with the big writable layer runs on" not_evicted if-layer
check "... the idle pod too" not_evicted if-idle

# nodefs crossed by a writer into its emptyDir (4 MiB at a time until LEAVE_MI MiB are left; at most 200 MiB).
pod if-writer Always '[{name: data, emptyDir: {}}]' '[{name: data, mountPath: /data}]' '{}' "i=0
while [ \"\$(df -Pk /data | awk 'NR == 2 { print \$4 }')\" -gt $((LEAVE_MI * 1024)) ] && [ \$i -lt 50 ]; do
  dd if=/dev/zero of=/data/f\$i bs=1M count=4 2>/dev/null
  i=\$((i + 1))
done
$IDLE"
check "the writer is Failed" wait_for 90 phase_is if-writer Failed
check "... reason Evicted" [ "$(pod_jp if-writer '{.status.reason}')" = Evicted ]
msg=$(pod_jp if-writer '{.status.message}')
check "... upstream's message ($msg)" grep -Eq \
  '^The node was low on resource: ephemeral-storage\. (Container c was using [0-9]+(Ki|Mi)?, which exceeds its request of 0\. )?$' <<<"$msg"
check "... a Warning Event Evicted" wait_for 20 event_starts if-writer Evicted "The node was low on resource: ephemeral-storage."
check "... logged with the signal" log_has '"Eviction manager: evicting pod" pod="default/if-writer" .*signal="nodefs.available"'
check "the pod with the big writable layer was not evicted (its layer is on imagefs)" not_evicted if-layer
check "... nor the idle pod" not_evicted if-idle

# shellcheck disable=SC2086
k delete pod $PODS --grace-period=0 --force >/dev/null 2>&1
check "cubelet exits cleanly" stop_cubelet
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

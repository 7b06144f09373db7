#!/bin/bash
# Disk pressure end to end (#15), against a real kube-apiserver and a containerd of the test's own whose root
# (with cubelet's root directory in it) is a small loop-mounted ext4 the test makes: imagefs and nodefs are one
# filesystem, so, as upstream's without a dedicated imagefs, nodefs.available is reclaimed first by removing
# dead containers and unused images, then by evicting pods ranked by all their ephemeral storage (writable
# layers, logs, emptyDirs). On it: a finished pod whose dead container holds 24 MiB in its writable layer,
# three unused images of 8 MiB, an idle pod, and a writer pod filling its emptyDir until about 120 MiB are
# left, below the hard threshold nodefs.available<250Mi even once the dead container and the images are gone.
# The dead container and the images go first, then the writer is evicted (Failed, reason Evicted, upstream's
# message, a Warning Event), the idle pod runs on, DiskPressure turns True on the Node (upstream's reason and
# message) and on /healthz?verbose, a new pod is refused while it holds, and it clears after the (shortened)
# transition period once the evicted writer's emptyDir is gone. Static pods are never evicted (critical, as
# upstream's), hence the API server. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL,
# IMAGES_DIR.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
for tool in jq mkfs.ext4 losetup; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool"; exit 77; }
done
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/integration/make_image.sh"
MASTER=$(dirname "$0")/master.sh
NODE=e2e-disk-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
PODS="dp-done dp-idle dp-writer dp-late dp-after"
DP_CTD=/tmp/cubelet-it${TI_SUFFIX}-dp-ctd
FS_IMG=/tmp/cubelet-it${TI_SUFFIX}-dp.ext4
FS_MIB=512
THRESHOLD_MI=250 # nodefs.available<250Mi
LEAVE_MI=120     # what the writer leaves available

undo() {
  # shellcheck disable=SC2086
  k delete pod $PODS --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
  k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
  cleanup_cgroups
  "$top/packaging/containerd/stop-containerd.sh" --dir "$DP_CTD" --purge >/dev/null 2>&1
  cleanup_cgroups
  mountpoint -q "$DP_CTD/root" && { umount "$DP_CTD/root" 2>/dev/null || umount -l "$DP_CTD/root"; }
  rm -rf "$DP_CTD" "$FS_IMG"
  true
}
trap undo EXIT
undo

# The filesystem: ext4 in a file, no blocks reserved for root (statvfs's available is all that is free).
truncate -s "${FS_MIB}M" "$FS_IMG"
mkfs.ext4 -q -F -m 0 "$FS_IMG"
mkdir -p "$DP_CTD/root"
mount -o loop "$FS_IMG" "$DP_CTD/root"
check "a ${FS_MIB} MiB loop-mounted ext4" mountpoint -q "$DP_CTD/root"
SOCK=$("$top/packaging/containerd/start-containerd.sh" --dir "$DP_CTD" --bridge "cubdp$TI" \
  --pod-cidr "$TI_NET.72.0/24" 2>/dev/null)
check "a containerd whose root is that filesystem" test -S "$SOCK"
"$top/packaging/images/import-images.sh" "$SOCK" "$IMAGES_DIR" >/dev/null 2>&1
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
has_image() { ctr_ images ls -q | grep -xF "$1" >/dev/null; }
check "... with the test images" has_image "$IMG"
avail_mi() { echo $(( $(stat -f -c '%a * %S' "$DP_CTD/root") / 1048576 )); }

"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
# Only the nodefs threshold (the image GC's own thresholds off: the eviction manager's reclaim alone).
start_cubelet "$WORK/manifests" --kubeconfig "$WORK/node.kubeconfig" --root-dir "$DP_CTD/root/cubelet" \
  --eviction-hard "nodefs.available<${THRESHOLD_MI}Mi" --eviction-pressure-transition-period 20s \
  --image-gc-high-threshold 100 --image-gc-period 1s --minimum-image-ttl-duration 1s
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(pod_jp "$1" '{.status.phase}')" = "$2" ]; }
node_cond() { k get node "$NODE" -o "jsonpath={.status.conditions[?(@.type==\"$1\")].$2}" 2>/dev/null; }
cond_is() { [ "$(node_cond "$1" status)" = "$2" ]; }
verbose_has() { curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz?verbose" | grep -qF -- "$1"; }
event_starts() { # event_starts POD REASON PREFIX: kubectl sees the Warning event
  k get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" \
    -o jsonpath='{.items[0].message}' 2>/dev/null | grep -q "^$3"
}
check "node registers" wait_for 30 cond_is Ready True
check "DiskPressure False with upstream's reason" [ "$(node_cond DiskPressure reason)" = KubeletHasNoDiskPressure ]
check "... and message" [ "$(node_cond DiskPressure message)" = "kubelet has no disk pressure" ]
check "nodefs is the loop filesystem ($(avail_mi) MiB available)" [ "$(avail_mi)" -gt $((THRESHOLD_MI + 150)) ]
check "... which holds the images too: no dedicated imagefs" \
  wait_for 20 log_has '"Eviction manager: image filesystem" dedicatedImageFs=false'

pod() { # pod NAME RESTART-POLICY VOLUMES MOUNTS SCRIPT
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
    command:
    - sh
    - -c
    - |
$(sed 's/^/      /' <<<"$5")
YAML
}
# A finished pod: its dead container's writable layer holds 24 MiB.
pod dp-done Never '[]' '[]' 'dd if=/dev/zero of=/blob bs=1M count=24 2>/dev/null'
pod dp-idle Always '[]' '[]' "trap 'exit 0' TERM; while true; do sleep 1; done"
check "the finished pod Succeeded" wait_for 60 phase_is dp-done Succeeded
dead_ids() { cri ps -a | awk -F'\t' '$3 == "c" && $5 == "default/dp-done" { print $1 }'; }
check "... its dead container stays (one per container, as upstream's policy)" [ -n "$(dead_ids)" ]
check "the idle pod runs" wait_for 60 phase_is dp-idle Running
n_images=3
ids=()
for i in $(seq 1 $n_images); do ids+=("$(make_image "$SOCK" "$DP_CTD" "cubelet.local/dp-unused:$i" $((8 << 20)))"); done
check "$n_images unused images" has_image cubelet.local/dp-unused:$n_images
RECORDS="$DP_CTD/root/cubelet/image-records.json"
detected() { local id; for id in "${ids[@]}"; do jq -e --arg id "$id" '.images[$id].firstDetected' "$RECORDS" >/dev/null 2>&1 || return 1; done; }
check "... seen by the image manager (--image-gc-period 1s)" wait_for 30 detected
echo "# before the writer: $(avail_mi) MiB available"

# The writer: 4 MiB at a time into its emptyDir until about LEAVE_MI MiB are left (bounded: at most 800 MiB).
pod dp-writer Always '[{name: data, emptyDir: {}}]' '[{name: data, mountPath: /data}]' "i=0
while [ \"\$(df -Pk /data | awk 'NR == 2 { print \$4 }')\" -gt $((LEAVE_MI * 1024)) ] && [ \$i -lt 200 ]; do
  dd if=/dev/zero of=/data/f\$i bs=1M count=4 2>/dev/null
  i=\$((i + 1))
done
echo \"wrote \$i chunks\"
trap 'exit 0' TERM; while true; do sleep 1; done"
check "DiskPressure turns True on the Node" wait_for 120 cond_is DiskPressure True
check "... reason KubeletHasDiskPressure" [ "$(node_cond DiskPressure reason)" = KubeletHasDiskPressure ]
check "... message as upstream's" [ "$(node_cond DiskPressure message)" = "kubelet has disk pressure" ]
check "... and on /healthz?verbose" verbose_has "[-]pressure failed: DiskPressure"
pod dp-late Always '[]' '[]' 'sleep 3600'
check "the writer is Failed" wait_for 90 phase_is dp-writer Failed
check "... reason Evicted" [ "$(pod_jp dp-writer '{.status.reason}')" = Evicted ]
msg=$(pod_jp dp-writer '{.status.message}')
check "... upstream's message ($msg)" grep -Eq \
  '^The node was low on resource: ephemeral-storage\. (Container c was using [0-9]+(Ki|Mi)?, which exceeds its request of 0\. )?$' <<<"$msg"
check "... a Warning Event Evicted" wait_for 20 event_starts dp-writer Evicted "The node was low on resource: ephemeral-storage."
check "... logged with the signal" log_has '"Eviction manager: evicting pod" pod="default/dp-writer" .*signal="nodefs.available"'
check "the reclaim was attempted for ephemeral-storage" log_has '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage" threshold="nodefs.available<250Mi"'
check "the finished pod's dead container is gone" [ -z "$(dead_ids)" ]
images_gone() { local i; for i in $(seq 1 $n_images); do ! has_image "cubelet.local/dp-unused:$i" || return 1; done; }
check "the unused images are gone" images_gone
check "the images in use stay" has_image "$IMG"
line_of() { grep -n -m1 -- "$1" "$WORK/cubelet.log" | cut -d: -f1; }
l_ctr=$(line_of '"Removed dead container"') l_img=$(line_of '"Removing image to free bytes"')
l_evict=$(line_of '"Eviction manager: evicting pod"')
echo "# log lines: dead container removed ${l_ctr:-never}, first image removed ${l_img:-never}, evicted ${l_evict:-never}"
reclaimed_first() { [ -n "$l_ctr" ] && [ -n "$l_img" ] && [ -n "$l_evict" ] && [ "$l_ctr" -lt "$l_evict" ] && [ "$l_img" -lt "$l_evict" ]; }
check "... both before the eviction" reclaimed_first
check "nothing of the writer runs" wait_for 30 bash -c "! $CUBELET_CRI -r unix://$SOCK ps | grep -q dp-writer"
check "a new pod under DiskPressure: Failed" wait_for 30 phase_is dp-late Failed
check "... reason Evicted" [ "$(pod_jp dp-late '{.status.reason}')" = Evicted ]
check "... upstream's message" [ "$(pod_jp dp-late '{.status.message}')" = "Pod The node had condition: [DiskPressure]. " ]
check "the idle pod was not evicted" [ "$(pod_jp dp-idle '{.status.phase}/{.status.containerStatuses[0].restartCount}')" = Running/0 ]
above() { [ "$(avail_mi)" -gt "$THRESHOLD_MI" ]; }
check "the evicted writer's emptyDir is removed: above the threshold again" wait_for 60 above
echo "# after the eviction: $(avail_mi) MiB available"
check "DiskPressure back to False after the transition period" wait_for 90 cond_is DiskPressure False
check "... reason KubeletHasNoDiskPressure" [ "$(node_cond DiskPressure reason)" = KubeletHasNoDiskPressure ]
check "... and /healthz?verbose says so" wait_for 10 verbose_has "[+]pressure ok"
check "... logged" log_has '"Eviction manager: node condition changed" condition="DiskPressure" status="False"'
pod dp-after Always '[]' '[]' 'sleep 3600'
check "pods are admitted again" wait_for 60 phase_is dp-after Running
check "the idle pod runs on" [ "$(pod_jp dp-idle '{.status.phase}')" = Running ]

# shellcheck disable=SC2086
k delete pod $PODS --grace-period=0 --force >/dev/null 2>&1
check "cubelet exits cleanly" stop_cubelet
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
finish

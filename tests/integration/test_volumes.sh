#!/bin/bash
# Volumes of static pods against a real containerd, seen from inside the container: emptyDir (disk and
# tmpfs with sizeLimit), hostPath types with upstream's checks and modes, downwardAPI (contents, modes,
# read-only), subPath; traversal through subPath symlinks refused; API objects refused for static pods;
# the pod's volumes (and their tmpfs mounts) gone with the pod.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
H="$WORK/host"
mkdir -p "$H/shared/inside"
ln -s /etc "$H/shared/escape"
ln -s inside "$H/shared/ok-link"
echo host-file >"$H/shared/inside/f"
: >"$H/regular"

# log_of NAME CONTAINER: the container's output (CRI log lines without their prefixes).
log_of() { cat "$WORK"/logs/default_"$1-$NODE"_*/"$2"/0.log 2>/dev/null | cut -d' ' -f4-; }
log_line() { log_of "$1" "$2" | grep -qFx -- "$3"; }
mode_is() { [ -e "$1" ] && [ "$(stat -c %a "$1")" = "$2" ]; }
waiting_reason() { pod_status "$1" ".containerStatuses[0].state.waiting.reason // empty"; }

cat >"$M/vols.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {app: vols, tier: "x\"y"}
  annotations: {note: hello}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: $IMG
    resources: {limits: {memory: 64Mi, cpu: 500m}}
    command: ["sh", "-c"]
    args:
    - |
      trap 'exit 0' TERM
      echo "ed-mode=\$(stat -c %a /ed)"
      touch /ed/w && echo ed-writable
      grep " /mem " /proc/mounts | grep -q tmpfs && echo mem-tmpfs
      grep " /mem " /proc/mounts | grep -q "size=2048k" && echo mem-size
      echo "hpdir-mode=\$(stat -c %a /hpdir)"
      echo "hpfile-mode=\$(stat -c %a /hpfile)"
      echo "sub=\$(cat /sub/f)"
      echo "sublink=\$(cat /sublink/f)"
      echo "name=\$(cat /info/name)"
      echo "ns=\$(cat /info/ns/namespace)"
      echo "labels=\$(cat /info/labels | tr '\n' ',')"
      echo "mem=\$(cat /info/mem)"
      echo "cpu=\$(cat /info/cpu)"
      echo "info-mode=\$(stat -Lc %a /info/name)"
      echo "ns-mode=\$(stat -Lc %a /info/ns/namespace)"
      touch /info/x 2>/dev/null || echo info-readonly
      grep " /info " /proc/mounts | grep -q tmpfs && echo info-tmpfs
      echo done
      while true; do sleep 0.2; done
    volumeMounts:
    - {name: ed, mountPath: /ed}
    - {name: mem, mountPath: /mem}
    - {name: hpdir, mountPath: /hpdir}
    - {name: hpfile, mountPath: /hpfile}
    - {name: shared, mountPath: /sub, subPath: inside}
    - {name: shared, mountPath: /sublink, subPath: ok-link}
    - {name: info, mountPath: /info}
  volumes:
  - {name: ed, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 2Mi}}
  - {name: hpdir, hostPath: {path: $H/made-dir/sub, type: DirectoryOrCreate}}
  - {name: hpfile, hostPath: {path: $H/made-file, type: FileOrCreate}}
  - {name: shared, hostPath: {path: $H/shared, type: Directory}}
  - name: info
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}, mode: 0400}
      - {path: ns/namespace, fieldRef: {fieldPath: metadata.namespace}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
      - {path: cpu, resourceFieldRef: {containerName: c, resource: limits.cpu, divisor: 1m}}
YAML

# badpod NAME VOLUME-YAML [MOUNT-EXTRA]: a pod with one volume mounted at /v.
badpod() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: v, mountPath: /v${3:-}}
  volumes:
  - {name: v, $2}
YAML
}
badpod hp-notdir "hostPath: {path: $H/regular, type: Directory}" >"$M/hp-notdir.yaml"
badpod hp-missing "hostPath: {path: $H/missing, type: File}" >"$M/hp-missing.yaml"
badpod hp-sock "hostPath: {path: $H/regular, type: Socket}" >"$M/hp-sock.yaml"
badpod hp-chr "hostPath: {path: /dev/null, type: CharDevice}" >"$M/hp-chr.yaml"
badpod hp-blk "hostPath: {path: /dev/null, type: BlockDevice}" >"$M/hp-blk.yaml"
badpod esc-link "hostPath: {path: $H/shared}" ", subPath: escape" >"$M/esc-link.yaml"
badpod esc-deep "hostPath: {path: $H/shared}" ", subPath: escape/passwd" >"$M/esc-deep.yaml"
badpod esc-dots "emptyDir: {}" ", subPath: a/../../.." >"$M/esc-dots.yaml"
badpod static-cm "configMap: {name: settings}" >"$M/static-cm.yaml"
badpod static-sec "secret: {secretName: creds}" >"$M/static-sec.yaml"
badpod dw-bad "downwardAPI: {items: [{path: ../../escaped, fieldRef: {fieldPath: metadata.name}}]}" \
  >"$M/dw-bad.yaml"

# fsGroup: the volumes belong to the group (setgid directories, g+rw; g+r on API-data volumes) and the
# container runs with it among its groups, so a non-root user reads a 0400 downwardAPI file.
cat >"$M/fsg.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: fsg}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, fsGroupChangePolicy: OnRootMismatch}
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c"]
    args:
    - |
      echo "groups=\$(id -G)"
      echo "ed=\$(stat -c '%g %a' /ed)"
      touch /ed/f && echo "ed-file-group=\$(stat -c %g /ed/f)"
      echo "mem=\$(stat -c '%g %a' /mem)"
      echo "info=\$(stat -Lc '%g %a' /info/name)"
      cat /info/name >/dev/null && echo info-readable
      echo done
      exec sleep 3600
    volumeMounts:
    - {name: ed, mountPath: /ed}
    - {name: mem, mountPath: /mem}
    - {name: info, mountPath: /info}
  volumes:
  - {name: ed, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: info, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}, mode: 0400}]}}
YAML
badpod fsg-bad "emptyDir: {}" | sed 's/^spec:$/spec:\n  securityContext: {fsGroup: 1, fsGroupChangePolicy: Sometimes}/' >"$M/fsg-bad.yaml"

# An orphaned pod directory from before (no source wants it), with a secret tmpfs still mounted.
ORPHAN="$WORK/root/pods/orphan-0000/volumes/kubernetes.io~secret/s"
mkdir -p "$ORPHAN" && mount -t tmpfs tmpfs "$ORPHAN" && echo old >"$ORPHAN/key"

start_cubelet "$M"
check "orphaned pod directory: unmounted and removed at start" wait_for 20 eval \
  "[ ! -e '$WORK/root/pods/orphan-0000' ] && ! grep -q ' $ORPHAN ' /proc/mounts"

check "volumes pod runs" wait_for 30 is_running c default/vols-$NODE
check "the container's script ran to the end" wait_for 15 log_line vols c done
for want in ed-mode=777 ed-writable mem-tmpfs mem-size hpdir-mode=755 hpfile-mode=644 sub=host-file \
  sublink=host-file name=vols-$NODE ns=default 'labels=app="vols",tier="x\"y"' mem=64 cpu=500 \
  info-mode=400 ns-mode=644 info-readonly info-tmpfs; do
  check "inside the container: $want" log_line vols c "$want"
done
check "fsGroup pod: the script ran" wait_for 30 log_line fsg c done
for want in "groups=3000 2000" "ed=2000 2777" ed-file-group=2000 "mem=2000 2777" "info=2000 440" info-readable; do
  check "fsGroup pod, inside: $want" log_line fsg c "$want"
done
check "fsGroup pod: an unknown fsGroupChangePolicy is a FailedMount naming the field" wait_for 20 log_has \
  'spec.securityContext.fsGroupChangePolicy: Unsupported value: \\"Sometimes\\"'
check "DirectoryOrCreate made the directory 0755" mode_is "$H/made-dir/sub" 755
check "FileOrCreate made a regular file 0644" eval '[ -f "$H/made-file" ] && mode_is "$H/made-file" 644'
uid=$(cri pods | awk -F'\t' -v n="vols-$NODE" '$4 == n && $2 == "READY" { print $6 }' | head -1)
DW="$WORK/root/pods/$uid/volumes/kubernetes.io~downward-api/info"
check "downwardAPI volume is laid out with a ..data symlink" eval '[ -L "$DW/..data" ] && [ -L "$DW/name" ]'
check "downwardAPI volume is a tmpfs on the host" grep -q " $DW tmpfs " /proc/mounts
check "subPath mounts come from binds under the pod's volume-subpaths" \
  grep -q " $WORK/root/pods/$uid/volume-subpaths/shared/c/4 " /proc/mounts

# Type checks: FailedMount, the containers wait in ContainerCreating, nothing started.
for c in "hp-notdir:$H/regular is not a directory" "hp-missing:$H/missing is not a file" \
  "hp-sock:$H/regular is not a socket file" "hp-blk:/dev/null is not a block device"; do
  n=${c%%:*} msg=${c#*:}
  check "$n: FailedMount 'hostPath type check failed: $msg'" wait_for 20 log_has \
    "MountVolume.SetUp failed for volume .*v.* : hostPath type check failed: $msg"
  check "$n: container waits in ContainerCreating" wait_for 30 eval "[ \"\$(waiting_reason $n)\" = ContainerCreating ]"
  check "$n: no container was created" [ -z "$(all_ids c default/$n-$NODE)" ]
done
check "CharDevice on /dev/null is accepted" wait_for 30 is_running c default/hp-chr-$NODE

# Traversal: refused before anything runs, with a clear reason.
for n in esc-link esc-deep; do
  check "$n: CreateContainerConfigError" wait_for 20 eval "[ \"\$(waiting_reason $n)\" = CreateContainerConfigError ]"
  check "$n: upstream's message in the status, without host paths" \
    eval "[ \"\$(pod_status $n '.containerStatuses[0].state.waiting.message')\" = 'failed to prepare subPath for volumeMount \"v\" of container \"c\"' ]"
  check "$n: the log says the subPath is not within the volume" \
    eval "grep 'Preparing a subPath failed' '$WORK/cubelet.log' | grep -q 'pod=\"default/$n-$NODE\".*not within volume path'"
  check "$n: no container was created" [ -z "$(all_ids c default/$n-$NODE)" ]
done
check "esc-dots: '..' in subPath refused" wait_for 20 eval \
  "[ \"\$(waiting_reason esc-dots)\" = CreateContainerConfigError ] || log_has 'esc-dots.yaml.*subPath'"
check "dw-bad: a downwardAPI path with '..' is refused" wait_for 20 log_has \
  "volume .*v.* : invalid path: must not contain '..': ../../escaped"
check "nothing was written outside the pod directory" eval '[ ! -e "$WORK/root/pods/escaped" ] && [ ! -e "$WORK/root/escaped" ]'

# Static pods may not use API objects.
check "static pod with a configMap volume is refused" wait_for 20 log_has \
  'static pods may not reference API objects: configmap \\"settings\\"'
check "static pod with a secret volume is refused" wait_for 20 log_has \
  'static pods may not reference API objects: secret \\"creds\\"'

# Removal: the volumes go with the pod, tmpfs unmounted first.
rm -f "$M/vols.yaml"
check "pod removed" wait_for 30 is_gone c default/vols-$NODE
check "its directory is gone" wait_for 30 eval "[ ! -e '$WORK/root/pods/$uid' ]"
check "no mount of it is left" eval "! grep -q '$WORK/root/pods/$uid' /proc/mounts"
check "hostPath contents are left alone" [ -f "$H/shared/inside/f" ]

rm -f "$M"/*.yaml
wait_for 30 eval "! grep -q '$WORK/root/pods/' /proc/mounts"
check "cubelet exits cleanly" stop_cubelet
finish

#!/bin/bash
# Security contexts and seccomp against a real containerd: a Localhost profile compiled with libseccomp
# first (a broken one never reaches runc), runAsNonRoot against the image's user, runAsUser, read-only root,
# dropped capabilities, sysctls.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M" "$WORK/root/seccomp"
IMG=cubelet.local/busybox:1.35

cat >"$WORK/root/seccomp/deny-mkdir.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirr"], "action": "SCMP_ACT_ERRNO"}]}' \
  >"$WORK/root/seccomp/typo.json"

pod() { # pod NAME COMMAND SECURITY_CONTEXT [POD_SECURITY_CONTEXT]
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: ${4:-{\}}
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "$2; sleep 3600"]
    securityContext: $3
YAML
}
pod seccomp 'mkdir /tmp/x; echo mkdir-rc=$?' '{seccompProfile: {type: Localhost, localhostProfile: deny-mkdir.json}}'
pod badprofile 'echo never' '{seccompProfile: {type: Localhost, localhostProfile: typo.json}}'
pod nonroot 'echo never' '{runAsNonRoot: true}'
pod user 'echo uid=$(id -u) gid=$(id -g); touch /x 2>/dev/null; echo touch-rc=$?; grep CapEff /proc/self/status' \
  '{runAsUser: 1000, runAsGroup: 2000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'
# upstream's default masked and read-only /proc and /sys paths (a kubelet sends them; the runtime has none of
# its own): a root container cannot read the kernel's memory or keys, nor write sysctls or sysrq
pod masked 'for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware; do grep -q \" $p \" /proc/self/mountinfo && echo masked:$p; done; for p in /proc/sys /proc/sysrq-trigger /proc/irq; do grep -q \" $p ro,\" /proc/self/mountinfo && echo ro:$p; done; echo checked' '{}'
pod sysctl 'echo ping=$(cat /proc/sys/net/ipv4/ping_group_range)' '{}' \
  '{sysctls: [{name: net.ipv4.ping_group_range, value: "0 2147483647"}]}'
start_cubelet "$M"

log_of() { cat "$WORK"/logs/default_"$1"-"$NODE"_*/c/0.log 2>/dev/null | grep -Eq -- "$2"; }
waiting_is() { [ "$(pod_status "$1" '.containerStatuses[0].state.waiting.reason')" = "$2" ]; }
waiting_says() { pod_status "$1" '.containerStatuses[0].state.waiting.message' | grep -q -- "$2"; }

check "Localhost seccomp profile: the container runs" wait_for 30 is_running c default/seccomp-$NODE
check "... and mkdir fails inside it (EPERM from the profile)" wait_for 30 log_of seccomp 'mkdir-rc=1'
check "... with Operation not permitted" log_of seccomp 'Operation not permitted'
check "a profile with an unknown syscall: CreateContainerConfigError" wait_for 20 waiting_is badprofile CreateContainerConfigError
check "... naming the file and the syscall" waiting_says badprofile 'typo.json: syscalls\[0\].names\[0\]: unknown syscall "mkdirr"'
check "... and runc never saw it (no container created)" test -z "$(all_ids c default/badprofile-$NODE)"
check "runAsNonRoot with a root image: CreateContainerConfigError" wait_for 20 waiting_is nonroot CreateContainerConfigError
check "... with upstream's message" waiting_says nonroot 'container has runAsNonRoot and image will run as root'
check "... and a Failed event" log_has 'reason="Failed" message="Error: container has runAsNonRoot and image will run as root'
check "runAsUser/runAsGroup: the process runs as 1000:2000" wait_for 30 log_of user 'uid=1000 gid=2000'
check "... readOnlyRootFilesystem: writing / fails" log_of user 'touch-rc=1'
check "... capabilities dropped: CapEff is empty" log_of user 'CapEff:.*0000000000000000'
check "default masked paths: the container ran its checks" wait_for 30 log_of masked checked
for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware; do # those this kernel has (runc skips the rest)
  [ ! -e "$p" ] || check "... $p is masked" log_of masked "masked:$p\$"
done
for p in /proc/sys /proc/sysrq-trigger /proc/irq; do
  [ ! -e "$p" ] || check "... $p is read-only" log_of masked "ro:$p\$"
done
check "pod sysctls reach the pod's network namespace" wait_for 30 log_of sysctl 'ping=0[[:space:]]*2147483647'

# mountPropagation: HostToContainer lets a mount made on the host later show inside the container.
PROP="$WORK/prop"
mkdir -p "$PROP/sub"
mount --bind "$PROP" "$PROP" && mount --make-rshared "$PROP"
cat >"$M/prop.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: prop}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "while :; do if [ -f /host/sub/late ]; then echo seen-late-mount; sleep 3600; fi; sleep 0.2; done"]
    volumeMounts: [{name: h, mountPath: /host, mountPropagation: HostToContainer}]
  volumes: [{name: h, hostPath: {path: $PROP}}]
YAML
check "mountPropagation HostToContainer: the pod runs" wait_for 30 is_running c default/prop-$NODE
mount -t tmpfs tmpfs "$PROP/sub" && echo x >"$PROP/sub/late"
check "... a tmpfs mounted on the host afterwards is seen inside" wait_for 30 log_of prop seen-late-mount
umount "$PROP/sub" 2>/dev/null

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "all pods removed" wait_for 30 gone
check "cubelet exits cleanly" stop_cubelet
umount -l "$PROP" 2>/dev/null
finish

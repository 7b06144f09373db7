#!/bin/bash
# The leak checks of tests/faults/leaks.sh can fail: each leak is made once by hand beside a running pod,
# the check meant for it must fail and name it, and pass again once the leak is undone.
source "$(dirname "$0")/common.sh"
skip_unless_ready
lk_init
start_cubelet "$M" || { not_ok "cubelet starts"; finish; exit 1; }
write_pods 1 2
both() { [ "$(n_running)" = 2 ]; }
check "two pods run" wait_for 120 both
lk_want $(pod_names 1 2)
check "the checks pass on a clean node" wait_for 30 leak_free
lk_check_all "clean"
uid=$(lk_wanted_uids | head -n1)

# caught CHECK PATTERN: the check fails, and its report matches PATTERN
caught() { local out; out=$("$1"); local rc=$?; echo "$out"; [ $rc != 0 ] && grep -q -- "$2" <<<"$out"; }

# --- a sandbox of the node's no source wants
sb=$(cri runp "stray-$NODE")
check "a stray sandbox is caught" caught lk_sandboxes "leaked sandbox ${sb:0:13}"
# The report lk_check_all reads (every check on one listing): the same finding, and only there.
report=$(lk_py report)
reported_sandboxes() { lk_reported sandboxes "$report"; }
check "... in the report of every check" caught reported_sandboxes "leaked sandbox ${sb:0:13}"
check "... whose other checks pass" lk_reported containers "$report"
cri rmp "$sb" >/dev/null
lk_want $(pod_names 1 2 3)
check "a wanted pod without a sandbox is caught" caught lk_sandboxes "default/p3-$NODE has 0 sandboxes"
lk_want $(pod_names 1 2)
check "... passes again" lk_sandboxes

# --- a second instance of a container (its process killed: cubelet starts another, keeps the dead one)
id=$(running_ids c "default/p1-$NODE")
kill -KILL "$(ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$id" '$1 == id { print $2 }')"
two() { [ "$(all_ids c "default/p1-$NODE" | grep -c .)" = 2 ]; }
check "a restarted container has two instances" wait_for 60 two
check "a second instance is caught" caught lk_containers "default/p1-$NODE has more than one instance of: c"
rm -f "$M/p1.yaml"
p1_gone() { ! all_ids c "default/p1-$NODE" | grep -q .; }
check "(pod 1 removed)" wait_for 60 p1_gone
lk_want $(pod_names 2)
check "... passes again" wait_for 30 leak_free
uid=$(lk_wanted_uids | head -n1)

# --- an address leased for no sandbox
echo stray0000000000000000 >"$LK_IPAM/10.250.250.250"
check "a leaked address is caught" caught lk_ips "leaked address 10.250.250.250"
rm -f "$LK_IPAM/10.250.250.250"
check "... passes again" lk_ips

# --- a veth on the bridge nobody owns: named by this test's process (the other instance's test may run
# this at the same time), and removed however the test ends (one killed half-way left it to the next run)
veth=lk$$a
trap 'ip link del "$veth" 2>/dev/null; faults_exit' EXIT
ip link add "$veth" type veth peer name "lk$$b" && ip link set "$veth" master "$LK_BRIDGE"
check "a leaked veth is caught" caught lk_veths "2 veths on $LK_BRIDGE for 1 pods"
ip link del "$veth"
check "... passes again" lk_veths

# --- a pod cgroup nobody owns
cg=$(find /sys/fs/cgroup/*"$CGROUP_ROOT" -type d -name "pod$uid" | head -n1)
mkdir "$(dirname "$cg")/pod0000-stray"
check "a leaked pod cgroup is caught" caught lk_cgroups "leaked pod cgroup .*/pod0000-stray"
rmdir "$(dirname "$cg")/pod0000-stray"
check "... passes again" lk_cgroups

# --- mounts: one where no pod is, one stacked on a pod's volume
mkdir -p "$WORK/root/stray"
mount -t tmpfs lkstray "$WORK/root/stray"
check "a mount outside the pods' directories is caught" caught lk_mounts "leaked mount $WORK/root/stray"
umount "$WORK/root/stray"
vol=$(lk_mount_points | grep "^$WORK/root/pods/$uid/volumes/" | head -n1)
mount -t tmpfs lkstray "$vol"
check "a mount stacked on a pod's volume is caught" caught lk_mounts "mounted more than once: $vol"
umount "$vol"
check "... passes again" lk_mounts

# --- a pod directory nobody owns
mkdir "$WORK/root/pods/0000-stray"
check "a leaked pod directory is caught" caught lk_poddirs "leaked pod directory 0000-stray"
rmdir "$WORK/root/pods/0000-stray"
check "... passes again" lk_poddirs

rm -f "$M"/*.yaml
check "all pods gone" wait_for 60 none_left
lk_want
check "the checks pass on an empty node" wait_for 30 leak_free
check "cubelet exits cleanly" stop_cubelet
finish

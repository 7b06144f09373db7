# Leak checks shared by the fault tests (tests/faults) and the churn soak (bench/bench_churn.sh), bash.
# Each lk_* check returns 0 when the node holds exactly what is wanted and prints what is wrong otherwise
# ("#   ..." lines), so it fits lib.sh's `check DESCRIPTION lk_...`.
#
# Set before lk_init:
#   LK_CRI          the cubelet-cri binary        LK_SOCK      containerd's socket
#   LK_CTD_DIR      the containerd instance dir (its instance.env names the IPAM dir and the bridge)
#   LK_NODE         cubelet's node name: the checks look at static pods (<name>-<node>) only, or
#   LK_MATCH        instead, an extended regex on namespace/name that picks the pods the checks look at
#   LK_ROOT         cubelet's --root-dir          LK_CGROUP_ROOT  cubelet's --cgroup-root
# Then `lk_want ns/name...` (the pods that must run; none: nothing of the node's may be left) and
# LK_MOUNTS_PER_POD (mounts under <root>/pods/<uid> each wanted pod has; empty: not counted).
#
# lk_init records the IPAM leases and veths already there (an earlier test's are not this test's).

LK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lk_say() { echo "#   $*"; }
lk_match() { echo "${LK_MATCH:--$LK_NODE\$}"; }
# lk_py ARGS...: leaks.py (the checks themselves, one process each) with this file's settings.
lk_py() {
  LK_CRI=$LK_CRI LK_SOCK=$LK_SOCK LK_RE=$(lk_match) LK_WANT=$(printf '%s\n' "${LK_WANT[@]}") \
    LK_ROOT=$LK_ROOT LK_CGROUP_ROOT=$LK_CGROUP_ROOT LK_MOUNTS_PER_POD=${LK_MOUNTS_PER_POD:-} \
    LK_IPAM=${LK_IPAM:-} LK_BRIDGE=${LK_BRIDGE:-} LK_BASE_LEASES=${LK_BASE_LEASES:-} \
    LK_BASE_VETHS=${LK_BASE_VETHS:-} python3 "$LK_DIR/leaks.py" "$@"
}

lk_init() {
  local CUBELET_IPAM_DIR="" CUBELET_BRIDGE="" CUBELET_CNI_CONF_DIR="" CUBELET_AGENT_CNI_CONF_DIR=""
  # shellcheck disable=SC1091 # written by start-containerd.sh with printf %q
  . "$LK_CTD_DIR/instance.env"
  local conf="${CUBELET_AGENT_CNI_CONF_DIR:-$CUBELET_CNI_CONF_DIR}/10-cubelet.conflist"
  LK_IPAM="$CUBELET_IPAM_DIR/$(jq -r .name "$conf")"
  LK_BRIDGE=$CUBELET_BRIDGE
  LK_WANT=()
  LK_BASE_LEASES=$(lk_py leases)
  LK_BASE_VETHS=$(lk_py veth-names)
}

lk_want() { LK_WANT=("$@"); }

# The UIDs of the wanted pods' ready sandboxes; the mount points under the root dir.
lk_wanted_uids() { lk_py wanted-uids; }
lk_mount_points() { lk_py mount-points; }

# Exactly one sandbox per wanted pod, ready; none of any other pod looked at.
lk_sandboxes() { lk_py sandboxes; }
# One instance of each container of each wanted pod, running, in the pod's ready sandbox; nothing of other
# pods.
lk_containers() { lk_py containers; }
# Every address leased since lk_init belongs to a ready sandbox of a wanted pod, one per pod.
lk_ips() { lk_py ips; }
# One veth on the bridge per wanted pod, beyond those there before.
lk_veths() { lk_py veths; }
# Pod cgroups (pod<uid> in every hierarchy under the cgroup root): exactly the wanted pods'.
lk_cgroups() { lk_py cgroups; }
# Mounts under the root dir: only below wanted pods' directories, none stacked, LK_MOUNTS_PER_POD each.
lk_mounts() { lk_py mounts; }
# Pod directories (<root>/pods/<uid>): exactly the wanted pods'.
lk_poddirs() { lk_py poddirs; }
# Every check passes (quiet: a wait's condition; lk_check_all reports them one by one).
lk_all() { lk_py all; }

# Every check with lib.sh's check (or any `check DESCRIPTION COMMAND...`), WHAT naming the moment. One
# leaks.py run makes them all on one listing of the node (seven took 13-50 s a round in faults_kill_cubelet,
# 30 pods, a busy machine); each check's result and lines are then taken from its report.
lk_check_all() {
  local what=$1 report
  report=$(lk_py report)
  check "$what: exactly the wanted sandboxes" lk_reported sandboxes "$report"
  check "$what: one instance of each container" lk_reported containers "$report"
  check "$what: no leaked pod address" lk_reported ips "$report"
  check "$what: no leaked veth" lk_reported veths "$report"
  check "$what: no leaked pod cgroup" lk_reported cgroups "$report"
  check "$what: no leaked mount" lk_reported mounts "$report"
  check "$what: no leaked pod directory" lk_reported poddirs "$report"
}
# lk_reported NAME REPORT: check NAME's lines from a `leaks.py report`, and its result.
lk_reported() {
  local line
  while IFS= read -r line; do
    case "$line" in "$1 #"*) echo "${line#"$1 "}" ;; esac
  done <<<"$2"
  grep -qx "$1 ok" <<<"$2"
}

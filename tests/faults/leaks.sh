# Leak checks shared by the fault tests (tests/faults) and the churn soak (bench/bench_churn.sh), bash.
# Each lk_* check returns 0 when the node holds exactly what is wanted and prints what is wrong otherwise
# ("#   ..." lines), so it fits lib.sh's `check DESCRIPTION lk_...`.
#
# Set before lk_init:
#   LK_CRI          the cubelet-cri binary        LK_SOCK      containerd's socket
#   LK_CTD_DIR      the containerd instance dir (its instance.env names the IPAM dir and the bridge)
#   LK_NODE         cubelet's node name: the checks look at static pods (<name>-<node>) only, or
#   LK_MATCH        instead, an awk regex on namespace/name that picks the pods the checks look at
#   LK_ROOT         cubelet's --root-dir          LK_CGROUP_ROOT  cubelet's --cgroup-root
# Then `lk_want ns/name...` (the pods that must run; none: nothing of the node's may be left) and
# LK_MOUNTS_PER_POD (mounts under <root>/pods/<uid> each wanted pod has; empty: not counted).
#
# lk_init records the IPAM leases and veths already there (an earlier test's are not this test's).

lk_cri() { "$LK_CRI" -r "unix://$LK_SOCK" "$@"; }
lk_say() { echo "#   $*"; }

lk_init() {
  local CUBELET_IPAM_DIR="" CUBELET_BRIDGE="" CUBELET_CNI_CONF_DIR="" CUBELET_AGENT_CNI_CONF_DIR=""
  # shellcheck disable=SC1091 # written by start-containerd.sh with printf %q
  . "$LK_CTD_DIR/instance.env"
  local conf="${CUBELET_AGENT_CNI_CONF_DIR:-$CUBELET_CNI_CONF_DIR}/10-cubelet.conflist"
  LK_IPAM="$CUBELET_IPAM_DIR/$(jq -r .name "$conf")"
  LK_BRIDGE=$CUBELET_BRIDGE
  LK_BASE_LEASES=$(lk_leases)
  LK_BASE_VETHS=$(lk_veth_names)
  LK_WANT=()
}

lk_want() { LK_WANT=("$@"); }

# Lease files: "ip id" per line (host-local: the file is named by the address, its first line the id).
lk_leases() {
  local f
  for f in "$LK_IPAM"/*; do
    [ -f "$f" ] || continue
    case "${f##*/}" in lock | last_reserved_ip*) continue ;; esac
    echo "${f##*/} $(head -n1 "$f" | tr -d '\r')"
  done
}
lk_new_leases() { comm -13 <(echo "$LK_BASE_LEASES" | sort) <(lk_leases | sort) | grep . || true; }

lk_veth_names() { # (no bridge yet: none)
  { ip -o link show master "$LK_BRIDGE" type veth 2>/dev/null || true; } | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
}
lk_new_veths() { comm -13 <(echo "$LK_BASE_VETHS") <(lk_veth_names) | grep . || true; }

lk_match() { echo "${LK_MATCH:--$LK_NODE\$}"; }
# The pods' sandboxes: "id13 state ns/name uid" (every state).
lk_sandboxes_now() {
  lk_cri pods | awk -F'\t' -v re="$(lk_match)" 'NR > 1 && ($3 "/" $4) ~ re { print $1, $2, $3 "/" $4, $6 }'
}
# The pods' containers: "id state name ns/name pod-id13" (every state).
lk_containers_now() {
  lk_cri ps -a | awk -F'\t' -v re="$(lk_match)" 'NR > 1 && $5 ~ re { print $1, $2, $3, $5, $7 }'
}

lk_is_wanted() {
  local w
  for w in "${LK_WANT[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# The UIDs of the wanted pods' ready sandboxes.
lk_wanted_uids() {
  lk_sandboxes_now | while read -r _ st name uid; do
    [ "$st" = READY ] && lk_is_wanted "$name" && echo "$uid"
  done | sort -u
}

# Exactly one sandbox per wanted pod, ready; none of any other pod looked at.
lk_sandboxes() {
  local rc=0 list w n
  list=$(lk_sandboxes_now) || { lk_say "cannot list sandboxes"; return 1; }
  for w in "${LK_WANT[@]}"; do
    n=$(awk -v w="$w" '$3 == w' <<<"$list" | grep -c .)
    [ "$n" = 1 ] || { lk_say "$w has $n sandboxes"; rc=1; continue; }
    awk -v w="$w" '$3 == w && $2 == "READY"' <<<"$list" | grep -q . || { lk_say "$w: sandbox not ready"; rc=1; }
  done
  while read -r id st name _; do
    [ -n "$id" ] || continue
    lk_is_wanted "$name" || { lk_say "leaked sandbox $id ($st) of $name"; rc=1; }
  done <<<"$list"
  return $rc
}

# One instance of each container of each wanted pod, running, in the pod's sandbox; nothing of other pods.
lk_containers() {
  local rc=0 list sbs w dup
  list=$(lk_containers_now) || { lk_say "cannot list containers"; return 1; }
  sbs=$(lk_sandboxes_now)
  for w in "${LK_WANT[@]}"; do
    awk -v w="$w" '$4 == w' <<<"$list" | grep -q . || { lk_say "$w has no container"; rc=1; }
    dup=$(awk -v w="$w" '$4 == w { print $3 }' <<<"$list" | sort | uniq -d)
    [ -z "$dup" ] || { lk_say "$w has more than one instance of: $(echo $dup)"; rc=1; }
  done
  while read -r id st name pod sb; do
    [ -n "$id" ] || continue
    if ! lk_is_wanted "$pod"; then
      lk_say "leaked container ${id:0:13} ($name, $st) of $pod"
      rc=1
    elif [ "$st" != RUNNING ]; then
      lk_say "container ${id:0:13} ($name) of $pod is $st"
      rc=1
    elif ! awk -v s="$sb" -v w="$pod" '$1 == s && $3 == w && $2 == "READY"' <<<"$sbs" | grep -q .; then
      lk_say "container ${id:0:13} ($name) of $pod runs outside the pod's ready sandbox"
      rc=1
    fi
  done <<<"$list"
  return $rc
}

# Every address leased since lk_init belongs to a ready sandbox of a wanted pod, one per pod.
lk_ips() {
  local rc=0 leases sbs ip id n
  leases=$(lk_new_leases)
  sbs=$(lk_sandboxes_now)
  while read -r ip id; do
    [ -n "$ip" ] || continue
    awk -v s="${id:0:13}" '$1 == s && $2 == "READY"' <<<"$sbs" | grep -q . ||
      { lk_say "leaked address $ip (sandbox ${id:0:13} is not a ready sandbox of this node)"; rc=1; }
  done <<<"$leases"
  n=$(grep -c . <<<"$leases")
  [ "$n" = "${#LK_WANT[@]}" ] || { lk_say "$n addresses leased for ${#LK_WANT[@]} pods"; rc=1; }
  return $rc
}

# One veth on the bridge per wanted pod, beyond those there before.
lk_veths() {
  local v n
  v=$(lk_new_veths)
  n=$(grep -c . <<<"$v")
  [ "$n" = "${#LK_WANT[@]}" ] && return 0
  lk_say "$n veths on $LK_BRIDGE for ${#LK_WANT[@]} pods: $(echo $v | cut -c1-300)"
  return 1
}

# Pod cgroups (pod<uid> in every hierarchy under the cgroup root): exactly the wanted pods'.
lk_cgroups() {
  local rc=0 want have d
  want=$(lk_wanted_uids)
  have=$(for d in /sys/fs/cgroup/*"$LK_CGROUP_ROOT" /sys/fs/cgroup"$LK_CGROUP_ROOT"; do
    [ -d "$d" ] && find "$d" -type d -name 'pod*' -printf '%f %h\n'
  done | sed 's/^pod//')
  while read -r uid dir; do
    [ -n "$uid" ] || continue
    grep -qxF "$uid" <<<"$want" || { lk_say "leaked pod cgroup $dir/pod$uid"; rc=1; }
  done <<<"$have"
  for uid in $want; do
    grep -q "^$uid " <<<"$have" || { lk_say "no cgroup for wanted pod $uid"; rc=1; }
  done
  return $rc
}

# Mounts under the root dir: only below wanted pods' directories, none stacked, LK_MOUNTS_PER_POD each.
lk_mount_points() {
  local mp
  while read -r _ _ _ _ mp _; do
    mp=$(printf '%b' "$mp")
    case "$mp" in "$LK_ROOT" | "$LK_ROOT"/*) echo "$mp" ;; esac
  done </proc/self/mountinfo
}
lk_mounts() {
  local rc=0 mps want dup mp uid n
  mps=$(lk_mount_points)
  want=$(lk_wanted_uids)
  dup=$(sort <<<"$mps" | uniq -d)
  [ -z "$dup" ] || { lk_say "mounted more than once: $(echo $dup | cut -c1-300)"; rc=1; }
  while read -r mp; do
    [ -n "$mp" ] || continue
    uid=${mp#"$LK_ROOT"/pods/}
    uid=${uid%%/*}
    if [ "$uid" = "$mp" ] || ! grep -qxF "$uid" <<<"$want"; then
      lk_say "leaked mount $mp"
      rc=1
    fi
  done <<<"$mps"
  if [ -n "${LK_MOUNTS_PER_POD:-}" ]; then
    for uid in $want; do
      n=$(grep -c "^$LK_ROOT/pods/$uid/" <<<"$mps")
      [ "$n" = "$LK_MOUNTS_PER_POD" ] || { lk_say "pod $uid has $n mounts, not $LK_MOUNTS_PER_POD"; rc=1; }
    done
  fi
  return $rc
}

# Pod directories (<root>/pods/<uid>): exactly the wanted pods'.
lk_poddirs() {
  local have want
  have=$(ls -A "$LK_ROOT/pods" 2>/dev/null | sort)
  want=$(lk_wanted_uids)
  [ "$have" = "$want" ] && return 0
  comm -23 <(echo "$have") <(echo "$want") | grep . | sed 's/^/leaked pod directory /' | while read -r l; do lk_say "$l"; done
  comm -13 <(echo "$have") <(echo "$want") | grep . | sed 's/^/no directory for wanted pod /' | while read -r l; do lk_say "$l"; done
  return 1
}

# Every check with lib.sh's check (or any `check DESCRIPTION COMMAND...`), WHAT naming the moment.
lk_check_all() {
  local what=$1
  check "$what: exactly the wanted sandboxes" lk_sandboxes
  check "$what: one instance of each container" lk_containers
  check "$what: no leaked pod address" lk_ips
  check "$what: no leaked veth" lk_veths
  check "$what: no leaked pod cgroup" lk_cgroups
  check "$what: no leaked mount" lk_mounts
  check "$what: no leaked pod directory" lk_poddirs
}

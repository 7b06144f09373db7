#!/bin/bash
# Pod cgroups by QoS class against a real containerd: kubepods and its tiers, each pod's cgroup in its tier
# with upstream's values, the sandbox and containers inside it, the cgroup gone with the pod, orphaned pod
# cgroups removed once empty. Everything lives under a test-unique --cgroup-root.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
CGROOT=$CGROUP_ROOT # lib.sh's, test-unique; passed by start_cubelet
CG=/sys/fs/cgroup

if [ "$(stat -fc %T $CG)" = cgroup2fs ]; then V2=1; else V2=0; fi
# hier CONTROLLER: the directory of the hierarchy that has it (v2: the one hierarchy).
hier() { if [ $V2 = 1 ]; then echo $CG; else readlink -f "$CG/$1"; fi; }
CPU=$(hier cpu) MEM=$(hier memory) PIDS=$(hier pids)
KP="$CGROOT/kubepods"

# The files, v1 or v2 (weights per upstream's 1 + ((shares - 2) * 9999) / 262142).
weight() { echo $((1 + (($1 - 2) * 9999) / 262142)); }
shares() { cat "$CPU$1/$([ $V2 = 1 ] && echo cpu.weight || echo cpu.shares)"; }
quota() { if [ $V2 = 1 ]; then cut -d' ' -f1 "$CPU$1/cpu.max"; else cat "$CPU$1/cpu.cfs_quota_us"; fi; }
period() { if [ $V2 = 1 ]; then cut -d' ' -f2 "$CPU$1/cpu.max"; else cat "$CPU$1/cpu.cfs_period_us"; fi; }
memlimit() { cat "$MEM$1/$([ $V2 = 1 ] && echo memory.max || echo memory.limit_in_bytes)"; }
pidsmax() { cat "$PIDS$1/pids.max"; }
want_shares() { if [ $V2 = 1 ]; then weight "$1"; else echo "$1"; fi; }
NOQUOTA=$([ $V2 = 1 ] && echo max || echo -1)
# is CG_PATH VALUE-COMMAND WANT: compares and says what it found.
is() {
  local got
  got=$("$1" "$2" 2>/dev/null)
  [ "$got" = "$3" ] || { echo "# $1 $2: got \"$got\", want \"$3\""; return 1; }
}

uid_of() { cri pods | awk -F'\t' -v n="$1-$NODE" '$4 == n && $2 == "READY" { print $6 }' | head -1; }
# cg_gone CG_PATH: in no hierarchy (v2: the one).
cg_gone() {
  local h
  for h in "$CG"/*/ "$CG/"; do [ -d "${h%/}$1" ] && return 1; done
  return 0
}
# no_pod_cgroups: no pod<uid> left under kubepods or its tiers, anywhere.
no_pod_cgroups() {
  ! compgen -G "$CG/*$KP/pod*" && ! compgen -G "$CG/*$KP/*/pod*" && ! compgen -G "$CG$KP/pod*" &&
    ! compgen -G "$CG$KP/*/pod*"
} >/dev/null

# An orphaned pod cgroup from before (empty), and one with a process in it: both go once the sources are
# ready; the process in the second is killed first, as upstream's pod cgroup Destroy does (the runtime
# lists nothing of that pod: what is left there is nobody's).
if [ $V2 = 1 ]; then
  mkdir -p "$CG$KP/besteffort/podorphan-empty" "$CG$KP/besteffort/podorphan-busy"
else
  for h in "$CG"/*/; do
    [ -L "${h%/}" ] && continue
    mkdir -p "$h${KP#/}/besteffort/podorphan-empty" "$h${KP#/}/besteffort/podorphan-busy"
  done
fi
sleep 300 &
SLEEPER=$!
echo $SLEEPER >"$MEM$KP/besteffort/podorphan-busy/cgroup.procs"

container() { # container NAME CPU_REQ CPU_LIM MEM_REQ MEM_LIM ("" leaves it out)
  echo "  - name: $1"
  echo "    image: $IMG"
  echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]"
  echo "    resources:"
  echo "      requests: {${2:+cpu: $2}${2:+${4:+, }}${4:+memory: $4}}"
  echo "      limits: {${3:+cpu: $3}${3:+${5:+, }}${5:+memory: $5}}"
}
header() { printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  terminationGracePeriodSeconds: 2\n' "$1"; }
{ header gua; echo "  containers:"; container c 500m 500m 64Mi 64Mi; } | put "$M/gua.yaml"
# Burstable, every container (the init container too) with both limits: quota and memory limit at pod
# level, from max(init, sum(app)).
{ header bu1; echo "  initContainers:"
  echo "  - {name: init, image: $IMG, command: [\"true\"], resources: {limits: {cpu: 500m, memory: 16Mi}}}"
  echo "  containers:"; container a 250m 1 32Mi 128Mi; } | put "$M/bu1.yaml"
# Burstable, one container without limits: shares only.
{ header bu2; echo "  containers:"; container a 250m 1 32Mi 128Mi; container b 100m "" "" ""; } | put "$M/bu2.yaml"
{ header be; echo "  containers:"
  echo "  - {name: c, image: $IMG, command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]}"
} | put "$M/be.yaml"

# enforceNodeAllocatable kube-reserved: its cgroup must exist (upstream's message when not), then gets the
# reservation's limits. It lives under the test's root, so the cleanup takes it.
KR="$CGROOT/kube-reserved"
set -- --pod-max-pids 512 --kube-reserved cpu=500m,memory=256Mi,pid=1000 --system-reserved memory=128Mi \
  --enforce-node-allocatable pods,kube-reserved --kube-reserved-cgroup "$KR"
timeout 60 "$CUBELET" --pod-manifest-path "$M" --root-dir "$WORK/root-kr" --pod-logs-dir "$WORK/logs-kr" \
  --container-runtime-endpoint "unix://$SOCK" --hostname-override "$NODE" --cgroup-root "$CGROOT" \
  --healthz-port 0 --local-socket "$WORK/kr.sock" "$@" >"$WORK/kr.log" 2>&1
kr_rc=$?
check "kube-reserved enforced on a cgroup that does not exist: cubelet does not start (exit 1)" test "$kr_rc" = 1
check "... and stops what it had started on the way out (no sanitizer report)" \
  bash -c '! grep -q "Sanitizer" "$1"' _ "$WORK/kr.log"
check "... with upstream's message" \
  grep -q "Failed to enforce Kube Reserved Cgroup Limits on .*$KR.*cgroup does not exist" "$WORK/kr.log"
# (in every hierarchy, as the orphans above: a cgroup exists when every controller has it)
if [ $V2 = 1 ]; then
  mkdir -p "$CG$KR"
else
  for h in "$CG"/*/; do [ -L "${h%/}" ] || mkdir -p "$h${KR#/}"; done
fi
start_cubelet "$M" "$@"
check "cubelet started with --cgroup-root $CGROOT" log_has "cgroupRoot=\"$CGROOT\""
check "kube-reserved cgroup: cpu shares of 500m" is shares "$KR" "$(want_shares 512)"
check "... memory limit 256Mi" is memlimit "$KR" $((256 * 1024 * 1024))
check "... pids.max 1000" is pidsmax "$KR" 1000
check "... and the Node's event" log_has 'reason="NodeAllocatableEnforced" message="Updated limits on kube reserved cgroup '"$KR"'"'

# --- kubepods: the node's allocatable (capacity less kube and system reserved); the tiers
ncpu=$(nproc)
memtotal=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 ))
pidcap=$(cat /proc/sys/kernel/pid_max); tmax=$(cat /proc/sys/kernel/threads-max)
[ "$tmax" -lt "$pidcap" ] && pidcap=$tmax
check "kubepods: cpu shares of $ncpu CPUs less 500m" is shares "$KP" "$(want_shares $(( (ncpu * 1000 - 500) * 1024 / 1000 )))"
check "kubepods: memory limit = MemTotal less 384Mi ($memtotal)" is memlimit "$KP" "$((memtotal - 384 * 1024 * 1024))"
check "kubepods: pids.max = min(pid_max, threads-max) less the 1000 reserved ($pidcap)" is pidsmax "$KP" "$((pidcap - 1000))"
check "kubepods/besteffort: 2 shares" is shares "$KP/besteffort" "$(want_shares 2)"
check "the orphaned empty pod cgroup is removed once sources are ready" wait_for 30 cg_gone "$KP/besteffort/podorphan-empty"
check "the busy one: its process is killed, and why is logged" wait_for 30 log_has \
  '"Killing the processes the runtime left in the pod.s cgroup".*podorphan-busy: 1 process still in it'
# (the test's own child: killed, it is a zombie until waited for)
sleeper_gone() { ! kill -0 "$SLEEPER" 2>/dev/null || [ "$(ps -o stat= -p "$SLEEPER" | cut -c1)" = Z ]; }
check "... the process is gone" wait_for 30 sleeper_gone
check "... and the cgroup is removed from every hierarchy" wait_for 30 cg_gone "$KP/besteffort/podorphan-busy"
wait "$SLEEPER" 2>/dev/null

all_running() {
  is_running c default/gua-$NODE && is_running a default/bu1-$NODE && is_running b default/bu2-$NODE &&
    is_running c default/be-$NODE
}
check "four pods running" wait_for 40 all_running
G=$(uid_of gua) B1=$(uid_of bu1) B2=$(uid_of bu2) E=$(uid_of be)
echo "# uids: gua=$G bu1=$B1 bu2=$B2 be=$E"
GP=$KP/pod$G B1P=$KP/burstable/pod$B1 B2P=$KP/burstable/pod$B2 EP=$KP/besteffort/pod$E

# --- Guaranteed: directly under kubepods
not() { ! "$@"; }
check "Guaranteed: kubepods/pod<uid>" test -d "$CPU$GP" -a -d "$MEM$GP" -a -d "$PIDS$GP"
check "... seen by the test's own cg_gone" not cg_gone "$GP"
check "... cpu shares of 500m" is shares "$GP" "$(want_shares 512)"
check "... quota 50000" is quota "$GP" 50000
check "... period 100000" is period "$GP" 100000
check "... memory limit 64Mi" is memlimit "$GP" 67108864
check "... pids.max 512 (--pod-max-pids)" is pidsmax "$GP" 512

# --- Burstable with every limit (init container counted): max(init 500m, app 250m) requests
check "Burstable: kubepods/burstable/pod<uid>" test -d "$CPU$B1P" -a -d "$MEM$B1P"
check "... shares of max(init 500m, app 250m)" is shares "$B1P" "$(want_shares 512)"
check "... quota of max(init 500m, app 1) = 100000" is quota "$B1P" 100000
check "... memory limit max(init 16Mi, app 128Mi)" is memlimit "$B1P" 134217728
check "... pids.max 512" is pidsmax "$B1P" 512

# --- Burstable with a container without limits: shares only
unlimited=$(memlimit "$KP/burstable")
check "Burstable without every limit: shares of 250m + 100m" is shares "$B2P" "$(want_shares 358)"
check "... no quota" is quota "$B2P" "$NOQUOTA"
check "... no memory limit" is memlimit "$B2P" "$unlimited"

# --- BestEffort
check "BestEffort: kubepods/besteffort/pod<uid>, 2 shares" is shares "$EP" "$(want_shares 2)"
check "... no quota" is quota "$EP" "$NOQUOTA"
check "... pids.max 512" is pidsmax "$EP" 512

# --- the tier: shares of the Burstable pods' requests, 500m + 350m
check "kubepods/burstable: shares of 850m" is shares "$KP/burstable" "$(want_shares 870)"

for c in "$KP" "$KP/burstable" "$KP/besteffort" "$GP" "$B1P" "$B2P" "$EP"; do
  echo "# ${c#"$KP"}: shares=$(shares "$c") quota=$(quota "$c") period=$(period "$c") memory=$(memlimit "$c") pids=$(pidsmax "$c")"
done

# --- the sandbox and the containers run inside their pod cgroup
# has_tasks DIR: cgroup files say size 0, so read them.
has_tasks() { grep -q . "$1/cgroup.procs" 2>/dev/null; }
inside() { # inside POD_CGROUP CONTAINER POD: the container's cgroup is a child, with its processes
  local id
  id=$(running_ids "$2" "$3")
  [ -n "$id" ] && has_tasks "$CPU$1/$id" && has_tasks "$MEM$1/$id" && has_tasks "$PIDS$1/$id"
}
check "Guaranteed pod's container in its pod cgroup (cpu and memory)" inside "$GP" c default/gua-$NODE
check "Burstable pods' containers in theirs: bu1/a" inside "$B1P" a default/bu1-$NODE
check "... bu2/a" inside "$B2P" a default/bu2-$NODE
check "... bu2/b" inside "$B2P" b default/bu2-$NODE
check "BestEffort pod's container in its pod cgroup" inside "$EP" c default/be-$NODE
busy_children() { local n=0 d; for d in "$MEM$1"/*/; do has_tasks "$d" && n=$((n + 1)); done; echo $n; }
check "... and the pause container too (two busy children)" is busy_children "$GP" 2
check "the pod cgroup itself holds no task (all in the children)" sh -c "! grep -q . '$MEM$GP/cgroup.procs'"
proc_in() { # proc_in POD_CGROUP PID: the process's own view of its cgroup
  if [ $V2 = 1 ]; then grep -q "^0::$1/" "/proc/$2/cgroup"; else grep -q ":memory:$1/" "/proc/$2/cgroup" &&
    grep -q ":pids:$1/" "/proc/$2/cgroup"; fi
}
gid=$(running_ids c default/gua-$NODE)
# the container's shell, not one of its short-lived sleeps (which may come first once pids wrap)
pid=$(for p in $(cat "$MEM$GP/$gid/cgroup.procs"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sh ] && echo "$p"; done | head -1)
check "/proc/<pid>/cgroup of the container's process names the pod cgroup" proc_in "$GP" "$pid"

# --- a cubelet restart keeps the pods where they are
check "cubelet exits cleanly before a restart" stop_cubelet
start_cubelet "$M" --pod-max-pids 512
sleep 3
sandboxes() { cri pods | awk -F'\t' -v n="$1-$NODE" '$4 == n' | grep -c .; }
sandboxes_are() { [ "$(sandboxes "$1")" = "$2" ]; } # sandboxes_are POD N: read anew at each try of wait_for
check "after a restart: the same container" test "$(running_ids c default/gua-$NODE)" = "$gid"
check "... in its only sandbox" test "$(sandboxes gua)" = 1
check "... and no pod cgroup was missing" sh -c "! grep -q 'Pod cgroup was missing' '$WORK/cubelet.log'"


# --- removed manifests: the pod cgroups go once the sandboxes are stopped
rm -f "$M/gua.yaml" "$M/bu1.yaml"
check "Guaranteed pod gone" wait_for 30 is_gone c default/gua-$NODE
check "... its cgroup removed from every hierarchy" wait_for 30 cg_gone "$GP"
check "Burstable pod gone, its cgroup too" wait_for 30 cg_gone "$B1P"
check "kubepods/burstable: shares of bu2's 350m now" wait_for 30 is shares "$KP/burstable" "$(want_shares 358)"
rm -f "$M/bu2.yaml" "$M/be.yaml"
both_gone() { cg_gone "$B2P" && cg_gone "$EP"; }
check "the other pod cgroups removed" wait_for 30 both_gone
check "no pod cgroup left anywhere" no_pod_cgroups
check "cubelet exits cleanly" stop_cubelet

# --- pod cgroups turned on under a running pod: as upstream, the pod starts again inside its cgroup
start_cubelet "$M" --cgroups-per-qos=false
{ header up; echo "  containers:"; container c 100m 200m 16Mi 32Mi; } | put "$M/up.yaml"
check "cgroupsPerQOS off: pod running" wait_for 30 is_running c default/up-$NODE
U=$(uid_of up) old=$(running_ids c default/up-$NODE)
check "... without a pod cgroup" cg_gone "$KP/burstable/pod$U"
check "cubelet exits cleanly" stop_cubelet
start_cubelet "$M"
check "cgroupsPerQOS on: the pod runs again, inside its cgroup" wait_for 30 inside "$KP/burstable/pod$U" c default/up-$NODE
check "... as a new container" test "$(running_ids c default/up-$NODE)" != "$old"
check "... and the log says why" log_has "Pod cgroup was missing; the pod's sandbox will be re-created inside it"
# the old sandbox goes at the pod's next sync (the new container's event, else the resync: at most 90 s)
check "... the old sandbox goes" wait_for 100 sandboxes_are up 1
rm -f "$M/up.yaml"
check "... and the pod goes with its cgroup" wait_for 30 cg_gone "$KP/burstable/pod$U"
check "cubelet exits cleanly" stop_cubelet
finish

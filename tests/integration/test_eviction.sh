#!/bin/bash
# Node-pressure signals in standalone mode (#15) against a real containerd, with real memory pressure made
# safely and kept to this test: the pods' cgroup (this test's own kubepods) is sized to 900Mi by
# --system-reserved, and the hard threshold 400Mi gives allocatableMemory.available<400Mi beside
# memory.available<400Mi (upstream adds the first under enforceNodeAllocatable "pods"); a static pod that
# holds 600 MiB crosses the first (the node-wide one is far off: the rest of the machine cannot make or end
# the pressure). Static pods are critical: never evicted (upstream's rule, logged), but the pressure shows on
# /healthz?verbose at once (the memory cgroup threshold), and goes away after the transition period once the
# pod is gone. A malformed threshold stops cubelet at start with a clear error.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
[ -r /sys/fs/cgroup/memory/memory.usage_in_bytes ] || { echo "SKIP: needs the cgroup v1 memory hierarchy"; exit 77; }
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35

# A malformed threshold: a clear start-up error, exit 2.
rc=0
"$CUBELET" --pod-manifest-path "$M" --eviction-hard 'memory.available<lots' >"$WORK/bad.log" 2>&1 || rc=$?
check "a malformed --eviction-hard: exit 2" [ "$rc" = 2 ]
check "... naming the threshold" grep -q 'threshold for signal memory.available has an invalid quantity "lots"' "$WORK/bad.log"
rc=0
"$CUBELET" --pod-manifest-path "$M" --eviction-soft 'memory.available<1Gi' >"$WORK/bad.log" 2>&1 || rc=$?
check "a soft threshold without a grace period: exit 2" [ "$rc" = 2 ]
check "... upstream's message" grep -q 'grace period must be specified for the soft eviction threshold memory.available' "$WORK/bad.log"

MEM_MI=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 )) # cubelet's memory capacity
PODS_MI=900 # kubepods' memory limit: the capacity less --system-reserved
start_cubelet "$M" --eviction-hard "memory.available<400Mi,nodefs.available<1%" \
  --system-reserved "memory=$((MEM_MI - PODS_MI))Mi" --eviction-pressure-transition-period 15s \
  --kernel-memcg-notification true
verbose() { curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz?verbose"; }
verbose_has() { verbose | grep -qF -- "$1"; }
check "no pressure: /healthz?verbose says so" wait_for 20 verbose_has "[+]pressure ok"

cat >"$M/hog.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "dd if=/dev/zero bs=600M count=1 | sleep 3600"]
YAML
check "MemoryPressure on /healthz?verbose" wait_for 90 verbose_has "[-]pressure failed: MemoryPressure"
check "... woken by the memory cgroup threshold of kubepods" log_has '"Eviction manager: memory notification" kind="memory cgroup threshold" signal="allocatableMemory.available"'
node_event() { # node_event REASON MESSAGE: a Node event on the local socket's /events
  local_get /events | jq -e --arg n "$NODE" --arg r "$1" --arg m "$2" \
    '.items[] | select(.involvedObject.kind == "Node" and .involvedObject.name == $n and .reason == $r and .message == $m)' \
    >/dev/null
}
check "... the Node's event NodeHasInsufficientMemory on /events" \
  wait_for 10 node_event NodeHasInsufficientMemory "Node $NODE status is now: NodeHasInsufficientMemory"
check "... and EvictionThresholdMet" wait_for 10 node_event EvictionThresholdMet "Attempting to reclaim memory"
check "... the static pod is critical: not evicted" wait_for 30 log_has '"Eviction manager: cannot evict a critical pod" pod="default/hog-'
check "... and runs on" is_running c default/hog-$NODE
check "/healthz itself stays ok" curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz" -o /dev/null
rm "$M/hog.yaml"
check "the hog stops" wait_for 60 is_gone c default/hog-$NODE
check "pressure goes away after the transition period" wait_for 60 verbose_has "[+]pressure ok"
check "... logged" log_has '"Eviction manager: node condition changed" condition="MemoryPressure" status="False"'
check "... and the Node's event NodeHasSufficientMemory" \
  wait_for 10 node_event NodeHasSufficientMemory "Node $NODE status is now: NodeHasSufficientMemory"

# With a unified hierarchy (hybrid here, or v2) a PSI trigger on kubepods' memory.pressure wakes the manager
# when the pods stall on memory. A pod writing far more than its 32Mi memory limit through the page cache
# keeps the kernel reclaiming in its cgroup (a stall there, and in kubepods above it). No threshold is
# near: the pass it starts evicts nothing.
# (On a tmpfs the emptyDir's pages could not be reclaimed: its writes would hit the limit, not stall.)
if [ -e "/sys/fs/cgroup/unified${CGROUP_ROOT}/kubepods/memory.pressure" ] &&
  [ "$(stat -f -c %T "$WORK")" != tmpfs ]; then
  from=$(( $(wc -l <"$WORK/cubelet.log") + 1 )) # what this phase logs
  since_has() { tail -n "+$from" "$WORK/cubelet.log" | grep -q -- "$1"; }
  cat >"$M/thrash.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: thrash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "while true; do dd if=/dev/zero of=/scratch/f bs=1M count=128 2>/dev/null; rm -f /scratch/f; done"]
    resources: {limits: {memory: 32Mi}}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {}}]
YAML
  check "a pod thrashing its memory limit runs" wait_for 60 is_running c default/thrash-$NODE
  check "... its stall wakes the manager through kubepods' memory.pressure" wait_for 60 \
    since_has '"Eviction manager: memory notification" kind="memory pressure (PSI)" signal="allocatableMemory.available"'
  check "... and the pass it runs evicts nothing (no threshold is near)" \
    sh -c "! tail -n +$from '$WORK/cubelet.log' | grep -q -e 'Eviction manager: evicting pod' -e 'attempting to reclaim'"
  check "... the pod runs on" is_running c default/thrash-$NODE
  rm "$M/thrash.yaml"
  check "the thrashing pod stops" wait_for 60 is_gone c default/thrash-$NODE
else
  echo "SKIP: no unified cgroup hierarchy with pressure files (or a tmpfs): the PSI notification is not checked"
fi
check "cubelet exits cleanly" stop_cubelet
finish

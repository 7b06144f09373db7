#!/bin/bash
# /stats/summary against a real containerd, checked against the files its numbers come from: the node's
# and the pod's cgroup counters (read just before and just after the request, so the answer must lie
# between), the pod's network counters read inside its network namespace, statvfs and du for the
# filesystems, the pod's volume, its container logs, and the processes in its cgroup.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
CG=/sys/fs/cgroup
if [ "$(stat -fc %T $CG)" = cgroup2fs ]; then V2=1; else V2=0; fi
hier() { if [ $V2 = 1 ]; then echo $CG; else readlink -f "$CG/$1"; fi; }
CPU=$(hier cpuacct) MEM=$(hier memory) PIDS=$(hier pids)
[ $V2 = 1 ] && CPU=$CG
KP="$CGROUP_ROOT/kubepods"

# Burstable with memory limits on both containers: the pod cgroup has a limit (availableBytes). One
# container spins, the other writes 3 MiB into an emptyDir, 1 MiB into its root filesystem and 200 log
# lines, then sleeps.
cat >"$M/burn.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: burn}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: spin
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
    resources: {requests: {cpu: 10m}, limits: {memory: 64Mi}}
  - name: writer
    image: $IMG
    command: ["sh", "-c", "dd if=/dev/zero of=/scratch/f bs=1M count=3 2>/dev/null; dd if=/dev/zero of=/data bs=1M count=1 2>/dev/null; i=0; while [ \$i -lt 200 ]; do echo line \$i; i=\$((i+1)); done; touch /scratch/done; exec sleep 3600"]
    resources: {requests: {cpu: 10m}, limits: {memory: 64Mi}}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
EOF

start_cubelet "$M"
check "the pod runs" wait_for 60 sh -c "[ \"\$(curl -sf http://127.0.0.1:$RO_PORT/pods | jq -r '.items[] | select(.metadata.name == \"burn-$NODE\") | [.status.containerStatuses[]?.ready] | all and length == 2')\" = true ]"
UID_=$(curl -sf "http://127.0.0.1:$RO_PORT/pods" | jq -r ".items[] | select(.metadata.name == \"burn-$NODE\") | .metadata.uid")
POD_IP=$(pod_status burn .podIP)
PODCG="$KP/burstable/pod$UID_"
VOL="$WORK/root/pods/$UID_/volumes/kubernetes.io~empty-dir/scratch"
LOGDIR="$WORK/logs/default_burn-${NODE}_$UID_/writer"
check "the writer is done" wait_for 30 test -e "$VOL/done"
check "the pod cgroup is there ($PODCG)" test -d "$CPU$PODCG"

summary() { curl -sf "http://127.0.0.1:$RO_PORT/stats/summary${1:-}"; }
cpu_usage() { # the cumulative CPU time of a cgroup directory, in ns
  if [ $V2 = 1 ]; then echo $(($(awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat") * 1000)); else cat "$1/cpuacct.usage"; fi
}
mem_usage() { if [ $V2 = 1 ]; then cat "$1/memory.current"; else cat "$1/memory.usage_in_bytes"; fi; }
# between LO VALUE HI [SLACK%]: LO*(1-SLACK) <= VALUE <= HI*(1+SLACK), and says so when not.
between() {
  local s=${4:-0}
  # A gauge (memory) may have gone down between the two reads: the bounds in either order.
  awk -v a="$1" -v v="$2" -v b="$3" -v s="$s" 'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a
    exit !(v != "" && v >= lo * (1 - s / 100) && v <= hi * (1 + s / 100)) }' ||
    { echo "# $2 not within [$1, $3] (slack $s%)"; return 1; }
}
# same GOT WANT: equal, and says what it got when not.
same() { [ "$1" = "$2" ] || { echo "# got \"$1\", want \"$2\""; return 1; }; }
P=".pods[] | select(.podRef.name == \"burn-$NODE\")"
netdev() { nsenter -t "$1" -n cat /proc/net/dev | awk -v f="$2" '$1 == "eth0:" { print $(f) }'; }

# containerd measures its image filesystem in the background (every 10 s after it starts): a containerd
# just started reports 0 used bytes for a while.
imagefs_known() { summary | jq -e '.node.runtime.imageFs.usedBytes > 0' >/dev/null; }
wait_for 40 imagefs_known

# One request, bracketed by the files.
PID=$(cat "$PIDS$PODCG"/*/cgroup.procs | head -1)
ping -c 3 -i 0.2 -W 1 "$POD_IP" >/dev/null 2>&1
node_cpu0=$( [ $V2 = 0 ] && cpu_usage "$CPU" ) node_mem0=$( [ $V2 = 0 ] && mem_usage "$MEM" )
SPIN=$(running_ids spin default/burn-$NODE)
spin_cpu0=$(cpu_usage "$CPU$PODCG/$SPIN")
pod_cpu0=$(cpu_usage "$CPU$PODCG") pod_mem0=$(mem_usage "$MEM$PODCG") kp_cpu0=$(cpu_usage "$CPU$KP")
rx0=$(netdev "$PID" 2) tx0=$(netdev "$PID" 10)
S=$(summary)
rx1=$(netdev "$PID" 2) tx1=$(netdev "$PID" 10)
pod_cpu1=$(cpu_usage "$CPU$PODCG") pod_mem1=$(mem_usage "$MEM$PODCG") kp_cpu1=$(cpu_usage "$CPU$KP")
spin_cpu1=$(cpu_usage "$CPU$PODCG/$SPIN")
node_cpu1=$( [ $V2 = 0 ] && cpu_usage "$CPU" ) node_mem1=$( [ $V2 = 0 ] && mem_usage "$MEM" )
echo "$S" | jq -c "$P | {cpu, memory, network, process_stats}" | head -c 600; echo
j() { echo "$S" | jq -r "$1"; }

check "the read-only port serves the Summary for node $NODE" [ "$(j .node.nodeName)" = "$NODE" ]
RO_METRICS=$(curl -sf "http://127.0.0.1:$RO_PORT/metrics")
check "the read-only port serves /metrics too, as upstream's (the runtime's operations counted)" \
  grep -Eq '^kubelet_runtime_operations_total\{operation_type="list_containers"\} [1-9]' <<<"$RO_METRICS"
if [ $V2 = 0 ]; then
  check "node cpu.usageCoreNanoSeconds lies between two reads of the top cpuacct.usage" between "$node_cpu0" "$(j .node.cpu.usageCoreNanoSeconds)" "$node_cpu1"
  check "node memory.usageBytes matches the top memory.usage_in_bytes (±5%)" between "$node_mem0" "$(j .node.memory.usageBytes)" "$node_mem1" 5
fi
check "node memory.availableBytes = MemTotal - workingSetBytes" \
  [ "$(j '.node.memory.availableBytes + .node.memory.workingSetBytes')" = "$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))" ]
check "the \"pods\" system container lies between two reads of kubepods' CPU time" between "$kp_cpu0" "$(j '.node.systemContainers[] | select(.name == "pods") | .cpu.usageCoreNanoSeconds')" "$kp_cpu1"
check "node fs: capacity and inodes of the root directory's filesystem (statvfs)" \
  same "$(j '[.node.fs.capacityBytes, .node.fs.inodes] | @tsv')" "$(($(stat -f -c '%b * %S' "$WORK/root")))	$(stat -f -c %c "$WORK/root")"
check "node imageFs: the runtime's used bytes, and its filesystem's capacity" \
  [ "$(j '.node.runtime.imageFs.usedBytes > 0 and .node.runtime.imageFs.capacityBytes > 0')" = true ]
check "node rlimit.maxpid is kernel.pid_max" [ "$(j .node.rlimit.maxpid)" = "$(cat /proc/sys/kernel/pid_max)" ]
check "pod cpu.usageCoreNanoSeconds lies between two reads of the pod cgroup's CPU time" between "$pod_cpu0" "$(j "$P | .cpu.usageCoreNanoSeconds")" "$pod_cpu1"
check "pod memory.usageBytes matches the pod cgroup's memory usage (±2%)" between "$pod_mem0" "$(j "$P | .memory.usageBytes")" "$pod_mem1" 2
check "pod memory.availableBytes = the pod cgroup's limit (128Mi) - workingSetBytes" \
  [ "$(j "$P | .memory.availableBytes + .memory.workingSetBytes")" = $((128 << 20)) ]
check "pod process_count is the number of processes in the pod cgroup" \
  [ "$(j "$P | .process_stats.process_count")" = "$(find "$PIDS$PODCG" -name cgroup.procs -exec cat {} + | grep -c .)" ]
check "pod network: eth0's rxBytes/txBytes lie between two reads of /proc/net/dev in its netns" \
  sh -c "$(declare -f between); between $rx0 $(j "$P | .network.rxBytes") $rx1 && between $tx0 $(j "$P | .network.txBytes") $tx1"
check "pod network: the pings arrived (rxBytes > 0), eth0 listed" [ "$(j "$P | .network.rxBytes > 0 and (.network.interfaces | map(.name) | index(\"eth0\") != null)")" = true ]
check "the spinning container's CPU time lies between two reads of its own cgroup's" between "$spin_cpu0" \
  "$(j "$P | .containers[] | select(.name == \"spin\") | .cpu.usageCoreNanoSeconds")" "$spin_cpu1"
check "the spinning container's CPU time is within the pod's" \
  [ "$(j "$P | (.containers[] | select(.name == \"spin\") | .cpu.usageCoreNanoSeconds) as \$c | \$c > 0 and \$c <= .cpu.usageCoreNanoSeconds")" = true ]
# containerd measures writable layers in the background (every 10 s or so): wait for it.
rootfs_used() { summary | jq -e "$P | .containers[] | select(.name == \"writer\") | .rootfs.usedBytes >= 1048576" >/dev/null; }
check "container rootfs: the writer's writable layer holds its 1 MiB (the runtime's number)" wait_for 30 rootfs_used
check "container logs: usedBytes and inodesUsed are du's of its log directory" \
  same "$(j "$P | .containers[] | select(.name == \"writer\") | [.logs.usedBytes, .logs.inodesUsed] | @tsv")" "$(du -sB1 "$LOGDIR" | cut -f1)	$(du -s --inodes "$LOGDIR" | cut -f1)"
check "volume scratch: usedBytes is du's, capacity its filesystem's" \
  same "$(j "$P | .volume[] | select(.name == \"scratch\") | [.usedBytes, .capacityBytes] | @tsv")" "$(du -sB1 "$VOL" | cut -f1)	$(($(stat -f -c '%b * %S' "$VOL")))"
check "ephemeral-storage counts rootfs, logs and the emptyDir" \
  [ "$(j "$P | .[\"ephemeral-storage\"].usedBytes >= ([.containers[].rootfs.usedBytes, .containers[].logs.usedBytes] | add) + (.volume[] | select(.name == \"scratch\") | .usedBytes)")" = true ]
check "pod and container start times are set" [ "$(j "$P | [.startTime, .containers[].startTime] | all(. != null)")" = true ]

# The CPU rate needs two samples a second apart.
sleep 1.2
S=$(summary)
check "usageNanoCores on the second request: the spinning pod uses between 0.05 and 2 cores" \
  [ "$(j "$P | .cpu.usageNanoCores > 50000000 and .cpu.usageNanoCores <= 2100000000")" = true ]
check "usageNanoCores for the node too" [ "$(j '.node.cpu.usageNanoCores > 0')" = true ]

# /metrics/resource (metrics-server's): valid Prometheus text, the spinning container's CPU between two reads
# of its cgroup.
spin_cpu0=$(cpu_usage "$CPU$PODCG/$SPIN")
curl -sf "http://127.0.0.1:$RO_PORT/metrics/resource" >"$WORK/resource.txt"
spin_cpu1=$(cpu_usage "$CPU$PODCG/$SPIN")
check "/metrics/resource is valid Prometheus text (promtool check metrics)" sh -c "promtool check metrics <'$WORK/resource.txt'"
resource() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/resource.txt"; }
check "container_cpu_usage_seconds_total of spin lies between two reads of its cgroup" between \
  "$(awk -v v="$spin_cpu0" 'BEGIN { printf "%.9f", v / 1e9 }')" \
  "$(resource "container_cpu_usage_seconds_total{container=\"spin\",namespace=\"default\",pod=\"burn-$NODE\"}")" \
  "$(awk -v v="$spin_cpu1" 'BEGIN { printf "%.9f", v / 1e9 }')"
check "node, pod and container families are there, scrape_error 0" sh -c \
  "grep -q '^node_memory_working_set_bytes [0-9]' '$WORK/resource.txt' && grep -q '^pod_memory_working_set_bytes{namespace=\"default\",pod=\"burn-$NODE\"} [0-9]' '$WORK/resource.txt' && grep -q '^scrape_error 0$' '$WORK/resource.txt'"

S=$(summary '?only_cpu_and_memory=true')
check "only_cpu_and_memory=true: cpu and memory, no filesystems, network or volumes" \
  [ "$(j "(.node.fs == null) and (.node.network == null) and ($P | .volume == null and .network == null and .memory.usageBytes > 0)")" = true ]

rm -f "$M/burn.yaml"
check "the pod goes" wait_for 30 is_gone spin default/burn-$NODE
check "cubelet exits cleanly" stop_cubelet
finish

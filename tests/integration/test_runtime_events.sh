#!/bin/bash
# Beyond upstream: containerd's event stream wakes the pod worker at once when a container exits, and the
# relist alone still works when the stream is off. The relist is slowed to 10 s so the two are told apart.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
cat >"$M/web.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
task_pid() { ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
replaced() { local id; id=$(running_ids c "$1"); [ -n "$id" ] && [ "$id" != "$2" ]; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

start_cubelet "$M" --pleg-relist-period 10s
check "pod running" wait_for 20 is_running c default/web-$NODE
sleep 11 # let the slow relist settle
id=$(running_ids c default/web-$NODE)
t0=$(ms)
kill -9 "$(task_pid "$id")"
check "with the event stream, a killed container is restarted within 3 s (relist every 10 s)" wait_for 3 replaced default/web-$NODE "$id"
echo "# restart took $(( $(ms) - t0 )) ms"
check "cubelet exits cleanly" stop_cubelet

start_cubelet "$M" --pleg-relist-period 2s --runtime-event-stream false
sleep 3
id=$(running_ids c default/web-$NODE)
kill -9 "$(task_pid "$id")"
check "without the stream, the relist alone restarts it" wait_for 10 replaced default/web-$NODE "$id"

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "pod removed" wait_for 15 gone
check "cubelet exits cleanly" stop_cubelet
finish

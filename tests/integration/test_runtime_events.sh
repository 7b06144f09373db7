#!/bin/bash
# Beyond upstream: containerd's event stream wakes the pod worker at once when a container exits, and the
# relist alone still works when the stream is off. The relist and the full resync are slowed to 300 s so the
# two are told apart even on a busy machine (a restart here takes about a second; the bounds are 45 s).
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
# One pod per kill: a second exit of the same container would rightly wait out its back-off.
for p in web1 web2 web3; do
  cat >"$M/$p.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $p}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
done
task_pid() { ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
replaced() { local id; id=$(running_ids c "$1"); [ -n "$id" ] && [ "$id" != "$2" ]; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

start_cubelet "$M" --pleg-relist-period 300s --sync-frequency 300s --v=5
all_running() { is_running c default/web1-$NODE && is_running c default/web2-$NODE && is_running c default/web3-$NODE; }
check "pods running" wait_for 120 all_running
check "the runtime event stream is up" wait_for 30 log_count_ge "Runtime event stream connected" 1
id=$(running_ids c default/web1-$NODE)
# The PLEG knows the container's pod once a relist has listed it (within a second of its start).
check "a relist saw the container running" wait_for 30 log_has "PLEG: listed\" containerID=\"${id:0:8}\" state=1"
t0=$(ms)
kill -9 "$(task_pid "$id")"
check "with the event stream, a killed container is restarted within 45 s (relist every 300 s)" wait_for 45 replaced default/web1-$NODE "$id"
echo "# restart took $(( $(ms) - t0 )) ms"
uid=$(curl -sf "http://127.0.0.1:$RO_PORT/pods" | jq -r --arg n "web1-$NODE" '.items[] | select(.metadata.name == $n) | .metadata.uid')
check "the exit event woke the pod's worker itself, before any relist" \
  wait_for 10 log_has "PLEG: a container of the pod exited\" podUID=\"$uid\" containerID=\"${id:0:13}\" sandbox=0 handled=1"

# The runtime restarts: the stream is lost, cubelet subscribes again, and exits are instant again.
top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/packaging/containerd/stop-containerd.sh" --dir "$CTD_DIR" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$CTD_DIR" --bridge "$TI_BRIDGE" --pod-cidr "$TI_NET.0.0/24" >/dev/null
check "cubelet saw the stream go" wait_for 30 log_has "Runtime event stream lost"
check "... and subscribes again (2 s back-off at most)" wait_for 30 log_count_ge "Runtime event stream connected" 2
check "web2 still running after the runtime restart" wait_for 60 is_running c default/web2-$NODE
id=$(running_ids c default/web2-$NODE)
t0=$(ms)
kill -9 "$(task_pid "$id")"
check "after a runtime restart the stream is back: restarted within 45 s" wait_for 45 replaced default/web2-$NODE "$id"
echo "# restart took $(( $(ms) - t0 )) ms"
check "cubelet exits cleanly" stop_cubelet

start_cubelet "$M" --pleg-relist-period 2s --runtime-event-stream false
id=$(running_ids c default/web3-$NODE)
kill -9 "$(task_pid "$id")"
check "without the stream, the relist alone restarts it" wait_for 30 replaced default/web3-$NODE "$id"

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "pod removed" wait_for 15 gone
check "cubelet exits cleanly" stop_cubelet
finish

#!/bin/bash
# kill -9 of the API server during a pod watch and a status burst: pods created and deleted just before,
# statuses on their way, a container finishing while it is away. When it is back (the same etcd): every pod
# created runs once, every pod deleted is stopped and its object deleted, every status the API shows is
# the node's (nothing lost), no container or sandbox is made twice, no Event is sent twice, nothing leaked
# (tests/faults/leaks.sh). The kill point is drawn at random: FAULT_SEED replays it.
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL; FAULT_PODS (10).
source "$(dirname "$0")/../faults/common.sh"
skip_unless_ready
skip_unless_kubectl
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
MASTER=$(dirname "$0")/master.sh
NODE=e2e-kill-api
N=${FAULT_PODS:-10}
SEED=${FAULT_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
RANDOM=$SEED
echo "# seed $SEED: FAULT_SEED=$SEED FAULT_PODS=$N replays this run"
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { "$KUBECTL" --request-timeout=10s "$@"; }
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete pods --all --grace-period=0 --force >/dev/null 2>&1
k delete events --all >/dev/null 2>&1 # from an earlier run on a kept control plane
LK_MATCH='^default/p[0-9]+$'

# api_pods I...: the pods pI, bound to this node, created through the API.
api_pods() { local i; for i in "$@"; do fault_pod "p$i" "$NODE"; echo ---; done | k apply -f - >/dev/null; }
api_names() { k get pods -o json | jq -r '.items[].metadata.name' | sort; }
names() { local i; for i in "$@"; do echo "p$i"; done | sort; }
running_exactly() { # running_exactly I...: those pods run, no other pI
  [ "$(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /^default\/p[0-9]+$/ { print $5 }' | sort)" = "$(pod_names_api "$@" | sort)" ]
}
pod_names_api() { local i; for i in "$@"; do echo "default/p$i"; done; }
# The API's view equals the node's: each pod Running with the container ID and restart count the runtime
# has, and no other pI object.
api_matches_node() {
  local want
  want=$(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /^default\/p[0-9]+$/ { sub("default/", "", $5); print $5, "containerd://" $1, $4 }' | sort)
  [ -n "$want" ] && [ "$(k get pods -o json | jq -r '.items[] | select(.metadata.name | test("^p[0-9]+$"))
    | select(.status.phase == "Running") | "\(.metadata.name) \(.status.containerStatuses[0].containerID) \(.status.containerStatuses[0].restartCount)"' |
    sort)" = "$want" ]
}
apiserver_pid() { cat "$MASTER_DIR/apiserver.pid"; }

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 60 sh -c "[ \"\$($KUBECTL get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]"
lk_init

# --- N pods running, and one that will finish while the API server is away
api_pods $(seq 1 "$N")
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  nodeName: $NODE
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
check "$N pods run" wait_for 120 running_exactly $(seq 1 "$N")
check "... the API shows them Running, as the node has them" wait_for 60 api_matches_node
before=$(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /^default\/p[0-9]+$/ { print $1, $5 }' | sort)

# --- the burst: N more pods created, half of the first deleted, one request after another; the API server
# killed at a random point of it (requests after the kill fail: the API's own state after its return says
# which pods are wanted)
half=$((N / 2))
delay=$(( (RANDOM * 32768 + RANDOM) % 2500 ))
t0=$(ms)
(
  for i in $(seq $((N + 1)) $((2 * N))); do api_pods "$i"; done
  for i in $(seq 1 "$half"); do k delete pod "p$i" --wait=false; done
) >/dev/null 2>&1 &
burst=$!
sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" # the kill point, not a wait
kill -KILL "$(apiserver_pid)"
echo "# API server killed $(( $(ms) - t0 )) ms into the burst (drawn: $delay ms): $(cri ps | grep -c 'default/p[0-9]') running"
wait "$burst"
check "cubelet notices the API server is gone (its pod watch fails)" wait_for 60 log_has 'Pod watch failed; pods keep running'


# --- while it is away: a container finishes (status to send later), cubelet keeps running pods
done_id=$(running_ids c default/done)
task_pid() { ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
kill -TERM "$(task_pid "$done_id")"
check "the finishing container exits while the API server is away" wait_for 30 sh -c \
  "'$CUBELET_CRI' -r 'unix://$SOCK' ps -a | grep -q '^$done_id	EXITED'"
check "cubelet lives on, healthy" sh -c "kill -0 $CUBELET_PID && curl -sf http://127.0.0.1:$HEALTHZ_PORT/healthz >/dev/null"

"$MASTER" start "$MASTER_DIR" >/dev/null
check "API server back" wait_for 60 sh -c "'$KUBECTL' --request-timeout=5s get --raw /readyz >/dev/null 2>&1"
# What the API holds now is what the node must run: pods whose creation got through, not those whose deletion
# did (they are stopped, and their objects deleted).
live=$(k get pods -o json | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name' |
  grep '^p[0-9]*$' | sed 's/^p//' | sort -n)
echo "# after the return the API holds $(echo $live | wc -w) live pods: $(echo $live)"
check "every pod the API holds runs, every pod deleted is stopped" wait_for 180 running_exactly $live
check "... and its object deleted: the API holds exactly the pods that run" wait_for 120 sh -c \
  "[ \"\$('$KUBECTL' get pods -o json | jq -r '.items[].metadata.name' | grep -v '^done$' | sort)\" = \"$(names $live)\" ]"
check "the API shows every pod Running, with the node's container IDs and restart counts" wait_for 120 api_matches_node
check "the finished container's Succeeded reached the API" wait_for 60 sh -c \
  "'$KUBECTL' get pod done -o json | jq -e '.status.phase == \"Succeeded\" and .status.containerStatuses[0].state.terminated.exitCode == 0' >/dev/null"
# the first N pods still wanted: the same containers as before the kill
in_live() { awk -v live=" $(echo $live) " -v n="$1" '{ p = $2; sub("default/p", "", p); if (index(live, " " p " ") && p + 0 <= n) print }'; }
kept_before=$(in_live "$N" <<<"$before")
kept_now=$(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /^default\/p[0-9]+$/ { print $1, $5 }' | sort | in_live "$N")
check "the pods that ran on are the same containers (nothing restarted)" test -n "$kept_before" -a "$kept_before" = "$kept_now"
# One Started event per container started: none sent twice across the outage.
started_twice() {
  k get events -o json | jq -r '[.items[] | select(.reason == "Started" and (.involvedObject.name | test("^p[0-9]+$")))
    | {n: .involvedObject.name, c: (.count // 1)}] | group_by(.n)[] | select((map(.c) | add) > 1) | .[0].n'
}
check "no Event sent twice" test -z "$(started_twice)"

# --- the watch works again: the rest of the burst (what the kill cut off) and a new pod
api_pods $(seq $((N + 1)) $((2 * N))) $((2 * N + 1))
for i in $(seq 1 "$half"); do k delete pod "p$i" --wait=false >/dev/null 2>&1; done
want=$(seq $((half + 1)) $((2 * N)))
check "pods created and deleted after the return: done" wait_for 120 running_exactly $want $((2 * N + 1))
k delete pod done --wait=false >/dev/null
check "the finished pod deleted: gone" wait_for 60 sh -c "! '$KUBECTL' get pod done >/dev/null 2>&1"
mapfile -t wanted < <(pod_names_api $want $((2 * N + 1)))
lk_want "${wanted[@]}"
wait_for 60 leak_free
lk_check_all "after the API server's return"

k delete pods --all --wait=false >/dev/null
check "all pods deleted: gone from the node and the API" wait_for 180 sh -c \
  "[ -z \"\$('$KUBECTL' get pods -o name)\" ] && ! '$CUBELET_CRI' -r 'unix://$SOCK' pods | grep -q 'default	p[0-9]'"
lk_want
wait_for 60 leak_free
lk_check_all "all deleted"
check "cubelet stops cleanly" stop_cubelet
k delete node "$NODE" >/dev/null 2>&1
finish

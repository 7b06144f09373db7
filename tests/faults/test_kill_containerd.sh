#!/bin/bash
# kill -9 of containerd under a running cubelet: the pods keep running (their shims hold them), cubelet
# stays up and says the runtime is down, then up; what changed meanwhile (a pod added, a pod removed) is
# done once containerd is back; nothing running is restarted or duplicated, nothing leaked. Then containerd
# is killed again at a random point of a start of pods (FAULT_SEED replays it).
#   FAULT_PODS (10)  FAULT_SEED (random, printed)
source "$(dirname "$0")/common.sh"
skip_unless_ready
N=${FAULT_PODS:-10}
SEED=${FAULT_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
RANDOM=$SEED
echo "# seed $SEED: FAULT_SEED=$SEED FAULT_PODS=$N replays this run"
HZ="http://127.0.0.1:$HEALTHZ_PORT/healthz"
CUBELET_BRIDGE="" CUBELET_POD_CIDR=""
# shellcheck disable=SC1091
. "$CTD_DIR/instance.env"

ctd_pid() { cat "$CTD_DIR/containerd.pid"; }
kill_containerd() {
  local pid
  pid=$(ctd_pid)
  kill -KILL "$pid"
  wait_for 10 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^[^ ]* [^ ]* Z' /proc/$pid/stat"
}
# The same instance again (state, shims, sandboxes' network namespaces), as the fixture started it.
start_containerd() {
  "$FAULTS_DIR/../../packaging/containerd/start-containerd.sh" --dir "$CTD_DIR" --bridge "$CUBELET_BRIDGE" \
    --pod-cidr "$CUBELET_POD_CIDR" >/dev/null 2>>"$WORK/containerd-restart.log"
}
hz_code() { curl -s -o "$WORK/hz" -w '%{http_code}' "$HZ?verbose"; }
runtime_down() { [ "$(hz_code)" = 500 ] && grep -q 'runtime failed' "$WORK/hz"; }
runtime_up() { [ "$(hz_code)" = 200 ] && grep -q '\[+\]runtime ok' "$WORK/hz"; }
# containers as "id pod attempt" and sandboxes as "id pod attempt", sorted
containers_now() { cri ps -a | awk -F'\t' -v s="-$NODE" 'NR > 1 && $5 ~ s "$" { print $1, $2, $5, $4 }' | sort; }
sandboxes_now() { cri pods | awk -F'\t' -v s="-$NODE" 'NR > 1 && $4 ~ s "$" { print $1, $2, $3 "/" $4, $5 }' | sort; }
# task_pids IDS...: the processes of those containers and sandboxes (IDs or their first 13 characters)
task_pids() {
  ctr --address "$SOCK" -n k8s.io tasks ls | awk -v ids="$*" 'BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) want[substr(a[i], 1, 13)] = 1 }
    NR > 1 && $3 == "RUNNING" && substr($1, 1, 13) in want { print $2 }' | sort -n
}
ids_of() { awk '{ print $1 }' <<<"$1"; } # the IDs in a containers_now / sandboxes_now listing
all_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null || return 1; done; }
running_exactly() { # running_exactly I...: those pods run, no other of the node
  [ "$(cri ps | awk -F'\t' -v s="-$NODE" 'NR > 1 && $5 ~ s "$" { print $5 }' | sort)" = "$(pod_names "$@" | sort)" ]
}

lk_init
start_cubelet "$M" || { not_ok "cubelet starts"; finish; exit 1; }
write_pods 1 "$N"
check "$N pods run" wait_for 120 running_exactly $(seq 1 "$N")
mapfile -t want < <(pod_names $(seq 1 "$N"))
lk_want "${want[@]}"
wait_for 30 leak_free
lk_check_all "before containerd is killed"
before_c=$(containers_now)
before_s=$(sandboxes_now)
mapfile -t pids < <(task_pids $(ids_of "$before_c") $(ids_of "$before_s"))
check "their processes are known" test "${#pids[@]}" = "$((2 * N))"
# p1 is removed while containerd is away, p$((N + 1)) added: the others must keep their processes
kept() { grep -v -- " default/p1-$NODE " <<<"$1" | grep -v -- " default/p$((N + 1))-$NODE "; }
kept_ids=$(echo $(ids_of "$(kept "$before_c")") $(ids_of "$(kept "$before_s")"))
kept_pids=$(task_pids $kept_ids)

# --- containerd killed; meanwhile one pod is added and one removed
kill_containerd
check "containerd killed -> healthz 500 naming the runtime" wait_for 30 runtime_down
check "... logged" wait_for 10 log_has 'Container runtime is not answering'
write_pods $((N + 1)) $((N + 1))
rm -f "$M/p1.yaml"
check "... cubelet has tried to start the new pod and to stop the removed one" wait_for 30 sh -c \
  "grep -q 'p$((N + 1))-$NODE.*\(FailedSync\|FailedCreatePodSandBox\|error\)' '$WORK/cubelet.log' &&
   grep -q 'Pod removed from its source.*p1-$NODE' '$WORK/cubelet.log'"
check "the pods' processes live on without containerd" all_alive "${pids[@]}"
check "cubelet lives on" kill -0 "$CUBELET_PID"

start_containerd
check "containerd back -> healthz 200, runtime ok" wait_for 60 runtime_up
check "... logged" wait_for 10 log_has 'Container runtime is answering again'
check "the added pod runs, the removed one is gone" wait_for 120 running_exactly $(seq 2 $((N + 1)))
mapfile -t want < <(pod_names $(seq 2 $((N + 1))))
lk_want "${want[@]}"
wait_for 30 leak_free
lk_check_all "containerd back"
check "nothing restarted or duplicated: the same containers" \
  test "$(kept "$before_c")" = "$(kept "$(containers_now)")"
check "... in the same sandboxes" test "$(kept "$before_s")" = "$(kept "$(sandboxes_now)")"
check "... whose processes are the same" test "$(task_pids $kept_ids)" = "$kept_pids"
if [ "$(kept "$before_s")" != "$(kept "$(sandboxes_now)")" ]; then
  # for the diagnosis: how containerd's restart saw the sandboxes (a state it could not load is NOTREADY)
  cp "$CTD_DIR/containerd.log" "$WORK/containerd-after-restart.log" 2>/dev/null || true
  echo "# sandboxes before: $(kept "$before_s" | tr '\n' ';')"
  echo "# sandboxes now: $(kept "$(sandboxes_now)" | tr '\n' ';')"
fi
check "cubelet still the same process, healthy" sh -c "kill -0 $CUBELET_PID && curl -sf '$HZ' >/dev/null"

# --- containerd killed at a random point of a start of N more pods: all of them run once it is back
write_pods $((N + 2)) $((2 * N + 1))
t0=$(ms)
delay=$(( (RANDOM * 32768 + RANDOM) % 3000 ))
sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" # the kill point itself, not a wait
kill_containerd
echo "# containerd killed $(( $(ms) - t0 )) ms after the manifests were written (drawn: $delay ms)"
check "containerd killed during a start -> runtime down" wait_for 30 runtime_down
start_containerd
check "... back: up" wait_for 60 runtime_up
check "all $((2 * N)) pods run" wait_for 180 running_exactly $(seq 2 $((N + 1))) $(seq $((N + 2)) $((2 * N + 1)))
mapfile -t want < <(pod_names $(seq 2 $((2 * N + 1))))
lk_want "${want[@]}"
settled() { repair_lost_tasks; leak_free; }
wait_for 120 settled
lk_check_all "containerd killed during a start"
echo "# instances whose create or start containerd's death cut short, removed by cubelet:" \
  "$(grep -c 'whose start was interrupted' "$WORK/cubelet.log")"

# --- all removed: nothing left
rm -f "$M"/*.yaml
check "all pods gone" wait_for 180 none_left
lk_want
wait_for 30 leak_free
lk_check_all "torn down"
check "cubelet exits cleanly at the end" stop_cubelet
finish

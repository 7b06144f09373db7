#!/bin/bash
# kill -9 of cubelet at random points of a start and of a teardown of FAULT_PODS static pods (FAULT_KILLS
# times each), restarted at once as a supervisor would: afterwards exactly the wanted pods run, one sandbox
# and one container instance each, and nothing is leaked (sandboxes, addresses, veths, pod cgroups, mounts,
# pod directories; tests/faults/leaks.sh).
#   FAULT_PODS (30)  FAULT_KILLS (10)  FAULT_SEED (random, printed: set it to replay the same kill points)
source "$(dirname "$0")/common.sh"
skip_unless_ready
N=${FAULT_PODS:-30}
KILLS=${FAULT_KILLS:-10}
SEED=${FAULT_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
RANDOM=$SEED
echo "# seed $SEED: FAULT_SEED=$SEED FAULT_PODS=$N FAULT_KILLS=$KILLS replays these kill points"
all_running() { [ "$(n_running)" = "$N" ]; }
write_all() { write_pods 1 "$N"; }

rand_ms() { echo $(( (RANDOM * 32768 + RANDOM) % ($1 + 1) )); }

lk_init
mapfile -t WANT_ALL < <(pod_names $(seq 1 "$N"))

start_cubelet "$M" || { not_ok "cubelet starts"; finish; exit 1; }

# --- a start and a teardown without kills: the checks pass, and the two durations bound the kill points
t0=$(ms)
write_all
check "start of $N pods without a kill" wait_for 300 all_running
t_start=$(( $(ms) - t0 ))
lk_want "${WANT_ALL[@]}"
wait_for 30 leak_free
lk_check_all "started"
t0=$(ms)
rm -f "$M"/*.yaml
check "teardown of $N pods without a kill" wait_for 300 none_left
t_stop=$(( $(ms) - t0 ))
lk_want
wait_for 30 leak_free
lk_check_all "torn down"
echo "# start ${t_start} ms, teardown ${t_stop} ms: kill points are drawn from these"

# kill_at MS: SIGKILL after MS, restart. Prints how far the work had got.
kill_at() {
  local pid=$CUBELET_PID
  sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))" # the kill point itself, not a wait
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  CUBELET_PID=""
  echo "# killed at ${1} ms: $(n_running) running, $(cri pods | grep -c -- "-$NODE") sandboxes"
  start_cubelet "$M" || not_ok "cubelet restarts after the kill"
}

bad_rounds=0
for k in $(seq 1 "$KILLS"); do
  before=$failed
  # --- a start, killed
  t0=$(ms)
  write_all
  kill_at "$(rand_ms "$t_start")"
  lk_want "${WANT_ALL[@]}"
  converged() { repair_lost_tasks; all_running && leak_free; }
  check "kill $k during the start: all $N pods run again" wait_for 300 converged
  t1=$(ms)
  lk_check_all "kill $k during the start"
  echo "# kill $k during the start: converged $((t1 - t0)) ms after the manifests, checked in $(($(ms) - t1)) ms"
  # --- a teardown, killed
  t0=$(ms)
  rm -f "$M"/*.yaml
  kill_at "$(rand_ms "$t_stop")"
  lk_want
  gone() { repair_lost_tasks; none_left && leak_free; }
  check "kill $k during the teardown: all $N pods gone" wait_for 300 gone
  t1=$(ms)
  lk_check_all "kill $k during the teardown"
  echo "# kill $k during the teardown: converged $((t1 - t0)) ms after the removal, checked in $(($(ms) - t1)) ms"
  [ "$failed" = "$before" ] || bad_rounds=$((bad_rounds + 1))
done
echo "# $bad_rounds of $KILLS rounds failed (seed $SEED); containerd kept $LOST_TASKS abandoned task(s)"

check "cubelet exits cleanly at the end" stop_cubelet
finish

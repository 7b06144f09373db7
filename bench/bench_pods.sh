#!/bin/bash
# cubelet's footprint and reaction time with N static pods against a private, real containerd, beside the
# upstream kubelet 1.20.2 doing the same work on the same containerd, and beside the CRI floor (the same
# pods made, restarted, stopped and removed straight through CRI, all at once: containerd's own time).
#   bench/bench_pods.sh [BUILD_DIR] [N]     (root; BUILD_DIR defaults to ./build, N to 30)
# For each agent: RSS idle (5 s after start and again IDLE_S later), CPU with no pods (IDLE_S, default 60 s),
# time from writing N manifests to all N containers running, RSS with N pods (5 s after they all run, and
# again IDLE_S later, once cubelet's burst threads have gone), CPU while they run (IDLE_S), exit -> restart
# latency (20 exits, each new instance heard on containerd's events), time from removing the manifests to
# every container and sandbox stopped (and, cubelet only, removed), from containerd's log and events
# (teardown below). CPU figures are the threads' scheduler counts (microseconds) where no thread came or
# went, else clock ticks. cubelet also runs the restarts with its event stream off (relist only). Then the
# ratios.
# The upstream kubelet comes from tests/e2e/kube-build.sh (built once and cached, minutes; UPSTREAM=0 skips
# it, UPSTREAM_KUBELET=path uses another binary). REGISTERED=1: both agents are registered with a private
# kube-apiserver (tests/e2e/master.sh, its own ports), so every static pod also gets its mirror pod and its
# status written through the API. BENCH_LOGS=DIR keeps the agents' logs there, containerd's and its events
# too (CUBELET_FLAGS=--v=4 logs the runtime's events); a failed run leaves the agents' in /tmp.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-30}
idle_s=${IDLE_S:-60}
kills=$(( n < 20 ? n : 20 ))
ctd=/tmp/cubelet-bench-ctd
work=$(mktemp -d /tmp/cubelet-bench.XXXXXX)
endpoint="unix://$ctd/containerd.sock"
cri() { "$build/cri/cubelet-cri" -r "$endpoint" "$@"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
anon_kb() { awk '/^Pss_Anon/ { print $2 }' "/proc/$1/smaps_rollup"; } # private heap/stacks, no shared libs
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# cpu_snap PID: its threads' ids and the CPU they ran (ns, the scheduler's own count); cpu_ms_over PID S:
# the CPU (ms) PID used in the next S seconds, to the microsecond from the threads' counts when no thread
# came or went meanwhile, else from the process's ticks (which keep exited threads' time, in 1/CLK_TCK s).
cpu_snap() { # the sum, then the threads: "x" for threads when they changed while it was read
  local a b
  a=$(ls /proc/"$1"/task | sort | tr '\n' ' ')
  awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null
  b=$(ls /proc/"$1"/task | sort | tr '\n' ' ')
  [ "$a" = "$b" ] && echo "$a" || echo x
}
cpu_ms_over() {
  local a b t0 t1
  t0=$(cpu_ticks "$1") a=$(cpu_snap "$1"); sleep "$2"; t1=$(cpu_ticks "$1") b=$(cpu_snap "$1")
  if [ "$(sed 1d <<<"$a")" = "$(sed 1d <<<"$b")" ] && [ "$(sed 1d <<<"$a")" != x ]; then
    printf '%.1f\n' "$(echo "($(head -1 <<<"$b") - $(head -1 <<<"$a")) / 1000000" | bc -l)"
  else
    echo $(( (t1 - t0) * 1000 / hz ))
  fi
}
running() { cri ps | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c . || true; }
listed() { cri ps -a | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c . || true; }
ready_sandboxes() { cri pods | awk -F'\t' 'NR > 1 && $2 == "READY" && $4 ~ /-bench-node$/' | grep -c . || true; }
# The latest startedAt (ms, wall clock) of the bench pods' running containers: the burst's end as the
# runtime saw it, so that the polling below can be slow and leave the two cores to the agent and containerd.
last_started_ms() {
  local id ns m=0
  for id in $(cri ps | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/ { print $1 }'); do
    ns=$(ts "$id" startedAt)
    [[ "$ns" =~ ^[0-9]+$ ]] && [ $((ns / 1000000)) -gt "$m" ] && m=$((ns / 1000000))
  done
  [ "$m" -gt 0 ] && echo "$m" || ms
}
all_listed() { cri ps -a | awk 'NR > 1' | grep -c . || true; }
api_pods() { # -1 when the API server does not answer: never taken for "none left"
  local out
  out=$(kubectl --kubeconfig "$master/admin.kubeconfig" get pods -A --no-headers 2>/dev/null) || { echo -1; return; }
  grep -c . <<<"$out" || true
}

upstream=${UPSTREAM_KUBELET:-}
if [ -z "$upstream" ] && [ "${UPSTREAM:-1}" != 0 ]; then
  "$top/tests/e2e/kube-build.sh" kubelet >/dev/null
  upstream=/var/cache/cubelet-e2e/kubernetes-1.20.2/kubelet
fi

registered=${REGISTERED:-0}
master=/tmp/cubelet-bench-master
export E2E_APISERVER_PORT=16743 E2E_ETCD_PORT=23890 # off the tests' instances
kubeflags=()
source "$top/bench/upstream_sysctls.sh"
source "$top/bench/bench_lib.sh"
sysctls_save
# The upstream kubelet leaves its pods' log directories in /var/log/pods and their links in
# /var/log/containers (it removes them at its container GC, which the bench does not wait for): gone before
# each agent starts and at the end. Otherwise they pile up in the host's /var/log (86 links after one run),
# and the next run's cubelet walks them in its log pass.
purge_node_logs() {
  rm -rf /var/log/pods/*_*-bench-node_* || true
  rm -f /var/log/containers/*-bench-node_* || true
}
# The floor's BestEffort parent, with the weight a kubelet gives its besteffort cgroup: cpu.shares 2 (v1),
# cpu.weight 1 (v2). The runtime makes the pod cgroups under it and leaves them (a kubelet removes them).
floor_qos=/cubelet-bench-floor/besteffort
floor_cgroups() { # make | remove
  local d
  if [ "$1" = make ]; then
    if [ -d /sys/fs/cgroup/cpu ]; then
      mkdir -p "/sys/fs/cgroup/cpu$floor_qos" && echo 2 >"/sys/fs/cgroup/cpu$floor_qos/cpu.shares"
    else
      echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
      mkdir -p /sys/fs/cgroup/cubelet-bench-floor && echo +cpu >/sys/fs/cgroup/cubelet-bench-floor/cgroup.subtree_control
      mkdir -p "/sys/fs/cgroup$floor_qos" && echo 1 >"/sys/fs/cgroup$floor_qos/cpu.weight"
    fi
  else
    for d in /sys/fs/cgroup/*/cubelet-bench-floor /sys/fs/cgroup/cubelet-bench-floor; do
      [ ! -d "$d" ] || find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  fi
}
cleanup() { # under set -e: every step may fail without cutting the rest short
  # the agents' logs outlive a failed run
  [ "${ok:-0}" = 1 ] || { cp "$work"/*.log /tmp/ 2>/dev/null && echo "bench: logs in /tmp/{cubelet,upstream}.log" >&2; } || true
  [ -z "${BENCH_LOGS:-}" ] || { mkdir -p "$BENCH_LOGS" && cp "$work"/*.log "$ctd/containerd.log" "$BENCH_LOGS"/; } || true
  { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; } || true
  { [ -n "${evpid:-}" ] && kill "$evpid" 2>/dev/null && wait "$evpid" 2>/dev/null; } || true
  sysctls_restore
  { [ "$registered" = 1 ] && "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1; } || true
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  floor_cgroups remove
  # the upstream kubelet leaves its pods' volume mounts (service account tokens on tmpfs) in its root
  local m
  for m in $(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  purge_node_logs
  rm -rf "$work"
}
trap cleanup EXIT

bench_containerd "$ctd" cubbench0 10.198.0.0/24
mkdir -p "$work/m" "$work/floor"
if [ "$registered" = 1 ]; then
  "$top/tests/e2e/kube-build.sh" >/dev/null
  "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
  "$top/tests/e2e/master.sh" start "$master" >/dev/null
  "$top/tests/e2e/master.sh" node-kubeconfig "$master" bench-node "$work/node.kubeconfig" >/dev/null
  kubeflags=(--kubeconfig "$work/node.kubeconfig")
fi

start_cubelet() { bench_start_cubelet "$work" "$endpoint" "${kubeflags[@]}" "$@"; } # sets pid
# The upstream kubelet standalone (no kubeconfig), or registered with the same flags as cubelet.
start_upstream() { bench_start_upstream "$work" "$endpoint" "$upstream" "${kubeflags[@]}"; }
healthy() { [ "$(curl -s --max-time 2 http://127.0.0.1:10391/healthz)" = ok ]; }
wait_healthy() {
  local t0
  t0=$(ms)
  until healthy; do
    [ $(( $(ms) - t0 )) -gt 60000 ] && { echo "bench: $1 not healthy in 60 s (log in $work)" >&2; exit 1; }
    sleep 0.1
  done
}

write_manifests() { bench_write_pods "$work/m" 1 "$n" 30; }

# Exit -> restart: kill a container's process, then compare the runtime's own timestamps (the old
# instance's finishedAt, the new one's startedAt). Each pod is killed once per agent run, so no back-off
# applies. For cubelet also when it began the restart (its "Restarting container" log line).
ts() { cri inspect "$1" 2>/dev/null | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }
cid() { cri ps | awk -F'\t' -v p="default/p$1-bench-node" 'NR > 1 && $5 == p { print $1 }'; }
# restart_ms I NAME EVENTS: kills pod pI's container, then "BEGAN RESTART" (ms; BEGAN "-" but for cubelet*).
# The new instance is the first task start in EVENTS (cubelet-cri events) after the kill: waited for on the
# event, not by listing the runtime: a listing right after the kill fell in the very restart it timed (an
# event-driven agent restarts within 10 ms of the exit; at 110 pods the bench's listing of 220 containers
# beside its StartContainer: 97 ms in containerd, against 74 ms for the same starts a relist made later).
restart_ms() {
  local victim new t0 vpid fin started line n0 began=-
  # A pause of (389 I mod 1000) ms first: the kills fall at every phase of a relisting agent's period (1 s),
  # not just after the relist that found the previous exit (a wait of nearly the whole period each time).
  sleep "$(printf '0.%03d' $(( $1 * 389 % 1000 )))"
  victim=$(cid "$1")
  vpid=$(ctr --address "$ctd/containerd.sock" -n k8s.io tasks ls | awk -v id="$victim" '$1 == id { print $2 }')
  n0=$(wc -l <"$3")
  t0=$(ms)
  kill -9 "$vpid"
  while :; do
    new=$(tail -n +$((n0 + 1)) "$3" | awk -F'\t' -v v="$victim" '$1 == "start" && $2 != v { print $2; exit }')
    [ -n "$new" ] && break
    [ $(( $(ms) - t0 )) -gt 30000 ] && { echo "bench: p$1 not restarted in 30 s" >&2; return 1; }
    sleep 0.02
  done
  # The runtime may show the old instance's end after the new one runs (containerd applies an exit late on a
  # busy machine), and the new one's start a moment after its event: each read once it is there.
  fin=$(ts "$victim" finishedAt) started=$(ts "$new" startedAt)
  while [ -z "$fin" ] || [ "$fin" = 0 ] || [ -z "$started" ] || [ "$started" = 0 ]; do
    # gone (removed by its agent's GC): this sample is left out
    [ $(( $(ms) - t0 )) -gt 30000 ] && { echo "bench: p$1's old instance shows no end; sample left out" >&2; return 0; }
    sleep 0.05
    fin=$(ts "$victim" finishedAt) started=$(ts "$new" startedAt)
  done
  line=$(grep "\"Restarting container\" pod=\"default/p$1-bench-node\"" "$work/cubelet.log" 2>/dev/null | tail -1 |
    awk '{ print $2 }')
  [[ "$2" == cubelet* ]] && [ -n "$line" ] && began=$(( ($(date -d "$(date +%F) $line" +%s%N) - fin) / 1000000 ))
  echo "$began $(( (started - fin) / 1000000 ))"
}
# restarts FROM TO NAME: restart_ms for pods pFROM..pTO, one after another, with containerd's events heard
# meanwhile (BENCH_LOGS keeps them as events-restart-NAME.log)
restarts() {
  local i ev="$work/events-restart-$3.log"
  "$build/cri/cubelet-cri" -r "$endpoint" events >"$ev" 2>"$ev.err" &
  evpid=$!
  for i in $(seq 100); do grep -q subscribed "$ev.err" && break; sleep 0.1; done
  local rc=0
  for i in $(seq "$1" "$2"); do restart_ms "$i" "$3" "$ev" || { rc=1; break; }; done
  kill "$evpid" 2>/dev/null || true; wait "$evpid" 2>/dev/null || true; evpid=
  return $rc
}
# sandbox_spread T0_MS END_MS: the first and the last "Pod sandbox created" in cubelet's log between the two
# (wall-clock ms), as ms after T0 ("- -" when none)
sandbox_spread() {
  local day0
  day0=$(date -d "$(date +%F) 00:00:00" +%s%3N)
  awk -v t0="$1" -v end="$2" -v d0="$day0" '/"Pod sandbox created"/ {
      split($2, a, ":"); ms = d0 + (a[1] * 3600 + a[2] * 60 + a[3]) * 1000
      if (ms >= t0 && ms <= end) { if (!f || ms < f) f = ms; if (ms > l) l = ms }
    }
    END { if (f) printf "%d %d\n", f - t0, l - t0; else print "- -" }' "$work/cubelet.log"
}
# last_event_ms FILE KIND COLUMN T0_NS COUNT: the latest time (ms after T0_NS) in COLUMN (5: the shim's
# exit time, 6: when heard) of the KIND lines (cubelet-cri events) at or after T0_NS; fails when fewer than
# COUNT such lines.
last_event_ms() {
  awk -F'\t' -v k="$2" -v c="$3" -v t0="$4" -v want="$5" '$1 == k && $c >= t0 { n++; if ($c > m) m = $c }
    END { if (n < want) exit 1; printf "%d\n", (m - t0) / 1000000 }' "$1"
}
# ctd_log_ms KIND T0_NS [T1_NS]: "COUNT MS" from containerd's log between T0_NS and T1_NS (default: now):
# for KIND gone, the tasks whose shim went ("shim disconnected") and the last one's time; for sb_stopped,
# the sandboxes whose StopPodSandbox returned (the first return of each) and the last one's time. MS after
# T0_NS, 0 when none. The log's UTC times are read without mktime (mawk has none): days from the civil date.
ctd_log_ms() {
  awk -v kind="$1" -v t0="$2" -v t1="${3:-$(date +%s%N)}" '
    function ns(s,   d, y, m, era, yoe, doy, days) {
      # 2026-12-07T18:16:53.723444325Z
      y = substr(s, 1, 4) + 0; m = substr(s, 6, 2) + 0; d = substr(s, 9, 2) + 0
      y -= m <= 2; era = int(y / 400); yoe = y - era * 400
      doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
      days = era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
      return (days * 86400 + substr(s, 12, 2) * 3600 + substr(s, 15, 2) * 60 + substr(s, 18, 2)) * 1e9 + \
        substr(s, 21, 9)
    }
    kind == "gone" && /msg="shim disconnected" id=/ { id = $0; sub(/.* id=/, "", id); sub(/ .*/, "", id) }
    kind == "sb_stopped" && /msg="StopPodSandbox for .* returns successfully"/ {
      id = $0; sub(/.*StopPodSandbox for \\"/, "", id); sub(/\\".*/, "", id)
    }
    id != "" {
      t = ns(substr($1, 7)); if (t >= t0 && t <= t1 && !(id in seen)) { seen[id] = 1; n++; if (t > last) last = t }
      id = ""
    }
    END { printf "%d %d\n", n, n ? (last - t0) / 1000000 : 0 }' "$ctd/containerd.log"
}
# median COLUMN: median of one column of restart_ms's output
median() { awk -v c="$1" '{ print $c }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
worst() { awk -v c="$1" '{ print $c }' | sort -n | tail -n 1; }

# measure NAME: the whole workload on the agent started as $pid; results in R_<what>[NAME].
declare -A R
measure() {
  local name=$1 t0 e0 e1 c0 c1 ev
  wait_healthy "$name"
  sleep 5
  R[rss_idle_$name]=$(rss_kb "$pid") R[anon_idle_$name]=$(anon_kb "$pid")
  R[cpu0_$name]=$(cpu_ms_over "$pid" "$idle_s")
  # again after the idle period: what start-up left (a heap not yet trimmed, threads) shows in the difference
  R[rss_idle_settled_$name]=$(rss_kb "$pid") R[anon_idle_settled_$name]=$(anon_kb "$pid")
  t0=$(ms) c0=$(cpu_ticks "$ctd_pid") e0=$(cpu_ticks "$pid")
  write_manifests
  # Polled every 0.5 s (a listing every 50 ms was a tenth of a core taken from the burst it timed); the time
  # is the last container's start as the runtime recorded it.
  while [ "$(running)" -lt "$n" ]; do
    [ $(( $(ms) - t0 )) -gt 600000 ] && { echo "bench: $name: pods did not all start in 600 s" >&2; exit 1; }
    sleep 0.5
  done
  R[start_$name]=$(( $(last_started_ms) - t0 ))
  R[ctd_start_$name]=$(( ($(cpu_ticks "$ctd_pid") - c0) * 1000 / hz ))
  R[self_start_$name]=$(( ($(cpu_ticks "$pid") - e0) * 1000 / hz ))
  [ "$name" != cubelet ] ||
    read -r 'R[sb_first_cubelet]' 'R[sb_last_cubelet]' <<<"$(sandbox_spread "$t0" $((t0 + R[start_$name] + 1000)))"
  sleep 5
  R[rss_pods_$name]=$(rss_kb "$pid") R[anon_pods_$name]=$(anon_kb "$pid") R[threads_$name]=$(ls "/proc/$pid/task" | wc -l)
  R[cpu_$name]=$(cpu_ms_over "$pid" "$idle_s")
  R[rss_settled_$name]=$(rss_kb "$pid") R[anon_settled_$name]=$(anon_kb "$pid")
  R[threads_settled_$name]=$(ls "/proc/$pid/task" | wc -l)
  ev=$(restarts 1 "$kills" "$name")
  R[began_$name]=$(median 1 <<<"$ev") R[began_worst_$name]=$(worst 1 <<<"$ev")
  R[restart_$name]=$(median 2 <<<"$ev") R[restart_worst_$name]=$(worst 2 <<<"$ev")
}
# teardown NAME: remove the manifests, then time, without the lag of the polling that waits for the end (a
# listing every 0.2 s on a loaded runtime was up to half a second late; the floor's figures had none):
#   stopped     every task gone: the last of the pods' containers' and sandboxes' shims gone (containerd's
#               log; the issue's "all tasks gone", what CRI shows as stopped a moment later);
#   exited      the last exit of those processes as the shims recorded it (containerd's events);
#   sb_stopped  the last pod's StopPodSandbox returned (containerd's log: network torn down; what the floor's
#               stop phase times);
#   gone        (agents that remove them) the last removal heard (containerd's events);
# the polled figures (stopped_polled, gone_polled) are kept beside and stand in for a figure not found.
teardown() {
  local name=$1 t0 t0ns ev exits deletes sandboxes i c0 e0
  ev="$work/events-$name.log"
  "$build/cri/cubelet-cri" -r "$endpoint" events >"$ev" 2>"$ev.err" &
  evpid=$!
  for i in $(seq 100); do grep -q subscribed "$ev.err" && break; sleep 0.1; done
  # every sandbox and container exits once, and each of them is removed (cubelet: the exited ones too)
  sandboxes=$(cri pods | awk -F'\t' 'NR > 1 && $4 ~ /-bench-node$/' | grep -c . || true)
  exits=$(( $(running) + $(ready_sandboxes) ))
  deletes=$(( $(listed) + sandboxes ))
  c0=$(cpu_ticks "$ctd_pid") e0=$(cpu_ticks "$pid")
  t0ns=$(date +%s%N) t0=$(( t0ns / 1000000 ))
  rm -f "$work"/m/*.yaml
  while [ "$(running)" -gt 0 ] || [ "$(ready_sandboxes)" -gt 0 ]; do
    [ $(( $(ms) - t0 )) -gt 600000 ] && { echo "bench: $name: pods not stopped in 600 s" >&2; exit 1; }
    sleep 0.2
  done
  R[stopped_polled_$name]=$(( $(ms) - t0 ))
  R[ctd_stop_$name]=$(( ($(cpu_ticks "$ctd_pid") - c0) * 1000 / hz ))
  R[self_stop_$name]=$(( ($(cpu_ticks "$pid") - e0) * 1000 / hz ))
  if [ "$name" = cubelet ]; then
    while [ "$(listed)" -gt 0 ]; do
      [ $(( $(ms) - t0 )) -gt 180000 ] && { echo "bench: pods not removed in 180 s" >&2; exit 1; }
      sleep 0.2
    done
    R[gone_polled_$name]=$(( $(ms) - t0 ))
  fi
  # what the listing no longer shows is in the events and the log within milliseconds; a StopPodSandbox
  # may return after its sandbox shows stopped (its network's teardown). 10 s at most.
  for i in $(seq 100); do
    [ "$(grep -c '^exit	' "$ev")" -ge "$exits" ] &&
      { [ "$name" != cubelet ] || [ "$(grep -c '^delete	' "$ev")" -ge "$deletes" ]; } &&
      [ "$(ctd_log_ms sb_stopped "$t0ns" | cut -d' ' -f1)" -ge "$sandboxes" ] && break
    sleep 0.1
  done
  kill "$evpid" 2>/dev/null || true; wait "$evpid" 2>/dev/null || true; evpid=
  read -r i 'R[stopped_'"$name"']' <<<"$(ctd_log_ms gone "$t0ns")"
  [ "$i" -ge "$exits" ] || {
    echo "bench: $name: $i of $exits tasks' ends in containerd's log; the stop as polled" >&2
    R[stopped_$name]=${R[stopped_polled_$name]}
  }
  read -r i 'R[sb_stopped_'"$name"']' <<<"$(ctd_log_ms sb_stopped "$t0ns")"
  [ "$i" -ge "$sandboxes" ] || { echo "bench: $name: $i of $sandboxes sandbox stops in containerd's log" >&2; R[sb_stopped_$name]=-; }
  R[exited_$name]=$(last_event_ms "$ev" exit 5 "$t0ns" "$exits") || {
    echo "bench: $name: containerd's events missed an exit" >&2
    R[exited_$name]=-
  }
  if [ "$name" = cubelet ]; then
    R[gone_$name]=$(last_event_ms "$ev" delete 6 "$t0ns" "$deletes") || {
      echo "bench: $name: containerd's events missed a removal; the removal as polled" >&2
      R[gone_$name]=${R[gone_polled_$name]}
    }
  fi
  # Registered: until the mirror pods are gone from the API too (deleted behind kubeAPIQPS). The next agent
  # must start on an empty API: the upstream kubelet 1.20 given 110 mirror pods of no static pod of its own
  # deletes them in its housekeeping, which holds its sync loop (22 s a round at 5 requests/s) while the API
  # watch's deletions queue one by one: in one run it had not reached its own 110 manifests after 8 minutes.
  if [ "$registered" = 1 ]; then
    while [ "$(api_pods)" != 0 ]; do
      [ $(( $(ms) - t0 )) -gt 300000 ] && { echo "bench: $name: mirror pods not deleted in 300 s" >&2; exit 1; }
      sleep 0.2
    done
    R[api_gone_$name]=$(( $(ms) - t0 ))
  fi
}

# The floor first, on a fresh containerd: the same pods through CRI alone, in cgroups as a kubelet makes
# them for BestEffort pods (the bench's pods are: their containers start slower for it on a busy machine).
floor_cgroups make
ctd_pid=$(cat "$ctd/containerd.pid")
floor=$(CTD_PID=$ctd_pid "$build/bench/bench_cri_floor" "$endpoint" "$n" cubelet.local/busybox:1.35 "$work/floor" "$floor_qos")
floor_cgroups remove
floor_key() { awk -v k="$1" '$1 == k { print $2 }' <<<"$floor"; }
R[start_floor]=$(floor_key start_ms) R[restart_floor]=$(floor_key restart_ms)
R[sb_first_floor]=$(floor_key sandboxes_first_ms) R[sb_last_floor]=$(floor_key sandboxes_ms)
R[ctd_start_floor]=$(floor_key containerd_start_cpu_ms)
R[restart_worst_floor]=$(floor_key restart_worst_ms) R[stopped_calls_floor]=$(floor_key stopped_ms)
# its stop timed as the agents' are (teardown above): its StopPodSandbox calls' return is its sb_stopped
R[sb_stopped_floor]=${R[stopped_calls_floor]} R[exited_floor]=$(floor_key stopped_exits_ms)
[ "${R[exited_floor]:--1}" -ge 0 ] || R[exited_floor]=-
# (to now: nothing else ran on containerd since)
read -r i 'R[stopped_floor]' <<<"$(ctd_log_ms gone "$(floor_key stop_at_ns)")"
[ "$i" -ge $(( 2 * n )) ] || { echo "bench: floor: $i of $((2 * n)) tasks' ends in containerd's log" >&2; R[stopped_floor]=${R[stopped_calls_floor]}; }
R[gone_floor]=$(floor_key teardown_ms)

purge_node_logs
start_cubelet
measure cubelet
# The same restarts with the event stream off: the relist alone (1 s) finds the exits.
kill "$pid"; wait "$pid" 2>/dev/null || true
start_cubelet --runtime-event-stream=false
wait_healthy cubelet
sleep 3
rl=$(restarts $(( n - kills + 1 )) "$n" cubelet-relist)
# The teardown on the default configuration again (events on): a relist every second is not what a node runs.
kill "$pid"; wait "$pid" 2>/dev/null || true
start_cubelet
wait_healthy cubelet
sleep 3
teardown cubelet
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=

if [ -n "$upstream" ]; then
  # What cubelet left: nothing (it removes what it stopped); the upstream kubelet starts on the same state.
  [ "$(all_listed)" = 0 ] || echo "bench: containers left before the upstream kubelet's run: $(all_listed)" >&2
  purge_node_logs
  start_upstream
  measure upstream
  teardown upstream
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
fi

cpu_pct() { printf '%.3f' "$(echo "$1 / 10 / $idle_s" | bc -l)"; } # ms over idle_s -> % of one core
ratio() { [[ "${1:-}" =~ ^[0-9.]+$ && "${2:-}" =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) exit 1; printf "%.2f", a / b }' || printf -- '-'; }

echo "bench_pods: $n pods, $(nproc) cores, containerd $(containerd --version | awk '{ print $3 }'); IDLE_S=$idle_s;" \
  "$([ "$registered" = 1 ] && echo "registered with a kube-apiserver (mirror pods, status writes)" || echo standalone)"
cols=(cubelet)
[ -n "$upstream" ] && cols+=(upstream)
row() { # row LABEL KEY UNIT
  local c
  printf '  %-44s' "$1"
  for c in "${cols[@]}"; do printf ' %14s' "${R[$2_$c]:--}$3"; done
  echo
}
printf '  %-44s' ""; for c in "${cols[@]}"; do printf ' %14s' "$c"; done; echo
row "RSS idle (KiB)" rss_idle ""
row "  private (Pss_Anon, KiB)" anon_idle ""
row "RSS idle, $((idle_s + 5)) s after start (KiB)" rss_idle_settled ""
row "  private (KiB)" anon_idle_settled ""
row "CPU with no pods, ms in ${idle_s} s" cpu0 ""
row "$n manifests -> all running (ms)" start ""
row "RSS with $n pods, 5 s after (KiB)" rss_pods ""
row "  private (KiB)" anon_pods ""
row "  threads" threads ""
row "RSS with $n pods, $((idle_s + 5)) s after (KiB)" rss_settled ""
row "  private (KiB)" anon_settled ""
row "CPU with $n pods, ms in ${idle_s} s" cpu ""
row "exit -> new container running, median (ms)" restart ""
row "  worst (ms)" restart_worst ""
row "$n manifests removed -> all tasks gone (ms)" stopped ""
row "  every process exited (the shims' time, ms)" exited ""
row "  every StopPodSandbox returned (ms)" sb_stopped ""
row "  ... and removed (ms)" gone ""
row "  all stopped, as polled (ms)" stopped_polled ""
row "  removed, as polled (ms)" gone_polled ""
[ "$registered" = 1 ] && row "  ... mirror pods gone from the API (ms)" api_gone ""
echo "  cubelet: CPU with no pods $(cpu_pct "${R[cpu0_cubelet]}") %, with $n pods $(cpu_pct "${R[cpu_cubelet]}") % of one core"
echo "  cubelet: exit -> restart begun, median ${R[began_cubelet]} ms (worst ${R[began_worst_cubelet]});" \
  "relist only: begun $(median 1 <<<"$rl") ms, running $(median 2 <<<"$rl") ms (median)"
echo "  CRI floor (bench_cri_floor, all $n at once): start ${R[start_floor]} ms, all tasks gone" \
  "${R[stopped_floor]} ms (exited ${R[exited_floor]} ms, its stop calls returned at ${R[sb_stopped_floor]} ms)," \
  "removed ${R[gone_floor]} ms; exit -> new container running (killed, replaced on the exit event, $n pods" \
  "running): median ${R[restart_floor]} ms, worst ${R[restart_worst_floor]}"
echo "  sandboxes ready, first and last (ms after the manifests, the floor's after its start): cubelet" \
  "${R[sb_first_cubelet]}, ${R[sb_last_cubelet]}; floor ${R[sb_first_floor]}, ${R[sb_last_floor]}"
echo "  CPU during the start (ms), containerd's (the bench's polling included for the agents) and the agent's:" \
  "cubelet ${R[ctd_start_cubelet]} + ${R[self_start_cubelet]},${upstream:+ upstream ${R[ctd_start_upstream]} + ${R[self_start_upstream]},}" \
  "floor ${R[ctd_start_floor]}"
echo "  CPU during the stop (ms, to the polled end), the same way: cubelet ${R[ctd_stop_cubelet]} +" \
  "${R[self_stop_cubelet]}${upstream:+, upstream ${R[ctd_stop_upstream]} + ${R[self_stop_upstream]}}"
echo "  cubelet/floor: start $(ratio "${R[start_cubelet]}" "${R[start_floor]}")," \
  "tasks gone $(ratio "${R[stopped_cubelet]}" "${R[stopped_floor]}"), exited $(ratio "${R[exited_cubelet]}" "${R[exited_floor]}")," \
  "stop calls $(ratio "${R[sb_stopped_cubelet]}" "${R[sb_stopped_floor]}"), removed $(ratio "${R[gone_cubelet]}" "${R[gone_floor]}")," \
  "restart $(ratio "${R[restart_cubelet]}" "${R[restart_floor]}")"
if [ -n "$upstream" ]; then
  echo "  cubelet/upstream: start $(ratio "${R[start_cubelet]}" "${R[start_upstream]}")," \
    "teardown: tasks gone $(ratio "${R[stopped_cubelet]}" "${R[stopped_upstream]}"), exited" \
    "$(ratio "${R[exited_cubelet]}" "${R[exited_upstream]}"), stop calls $(ratio "${R[sb_stopped_cubelet]}" "${R[sb_stopped_upstream]}")," \
    "RSS $(ratio "${R[rss_settled_cubelet]}" "${R[rss_settled_upstream]}")," \
    "private $(ratio "${R[anon_settled_cubelet]}" "${R[anon_settled_upstream]}")," \
    "CPU idle $(ratio "${R[cpu0_cubelet]}" "${R[cpu0_upstream]}")," \
    "CPU with pods $(ratio "${R[cpu_cubelet]}" "${R[cpu_upstream]}")," \
    "restart $(ratio "${R[restart_cubelet]}" "${R[restart_upstream]}")"
  echo "  upstream/floor: start $(ratio "${R[start_upstream]}" "${R[start_floor]}")," \
    "tasks gone $(ratio "${R[stopped_upstream]}" "${R[stopped_floor]}"), exited" \
    "$(ratio "${R[exited_upstream]}" "${R[exited_floor]}"), stop calls $(ratio "${R[sb_stopped_upstream]}" "${R[sb_stopped_floor]}")," \
    "restart $(ratio "${R[restart_upstream]}" "${R[restart_floor]}")"
fi
ok=1

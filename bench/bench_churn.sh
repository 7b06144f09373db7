#!/bin/bash
# Churn without leaks: N pods (half static, half through a real kube-apiserver when tests/e2e/kube-build.sh
# has built one) created and deleted in a loop for DURATION seconds, then the leak checks of the fault tests.
#   bench/bench_churn.sh [BUILD_DIR] [DURATION_S]     (root; BUILD_DIR defaults to ./build, DURATION_S to 600)
# Prints per cycle: create -> all running, delete -> all gone, cubelet's RSS and open fds with the pods up,
# right after they are gone, and CHURN_SETTLE_S (35) s later: cubelet hands its heap's free pages back every
# 30 s, so the RSS right after a teardown still holds the burst's garbage and moves a few per cent from cycle to
# cycle without a trend. The first cycle warms up; the settled samples after it are compared with the first
# of them (within +-5 %?). At the end: tests/faults/leaks.sh's checks (no sandbox, address, veth,
# pod cgroup, mount or pod directory left) and cubelet's exit status after SIGTERM (in the sanitizer build,
# LeakSanitizer's verdict).
# Env: CHURN_PODS (110); CHURN_SETTLE_S (35); CHURN_HEAP=0 leaves out the heap column (it needs gdb);
# CHURN_CTD_DIR / CHURN_MASTER_DIR use that running containerd / control plane (the test fixtures) instead of
# private ones; CHURN_CRI the cubelet-cri to look with (BUILD_DIR's); CHURN_NO_API=1 static pods only;
# CHURN_STRICT=1 a drift beyond +-5 % fails the run.
# Exit status: non-zero when a leak check fails or cubelet does not exit cleanly.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The test instance moves the ports when the sanitizer suite runs this beside the plain one (tests/instance.sh).
source "$top/tests/instance.sh"
hz_port=$((10393 + TI_PORT_OFFSET))
build=$(cd "${1:-$top/build}" && pwd)
duration=${2:-600}
n=${CHURN_PODS:-110}
node=churn-node
ns=churn
ctd=${CHURN_CTD_DIR:-/tmp/cubelet-bench-churn-ctd}
master=${CHURN_MASTER_DIR:-/tmp/cubelet-bench-churn-master}
apiserver=${KUBE_APISERVER:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kube-apiserver}
kubectl=${KUBECTL:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kubectl}
own_ctd=$([ -z "${CHURN_CTD_DIR:-}" ] && echo 1 || echo 0)
own_master=$([ -z "${CHURN_MASTER_DIR:-}" ] && echo 1 || echo 0)
cgroup_root=/cubelet-churn-$$
pid=""

ms() { echo $(( $(date +%s%N) / 1000000 )); }
cri_bin=${CHURN_CRI:-$build/cri/cubelet-cri}
cri() { "$cri_bin" -r "unix://$ctd/containerd.sock" "$@"; }
k() { "$kubectl" --kubeconfig "$master/admin.kubeconfig" --request-timeout=10s "$@"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
# heap_kb: the bytes malloc has handed out and not had back (glibc's malloc_stats, called in cubelet through
# gdb, totals in cubelet's log), in kB; "-" without gdb. RSS that grows while this stays is fragmentation;
# this growing is memory held.
heap_kb() {
  local before
  [ "${CHURN_HEAP:-1}" = 1 ] && command -v gdb >/dev/null || { echo -; return; }
  before=$(grep -c '^Total (incl. mmap):' "$work/cubelet.log" || true)
  gdb -p "$pid" -batch -ex 'call (void) malloc_stats()' >/dev/null 2>&1 || { echo -; return; }
  # the newest totals, and only when this call wrote them (never the previous cycle's again)
  awk -v n="$before" '/^Total \(incl. mmap\):/ { t = 1; k++ } t && /in use bytes/ { v = $NF; t = 0 }
    END { print ((k > n && v) ? int(v / 1024) : "-") }' "$work/cubelet.log"
}
# poll SECONDS COMMAND...: until COMMAND succeeds (status 0) or SECONDS have passed (status 1).
poll() {
  local end=$(( $(ms) + $1 * 1000 ))
  shift
  until "$@"; do
    [ "$(ms)" -lt "$end" ] || return 1
    sleep 0.2
  done
}
# wait_until SECONDS WHAT COMMAND...: poll, or the bench fails naming WHAT.
wait_until() {
  local limit=$1 what=$2
  shift 2
  poll "$limit" "$@" && return 0
  echo "bench: $what not reached in $limit s" >&2
  tail -n 30 "$work/cubelet.log" >&2
  keep=1
  exit 1
}

[ "$(id -u)" = 0 ] || { echo "SKIP: bench_churn needs root"; exit 77; }
[ "$own_ctd" = 1 ] || [ -S "$ctd/containerd.sock" ] || { echo "SKIP: no containerd at $ctd"; exit 77; }
work=$(mktemp -d /tmp/cubelet-bench-churn.XXXXXX)

cleanup() {
  [ -z "$pid" ] || { kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  [ "$own_ctd" = 0 ] || "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  [ "$own_master" = 0 ] || [ ! -d "$master" ] || "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
  local d
  for d in /sys/fs/cgroup/*"$cgroup_root" /sys/fs/cgroup"$cgroup_root"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ "${keep:-0}" = 1 ] || rm -rf --one-file-system "$work"
}
trap cleanup EXIT

if [ "$own_ctd" = 1 ]; then
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
  "$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubchurn0 --pod-cidr 10.193.0.0/24 >/dev/null
  "$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null
fi
api=1
if [ "${CHURN_NO_API:-0}" = 1 ]; then
  api=0
elif [ "$own_master" = 1 ]; then
  if [ -x "$apiserver" ] && [ -x "$kubectl" ] && [ -x "${KUBECTL_REAL:-$kubectl}" ] && command -v etcd >/dev/null; then
    export E2E_APISERVER_PORT=19743 E2E_ETCD_PORT=19790
    "$top/tests/e2e/master.sh" stop "$master" --purge >/dev/null 2>&1 || true
    "$top/tests/e2e/master.sh" start "$master" >/dev/null
  else
    echo "bench: no kube-apiserver built (tests/e2e/kube-build.sh): static pods only"
    api=0
  fi
elif [ ! -s "$master/admin.kubeconfig" ] || [ ! -x "$kubectl" ] || [ ! -x "${KUBECTL_REAL:-$kubectl}" ]; then
  echo "bench: no control plane at $master: static pods only"
  api=0
fi
n_api=$(( api ? n / 2 : 0 ))
n_static=$(( n - n_api ))

source "$top/tests/faults/pods.sh"
source "$top/tests/faults/leaks.sh"
passed=0 failed=0
check() { local d=$1; shift; if "$@"; then passed=$((passed + 1)); echo "ok - $d"; else failed=$((failed + 1)); echo "not ok - $d"; fi; }
LK_CRI=$cri_bin LK_SOCK=$ctd/containerd.sock LK_CTD_DIR=$ctd LK_NODE=$node LK_ROOT=$work/root
LK_CGROUP_ROOT=$cgroup_root LK_MOUNTS_PER_POD=2 LK_MATCH="^(default/s[0-9]+-$node|$ns/a[0-9]+)\$"
lk_init

mkdir -p "$work/m"
flags=()
if [ "$api" = 1 ]; then
  "$top/tests/e2e/master.sh" node-kubeconfig "$master" "$node" "$work/node.kubeconfig" >/dev/null
  k create namespace "$ns" >/dev/null 2>&1 || true
  k -n "$ns" delete pods --all --grace-period=0 --force >/dev/null 2>&1 || true
  flags=(--kubeconfig "$work/node.kubeconfig")
fi
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$ctd/containerd.sock" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override "$node" --healthz-port "$hz_port" \
  --read-only-port 0 --port "$((hz_port + 2))" --address 127.0.0.1 --node-ip 127.0.0.1 --cgroup-root "$cgroup_root" \
  --file-check-frequency 2s "${flags[@]}" >"$work/cubelet.log" 2>&1 &
pid=$!
wait_until 60 "cubelet healthy" curl -sf "http://127.0.0.1:$hz_port/healthz" -o /dev/null
echo "churn: $n pods ($n_static static, $n_api from the API server) created and deleted for ${duration} s; cubelet pid $pid"

ours() { cri "$@" | awk -F'\t' -v re="$(lk_match)" 'NR > 1 && ($0 ~ re || ($3 "/" $4) ~ re || $5 ~ re)'; }
n_running() { cri ps | awk -F'\t' -v re="$(lk_match)" 'NR > 1 && $5 ~ re' | grep -c . || true; }
all_running() { [ "$(n_running)" = "$n" ]; }
none_left() {
  [ -z "$(ours pods)" ] && [ -z "$(ours ps -a)" ] || return 1
  [ "$api" = 0 ] || [ -z "$(k -n "$ns" get pods -o name 2>/dev/null)" ]
}

settle=${CHURN_SETTLE_S:-35}
row='%-6s %10s %10s %12s %6s %12s %6s %14s %6s %12s\n'
# shellcheck disable=SC2059
printf "$row" cycle create_ms delete_ms rss_up_kB fds_up rss_gone_kB fds_gone rss_settled_kB fds_st heap_used_kB
t_end=$(( $(ms) + duration * 1000 ))
cycle=0
rss0="" fds0="" drift=0 worst_rss=0 worst_fds=0
while :; do
  cycle=$((cycle + 1))
  t0=$(ms)
  for i in $(seq 1 "$n_static"); do
    fault_pod "s$i" >"$work/m/.s$i.tmp" && mv "$work/m/.s$i.tmp" "$work/m/s$i.yaml"
  done
  if [ "$api" = 1 ]; then
    for i in $(seq 1 "$n_api"); do fault_pod "a$i" "$node"; echo ---; done | k -n "$ns" apply -f - >/dev/null
  fi
  wait_until 600 "all $n pods running (cycle $cycle)" all_running
  t_create=$(( $(ms) - t0 ))
  rss_up=$(rss_kb) fds_up=$(fds)
  t0=$(ms)
  rm -f "$work/m"/*.yaml
  [ "$api" = 0 ] || k -n "$ns" delete pods --all --wait=false >/dev/null
  wait_until 600 "all pods gone (cycle $cycle)" none_left
  t_delete=$(( $(ms) - t0 ))
  rss_gone=$(rss_kb) fds_gone=$(fds)
  sleep "$settle" # a measuring interval, not a wait for a condition: the heap's trim runs every 30 s
  rss=$(rss_kb) fd=$(fds) heap=$(heap_kb)
  # shellcheck disable=SC2059
  printf "$row" "$cycle" "$t_create" "$t_delete" "$rss_up" "$fds_up" "$rss_gone" "$fds_gone" "$rss" "$fd" "$heap"
  if [ "$cycle" = 2 ]; then
    rss0=$rss fds0=$fd
  elif [ "$cycle" -gt 2 ]; then
    d_rss=$(( (rss - rss0) * 1000 / rss0 )) d_fds=$(( (fd - fds0) * 1000 / fds0 ))
    [ ${d_rss#-} -le "${worst_rss#-}" ] || worst_rss=$d_rss
    [ ${d_fds#-} -le "${worst_fds#-}" ] || worst_fds=$d_fds
  fi
  [ "$(ms)" -lt "$t_end" ] || break
done
if [ -n "$rss0" ] && [ "$cycle" -gt 2 ]; then
  pm() { printf '%+d.%d %%' $(($1 / 10)) $(( ${1#-} % 10 )); }
  verdict() { [ ${1#-} -le 50 ] && echo "within +-5 %" || { drift=1; echo "OUTSIDE +-5 %"; }; }
  echo "after warm-up (cycle 2 settled: ${rss0} kB, ${fds0} fds): settled RSS drifted at most $(pm "$worst_rss") ($(verdict "$worst_rss")), open fds $(pm "$worst_fds") ($(verdict "$worst_fds"))"
  grep -q '^CUBELET_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null &&
    echo "(sanitizer build: its RSS holds ASan's quarantine and grows by design; LeakSanitizer judges leaks)"
else
  echo "too few cycles ($cycle) to compare RSS and fds after warm-up (the first cycle warms up)"
fi

leak_free() { lk_all; }
lk_want
poll 60 leak_free || true # the last removals may still be on their way; lk_check_all tells what stays
lk_check_all "after $cycle cycles"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
check "cubelet exits cleanly on SIGTERM (sanitizer build: no leak reported)" test "$rc" = 0
grep -q 'ERROR: LeakSanitizer\|ERROR: AddressSanitizer\|runtime error:' "$work/cubelet.log" &&
  { grep -A30 'ERROR: \(Leak\|Address\)Sanitizer\|runtime error:' "$work/cubelet.log" | head -60; failed=$((failed + 1)); }
[ "$api" = 0 ] || k delete node "$node" >/dev/null 2>&1 || true
[ "${CHURN_STRICT:-0}" = 0 ] || [ "$drift" = 0 ] || { echo "not ok - RSS or fds drifted"; failed=$((failed + 1)); }
[ "$failed" = 0 ] || { keep=1; echo "kept $work (cubelet.log)"; }
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

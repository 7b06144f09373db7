#!/bin/bash
# Where cubelet's CPU goes with N idle static pods: each thread's time on CPU (/proc/PID/task/*/schedstat)
# and its voluntary context switches (wake-ups) over S seconds, against a private, real containerd.
#   bench/bench_cpu_threads.sh [BUILD_DIR] [N] [S]    (root; defaults ./build, 30 pods, 120 s)
# Run it on a quiet machine: the figures are tens of milliseconds. PERF=FILE records the same window with
# `perf record --call-graph dwarf` into FILE instead (perf report -i FILE --children).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/bench/bench_lib.sh"
build=$(cd "${1:-$top/build}" && pwd); n=${2:-30}; s=${3:-120}
ctd=/tmp/cubelet-cputhr-ctd; work=$(mktemp -d /tmp/cubelet-cputhr.XXXXXX); endpoint="unix://$ctd/containerd.sock"
pid=
cri() { "$build/cri/cubelet-cri" -r "$endpoint" "$@"; }
cleanup() {
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubcpu0 --pod-cidr 10.197.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$ctd/containerd.sock" "$build/images" >/dev/null
mkdir -p "$work/m"
"$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "$endpoint" \
  --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node --healthz-port 10392 \
  --local-socket "$work/cubelet.sock" ${CUBELET_FLAGS:-} >>"$work/cubelet.log" 2>&1 &
pid=$!
bench_write_pods "$work/m" 1 "$n" 30
deadline=$((SECONDS + 600))
until [ "$(cri ps | awk 'NR > 1' | grep -c . || true)" -ge "$n" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "the $n pods did not run within 600 s" >&2; exit 1; }
  sleep 1
done
sleep 30 # the burst's threads gone, the first passes of every periodic thread done
if [ -n "${PERF:-}" ]; then
  perf record -F 20000 --call-graph dwarf,16384 -o "$PERF" -p "$pid" -- sleep "$s" >/dev/null 2>&1
  exit 0
fi
snap() {
  for t in /proc/$pid/task/*; do
    echo "$(basename "$t") $(cat "$t/comm") $(cut -d' ' -f1 "$t/schedstat") $(awk '/^voluntary_ctxt/ { print $2 }' "$t/status")"
  done
}
p0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat"); snap >"$work/a"
sleep "$s"
p1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat"); snap >"$work/b"
echo "cubelet with $n pods over $s s: $(((p1 - p0) * 10)) ms of CPU (clock ticks), $(ls "/proc/$pid/task" | wc -l) threads"
join <(sort "$work/a") <(sort "$work/b") |
  awk -v s="$s" '{ d = ($6 - $3) / 1e6; t += d; if (d > 0.05) printf "  %-13s %6.1f ms %5d wake-ups\n", $2, d, $7 - $4 }
                 END { printf "  all threads   %6.1f ms (%.3f %% of a core)\n", t, t / (s * 10) }'

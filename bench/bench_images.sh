#!/bin/bash
# Images (#13): a pod's start with its image present vs pulled from a registry on 127.0.0.1 (Debian's
# docker-registry, plain HTTP, the busybox test image pushed with skopeo; the image removed from containerd
# before each pulled start), and image GC: the time from the image filesystem crossing the high threshold
# (85 %) to being below the low one (80 %), with containerd's root on a tmpfs of the bench's own filled with
# unused images of random bytes.
#   bench/bench_images.sh [BUILD_DIR] [RUNS]   (root; BUILD_DIR defaults to ./build, RUNS to 5)
# The GC runs every second here (--image-gc-period 1s; upstream's period is 5 min, which would be all of the
# figure) and images may go once a second old (--minimum-image-ttl-duration 1s; upstream: 2 min); the
# image filesystem's hard eviction threshold (15 % available) is off, its reclaim removing every unused image.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
runs=${2:-5}
ctd=/tmp/cubelet-bench-img-ctd
work=$(mktemp -d /tmp/cubelet-bench-img.XXXXXX)
reg=127.0.0.1:19395
healthz=19391
fs_mib=${FS_MIB:-320} # the image filesystem's size
sock=$ctd/containerd.sock
cri() { "$build/cri/cubelet-cri" -r "unix://$sock" "$@"; }
ctr_() { ctr --address "$sock" -n k8s.io "$@"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
pid="" reg_pid=""

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  mountpoint -q "$ctd/root" && umount -l "$ctd/root"
  rm -rf "$work"
}
trap cleanup EXIT
for tool in docker-registry skopeo jq; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (packaging/install-deps.sh)" >&2; exit 1; }
done

"$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
mountpoint -q "$ctd/root" && umount -l "$ctd/root"
rm -rf "$ctd"
mkdir -p "$ctd/root" "$ctd/certs.d/$reg"
mount -t tmpfs -o "size=${fs_mib}m" cubelet-bench-imagefs "$ctd/root"
cat >"$ctd/certs.d/$reg/hosts.toml" <<TOML
server = "http://$reg"
[host."http://$reg"]
  capabilities = ["pull", "resolve"]
TOML
PAUSE_BIN="$build/packaging/pause" "$top/packaging/images/build-images.sh" "$build/images" >/dev/null
"$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge cubbimg0 --pod-cidr 10.192.0.0/24 >/dev/null
"$top/packaging/images/import-images.sh" "$sock" "$build/images" >/dev/null

# The registry, and the image in it.
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $reg}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
t0=$(ms)
until curl -sf "http://$reg/v2/" -o /dev/null; do
  [ $(($(ms) - t0)) -gt 30000 ] && { echo "bench: the registry did not start" >&2; exit 1; }
  sleep 0.05
done
skopeo copy -q --dest-tls-verify=false "oci-archive:$build/images/busybox.tar" "docker://$reg/bench/busybox:1.35"

start_cubelet() {
  "$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "unix://$sock" \
    --root-dir "$work/root" --pod-logs-dir "$work/logs" --hostname-override bench-node \
    --healthz-port "$healthz" --local-socket "$work/cubelet.sock" --file-check-frequency 1s "$@" \
    ${CUBELET_FLAGS:-} >>"$work/cubelet.log" 2>&1 &
  pid=$!
  local t0
  t0=$(ms)
  until curl -sf "http://127.0.0.1:$healthz/healthz" -o /dev/null; do
    [ $(($(ms) - t0)) -gt 30000 ] && { echo "bench: cubelet did not start" >&2; exit 1; }
    sleep 0.05
  done
}
running() { cri ps | awk -F'\t' 'NR > 1 && $5 ~ /-bench-node$/' | grep -c . || true; }
listed() { cri pods | awk -F'\t' 'NR > 1' | grep -c . || true; }

# start_ms IMAGE POLICY: one pod's manifest written -> its container running; then the pod goes.
start_ms() {
  local t0 t
  cat >"$work/m/.p.tmp" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: $1
    imagePullPolicy: $2
    command: ["sleep", "3600"]
YAML
  t0=$(ms)
  mv "$work/m/.p.tmp" "$work/m/p.yaml"
  until [ "$(running)" = 1 ]; do
    [ $(($(ms) - t0)) -gt 120000 ] && { echo "bench: the pod did not start in 120 s" >&2; exit 1; }
    sleep 0.02
  done
  t=$(($(ms) - t0))
  rm -f "$work/m/p.yaml"
  t0=$(ms)
  while [ "$(listed)" -gt 0 ]; do
    [ $(($(ms) - t0)) -gt 120000 ] && { echo "bench: the pod did not go in 120 s" >&2; exit 1; }
    sleep 0.05
  done
  echo "$t"
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "median %d ms, best %d ms, worst %d ms", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

mkdir -p "$work/m"
start_cubelet --image-gc-high-threshold 100
present=$(for _ in $(seq 1 "$runs"); do start_ms cubelet.local/busybox:1.35 IfNotPresent; done)
pulled=$(for _ in $(seq 1 "$runs"); do
  ctr_ images rm "$reg/bench/busybox:1.35" >/dev/null 2>&1 || true
  start_ms "$reg/bench/busybox:1.35" Always
done)
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""

# --- Image GC. used_pct: the image filesystem's use, as statvfs (and upstream's image manager) sees it.
used_pct() { df --output=pcent "$ctd/root" | tail -1 | tr -dc 0-9; }
source "$top/tests/integration/make_image.sh"
start_cubelet --image-gc-high-threshold 85 --image-gc-low-threshold 80 --image-gc-period 1s \
  --minimum-image-ttl-duration 1s --eviction-hard 'memory.available<100Mi'
base=$(used_pct)
n=0
while [ "$(used_pct)" -lt 85 ]; do
  n=$((n + 1))
  [ "$n" -gt 200 ] && { echo "bench: the image filesystem never reached 85 %" >&2; exit 1; }
  make_image "$sock" "$ctd" "cubelet.local/gc-bench:$n" $((8 << 20)) >/dev/null
done
t0=$(ms) crossed=$(used_pct)
until [ "$(used_pct)" -lt 80 ]; do
  [ $(($(ms) - t0)) -gt 120000 ] && { echo "bench: image GC did not get below 80 % in 120 s ($(used_pct) %)" >&2; exit 1; }
  sleep 0.02
done
t_gc=$(($(ms) - t0))
after=$(used_pct)
left=$(ctr_ images ls -q | grep -c '^cubelet.local/gc-bench:' || true)

echo "cubelet images bench ($runs runs, $(nproc) cores, containerd $(containerd --version | awk '{ print $3 }'))"
echo "  manifest -> container running, image present:               $(stats <<<"$present")"
echo "  manifest -> container running, pulled from 127.0.0.1:       $(stats <<<"$pulled")"
printf '  image GC, %d MiB image filesystem (%d %% used before, %d images of 8 MiB imported):\n' "$fs_mib" "$base" "$n"
printf '    %d %% (crossed 85 %%) -> %d %% (below 80 %%)   %6d ms  (%d of the %d images left)\n' \
  "$crossed" "$after" "$t_gc" "$left" "$n"

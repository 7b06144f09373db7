#!/bin/bash
# Fidelity at the runtime's level: the same static pods run by cubelet, then by the upstream kubelet 1.20.2,
# each alone on one private containerd; every container's and sandbox's OCI spec (what containerd made of
# the agent's CRI requests, `ctr containers info`) compared, ids, pids and the agents' own paths aside; and
# the limits each agent wrote in every pod's cgroup, its QoS class's and the node's.
#   bench/spec_parity.sh [BUILD_DIR] [POD.yaml...]   (root; by default the bench pod and bench/parity's
#                                                     burstable and guaranteed pods)
# Prints each difference as a unified diff (cubelet's lines -, upstream's +); exit 1 when there is one. Each
# pod's containers must run within 60 s under both agents. The upstream kubelet comes from
# tests/e2e/kube-build.sh (built once and cached; UPSTREAM_KUBELET=path uses another binary). Pods in block
# style (`containers:` then `- name:` lines), to count the containers that must run. Known difference: a
# hostNetwork pod's /etc/hosts (docs/pod-fields.md, hostAliases; bench/parity/hostnetwork.yaml shows it).
# Both agents and the containerd run in a mount namespace of the script's own, with tmpfs on the paths the
# upstream kubelet uses whatever its flags say (/var/log/pods, whose unknown pods' directories its GC
# removes; /var/lib/kubelet) and on /var/log/containers (both agents prune its links): a node's own pods'
# logs stay untouched. The upstream kubelet still sets a few machine-wide sysctls at start; they are put
# back at the end (bench/upstream_sysctls.sh).
set -euo pipefail
if [ -z "${SPEC_PARITY_NS:-}" ]; then
  exec unshare --mount --propagation private env SPEC_PARITY_NS=1 "${BASH_SOURCE[0]}" "$@"
fi
for d in /var/log/pods /var/log/containers /var/lib/kubelet; do mkdir -p "$d" && mount -t tmpfs tmpfs "$d"; done
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
shift || true
ctd=/tmp/cubelet-parity-ctd
endpoint="unix://$ctd/containerd.sock"
work=$(mktemp -d /tmp/cubelet-parity.XXXXXX)
cri() { "$build/cri/cubelet-cri" -r "$endpoint" "$@"; }
upstream=${UPSTREAM_KUBELET:-}
if [ -z "$upstream" ]; then
  "$top/tests/e2e/kube-build.sh" kubelet >/dev/null
  upstream=/var/cache/cubelet-e2e/kubernetes-1.20.2/kubelet
fi
source "$top/bench/upstream_sysctls.sh"
source "$top/bench/bench_lib.sh"
sysctls_save
cgroup_root=/cubelet-parity # both agents' pods under it, never in a node's /kubepods

stop_agent() { # kill the agent, then remove what it left: pods, mounts, logs, cgroups
  local s m d
  { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; } || true
  pid=
  for s in $(cri pods -q 2>/dev/null); do cri stopp "$s" >/dev/null 2>&1 || true; cri rmp -f "$s" >/dev/null 2>&1 || true; done
  for m in $(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf /var/log/pods/*_*-parity-node_* /var/log/containers/*-parity-node_* 2>/dev/null || true
  for d in /sys/fs/cgroup/*"$cgroup_root" /sys/fs/cgroup"$cgroup_root"; do
    [ ! -d "$d" ] || find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
cleanup() {
  local f
  if [ "${ok:-0}" != 1 ]; then
    for f in "$work"/*.log; do [ ! -f "$f" ] || cp "$f" "/tmp/spec-parity-$(basename "$f")"; done
    echo "spec_parity: the agents' logs in /tmp/spec-parity-*.log" >&2
  fi
  stop_agent
  sysctls_restore
  "$top/packaging/containerd/stop-containerd.sh" --dir "$ctd" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bench_containerd "$ctd" cubparity0 10.196.0.0/24
mkdir -p "$work/m"
if [ $# -gt 0 ]; then
  cp "$@" "$work/m/"
else
  bench_pod_yaml p1 30 >"$work/m/p1.yaml"
  cp "$top/bench/parity/burstable.yaml" "$top/bench/parity/guaranteed.yaml" "$work/m/"
fi
# what must run: one container per container of every pod (init containers excluded: they have exited)
want=$(cat "$work"/m/*.yaml | awk '/^  containers:/ { c = 1; next } /^  [a-zA-Z]/ { c = 0 } c && /^  - / { n++ } END { print n + 0 }')

# pod_cgroups SANDBOX_SPEC: the limits the agent wrote in the pod's cgroup and in its QoS class's and the
# node's above it (cgroup v1 here; v2's files where v1 has none), one "level/file value" a line.
pod_cgroups() {
  local pod_cg level dir f h
  pod_cg=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Spec"]["linux"]["cgroupsPath"])' "$1")
  pod_cg=${pod_cg%/*}
  for level in pod qos node; do
    case $level in pod) dir=$pod_cg ;; qos) dir=${pod_cg%/*} ;; node) dir=$cgroup_root/kubepods ;; esac
    [ "$level" = qos ] && [ "${dir##*/}" = kubepods ] && continue # a Guaranteed pod's is the node's
    for f in cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us memory/memory.limit_in_bytes \
      pids/pids.max hugetlb/hugetlb.2MB.limit_in_bytes hugetlb/hugetlb.1GB.limit_in_bytes \
      unified/cpu.weight unified/cpu.max unified/memory.max unified/pids.max; do
      h=/sys/fs/cgroup/${f%%/*}$dir/${f#*/}
      [ -f "$h" ] && echo "$level/${f#*/} $(cat "$h")"
    done
  done
  true
}

run_agent() { # run_agent NAME: start it on the pods, dump each object's spec to $work/NAME/<pod>.<container>
  local name=$1 t0 n id pod cname
  mkdir -p "$work/$name"
  # the upstream kubelet wants its root there already, in every hierarchy
  for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do [ ! -e "$d/cgroup.procs" ] || mkdir -p "$d$cgroup_root"; done
  if [ "$name" = cubelet ]; then
    "$build/agent/cubelet" --pod-manifest-path "$work/m" --container-runtime-endpoint "$endpoint" \
      --root-dir "$work/root" --pod-logs-dir /var/log/pods --hostname-override parity-node --healthz-port 10380 \
      --port 0 --read-only-port 0 --cgroup-root "$cgroup_root" --local-socket "$work/cubelet.sock" \
      >>"$work/cubelet.log" 2>&1 &
  else
    mkdir -p "$work/kroot"
    "$upstream" --container-runtime=remote --container-runtime-endpoint="$endpoint" \
      --image-service-endpoint="$endpoint" --pod-manifest-path="$work/m" --root-dir="$work/kroot" \
      --cert-dir="$work/kroot/pki" --hostname-override=parity-node --cgroup-driver=cgroupfs --cgroups-per-qos=true \
      --cgroup-root="$cgroup_root" --fail-swap-on=false --healthz-port=10380 --address=127.0.0.1 --port=10381 \
      --anonymous-auth=false --read-only-port=0 \
      --make-iptables-util-chains=false --pod-infra-container-image=cubelet.local/pause:1.0 \
      --volume-plugin-dir="$work/kroot/plugins" >>"$work/upstream.log" 2>&1 &
  fi
  pid=$!
  t0=$SECONDS
  until n=$(cri ps 2>/dev/null | awk 'NR > 1' | grep -c . || true); [ "$n" -ge "$want" ]; do
    [ $((SECONDS - t0)) -gt 60 ] && { echo "spec_parity: $name: $n of $want containers running after 60 s" >&2; exit 1; }
    sleep 0.5
  done
  sleep 2 # a container that restarts at once would show now
  while IFS=$'\t' read -r id _ cname _ pod _; do
    ctr --address "$ctd/containerd.sock" -n k8s.io containers info "$id" >"$work/$name/${pod#*/}.$cname.json"
  done < <(cri ps | awk 'NR > 1')
  for id in $(cri pods -q); do
    pod=$(cri pods | awk -F'\t' -v id="${id:0:13}" 'NR > 1 && index($1, id) == 1 { print $4 }')
    ctr --address "$ctd/containerd.sock" -n k8s.io containers info "$id" >"$work/$name/${pod#*/}.sandbox.json"
    pod_cgroups "$work/$name/${pod#*/}.sandbox.json" >"$work/$name/${pod#*/}.cgroups.txt"
  done
  stop_agent
}
run_agent cubelet
run_agent upstream

# The spec, with what differs by design made equal: ids, pids, netns names, the agents' root directories,
# the termination message file's name (upstream: a random suffix; cubelet: the restart count), the order of
# the environment.
normalize() {
  python3 - "$1" "$work" <<'PY'
import json, re, sys
spec = json.load(open(sys.argv[1]))["Spec"]
spec["process"]["env"].sort() # the upstream kubelet's order is a Go map's, random
s = json.dumps(spec, indent=1, sort_keys=True)
for pat, rep in [(re.escape(sys.argv[2]) + r"/(root|kroot)", "ROOT"), (r"/pod[0-9a-f-]{32,36}/", "/podUID/"),
                 (r"[0-9a-f]{64}", "ID"),
                 (r"(?<![0-9a-f])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(?![0-9a-f])", "UID"),
                 (r"/proc/\d+/ns", "/proc/PID/ns"), (r"cni-[0-9a-f-]+", "cni-NETNS"),
                 (r'(/containers/[^/"]+/)[0-9a-f]{8}"', r'\1N"'), (r'(/containers/[^/"]+/)\d+"', r'\1N"')]:
    s = re.sub(pat, rep, s)
print(s)
PY
}
rc=0
for f in "$work"/cubelet/*; do
  b=$(basename "$f")
  if [ ! -f "$work/upstream/$b" ]; then echo "spec_parity: $b: only cubelet made it" >&2; rc=1; continue; fi
  case $b in
    *.json) diff -u --label "cubelet ${b%.json}" --label "upstream ${b%.json}" <(normalize "$f") \
      <(normalize "$work/upstream/$b") || rc=1 ;;
    *) diff -u --label "cubelet $b" --label "upstream $b" "$f" "$work/upstream/$b" || rc=1 ;;
  esac
done
for f in "$work"/upstream/*; do
  [ -f "$work/cubelet/$(basename "$f")" ] || { echo "spec_parity: $(basename "$f"): only upstream made it" >&2; rc=1; }
done
[ "$rc" != 0 ] || ok=1
[ -z "${PARITY_KEEP:-}" ] || cp -r "$work/cubelet" "$work/upstream" "$PARITY_KEEP"/
[ "$rc" = 0 ] && echo "spec_parity: $(ls "$work"/cubelet/*.json | wc -l) specs and $(ls "$work"/cubelet/*.txt | wc -l) pods' cgroups, all equal"
exit "$rc"

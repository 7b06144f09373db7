#!/bin/bash
# kubeadm on cubelet vs on the upstream kubelet 1.20.2 (#14's figures): tests/e2e/test_kubeadm.sh run RUNS
# times with each kubelet in turn (the upstream one built from Debian's source by tests/e2e/kube-build.sh,
# run by the same .deb unit and drop-in, the same kubeadm, images and containerd), its "# " timing lines
# collected: kubeadm init's wall time, init started -> the four control-plane pods Ready, kubeadm join's to
# the joined Node Ready, the joining kubelet's start (only a bootstrap kubeconfig) -> Node Ready, and the
# control-plane node's kubelet RSS and CPU at the end.
#   bench/bench_kubeadm.sh [BUILD_DIR] [RUNS]   (root; BUILD_DIR defaults to ./build, RUNS to 2)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
runs=${2:-2}
cache=/var/cache/cubelet-e2e/kubernetes-1.20.2
"$top/tests/e2e/kube-build.sh" kubelet kubeadm kube-controller-manager kube-scheduler >/dev/null
export CUBELET=$build/agent/cubelet CUBELET_CRI=$build/cri/cubelet-cri IMAGES_DIR=$build/images KUBE_CACHE=$cache
export CUBELET_TEST_INSTANCE=${CUBELET_TEST_INSTANCE:-2}
[ -s "$IMAGES_DIR/pause.tar" ] ||
  PAUSE_BIN=$build/packaging/pause "$top/packaging/images/build-images.sh" "$IMAGES_DIR" >/dev/null

source "$top/bench/upstream_sysctls.sh"
sysctls_save
trap sysctls_restore EXIT
declare -A lines
for i in $(seq "$runs"); do
  for who in cubelet upstream; do
    out=$(mktemp)
    if [ "$who" = upstream ]; then
      KUBEADM_KUBELET=$cache/kubelet "$top/tests/e2e/test_kubeadm.sh" >"$out" 2>&1 || true
    else
      "$top/tests/e2e/test_kubeadm.sh" >"$out" 2>&1 || true
    fi
    summary=$(tail -n 1 "$out")
    echo "run $i, $who: $summary" >&2
    grep -q ' 0 failed$' <<<"$summary" || { echo "run $i, $who: checks failed:" >&2; grep '^not ok' "$out" >&2 || true; }
    while IFS= read -r l; do
      key=${l%%:*}
      lines["$key|$who"]+="${lines["$key|$who"]:+, }${l#*: }"
    done < <(grep '^# ' "$out" | sed 's/^# //')
    rm -f "$out"
  done
done

echo "kubeadm on cubelet vs on the upstream kubelet 1.20.2 ($runs runs each)"
for key in "kubeadm init" "kubeadm init started -> the control plane's four pods Ready" "kubeadm join" \
  "the joining node's kubelet started with only a bootstrap kubeconfig -> Node Ready" \
  "the control-plane node's kubelet"; do
  printf '%s\n  cubelet:  %s\n  upstream: %s\n' "$key" "${lines["$key|cubelet"]:-?}" "${lines["$key|upstream"]:-?}"
done

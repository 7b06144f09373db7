#!/bin/bash
# The node API under hostile clients, through a real kube-apiserver (tests/e2e/test_node_flood.sh's
# figures): `kubectl logs` latency and a new pod's time to Running while one address holds 300 idle
# connections to 10250 and another sends random bearer tokens as fast as 16 clients can, what the token
# flood got (401, 503), and how many TokenReviews it cost.
#   bench/bench_node_flood.sh [BUILD_DIR]     (root; needs the e2e kube-apiserver: tests/e2e/kube-build.sh)
# Another cubelet binary (an older build, to compare): CUBELET_BIN=/path/to/cubelet.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
cd "$build"
if [ -n "${CUBELET_BIN:-}" ]; then
  # The fixtures from CTest, the test itself by hand with the other binary.
  flock /tmp/cubelet-it.lock bash -c '
    ctest -R "^(it_containerd_start|e2e_master_start)$" >/dev/null
    env MASTER_DIR=/tmp/cubelet-e2e-master KUBECTL=/var/cache/cubelet-e2e/kubernetes-1.20.2/kubectl \
      CUBELET="$0" CUBELET_CRI="$1/cri/cubelet-cri" CTD_DIR=/tmp/cubelet-it-ctd "$2/tests/e2e/test_node_flood.sh" |
      grep -E "^(#|not ok)" || true
    ctest -R "^(it_containerd_stop|e2e_master_stop)$" >/dev/null' "$CUBELET_BIN" "$build" "$top"
else
  flock /tmp/cubelet-it.lock ctest -R '^e2e_node_flood$' -V | sed -n 's/^[0-9]*: \(# .*\|not ok .*\)$/\1/p'
fi

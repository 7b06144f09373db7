#!/bin/bash
# The front door (see README.md):
#   ./dev.sh run    install what is missing, build, prepare containerd, run cubelet on examples/
#   ./dev.sh test   install what is missing, build (plain and ASan+UBSan), run every test
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

case "${1:-}" in
run)
  "$top/packaging/install-deps.sh"
  build "$top/build"
  # A containerd of cubelet's own, with the settings this node needs (packaging/containerd).
  ctd=/var/lib/cubelet-containerd
  # Agent network mode: containerd's CNI directory holds only cubelet's delegate; cubelet runs the network.
  sock=$("$top/packaging/containerd/start-containerd.sh" --dir "$ctd" --address /run/cubelet/containerd.sock \
    --network-mode agent --delegate-plugin "$top/build/cni/delegate/cubelet-delegate" \
    --delegate-socket /run/cubelet/cni.sock)
  PAUSE_BIN="$top/build/packaging/pause" "$top/packaging/images/build-images.sh" "$top/build/images" >/dev/null
  "$top/packaging/images/import-images.sh" "$sock" "$top/build/images" >/dev/null
  echo "cubelet: runtime at $sock; pods from $top/examples; healthz at http://127.0.0.1:10248/healthz;" \
    "pods: curl --unix-socket /run/cubelet/cubelet.sock http://localhost/pods" >&2
  echo "cubelet: look at the containers with: $top/build/cri/cubelet-cri -r $sock ps" >&2
  exec "$top/build/agent/cubelet" --pod-manifest-path "$top/examples" \
    --container-runtime-endpoint "unix://$sock" --network-mode agent --cni-conf-dir "$ctd/agent-net.d" \
    --cni-bin-dir /usr/lib/cni --cni-delegate-socket /run/cubelet/cni.sock "${@:2}"
  ;;
test)
  "$top/packaging/install-deps.sh"
  # The e2e tests' kube-apiserver, built once from Debian's source and cached (tests/e2e/README.md).
  "$top/tests/e2e/kube-build.sh" >/dev/null
  build "$top/build"
  build "$top/build-asan" -DCUBELET_SANITIZE=ON
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  echo "== tests (plain build)" >&2
  (cd "$top/build" && ctest --output-on-failure)
  echo "== tests (ASan+UBSan build)" >&2
  (cd "$top/build-asan" && ctest --output-on-failure)
  ;;
*)
  echo "usage: $0 run [cubelet flags...] | test" >&2
  exit 2
  ;;
esac

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
  # The e2e tests' kube-apiserver, kubeadm with the control plane it runs on cubelet (e2e_kubeadm), and the
  # upstream kubelet e2e_spec_parity compares against, built once from Debian's source and cached
  # (tests/e2e/README.md).
  "$top/tests/e2e/kube-build.sh" kubeadm kube-controller-manager kube-scheduler kubelet >/dev/null
  # Four test instances (tests/instance.sh): each build's fixtures, bridge, CIDRs and ports are its own, so
  # the plain and the sanitizer passes run side by side; each build's fault tests have one more of their
  # own (2 and 3) and run beside the rest of their pass (`ctest -j 2`: everything else stays one test at a
  # time, tests/CMakeLists.txt). A pass holds its instances' locks (a helper's or a person's ctest run of
  # the same instance waits, and is waited for).
  build "$top/build" -DCUBELET_TEST_INSTANCE=0 -DCUBELET_FAULTS_INSTANCE=2
  # Its tests look through the plain build's cubelet-cri and kubectl-lite (tests/CMakeLists.txt).
  build "$top/build-asan" -DCUBELET_SANITIZE=ON -DCUBELET_TEST_INSTANCE=1 -DCUBELET_FAULTS_INSTANCE=3 \
    -DCUBELET_TEST_TOOLS_DIR="$top/build"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  lock_of() { CUBELET_TEST_INSTANCE=$1 bash -c 'source "$1/tests/instance.sh" && echo "$TI_LOCK"' _ "$top"; }
  pass() { # pass NAME BUILD_DIR INSTANCE FAULTS_INSTANCE: ctest, every line prefixed with NAME, output kept
    local lock lock_faults
    lock=$(lock_of "$3") lock_faults=$(lock_of "$4")
    (cd "$2" && flock -o "$lock" flock -o "$lock_faults" ctest -j 2 --output-on-failure 2>&1) |
      tee "$2/ctest.out" | sed -u "s/^/[$1] /"
    return "${PIPESTATUS[0]}"
  }
  echo "== tests: plain build (instances 0, 2) and ASan+UBSan build (instances 1, 3), side by side" >&2
  rc_plain=0 rc_asan=0
  pass plain "$top/build" 0 2 &
  plain=$!
  pass asan "$top/build-asan" 1 3 &
  asan=$!
  wait "$plain" || rc_plain=$?
  wait "$asan" || rc_asan=$?
  for b in build build-asan; do
    echo "== $b: $(grep -E 'tests passed|tests failed' "$top/$b/ctest.out" | tail -n 1)" >&2
    sed -n '/The following tests FAILED/,$p' "$top/$b/ctest.out" >&2
  done
  # Where the time went (a CI run has a bound): the slowest tests of each pass, and the machine's load.
  for b in build build-asan; do
    echo "== $b: slowest: $(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$top/$b/ctest.out" |
      awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "sec") print int($i), $4 }' | sort -rn | head -n 8 |
      awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 }')" >&2
  done
  echo "== load: $(cut -d' ' -f1-3 /proc/loadavg); $SECONDS s since dev.sh started" >&2
  # Each failed test's failed checks first (with the "#" lines of diagnosis each printed before its "not ok"),
  # then the end of its own output, last, where a CI log's tail shows them.
  for pass in checks tails; do
    for b in build build-asan; do
      awk -v b="$b" -v pass="$pass" '
        function flush(i) {
          if (pass == "checks") { for (i = 0; i < nk; i++) print "  [" b "] " name ": " bad[i] }
          else for (i = (n > 25 ? n - 25 : 0); i < n; i++) print "  [" b "] " buf[i % 25]
          n = 0; nk = 0; np = 0 }
        /^ *[0-9]+\/[0-9]+ Test +#[0-9]+: / || /^The following tests FAILED/ || /tests passed, / {
          flush(); show = /\*\*\*/ && !/\*\*\*Skipped/; name = $4
          if (show && pass == "tails") { print "== " b ": the end of " $0 }
          if (show) next }
        show && /^#/ { pend[np++ % 15] = $0 }
        show && /^not ok / && nk < 60 {
          for (i = (np > 15 ? np - 15 : 0); i < np; i++) bad[nk++] = pend[i % 15]
          bad[nk++] = $0 }
        show && /^(not )?ok / { np = 0 }
        show { buf[n++ % 25] = $0 }
        END { flush() }' "$top/$b/ctest.out" >&2
    done
  done
  [ "$rc_plain" = 0 ] && [ "$rc_asan" = 0 ]
  ;;
*)
  echo "usage: $0 run [cubelet flags...] | test" >&2
  exit 2
  ;;
esac

# shellcheck shell=bash disable=SC2034
# Shared helpers for the e2e tests (bash). Expects MASTER_DIR and KUBECTL from CTest.
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MASTER=$E2E_DIR/master.sh
ADMIN_KUBECONFIG=$MASTER_DIR/admin.kubeconfig
passed=0 failed=0
WORK=$(mktemp -d /tmp/cubelet-e2e.XXXXXX)

skip() { echo "SKIP: $*"; rm -rf "$WORK"; exit 77; }

skip_unless_ready() {
  [ "$(id -u)" = 0 ] || skip "e2e tests need root"
  [ -x "$KUBECTL" ] && [ -x "${KUBECTL_REAL:-$KUBECTL}" ] ||
    skip "no kubectl at ${KUBECTL_REAL:-$KUBECTL} (run tests/e2e/kube-build.sh)"
  [ -s "$ADMIN_KUBECONFIG" ] || skip "no control plane at $MASTER_DIR (fixture did not start; see e2e_master_start)"
}

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}

source "$E2E_DIR/../wait.sh"

kadmin() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
# kas KUBECONFIG ARGS...: kubectl with another identity.
kas() { local kc=$1; shift; "$KUBECTL" --kubeconfig "$kc" "$@"; }

finish() {
  if [ "$failed" -gt 0 ]; then
    if [ -f "$MASTER_DIR/apiserver.log" ]; then
      echo "---- $MASTER_DIR/apiserver.log (tail) ----"
      tail -n 40 "$MASTER_DIR/apiserver.log"
    fi
  else
    rm -rf "$WORK"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# For tests that run their own control plane instead of the fixture's.
skip_unless_binaries() {
  local apiserver=${KUBE_APISERVER:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kube-apiserver}
  [ "$(id -u)" = 0 ] || skip "e2e tests need root"
  [ -x "$apiserver" ] || skip "no kube-apiserver at $apiserver (run tests/e2e/kube-build.sh)"
  command -v etcd >/dev/null || skip "no etcd (run tests/e2e/kube-build.sh)"
  [ -x "$KUBECTL" ] && [ -x "${KUBECTL_REAL:-$KUBECTL}" ] ||
    skip "no kubectl at ${KUBECTL_REAL:-$KUBECTL} (run tests/e2e/kube-build.sh)"
}

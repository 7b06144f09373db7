#!/bin/bash
# CTest fixture: the control plane of master.sh for the e2e tests, started fresh and purged afterwards.
#   fixture.sh start DIR   |   fixture.sh stop DIR
# Without root or the binaries of kube-build.sh it starts nothing and the tests skip (exit 77).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
apiserver=${KUBE_APISERVER:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kube-apiserver}

case "${1:-}" in
start)
  [ $# -eq 2 ] || { echo "usage: fixture.sh start DIR" >&2; exit 2; }
  if [ "$(id -u)" != 0 ]; then
    echo "fixture: needs root; e2e tests will skip" >&2
    exit 0
  fi
  if [ ! -x "$apiserver" ] || ! command -v etcd >/dev/null; then
    echo "fixture: no kube-apiserver at $apiserver or no etcd (run tests/e2e/kube-build.sh); e2e tests will skip" >&2
    exit 0
  fi
  "$here/master.sh" stop "$2" --purge
  kubeconfig=$("$here/master.sh" start "$2")
  echo "fixture: kube-apiserver ready, admin kubeconfig $kubeconfig" >&2
  ;;
stop)
  [ $# -eq 2 ] || { echo "usage: fixture.sh stop DIR" >&2; exit 2; }
  "$here/master.sh" stop "$2" --purge
  ;;
*)
  echo "usage: fixture.sh start DIR | stop DIR" >&2
  exit 2
  ;;
esac

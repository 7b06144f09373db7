#!/bin/bash
# CTest fixture: a private containerd for the integration tests, with cubelet's images imported.
#   fixture.sh start DIR IMAGES_DIR PAUSE_BIN   |   fixture.sh stop DIR
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$top/tests/instance.sh"

if [ "$(id -u)" != 0 ] || ! command -v containerd >/dev/null; then
  echo "fixture: needs root and containerd; integration tests will skip" >&2
  exit 0
fi
case "$1" in
start)
  dir=$2 images=$3 pause=$4
  "$top/packaging/containerd/stop-containerd.sh" --dir "$dir" --purge >/dev/null 2>&1 || true
  PAUSE_BIN=$pause "$top/packaging/images/build-images.sh" "$images" >/dev/null
  sock=$("$top/packaging/containerd/start-containerd.sh" --dir "$dir" --bridge "$TI_BRIDGE" --pod-cidr "$TI_NET.0.0/24")
  "$top/packaging/images/import-images.sh" "$sock" "$images" >/dev/null
  echo "fixture: containerd at $sock" >&2
  ;;
stop)
  "$top/packaging/containerd/stop-containerd.sh" --dir "$2" --purge
  # The tests' own cgroup roots (lib.sh's CGROUP_ROOT) whose pods outlived their test, now that containerd's
  # purge has ended every pod: deepest first, only empty ones go.
  for d in /sys/fs/cgroup/*/cubelet-it"$TI_SUFFIX"-* /sys/fs/cgroup/cubelet-it"$TI_SUFFIX"-*; do
    [ -d "$d" ] && { find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  true
  ;;
*)
  echo "usage: fixture.sh start DIR IMAGES_DIR PAUSE_BIN | stop DIR" >&2
  exit 2
  ;;
esac

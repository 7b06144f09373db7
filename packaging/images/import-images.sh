#!/bin/bash
# Import cubelet's image archives (from build-images.sh) into containerd's
# k8s.io namespace (the one the CRI plugin uses) and check they are there.
#
# usage: import-images.sh ADDRESS OUTDIR
#   ADDRESS  containerd socket, e.g. /tmp/ctd/containerd.sock
#   OUTDIR   directory holding pause.tar and busybox.tar
# env: CONTAINERD_SNAPSHOTTER  snapshotter to unpack into; if unset it is read
#      from instance.env next to the socket (start-containerd.sh), else ctr's
#      default (overlayfs) is used.
#      CONTAINERD_NAMESPACE    default k8s.io
set -euo pipefail

prog=import-images.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
log() { echo "$prog: $*" >&2; }

if [ $# -ne 2 ]; then
	echo "usage: $0 ADDRESS OUTDIR" >&2
	exit 2
fi
ADDRESS=$1 OUTDIR=$2
NS=${CONTAINERD_NAMESPACE:-k8s.io}

command -v ctr >/dev/null 2>&1 || die "ctr not found in PATH"
[ -S "$ADDRESS" ] || die "$ADDRESS is not a socket (is containerd running?)"
timeout 10 ctr --address "$ADDRESS" version >/dev/null 2>&1 ||
	die "containerd does not answer on $ADDRESS"

if [ -z "${CONTAINERD_SNAPSHOTTER:-}" ]; then
	envfile="$(dirname "$ADDRESS")/instance.env"
	if [ -f "$envfile" ]; then
		CONTAINERD_SNAPSHOTTER=$(
			# shellcheck disable=SC1090
			. "$envfile" && echo "${CONTAINERD_SNAPSHOTTER:-}"
		)
	fi
fi
snap_args=()
if [ -n "${CONTAINERD_SNAPSHOTTER:-}" ]; then
	snap_args=(--snapshotter "$CONTAINERD_SNAPSHOTTER")
fi
unset CONTAINERD_SNAPSHOTTER

declare -A IMAGES=(
	[pause.tar]="cubelet.local/pause:1.0"
	[busybox.tar]="cubelet.local/busybox:1.35"
)

for archive in pause.tar busybox.tar; do
	[ -f "$OUTDIR/$archive" ] || die "$OUTDIR/$archive not found (run build-images.sh $OUTDIR first)"
done

for archive in pause.tar busybox.tar; do
	name=${IMAGES[$archive]}
	# The index.json annotation io.containerd.image.name gives the full name;
	# no --base-name/--index-name needed with ctr 1.6. Re-importing is harmless.
	if ! out=$(ctr --address "$ADDRESS" -n "$NS" images import --all-platforms \
		"${snap_args[@]}" "$OUTDIR/$archive" 2>&1); then
		die "ctr images import $OUTDIR/$archive failed: $out"
	fi
	log "imported $OUTDIR/$archive"
done

present=$(ctr --address "$ADDRESS" -n "$NS" images ls -q) ||
	die "ctr images ls failed on $ADDRESS"
missing=0
for archive in pause.tar busybox.tar; do
	name=${IMAGES[$archive]}
	if grep -qxF "$name" <<< "$present"; then
		echo "$name"
	else
		echo "$prog: error: image $name missing in namespace $NS after importing $OUTDIR/$archive" >&2
		missing=1
	fi
done
if [ "$missing" = 1 ]; then
	echo "$prog: images present in $NS:" >&2
	sed 's/^/  /' <<< "$present" >&2
	exit 1
fi

#!/bin/bash
# Build cubelet's two OCI image archives without docker/buildah/a registry:
#
#   OUTDIR/pause.tar    image cubelet.local/pause:1.0     (/pause built from pause.c)
#   OUTDIR/busybox.tar  image cubelet.local/busybox:1.35  (/bin/busybox + applet links)
#
# Each archive is an OCI image layout (oci-layout, index.json, blobs/sha256/*)
# that `ctr images import` understands; the index entry carries the
# io.containerd.image.name annotation so the image gets its full name.
# Layers are reproducible (sorted, mtime 0, owner 0, gzip -n).
#
# Usage: build-images.sh OUTDIR
# Env:   PAUSE_BIN=/path/to/static/pause  use a prebuilt pause instead of compiling
#        BUSYBOX_BIN=/path/to/busybox     default /bin/busybox (busybox-static)
#        CC=gcc                           compiler for pause.c
#        FORCE=1                          rebuild even if inputs are unchanged
set -euo pipefail

PAUSE_IMAGE="cubelet.local/pause:1.0"
BUSYBOX_IMAGE="cubelet.local/busybox:1.35"

die() { echo "build-images.sh: error: $*" >&2; exit 1; }
log() { echo "build-images.sh: $*" >&2; }

usage() {
	echo "usage: $0 OUTDIR" >&2
	echo "  env: PAUSE_BIN=prebuilt-pause BUSYBOX_BIN=/bin/busybox CC=gcc FORCE=1" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac
OUTDIR=$1

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
PAUSE_SRC="$SCRIPT_DIR/pause.c"
BUSYBOX_BIN=${BUSYBOX_BIN:-/bin/busybox}
CC=${CC:-gcc}
PAUSE_BIN=${PAUSE_BIN:-}
FORCE=${FORCE:-0}

for tool in tar gzip sha256sum jq stat; do
	command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH"
done

export LC_ALL=C
umask 022

# --- platform -------------------------------------------------------------
ARCH_VARIANT=""
detect_arch() {
	local a=""
	if command -v dpkg >/dev/null 2>&1; then
		a=$(dpkg --print-architecture 2>/dev/null || true)
	fi
	[ -n "$a" ] || a=$(uname -m)
	case "$a" in
		amd64|x86_64) ARCH=amd64 ;;
		arm64|aarch64) ARCH=arm64; ARCH_VARIANT=v8 ;;
		armhf|armv7l) ARCH=arm; ARCH_VARIANT=v7 ;;
		armel|armv6l) ARCH=arm; ARCH_VARIANT=v6 ;;
		i386|i686|i586) ARCH=386 ;;
		ppc64el|ppc64le) ARCH=ppc64le ;;
		s390x) ARCH=s390x ;;
		riscv64) ARCH=riscv64 ;;
		mips64el) ARCH=mips64le ;;
		*) die "unsupported architecture '$a' (cannot map to an OCI architecture)" ;;
	esac
}
detect_arch

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# --- inputs ---------------------------------------------------------------
[ -f "$BUSYBOX_BIN" ] || die "busybox binary '$BUSYBOX_BIN' not found (install busybox-static or set BUSYBOX_BIN)"
[ -x "$BUSYBOX_BIN" ] || die "busybox binary '$BUSYBOX_BIN' is not executable"
if [ -n "$PAUSE_BIN" ]; then
	[ -f "$PAUSE_BIN" ] && [ -x "$PAUSE_BIN" ] || die "PAUSE_BIN='$PAUSE_BIN' is not an executable file"
else
	[ -f "$PAUSE_SRC" ] || die "pause source '$PAUSE_SRC' not found"
	command -v "$CC" >/dev/null 2>&1 || die "compiler '$CC' not found (install gcc or set PAUSE_BIN to a prebuilt static pause)"
fi

mkdir -p "$OUTDIR" || die "cannot create output directory '$OUTDIR'"
OUTDIR=$(cd "$OUTDIR" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cubelet-images.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# --- helpers ----------------------------------------------------------------

# Reproducible tar of the *contents* of directory $1 (no leading "./").
repro_tar() {
	local src=$1 out=$2
	local -a entries=()
	mapfile -t entries < <(cd "$src" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort)
	[ ${#entries[@]} -gt 0 ] || die "internal: empty rootfs '$src'"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		--format=gnu -C "$src" -cf "$out" -- "${entries[@]}"
}

# build_image NAME REF ROOTFS CONFIG_JSON OUT_TAR
#   CONFIG_JSON: the image config's "config" object (Entrypoint/Cmd/Env/...)
build_image() {
	local name=$1 ref=$2 rootfs=$3 cfg=$4 out=$5
	local d="$WORK/oci-$ref"
	local blobs="$d/blobs/sha256"
	local tag=${ref##*:}
	rm -rf "$d"
	mkdir -p "$blobs"

	# Layer: uncompressed tar -> diff_id; gzip -n -> blob digest.
	repro_tar "$rootfs" "$WORK/layer.tar"
	local diff_id; diff_id=$(sha256_of "$WORK/layer.tar")
	gzip -n -9 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
	local layer_digest layer_size
	layer_digest=$(sha256_of "$WORK/layer.tar.gz")
	layer_size=$(size_of "$WORK/layer.tar.gz")
	mv "$WORK/layer.tar.gz" "$blobs/$layer_digest"
	rm -f "$WORK/layer.tar"

	# Image config.
	jq -cn --arg arch "$ARCH" --arg variant "$ARCH_VARIANT" \
		--arg diff "sha256:$diff_id" --arg ref "$ref" --argjson cfg "$cfg" '
		{created: "1970-01-01T00:00:00Z", architecture: $arch, os: "linux"}
		+ (if $variant != "" then {variant: $variant} else {} end)
		+ {config: $cfg,
		   rootfs: {type: "layers", diff_ids: [$diff]},
		   history: [{created: "1970-01-01T00:00:00Z",
		              created_by: ("cubelet packaging/images/build-images.sh " + $ref)}]}' \
		> "$WORK/config.json"
	local config_digest config_size
	config_digest=$(sha256_of "$WORK/config.json")
	config_size=$(size_of "$WORK/config.json")
	mv "$WORK/config.json" "$blobs/$config_digest"

	# Image manifest.
	jq -cn --arg cd "sha256:$config_digest" --argjson cs "$config_size" \
		--arg ld "sha256:$layer_digest" --argjson ls "$layer_size" '
		{schemaVersion: 2,
		 mediaType: "application/vnd.oci.image.manifest.v1+json",
		 config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
		 layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]}' \
		> "$WORK/manifest.json"
	local manifest_digest manifest_size
	manifest_digest=$(sha256_of "$WORK/manifest.json")
	manifest_size=$(size_of "$WORK/manifest.json")
	mv "$WORK/manifest.json" "$blobs/$manifest_digest"

	# Index + layout marker.
	jq -cn --arg md "sha256:$manifest_digest" --argjson ms "$manifest_size" \
		--arg arch "$ARCH" --arg variant "$ARCH_VARIANT" \
		--arg name "$ref" --arg tag "$tag" '
		{schemaVersion: 2,
		 mediaType: "application/vnd.oci.image.index.v1+json",
		 manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
		              digest: $md, size: $ms,
		              platform: ({architecture: $arch, os: "linux"}
		                         + (if $variant != "" then {variant: $variant} else {} end)),
		              annotations: {"io.containerd.image.name": $name,
		                            "org.opencontainers.image.ref.name": $tag}}]}' \
		> "$d/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"

	# The archive itself, also reproducible; replace the output atomically.
	repro_tar "$d" "$WORK/$name.tar"
	mv -f "$WORK/$name.tar" "$out"
	log "built $out ($ref, manifest sha256:$manifest_digest)"
}

# Skip a rebuild when a stamp of all inputs matches the previous build.
inputs_stamp() {
	{
		echo "arch=$ARCH variant=$ARCH_VARIANT"
		sha256sum "$SCRIPT_PATH" | cut -d' ' -f1
		for f in "$@"; do sha256sum "$f" | cut -d' ' -f1; done
	} | sha256sum | cut -d' ' -f1
}

up_to_date() {
	local out=$1 stamp=$2
	[ "$FORCE" != 1 ] && [ -f "$out" ] && [ -f "$out.inputs" ] &&
		[ "$(cat "$out.inputs")" = "$stamp" ]
}

# --- pause ------------------------------------------------------------------
build_pause() {
	local out="$OUTDIR/pause.tar" stamp
	if [ -n "$PAUSE_BIN" ]; then
		stamp=$(inputs_stamp "$PAUSE_BIN")
	else
		stamp=$(inputs_stamp "$PAUSE_SRC" "$(command -v "$CC")")
	fi
	if up_to_date "$out" "$stamp"; then
		log "$out is up to date"
		return
	fi

	local root="$WORK/rootfs-pause"
	mkdir -p "$root"
	if [ -n "$PAUSE_BIN" ]; then
		cp "$PAUSE_BIN" "$root/pause"
	else
		"$CC" -std=gnu11 -Wall -Wextra -Werror -O2 -static -s \
			-o "$root/pause" "$PAUSE_SRC" ||
			die "compiling $PAUSE_SRC failed (need a static libc: apt-get install libc6-dev)"
	fi
	chmod 0755 "$root/pause"
	"$root/pause" -v >/dev/null 2>&1 || die "the pause binary does not run ('$root/pause -v' failed)"

	local cfg
	cfg=$(jq -cn '{User: "65535:65535",
		Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		Entrypoint: ["/pause"], WorkingDir: "/"}')
	rm -f "$out.inputs"
	build_image pause "$PAUSE_IMAGE" "$root" "$cfg" "$out"
	echo "$stamp" > "$out.inputs"
}

# --- busybox ----------------------------------------------------------------
build_busybox() {
	local out="$OUTDIR/busybox.tar" stamp
	stamp=$(inputs_stamp "$BUSYBOX_BIN")
	if up_to_date "$out" "$stamp"; then
		log "$out is up to date"
		return
	fi

	local root="$WORK/rootfs-busybox"
	mkdir -p "$root"/{bin,etc,root,proc,sys,dev,tmp}
	chmod 0700 "$root/root"
	chmod 1777 "$root/tmp"
	cp "$BUSYBOX_BIN" "$root/bin/busybox"
	chmod 0755 "$root/bin/busybox"

	local applets n=0 a
	applets=$("$root/bin/busybox" --list) || die "'$BUSYBOX_BIN --list' failed"
	while IFS= read -r a; do
		case "$a" in ""|busybox|*/*) continue ;; esac
		ln -s busybox "$root/bin/$a"
		n=$((n + 1))
	done <<< "$applets"
	[ -e "$root/bin/sh" ] || die "busybox has no 'sh' applet"

	cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
	cat > "$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
	chmod 0644 "$root/etc/passwd" "$root/etc/group"

	local cfg
	cfg=$(jq -cn '{Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		Cmd: ["sh"], WorkingDir: "/"}')
	rm -f "$out.inputs"
	build_image busybox "$BUSYBOX_IMAGE" "$root" "$cfg" "$out"
	echo "$stamp" > "$out.inputs"
	log "busybox: $n applet links in /bin"
}

build_pause
build_busybox
echo "$OUTDIR/pause.tar"
echo "$OUTDIR/busybox.tar"

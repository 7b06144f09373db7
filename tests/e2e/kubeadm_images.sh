#!/bin/bash
# kubeadm_images.sh SOCK KUBEADM BIN_DIR: the control-plane images kubeadm init wants, built here (nothing can
# be pulled) and imported into the containerd at SOCK under the names `kubeadm config images list` gives:
#   kube-apiserver, kube-controller-manager, kube-scheduler: the static binaries in BIN_DIR (kube-build.sh),
#     at /usr/local/bin, as the upstream images have them;
#   etcd: Debian's etcd-server binary with the C library and loader it is linked against;
#   pause: the project's pause image (already in that containerd as cubelet.local/pause:1.0), tagged.
# Each is a one-layer OCI archive (uncompressed layer, reproducible tar) made in a temporary directory.
# kube-proxy and coredns are not built: the test skips kubeadm's addon phase (their images need iptables and
# a CoreDNS binary Debian does not ship).
set -euo pipefail
sock=$1 kubeadm=$2 bins=$3
log() { echo "kubeadm_images.sh: $*" >&2; }
[ -S "$sock" ] || { log "no containerd socket at $sock"; exit 1; }
ctr_() { ctr --address "$sock" -n k8s.io "$@"; }
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
tmp=$(mktemp -d /tmp/cubelet-kubeadm-img.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# blob FILE: moves FILE into the layout's blobs, prints "DIGEST SIZE".
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1) s=$(stat -c %s "$1")
  mv "$1" "$tmp/oci/blobs/sha256/$d"
  echo "sha256:$d $s"
}

# image REF ROOTFS: a one-layer image of ROOTFS named REF, with PATH set, imported.
image() {
  local ref=$1 rootfs=$2 ld ls cd cs md ms
  rm -rf "$tmp/oci"
  mkdir -p "$tmp/oci/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$tmp/layer.tar" .
  read -r ld ls <<<"$(blob "$tmp/layer.tar")"
  jq -cn --arg diff "$ld" --arg arch "$arch" \
    '{architecture: $arch, os: "linux",
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
      rootfs: {type: "layers", diff_ids: [$diff]}}' >"$tmp/c.json"
  read -r cd cs <<<"$(blob "$tmp/c.json")"
  jq -cn --arg cd "$cd" --argjson cs "$cs" --arg ld "$ld" --argjson ls "$ls" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' >"$tmp/m.json"
  read -r md ms <<<"$(blob "$tmp/m.json")"
  jq -cn --arg md "$md" --argjson ms "$ms" --arg arch "$arch" --arg name "$ref" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
                   platform: {architecture: $arch, os: "linux"},
                   annotations: {"io.containerd.image.name": $name}}]}' >"$tmp/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci/oci-layout"
  tar -C "$tmp/oci" -cf "$tmp/image.tar" .
  rm -rf "$tmp/oci"
  ctr_ images import --all-platforms "$tmp/image.tar" >/dev/null
  rm -f "$tmp/image.tar"
  log "imported $ref"
}

# rootfs NAME: an empty root with the directories a Go server expects.
rootfs() {
  local r=$tmp/rootfs-$1
  rm -rf "$r"
  mkdir -p "$r/usr/local/bin" "$r/etc" "$r/tmp" "$r/var/run"
  chmod 1777 "$r/tmp"
  echo "root:x:0:0:root:/root:/sbin/nologin" >"$r/etc/passwd"
  echo "root:x:0:" >"$r/etc/group"
  echo "$r"
}

list=$("$kubeadm" config images list --kubernetes-version "v1.20.2" 2>/dev/null)
for ref in $list; do
  name=${ref##*/}
  name=${name%%:*}
  case "$name" in
    kube-apiserver | kube-controller-manager | kube-scheduler)
      r=$(rootfs "$name")
      cp "$bins/$name" "$r/usr/local/bin/$name"
      image "$ref" "$r"
      rm -rf "$r"
      ;;
    etcd)
      r=$(rootfs etcd)
      cp "$(command -v etcd)" "$r/usr/local/bin/etcd"
      # The libraries etcd is linked against, at the paths its loader looks for them.
      for lib in $(ldd "$(command -v etcd)" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        mkdir -p "$r$(dirname "$lib")"
        cp -L "$lib" "$r$lib"
      done
      image "$ref" "$r"
      rm -rf "$r"
      ;;
    pause)
      ctr_ images tag --force cubelet.local/pause:1.0 "$ref" >/dev/null
      log "tagged $ref"
      ;;
    *) log "not built: $ref (the test skips the addon phase that uses it)" ;;
  esac
done

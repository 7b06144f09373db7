# shellcheck shell=bash
# make_image SOCK CTD_DIR REF BYTES: a one-layer image (an uncompressed layer of BYTES random bytes) named REF,
# built as an OCI archive in a temporary directory and imported into the containerd at SOCK (with the
# snapshotter its CTD_DIR/instance.env names, if any); prints its image ID (the config's digest). For the
# image GC tests and bench/bench_images.sh; needs jq.
make_image() {
  local sock=$1 ctd=$2 ref=$3 bytes=$4 d arch diff ls cd cs md ms s r=0
  local snap=()
  if [ -f "$ctd/instance.env" ]; then
    s=$(. "$ctd/instance.env" && echo "${CONTAINERD_SNAPSHOTTER:-}")
    [ -n "$s" ] && snap=(--snapshotter "$s")
  fi
  d=$(mktemp -d /tmp/cubelet-image.XXXXXX)
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  mkdir -p "$d/rootfs" "$d/oci/blobs/sha256"
  head -c "$bytes" /dev/urandom >"$d/rootfs/data"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d/rootfs" -cf "$d/layer.tar" data
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1) ls=$(stat -c %s "$d/layer.tar")
  mv "$d/layer.tar" "$d/oci/blobs/sha256/$diff"
  jq -cn --arg diff "sha256:$diff" --arg arch "$arch" \
    '{architecture: $arch, os: "linux", config: {}, rootfs: {type: "layers", diff_ids: [$diff]}}' >"$d/c.json"
  cd=$(sha256sum "$d/c.json" | cut -d' ' -f1) cs=$(stat -c %s "$d/c.json")
  mv "$d/c.json" "$d/oci/blobs/sha256/$cd"
  jq -cn --arg cd "sha256:$cd" --argjson cs "$cs" --arg ld "sha256:$diff" --argjson ls "$ls" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' >"$d/m.json"
  md=$(sha256sum "$d/m.json" | cut -d' ' -f1) ms=$(stat -c %s "$d/m.json")
  mv "$d/m.json" "$d/oci/blobs/sha256/$md"
  jq -cn --arg md "sha256:$md" --argjson ms "$ms" --arg arch "$arch" --arg name "$ref" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
                   platform: {architecture: $arch, os: "linux"},
                   annotations: {"io.containerd.image.name": $name}}]}' >"$d/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
  tar -C "$d/oci" -cf "$d/image.tar" .
  ctr --address "$sock" -n k8s.io images import --all-platforms "${snap[@]}" "$d/image.tar" >/dev/null || r=1
  rm -rf "$d"
  [ "$r" = 0 ] && echo "sha256:$cd"
}

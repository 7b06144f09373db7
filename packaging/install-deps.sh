#!/bin/bash
# Installs what building, running and testing cubelet needs on Debian 12 (root, apt only).
# Skips apt entirely when everything is already there.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang clang-format
  libprotobuf-c-dev protobuf-c-compiler libyaml-dev libjansson-dev libcurl4-openssl-dev
  libmicrohttpd-dev libgnutls28-dev libuv1-dev libssl-dev libseccomp-dev libcmocka-dev zlib1g-dev
  # run: the runtime, CNI plugins, image contents
  containerd runc containernetworking-plugins busybox-static iproute2 iptables
  # tests and tools
  curl jq procps util-linux
  libgrpc-dev # gRPC C core: the tests' fake CRI and health servers (cubelet itself speaks HTTP/2 on its own)
  python3 python3-websocket # WebSocket exec/attach/port-forward clients in the e2e tests
  docker-registry skopeo # a real registry (with htpasswd authentication) for image pulls in the tests
  # packaging: the .deb (CPack needs dpkg-shlibdeps and file)
  dpkg-dev file
  prometheus # promtool: the node server's /metrics checked by a real parser
  conntrack ethtool socat # what kubeadm's preflight looks for on a node (e2e_kubeadm)
)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: run as root (apt-get install)" >&2
  exit 1
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/bin/bash
# Provides the e2e tests' Kubernetes control plane binaries, built from Debian's own kubernetes source
# package (1.20.2): kube-apiserver (Debian ships no binary package of it) and a matching kubectl.
# Installs etcd-server, openssl and the Go toolchain with apt. Idempotent; does nothing when the cache is
# good. Prints the kube-apiserver path on stdout; kubectl sits beside it.
#   kube-build.sh [TOOL...]  (root; env KUBE_E2E_CACHE overrides the cache directory)
# TOOLs are more binaries from the same tree, built into the same cache in the same make: kubelet (the
# upstream reference for bench/), kubeadm, kube-controller-manager, kube-scheduler.
set -euo pipefail

VERSION=1.20.2
CACHE=${KUBE_E2E_CACHE:-/var/cache/cubelet-e2e/kubernetes-$VERSION}
APISERVER=$CACHE/kube-apiserver
KUBECTL=$CACHE/kubectl
PKGS=(golang-go dpkg-dev etcd-server openssl rsync jq ca-certificates golang-github-modern-go-reflect2-dev)
# The source's vendored reflect2 1.0.1 breaks under the Go that Debian 12 builds it with (1.19): kubeadm
# crashes marshalling the KubeletConfiguration (a nil dereference in reflect2's map support, fixed in
# reflect2 1.0.2). Debian packages 1.0.2's source: it replaces the vendored copy before the build. The
# extra tools built so are listed in this file; one built before (without it) is built again.
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
FIXED=$CACHE/.built-with-reflect2-1.0.2
SRC_LIST=/etc/apt/sources.list.d/cubelet-e2e-src.sources

log() { echo "kube-build.sh: $*" >&2; }
apiserver_ok() { [ -x "$APISERVER" ] && "$APISERVER" --version 2>/dev/null | grep -q "v$VERSION\$"; }
kubectl_ok() { [ -x "$KUBECTL" ] && "$KUBECTL" version --client --short 2>/dev/null | grep -q "v$VERSION\$"; }
EXTRA=()
for t in "$@"; do
  case "$t" in
    kubelet | kubeadm | kube-controller-manager | kube-scheduler) EXTRA+=("$t") ;;
    *) log "unknown tool '$t' (kubelet, kubeadm, kube-controller-manager, kube-scheduler)"; exit 2 ;;
  esac
done
tool_version() { if [ "$1" = kubeadm ]; then "$CACHE/$1" version -o short; else "$CACHE/$1" --version; fi; }
tool_ok() {
  [ -x "$CACHE/$1" ] && grep -qx "$1" "$FIXED" 2>/dev/null && tool_version "$1" 2>/dev/null | grep -q "v$VERSION\$"
}
extra_ok() {
  local t
  for t in ${EXTRA[@]+"${EXTRA[@]}"}; do tool_ok "$t" || return 1; done
}
cache_ok() {
  apiserver_ok && kubectl_ok && extra_ok && command -v etcd >/dev/null && command -v openssl >/dev/null
}

if cache_ok; then
  echo "$APISERVER"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "run as root (apt-get install, $CACHE)"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() {
  [ "$updated" = 1 ] || apt-get update -q >/dev/null
  updated=1
}

# apt-get source needs a deb-src entry for bookworm main. This machine's lists are deb822 .sources files.
has_deb_src() {
  awk 'BEGIN { RS = ""; found = 1 }
       /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm([ \t\n]|$)/ && /Components:[^\n]*main/ { found = 0 }
       END { exit found }' /etc/apt/sources.list.d/*.sources 2>/dev/null ||
    grep -hsqE '^\s*deb-src\s.*\sbookworm\s.*\bmain\b' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}
if ! has_deb_src; then
  log "adding $SRC_LIST"
  cat >"$SRC_LIST" <<'EOF'
# Added by cubelet's tests/e2e/kube-build.sh: source packages, to build kube-apiserver from Debian's kubernetes.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_update
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$CACHE"
scratch=$(mktemp -d /var/tmp/cubelet-kube-build.XXXXXX)
keep_scratch=1
cleanup() {
  if [ "$keep_scratch" = 1 ]; then log "failed; sources and logs kept in $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# kubectl 1.20.2 from the kubernetes-client package. Where another package already owns /usr/bin/kubectl
# (dpkg would refuse to overwrite it), take the binary out of the .deb instead of replacing that one.
if ! kubectl_ok; then
  owner=$(dpkg-query -S /usr/bin/kubectl 2>/dev/null | cut -d: -f1 || true)
  if [ -z "$owner" ]; then
    log "installing kubernetes-client"
    apt_update
    apt-get install -y -q --no-install-recommends kubernetes-client >/dev/null
    owner=kubernetes-client
  fi
  if [ "$owner" = kubernetes-client ]; then
    ln -sfn /usr/bin/kubectl "$KUBECTL"
  else
    log "/usr/bin/kubectl belongs to package $owner; extracting kubernetes-client's kubectl into $CACHE"
    (cd "$scratch" && apt-get download -q kubernetes-client >"$scratch/download.log" 2>&1) || {
      cat "$scratch/download.log" >&2
      exit 1
    }
    dpkg-deb -x "$scratch"/kubernetes-client_*.deb "$scratch/client"
    install -m 0755 "$scratch/client/usr/bin/kubectl" "$KUBECTL.tmp"
    mv -f "$KUBECTL.tmp" "$KUBECTL"
  fi
fi

# what make builds: kube-apiserver when it is not good, and every TOOL that is not
WHAT=()
apiserver_ok || WHAT+=(kube-apiserver)
for t in ${EXTRA[@]+"${EXTRA[@]}"}; do tool_ok "$t" || WHAT+=("$t"); done
if [ ${#WHAT[@]} -gt 0 ]; then
  log "building ${WHAT[*]} $VERSION from source (minutes; log in $scratch/build.log)"
  start=$(date +%s)
  apt-cache showsrc kubernetes 2>/dev/null | grep -q "^Version: .*$VERSION" || apt_update
  (cd "$scratch" && apt-get source -q kubernetes >"$scratch/source.log" 2>&1) || {
    cat "$scratch/source.log" >&2
    exit 1
  }
  src=$(find "$scratch" -mindepth 1 -maxdepth 1 -type d -name "kubernetes-*$VERSION" | head -n 1)
  [ -n "$src" ] || { log "apt-get source kubernetes gave no $VERSION tree"; ls "$scratch" >&2; exit 1; }
  [ -f "$REFLECT2_SRC/reflect2.go" ] || { log "no $REFLECT2_SRC (golang-github-modern-go-reflect2-dev)"; exit 1; }
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  mkdir -p "$src/vendor/github.com/modern-go/reflect2"
  cp "$REFLECT2_SRC"/*.go "$REFLECT2_SRC"/*.s "$src/vendor/github.com/modern-go/reflect2/"
  # As debian/rules does: a GOPATH inside the tree whose k8s.io/kubernetes points back at the tree,
  # dependencies from its vendor/ directory, no cgo.
  (
    cd "$src"
    export GOPATH="$src/.go" CGO_ENABLED=0 HOME="$scratch/home" GOCACHE="$scratch/gocache"
    export PATH="/usr/lib/go/bin:$PATH"
    mkdir -p .go/src/k8s.io "$HOME"
    [ -L .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
    make WHAT="${WHAT[*]/#/cmd/}"
  ) >"$scratch/build.log" 2>&1 || {
    tail -n 40 "$scratch/build.log" >&2
    exit 1
  }
  for t in "${WHAT[@]}"; do
    install -m 0755 "$src/_output/bin/$t" "$CACHE/$t.tmp"
    mv -f "$CACHE/$t.tmp" "$CACHE/$t"
    grep -qx "$t" "$FIXED" 2>/dev/null || echo "$t" >>"$FIXED"
  done
  log "built ${WHAT[*]} into $CACHE in $(($(date +%s) - start)) s"
fi

cache_ok || { log "the cache at $CACHE is still not usable"; exit 1; }
keep_scratch=0
echo "$APISERVER"

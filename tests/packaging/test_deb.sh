#!/bin/bash
# The .deb: built with CPack from the build tree, then installed for real by dpkg into a scratch root
# (its maintainer scripts run with DPKG_ROOT), where cubelet runs and reads its installed configuration.
#   test_deb.sh BUILD_DIR
set -uo pipefail
build=$1
passed=0 failed=0
check() { local d=$1; shift; if "$@"; then passed=$((passed + 1)); echo "ok - $d"; else failed=$((failed + 1)); echo "not ok - $d"; fi; }
for t in cpack dpkg dpkg-deb dpkg-shlibdeps; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is missing (packaging/install-deps.sh installs it)"; exit 77; }
done
if grep -q '^CUBELET_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "SKIP: the .deb is built and checked from the plain build, not the sanitizer one"
  exit 77
fi
work=$(mktemp -d /tmp/cubelet-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/out/cubelet_*_*.deb 2>/dev/null | head -1)
check "cpack builds the .deb" test -s "$deb"
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/cubelet ./usr/bin/cubelet-cri ./usr/lib/cni/cubelet-delegate ./usr/lib/cubelet/pause \
  ./usr/lib/cubelet/cubelet-prepare ./usr/lib/cubelet/cubelet-start ./usr/lib/systemd/system/cubelet.service \
  ./usr/lib/systemd/system/cubelet.service.d/10-kubeadm.conf ./etc/cubelet/config.yaml \
  ./etc/containerd/conf.d/cubelet.toml ./usr/share/cubelet/cni/cni-default.conflist.in; do
  check "the package holds $f" grep -qx -- "$f" <<<"$contents"
done
deps=$(dpkg-deb -f "$deb" Depends)
check "Depends names the runtime and the shared libraries (shlibdeps)" sh -c \
  "echo '$deps' | grep -q containerd && echo '$deps' | grep -q 'libprotobuf-c' && echo '$deps' | grep -q 'libseccomp2'"
# CRI and gRPC probes are cubelet's own HTTP/2 client's: gRPC C core is for the tests only.
check "... and not gRPC C core" sh -c "! echo '$deps' | grep -q 'libgrpc'"
check "the configuration files are conffiles" sh -c \
  "dpkg-deb -I '$deb' conffiles | grep -qx /etc/cubelet/config.yaml"

root="$work/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
: >"$root/var/lib/dpkg/status"
check "dpkg installs it into a scratch root (maintainer scripts included)" sh -c \
  "dpkg --root='$root' --force-script-chrootless --force-depends --force-not-root --log=/dev/null -i '$deb' >'$work/dpkg.log' 2>&1"
check "... dpkg records it as installed" sh -c "dpkg --root='$root' -s cubelet | grep -q '^Status: install ok installed'"
check "... postinst made the directories" test -d "$root/etc/kubernetes/manifests"
check "... the installed cubelet runs (--version)" sh -c "'$root/usr/bin/cubelet' --version | grep -q '^Kubernetes v1\\.20\\.0-cubelet\\.'"
check "... as kubelet too, as kubeadm's preflight runs it" sh -c \
  "[ \"\$(readlink '$root/usr/bin/kubelet')\" = cubelet ] && '$root/usr/bin/kubelet' --version | grep -Eq '^Kubernetes v[0-9]+\\.[0-9]+\\.[0-9]+'"
check "... crictl is cubelet-cri" sh -c "[ \"\$(readlink '$root/usr/bin/crictl')\" = cubelet-cri ]"
check "... and accepts the installed configuration" sh -c \
  "'$root/usr/bin/cubelet' --config '$root/etc/cubelet/config.yaml' --version >/dev/null"
check "... the unit starts cubelet with that configuration, keeping pods on stop" sh -c \
  "grep -q '^ExecStart=/usr/bin/cubelet --config /etc/cubelet/config.yaml' '$root/usr/lib/systemd/system/cubelet.service' &&
   grep -q '^KillMode=process' '$root/usr/lib/systemd/system/cubelet.service'"
check "... it is kubelet.service too (kubeadm restarts \"kubelet\")" \
  grep -qx 'Alias=kubelet.service' "$root/usr/lib/systemd/system/cubelet.service"
dropin="$root/usr/lib/systemd/system/cubelet.service.d/10-kubeadm.conf"
check "... with kubeadm's drop-in: its variables and files, then cubelet-start" sh -c \
  "grep -qx 'EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env' '$dropin' &&
   grep -qx 'EnvironmentFile=-/etc/default/kubelet' '$dropin' &&
   grep -q '^Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"' '$dropin' &&
   grep -q '^Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"' '$dropin' &&
   [ \"\$(grep '^ExecStart=' '$dropin' | tr '\n' ' ')\" = 'ExecStart= ExecStart=/usr/lib/cubelet/cubelet-start ' ]"

# cubelet-start: what it runs, through a stand-in that prints its arguments, then the installed cubelet.
printf '#!/bin/sh\necho "$@"\n' >"$work/args" && chmod +x "$work/args"
start="$root/usr/lib/cubelet/cubelet-start"
check "cubelet-start before kubeadm: cubelet's own configuration and CUBELET_ARGS, port 10250 left free" test \
  "$(CUBELET_BIN="$work/args" CUBELET_ARGS="--v 2" KUBELET_CONFIG_ARGS="--config=$work/none.yaml" "$start")" = \
  "--config /etc/cubelet/config.yaml --port 0 --v 2"
check "... without the drop-in: cubelet's own configuration only" test \
  "$(env -u KUBELET_CONFIG_ARGS CUBELET_BIN="$work/args" "$start")" = "--config /etc/cubelet/config.yaml"
# /var/lib/kubelet/config.yaml as kubeadm 1.20 writes it (abridged: its zero durations included)
cat >"$work/kubeadm.yaml" <<'YAML'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {cacheTTL: 0s, enabled: true}, x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}}
authorization: {mode: Webhook, webhook: {cacheAuthorizedTTL: 0s, cacheUnauthorizedTTL: 0s}}
cgroupDriver: cgroupfs
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
cpuManagerReconcilePeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
logging: {}
rotateCertificates: true
shutdownGracePeriod: 0s
staticPodPath: /etc/kubernetes/manifests
syncFrequency: 0s
YAML
kubeadm_env() {
  KUBELET_KUBECONFIG_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf" \
  KUBELET_CONFIG_ARGS="--config=$work/kubeadm.yaml" \
  KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=/run/containerd/containerd.sock" "$@"
}
check "cubelet-start after kubeadm: kubeadm's flags, in its order" test \
  "$(kubeadm_env env CUBELET_BIN="$work/args" KUBELET_EXTRA_ARGS="--v=3" "$start")" = \
  "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=$work/kubeadm.yaml --container-runtime=remote --container-runtime-endpoint=/run/containerd/containerd.sock --v=3"
kubeadm_env env CUBELET_BIN="$root/usr/bin/cubelet" KUBELET_EXTRA_ARGS=--version "$start" >"$work/start.out" 2>"$work/start.err"
check "... which the installed cubelet takes, configuration file included" \
  test "$(cat "$work/start.out")" = "$("$root/usr/bin/cubelet" --version)"
check "... warning of nothing but the bare socket path, as upstream" sh -c \
  "grep -q 'Using a path as the runtime endpoint is deprecated' '$work/start.err' &&
   ! grep -v 'Using a path as the runtime endpoint is deprecated' '$work/start.err'"
check "dpkg removes it again" sh -c \
  "dpkg --root='$root' --force-script-chrootless --force-not-root --log=/dev/null -r cubelet >>'$work/dpkg.log' 2>&1 && [ ! -e '$root/usr/bin/cubelet' ]"
[ "$failed" -eq 0 ] || { echo "---- dpkg log ----"; cat "$work/dpkg.log"; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/bash
# A real cluster on cubelet (#14 items 5 and 6): kubeadm init, then kubeadm join, each on a node of its own.
# A node is a network namespace and a mount namespace held open by an anchor process: tmpfs on
# /etc/kubernetes, /var/lib/kubelet, /var/lib/etcd and cubelet's directories (kubeadm writes where it always
# writes; the machine's own files are never touched), a containerd of its own, and a veth pair between the
# two nodes (10.15N.0.10 and .11, each node's default route into it: nothing leaves the two namespaces).
# kubeadm 1.20.2 (built from Debian's source like the tests' API server) runs unchanged: preflight,
# certificates, kubeconfigs, the kubelet's files (config.yaml, kubeadm-flags.env), the control plane's static
# pod manifests, then "systemctl restart kubelet": the test's systemd stand-in (kubeadm_systemctl.sh) runs the
# .deb's unit, cubelet-start under the 10-kubeadm.conf drop-in. On the first node cubelet runs etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler (images built here from the same binaries) as
# static pods: hostNetwork, hostPath volumes, HTTPS probes, mirror pods; kubeadm's own checks pass through
# them (the kubelet's /healthz, the API server's, the Node for mark-control-plane, kubelet-client-current.pem
# for kubelet-finalize). The Node turns Ready, the four pods Running and Ready, a pod the scheduler places
# runs, and the API server's container, killed, comes back. The second node joins with a bootstrap token:
# cubelet's TLS bootstrap, its CSR approved by the controller manager's auto-approver, Ready, a pod bound to
# it runs and its log comes through the API server. Preflight errors ignored: ImagePull only (the CoreDNS
# and kube-proxy images cannot be made here; their addon phases are skipped).
# Env from CTest: CUBELET, CUBELET_CRI, IMAGES_DIR, KUBE_CACHE (kube-build.sh's binaries). KUBEADM_KUBELET
# (bench/bench_kubeadm.sh) runs another kubelet in cubelet's place (the upstream one, for the figures); the
# lines starting "# " are the run's timings.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
CTD_DIR=/nonexistent # lib.sh's shared containerd is not used: each node has its own
source "$TOP/tests/integration/lib.sh"
KUBEADM=$KUBE_CACHE/kubeadm
KUBECTL=$KUBE_CACHE/kubectl
NET=10.$((150 + TI))
CGROUP_ROOT2=$CGROUP_ROOT-join # the joining node's pods: a cgroup root of their own

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for b in kubeadm kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$KUBE_CACHE/$b" ] || {
    echo "SKIP: no $b in $KUBE_CACHE (tests/e2e/kube-build.sh kubeadm kube-controller-manager kube-scheduler)"
    exit 77
  }
done
for t in etcd conntrack nsenter unshare ctr jq; do
  command -v "$t" >/dev/null || { echo "SKIP: no $t (packaging/install-deps.sh)"; exit 77; }
done
[ -s "$IMAGES_DIR/pause.tar" ] || { echo "SKIP: no images in $IMAGES_DIR (the containerd fixture builds them)"; exit 77; }

# One kubeadm cluster at a time on this machine: the plain and the sanitizer passes would run two beside
# each other (two etcd and API servers on two cores); the other waits here. Daemons never get the fd.
exec 9>/tmp/cubelet-kubeadm.lock
flock -w 600 9 || { echo "not ok - the other pass's kubeadm test held the lock for 10 minutes"; exit 1; }

# The directories kubeadm and cubelet write under (tmpfs in each node); made if missing, removed after.
DIRS=(/etc/kubernetes /var/lib/kubelet /var/lib/etcd /var/lib/cubelet /var/log/pods /var/log/containers /run/cubelet
  /usr/libexec/kubernetes)
MADE=()
for d in "${DIRS[@]}"; do [ -d "$d" ] || { mkdir -p "$d" && MADE+=("$d"); }; done

declare -A ANCHOR SOCKS CTDS
# in_node N CMD...: CMD in node N's namespaces, with this environment.
in_node() { local n=$1; shift; nsenter -t "${ANCHOR[$n]}" -m -n -- "$@"; }
cri_on() { local n=$1; shift; in_node "$n" "$CUBELET_CRI" -r "unix://${SOCKS[$n]}" "$@"; }
k() { in_node 1 "$KUBECTL" --kubeconfig /etc/kubernetes/admin.conf --request-timeout=10s "$@"; }

# Each node's fixed directory (containerd's, the unit's state, the anchor's pid): a run killed before its
# cleanup (a CTest timeout; the stand-in's cubelet and containerd are not in the test's process tree) is
# cleaned up by the next one, here.
node_dir() { echo "/tmp/cubelet-kadm$TI-$1"; }
node_purge() {
  local d p
  d=$(node_dir "$1")
  [ -d "$d" ] || return 0
  # a pid is only killed while it is still the process it was (kubelet, then the anchor's sleep)
  p=$(cat "$d/unit/kubelet.pid" 2>/dev/null) && grep -qa kubelet "/proc/$p/cmdline" 2>/dev/null &&
    kill -KILL "$p" 2>/dev/null
  "$TOP/packaging/containerd/stop-containerd.sh" --dir "$d/ctd" --purge >/dev/null 2>&1
  p=$(cat "$d/anchor.pid" 2>/dev/null) && [ "$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)" = "sleep infinity " ] &&
    kill -KILL "$p" 2>/dev/null
  rm -rf "$d"
}

cleanup() {
  local n p
  set +e
  for n in 2 1; do
    [ -n "${ANCHOR[$n]:-}" ] || continue
    systemctl_on "$n" stop kubelet
    for p in $(cri_on "$n" pods -q 2>/dev/null); do cri_on "$n" rmp "$p" >/dev/null 2>&1; done
    in_node "$n" "$TOP/packaging/containerd/stop-containerd.sh" --dir "${CTDS[$n]}" --purge >/dev/null 2>&1
    kill "${ANCHOR[$n]}" 2>/dev/null
    wait "${ANCHOR[$n]}" 2>/dev/null
    cp -r "$(node_dir "$n")/unit" "$WORK/unit$n" 2>/dev/null
    node_purge "$n"
  done
  ip netns del "cubelet-kubeadm$TI-1" 2>/dev/null
  ip netns del "cubelet-kubeadm$TI-2" 2>/dev/null
  for d in "${MADE[@]}"; do rmdir "$d" 2>/dev/null; done
  for d in /sys/fs/cgroup/*"$CGROUP_ROOT2" /sys/fs/cgroup"$CGROUP_ROOT2"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  cleanup_cgroups
  if [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; then rm -rf "$WORK"; else
    echo "kept: $WORK (node N: unitN/kubelet.log is cubelet's, kubeadm-*.log kubeadm's)"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# Both nodes' network namespaces, a veth pair between them.
for n in 1 2; do
  ip netns del "cubelet-kubeadm$TI-$n" 2>/dev/null
  ip netns add "cubelet-kubeadm$TI-$n" || { echo "not ok - ip netns add"; exit 1; }
done
ip link add "kadm$TI-1" netns "cubelet-kubeadm$TI-1" type veth peer name "kadm$TI-2" netns "cubelet-kubeadm$TI-2" ||
  { echo "not ok - the veth pair between the nodes"; exit 1; }

mkdir -p "$WORK/bin"
# The nodes' cgroup roots, made beforehand in every hierarchy (upstream's kubelet requires its cgroupRoot to
# exist; cubelet makes it when missing).
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [ -e "$h/cgroup.procs" ] && mkdir -p "$h$CGROUP_ROOT" "$h$CGROUP_ROOT2" 2>/dev/null
done
NODE1=kubeadm-node$TI NODE2=kubeadm-join$TI
# The nodes' names resolve through their /etc/hosts; no DNS server (a lookup fails at once, on loopback).
printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$NET.0.10" "$NODE1" "$NET.0.11" "$NODE2" >"$WORK/hosts"
printf '# the kubeadm test nodes: no DNS server\nnameserver 127.0.0.1\n' >"$WORK/resolv.conf"
KUBELET_UNDER_TEST=${KUBEADM_KUBELET:-$CUBELET}
ln -s "$KUBELET_UNDER_TEST" "$WORK/bin/kubelet"
ln -s "$CUBELET_CRI" "$WORK/bin/crictl"
cp "$HERE/kubeadm_systemctl.sh" "$WORK/bin/systemctl"

# node_up N: node N's namespaces (held by an anchor process), directories, network and containerd.
node_up() {
  local n=$1 ns ctd
  ns=cubelet-kubeadm$TI-$n
  node_purge "$n"
  ctd=$(node_dir "$n")/ctd
  CTDS[$n]=$ctd
  mkdir -p "$ctd" "$(node_dir "$n")/unit"
  # The anchor: a mount namespace of its own in the node's network namespace, its tmpfs mounts, then sleep.
  # shellcheck disable=SC2016
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private bash -c '
    for d in "$@"; do mount -t tmpfs -o mode=0755 tmpfs "$d" || exit 1; done
    mount --bind '"$WORK/hosts"' /etc/hosts && mount --bind '"$WORK/resolv.conf"' /etc/resolv.conf || exit 1
    echo up >'"$(node_dir "$n")/anchor-up"'
    exec sleep infinity' _ "${DIRS[@]}" 9>&- &
  ANCHOR[$n]=$!
  echo "${ANCHOR[$n]}" >"$(node_dir "$n")/anchor.pid"
  wait_for 10 test -s "$(node_dir "$n")/anchor-up" || return 1
  in_node "$n" ip link set lo up
  in_node "$n" ip addr add "$NET.0.$((9 + n))/24" dev "kadm$TI-$n"
  in_node "$n" ip link set "kadm$TI-$n" up
  in_node "$n" ip route add default dev "kadm$TI-$n"
  in_node "$n" sysctl -qw net.ipv4.ip_forward=1
  SOCKS[$n]=$(in_node "$n" "$TOP/packaging/containerd/start-containerd.sh" --dir "$ctd" --bridge kbr0 \
    --pod-cidr "$NET.$n.0/24" 2>"$WORK/containerd-start$n.log" 9>&-)
  [ -S "${SOCKS[$n]}" ] || return 1
  in_node "$n" "$TOP/packaging/images/import-images.sh" "${SOCKS[$n]}" "$IMAGES_DIR" >/dev/null 2>&1
}

# cubelet at -v=2 (/etc/default/kubelet's way): its probe results in its log, for a failure.
EXTRA_ENV=
[ -n "${KUBEADM_KUBELET:-}" ] || EXTRA_ENV=KUBELET_EXTRA_ARGS=--v=2
# node_env N: what kubeadm finds on a node with cubelet's .deb: kubelet (cubelet), crictl (cubelet-cri),
# systemctl (the stand-in running the .deb's unit).
node_env() {
  local n=$1
  echo "PATH=$WORK/bin:$PATH" "SYSTEMCTL_STATE=$(node_dir "$n")/unit" \
    "SYSTEMCTL_DROPIN=$TOP/packaging/systemd/10-kubeadm.conf" \
    "SYSTEMCTL_EXEC=$TOP/packaging/deb/cubelet-start" "CUBELET_BIN=$KUBELET_UNDER_TEST" $EXTRA_ENV
}
# shellcheck disable=SC2046
kubeadm_on() { local n=$1; shift; in_node "$n" env $(node_env "$n") timeout 600 "$KUBEADM" "$@" 9>&-; }
# shellcheck disable=SC2046
systemctl_on() { local n=$1; shift; in_node "$n" env $(node_env "$n") systemctl "$@" 9>&-; }

check "node 1: namespaces, containerd" node_up 1
check "... the control plane's images built and imported" \
  in_node 1 "$HERE/kubeadm_images.sh" "${SOCKS[1]}" "$KUBEADM" "$KUBE_CACHE" 2>"$WORK/images.log"
# shellcheck disable=SC2046
check "kubeadm finds kubelet's version" grep -q '^Kubernetes v1\.20\.' <<<"$(env $(node_env 1) kubelet --version)"

cat >"$WORK/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $NET.0.10
  bindPort: 6443
nodeRegistration:
  name: $NODE1
  criSocket: ${SOCKS[1]}
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
clusterName: cubelet-kubeadm
networking:
  podSubnet: $NET.128.0/17
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupRoot: $CGROUP_ROOT
EOF

t0=$(date +%s%N)
rc=0
kubeadm_on 1 init --config "$WORK/kubeadm.yaml" --skip-phases=addon/coredns,addon/kube-proxy \
  --ignore-preflight-errors=ImagePull >"$WORK/kubeadm-init.log" 2>&1 || rc=$?
t1=$(date +%s%N)
check "kubeadm init succeeds on cubelet" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -n 30 "$WORK/kubeadm-init.log"
echo "# kubeadm init: $(((t1 - t0) / 1000000)) ms"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

kubelet_files() {
  in_node 1 test -s /var/lib/kubelet/config.yaml && in_node 1 test -s /var/lib/kubelet/kubeadm-flags.env &&
    systemctl_on 1 is-active kubelet >/dev/null
}
check "kubeadm wrote the kubelet's files, cubelet runs on them" kubelet_files
check "... with the cgroupRoot of kubeadm's KubeletConfiguration" \
  in_node 1 grep -q "cgroupRoot: $CGROUP_ROOT" /var/lib/kubelet/config.yaml
finalized() {
  in_node 1 test -e /var/lib/kubelet/pki/kubelet-client-current.pem &&
    in_node 1 grep -Eq 'client-certificate: "?/var/lib/kubelet/pki/kubelet-client-current.pem"?$' /etc/kubernetes/kubelet.conf
}
check "kubelet-finalize pointed kubelet.conf at the store's pair" finalized

# cubelet took kubelet.conf's pair into its store and rotated it at once (as upstream): a CSR of the node's,
# approved by the controller manager's auto-approver and signed.
csr_signed() { # csr_signed USER: a kubelet client CSR that USER made, approved and signed
  k get csr -o jsonpath='{range .items[*]}{.spec.username} {.spec.signerName} {.status.conditions[0].type} {.status.certificate}{"\n"}{end}' 2>/dev/null |
    awk -v u="$1" '$1 == u && $2 == "kubernetes.io/kube-apiserver-client-kubelet" && $3 == "Approved" && $4 != ""' | grep -q .
}

node_ready() {
  [ "$(k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
check "the Node turns Ready" wait_for 120 node_ready "$NODE1"

pod_ready() { # pod_ready NAME: Running, its containers ready
  [ "$(k -n kube-system get pod "$1-$NODE1" -o \
    jsonpath='{.status.phase} {.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = "Running True" ]
}
# diag FILE: what the API server and cubelet (its local socket) say of the control plane's pods, for a failure
diag() {
  {
    k -n kube-system get pods -o wide
    k -n kube-system get pods -o json | jq -c '.items[] | {name: .metadata.name, status}'
    in_node 1 curl -s --max-time 10 --unix-socket /run/cubelet/cubelet.sock http://localhost/pods |
      jq -c '.items[] | {name: .metadata.name, status}'
  } >"$WORK/$1" 2>&1
}
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  if wait_for 180 pod_ready "$c"; then ok "$c: a mirror pod in kube-system, Running and Ready"; else
    not_ok "$c: a mirror pod in kube-system, Running and Ready (diag: $WORK/not-ready-$c.txt)"
    diag "not-ready-$c.txt"
  fi
done
echo "# kubeadm init started -> the control plane's four pods Ready: $(ms_since "$t0") ms"
# (after the controller manager runs: on a busy machine the control plane takes minutes to come up)
check "the first pair rotated at once: the node's CSR approved by the controller manager and signed" \
  wait_for 120 csr_signed "system:node:$NODE1"
spec_of() { k -n kube-system get pod "$1-$NODE1" -o jsonpath="$2" 2>/dev/null; }
check "... each as kubeadm wrote it (hostNetwork, system-node-critical)" \
  [ "$(spec_of kube-apiserver '{.spec.hostNetwork} {.spec.priorityClassName}')" = "true system-node-critical" ]
check "... with the Node as its owner (a mirror pod)" [ "$(spec_of etcd '{.metadata.ownerReferences[0].kind}')" = Node ]

# pod_yaml NAME NODE: a busybox pod that says its name; bound to NODE when given, else the scheduler's.
pod_yaml() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  ${2:+nodeName: $2}
  tolerations: [{key: node-role.kubernetes.io/master, operator: Exists, effect: NoSchedule}]
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'echo $1-is-running; exec sleep 3600']
  terminationGracePeriodSeconds: 1
EOF
}
pod_yaml scheduled "" >"$WORK/scheduled.yaml"
check "a pod is created through the API server" k apply -f "$WORK/scheduled.yaml"
running_on() { [ "$(k get pod "$1" -o jsonpath='{.spec.nodeName} {.status.phase}' 2>/dev/null)" = "$2 Running" ]; }
check "... the scheduler binds it to the node, cubelet runs it" wait_for 120 running_on scheduled "$NODE1"
logs_say() { grep -q "$2" <<<"$(k logs "$1" 2>&1)"; }
check "... its log through the API server" wait_for 30 logs_say scheduled scheduled-is-running

# The API server's container killed: cubelet starts it again, the API answers again.
restarts() {
  k -n kube-system get pod "kube-apiserver-$NODE1" -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null
}
before=$(restarts)
apiserver_id() { cri_on 1 ps | awk -F'\t' '$3 == "kube-apiserver" { print $1 }' | head -n 1; }
cid=$(apiserver_id)
check "the API server's container is found" [ -n "$cid" ]
in_node 1 ctr --address "${SOCKS[1]}" -n k8s.io tasks kill -s SIGKILL "$cid" >/dev/null 2>&1
new_apiserver() { local n; n=$(apiserver_id); [ -n "$n" ] && [ "$n" != "$cid" ]; }
check "... killed, it is started again" wait_for 120 new_apiserver
more_restarts() { local r; r=$(restarts); [ -n "$r" ] && [ "$r" -gt "${before:-0}" ]; }
check "... the API answers and the mirror pod counts the restart" wait_for 180 more_restarts
check "... and is Ready again" wait_for 180 pod_ready kube-apiserver

crictl_answers() {
  local s=${SOCKS[1]}
  in_node 1 "$WORK/bin/crictl" -r "$s" info >/dev/null && in_node 1 "$WORK/bin/crictl" -r "$s" pods -q | grep -q . &&
    in_node 1 "$WORK/bin/crictl" -r "$s" inspecti k8s.gcr.io/pause:3.2 >/dev/null &&
    ! in_node 1 "$WORK/bin/crictl" -r "$s" inspecti no.such/image:1 2>/dev/null
}
check "crictl (cubelet-cri) answers kubeadm's commands" crictl_answers

# kubeadm join: the second node, through TLS bootstrap with a bootstrap token.
check "node 2: namespaces, containerd" node_up 2
join=$(kubeadm_on 1 token create --print-join-command 2>/dev/null)
check "kubeadm token create gives a join command" grep -q '^kubeadm join ' <<<"$join"
cat >"$WORK/join.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta2
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: $NET.0.10:6443
    token: $(awk '{ for (i = 1; i < NF; i++) if ($i == "--token") print $(i + 1) }' <<<"$join")
    caCertHashes: [$(awk '{ for (i = 1; i < NF; i++) if ($i == "--discovery-token-ca-cert-hash") print $(i + 1) }' <<<"$join")]
nodeRegistration:
  name: $NODE2
  criSocket: ${SOCKS[2]}
  kubeletExtraArgs:
    cgroup-root: $CGROUP_ROOT2
EOF
rc=0
t2=$(date +%s%N)
kubeadm_on 2 join --config "$WORK/join.yaml" --ignore-preflight-errors=ImagePull \
  >"$WORK/kubeadm-join.log" 2>&1 || rc=$?
check "kubeadm join succeeds on cubelet" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -n 30 "$WORK/kubeadm-join.log"
token_id=$(awk '{ for (i = 1; i < NF; i++) if ($i == "--token") print substr($(i + 1), 1, 6) }' <<<"$join")
check "... cubelet bootstrapped: its CSR (made with the bootstrap token) approved by the controller manager and signed" \
  wait_for 120 csr_signed "system:bootstrap:$token_id"
check "... kubelet.conf points at the bootstrapped pair" in_node 2 grep -Eq \
  'client-certificate: "?/var/lib/kubelet/pki/kubelet-client-current.pem"?$' /etc/kubernetes/kubelet.conf
check "the joined Node turns Ready" wait_for 120 node_ready "$NODE2"
echo "# kubeadm join: $(ms_since "$t2") ms to the joined Node Ready"
first_start=$(awk '$2 == "started" { print $1; exit }' "$(node_dir 2)/unit/unit.log")
[ -n "$first_start" ] &&
  echo "# the joining node's kubelet started with only a bootstrap kubeconfig -> Node Ready: $(ms_since "$(date -d "$first_start" +%s%N)") ms"
pod_yaml joined "$NODE2" >"$WORK/joined.yaml"
check "a pod bound to it" k apply -f "$WORK/joined.yaml"
check "... runs there" wait_for 120 running_on joined "$NODE2"
check "... its log through the API server (the API server reaches the joined node's API)" \
  wait_for 30 logs_say joined joined-is-running

kpid=$(cat "$(node_dir 1)/unit/kubelet.pid" 2>/dev/null)
[ -n "$kpid" ] && echo "# the control-plane node's kubelet: $(awk '/^VmRSS/ { printf "%.1f MiB RSS", $2 / 1024 }' "/proc/$kpid/status" 2>/dev/null), $(awk '{ printf "%.2f s CPU", ($14 + $15) / 100 }' "/proc/$kpid/stat" 2>/dev/null) since its last start"

# Every cubelet of the run (kubeadm restarted it, the last one stops now) ended clean: under the
# sanitizer build, no leak or error report.
systemctl_on 2 stop kubelet
systemctl_on 1 stop kubelet
check "every cubelet stopped clean (no sanitizer report)" \
  bash -c "! grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' '$(node_dir 1)/unit/kubelet.log' '$(node_dir 2)/unit/kubelet.log'"
check "... and kubeadm started and restarted it (the stand-in's record)" [ "$(grep -c ' started ' "$(node_dir 1)/unit/unit.log")" -ge 2 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

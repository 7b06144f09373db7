#!/bin/bash
# A pod's names and namespaces against a real containerd: /etc/hosts (the pod's FQDN with a subdomain and
# --cluster-domain, hostAliases; a hostNetwork pod's is the node's file plus its aliases), /etc/resolv.conf
# (ClusterFirst with --cluster-dns, dnsConfig merged, None, hostNetwork's Default and
# ClusterFirstWithHostNet), the hostname (setHostnameAsFQDN, and an FQDN too long refused at sandbox
# creation), shareProcessNamespace (one container sees the other's processes), and CRI runtime handlers
# (one the containerd config names runs, an unknown one fails clearly; runtimeClassName without an API server
# is the default handler, as upstream).
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
printf 'nameserver 192.0.2.53\nsearch node.example\noptions edns0\n' >"$WORK/resolv.conf"

# pod NAME SPEC_LINES COMMAND: one container "c" printing what it sees, then sleeping.
pod() {
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
$2
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "$3; echo done; exec sleep 3600"]
YAML
}
SHOW='cat /etc/hosts /etc/resolv.conf; echo host=$(hostname)'
pod names '  hostname: web-0
  subdomain: sub
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [foo.local, bar.local]}
  - {ip: "fd00::7", hostnames: [six.local]}
  dnsConfig:
    searches: [extra.example]
    options: [{name: ndots, value: "2"}, {name: edns0}]' "$SHOW"
pod fqdn '  hostname: fq
  subdomain: sub
  setHostnameAsFQDN: true' "$SHOW"
pod none '  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.1]
    searches: [a.example]
    options: [{name: ndots, value: "2"}]' "$SHOW"
pod hostnet '  hostNetwork: true
  hostAliases: [{ip: 10.9.9.9, hostnames: [h1.local]}]' "$SHOW"
pod hostnet-cluster '  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet' "$SHOW"
pod toolong "  hostname: a-rather-long-hostname-for-this-pod
  subdomain: and-a-long-subdomain
  setHostnameAsFQDN: true" 'true'
pod rcstatic '  runtimeClassName: runc-test' 'true'
pod badpid '  hostPID: true
  shareProcessNamespace: true' 'true'
cat >"$M/shared.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  terminationGracePeriodSeconds: 1
  shareProcessNamespace: true
  containers:
  - name: a
    image: $IMG
    command: ["sh", "-c", "exec sleep 31337"]
  - name: b
    image: $IMG
    command: ["sh", "-c", "until ps | grep -q '[s]leep 31337'; do sleep 0.2; done; echo saw-a; echo pid1=\$(cat /proc/1/cmdline | tr '\\\\0' ' '); exec sleep 3600"]
YAML

start_cubelet "$M" --cluster-dns 10.96.0.10 --cluster-domain cluster.test --resolv-conf "$WORK/resolv.conf"

out() { cat "$WORK"/logs/default_"$1"-"$NODE"_*/"${2:-c}"/0.log 2>/dev/null | cut -d' ' -f4-; }
has() { out "$1" "${3:-c}" | grep -qxF -- "$2"; }
done_() { has "$1" done; }
for p in names fqdn none hostnet hostnet-cluster; do
  check "$p: the container ran" wait_for 60 done_ "$p"
done
ip=$(pod_status names '.podIP')
check "names: the pod's FQDN line with --cluster-domain" has names "$ip	web-0.sub.default.svc.cluster.test	web-0"
check "names: hostAliases after their header, tab-separated" sh -c \
  "out() { cat '$WORK'/logs/default_names-${NODE}_*/c/0.log | cut -d' ' -f4-; }
   out | grep -A2 -xF '# Entries added by HostAliases.' | tr '\t' '|' | grep -qxF '10.1.2.3|foo.local|bar.local' &&
   out | grep -qxF 'fd00::7	six.local'"
check "names: ClusterFirst: the cluster DNS server only" sh -c "[ \"\$(cat '$WORK'/logs/default_names-${NODE}_*/c/0.log | grep -c ' nameserver ')\" = 1 ]"
check "names: ... nameserver from --cluster-dns" has names "nameserver 10.96.0.10"
check "names: ... search: the cluster's, the node's, then dnsConfig's" has names \
  "search default.svc.cluster.test svc.cluster.test cluster.test node.example extra.example"
check "names: ... options: ndots from dnsConfig over ndots:5, edns0 added" has names "options ndots:2 edns0"
check "names: hostname is spec.hostname" has names "host=web-0"
check "fqdn: setHostnameAsFQDN: the hostname is the FQDN" has fqdn "host=fq.sub.default.svc.cluster.test"
check "fqdn: ... and /etc/hosts has both names" has fqdn "$(pod_status fqdn .podIP)	fq.sub.default.svc.cluster.test	fq"
check "none: dnsPolicy None: only dnsConfig's nameserver" sh -c \
  "cat '$WORK'/logs/default_none-${NODE}_*/c/0.log | cut -d' ' -f4- | grep -E '^(nameserver|search|options) ' | tr '\n' '|' |
   grep -qxF 'search a.example|nameserver 192.0.2.1|options ndots:2|'"
check "none: the pod's own line without a domain" has none "$(pod_status none .podIP)	none-$NODE"
check "hostnet: the node's hosts file under upstream's header" has hostnet "# Kubernetes-managed hosts file (host network)."
check "hostnet: ... with the pod's aliases" has hostnet "10.9.9.9	h1.local"
check "hostnet: ClusterFirst on the host network is Default (the node's resolv.conf)" has hostnet "nameserver 192.0.2.53"
check "hostnet: ... search and options from --resolv-conf" sh -c \
  "cat '$WORK'/logs/default_hostnet-${NODE}_*/c/0.log | grep -q ' search node.example\$' &&
   cat '$WORK'/logs/default_hostnet-${NODE}_*/c/0.log | grep -q ' options edns0\$'"
check "hostnet: the node's hostname" has hostnet "host=$(hostname)"
check "hostnet-cluster: ClusterFirstWithHostNet gets the cluster DNS" has hostnet-cluster "nameserver 10.96.0.10"
check "hostnet-cluster: ... and the cluster's search domains" has hostnet-cluster \
  "search default.svc.cluster.test svc.cluster.test cluster.test node.example"

check "shareProcessNamespace: b sees a's process" wait_for 60 has shared saw-a b
check "... and PID 1 is the sandbox's pause process" sh -c \
  "cat '$WORK'/logs/default_shared-${NODE}_*/b/0.log | grep -q 'pid1=/pause'"
check "shareProcessNamespace with hostPID: refused as the API server does" wait_for 10 log_has \
  'spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled'

events_has() { local_get /events | jq -e "$1" >/dev/null; }
check "an FQDN over 64 characters: FailedCreatePodSandBox with upstream's message" wait_for 20 events_has \
  '.items[] | select(.involvedObject.name == "toolong-'"$NODE"'" and .reason == "FailedCreatePodSandBox" and
   (.message | startswith("Failed to create pod sandbox: failed to construct FQDN from pod hostname and cluster domain, FQDN a-rather-long-hostname-for-this-pod.and-a-long-subdomain.default.svc.cluster.test is too long (64 characters is the max, 81 characters requested)")))'
check "... and no sandbox was made" sh -c "! cri pods | awk -F'\t' '\$4 == \"toolong-$NODE\"' | grep -q ."

# Runtime handlers, straight through CRI: the second one containerd's config names, and one it does not.
rc_ran() { cri pods | awk -F'\t' -v n="$1" '$4 == n && $2 == "READY" { print $7 }' | grep -qxF "$2"; }
check "runtimeClassName without an API server: the pod runs with the default handler, as upstream" \
  wait_for 30 rc_ran "rcstatic-$NODE" "(default)"
check "... and says so in the log" log_has 'No API server to resolve the pod'"'"'s RuntimeClass'
id=$(cri runp --runtime runc-test rh-test 2>"$WORK/runp.err")
check "RunPodSandbox with runtime_handler runc-test: ready" rc_ran rh-test runc-test
check "... and runc-test's own state root holds it" test -d "$CTD_DIR/state/runc-test/k8s.io/$id"
[ -n "$id" ] && cri rmp "$id" >/dev/null
check "RunPodSandbox with an unknown handler fails, naming it" sh -c \
  "! '$CUBELET_CRI' -r 'unix://$SOCK' runp --runtime no-such-handler rh-bad 2>'$WORK/runp-bad.err' &&
   grep -q 'no runtime for \"no-such-handler\" is configured' '$WORK/runp-bad.err'"

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "all pods removed" wait_for 30 gone
check "cubelet exits cleanly" stop_cubelet
finish

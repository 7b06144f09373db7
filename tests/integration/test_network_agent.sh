#!/bin/bash
# Pod networking end to end, with real plugins and a private containerd of the test's own (bridge and pod CIDR
# its own too): two pods reach each other by pod IP, a hostPort answers on the host, deleting a pod releases
# its IP and veth -- in both network modes. Then agent mode only: extra networks (net1; only those the node
# allows, at most 8), DEL from the cache
# after a cubelet restart, and a delegate that fails fast without the agent.
# Traffic stays on loopback and inside the namespaces made here.
build=$(cd "$(dirname "$CUBELET")/.." && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/instance.sh"
DELEGATE=${DELEGATE:-$build/cni/delegate/cubelet-delegate}
IMAGES=${IMAGES:-$build/images}
NET_CTD=${NET_CTD:-/tmp/cubelet-it${TI_SUFFIX}-net-ctd}
NET_BRIDGE=${NET_BRIDGE:-cubitnet$((2 * TI))}
NET_CIDR=${NET_CIDR:-$TI_NET.64.0/24}
EXTRA_BRIDGE=${EXTRA_BRIDGE:-cubitnet$((2 * TI + 1))}
EXTRA_CIDR=${EXTRA_CIDR:-$TI_NET.65.0/24}
HOST_PORT=${HOST_PORT:-$((18391 + TI_PORT_OFFSET))}
if [ "$(id -u)" != 0 ]; then echo "SKIP: integration tests need root"; exit 77; fi
for f in "$DELEGATE" "$IMAGES/busybox.tar" "$IMAGES/pause.tar"; do
  [ -e "$f" ] || { echo "SKIP: $f missing (build the tree first)"; exit 77; }
done
CTD_DIR=$NET_CTD
source "$(dirname "$0")/lib.sh"
M="$WORK/manifests"
mkdir -p "$M"
SOCKET="$WORK/cni.sock"

ctd_start() { # ctd_start MODE
  "$top/packaging/containerd/start-containerd.sh" --dir "$NET_CTD" --bridge "$NET_BRIDGE" --pod-cidr "$NET_CIDR" \
    --network-mode "$1" --delegate-plugin "$DELEGATE" --delegate-socket "$SOCKET" >/dev/null 2>"$WORK/ctd.err" &&
    "$top/packaging/images/import-images.sh" "$SOCK" "$IMAGES" >/dev/null 2>&1
}
ctd_stop() { "$top/packaging/containerd/stop-containerd.sh" --dir "$NET_CTD" "$@" >/dev/null 2>&1; }
cleanup() {
  [ -n "$CUBELET_PID" ] && kill "$CUBELET_PID" 2>/dev/null
  ctd_stop --purge
  ip link del "$EXTRA_BRIDGE" 2>/dev/null
  ip link del cubelet0 2>/dev/null
  cleanup_cgroups
}
trap cleanup EXIT
ctd_stop --purge

server() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "echo hello-from-server >/tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    ports: [{containerPort: 8080, hostPort: $HOST_PORT}]
YAML
}
client() { # client TARGET_IP [EXTRA_NETWORKS]
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: client
  annotations: {cubelet.io/extra-networks: "${2:-}"}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "ip -o -4 addr show net1 2>&1 | sed 's/^/net1: /'; trap 'exit 0' TERM; while true; do wget -q -O - http://$1:8080/index.html; sleep 0.5; done"]
YAML
}
pod_ip() { pod_status "$1" .podIP; }
in_cidr() { local ip; ip=$(pod_ip "$1"); [ -n "$ip" ] && [ "${ip%.*}" = "${2%.*/*}" ]; }
client_log_has() { grep -rqs -- "$1" "$WORK/logs"/default_client-"$NODE"_*/c/; }
leases() { ls "$NET_CTD/cni-ipam/cubelet" 2>/dev/null | grep -c '^[0-9]'; }
veths() { ip -o link show master "$NET_BRIDGE" 2>/dev/null | grep -c veth; }
gone() { ! cri ps -a | grep -q -- "-$NODE"; }

# connectivity MODE [cubelet flags]: the same checks in both modes.
connectivity() {
  local mode=$1; shift
  check "[$mode] containerd starts" ctd_start "$mode"
  rm -rf "$WORK/logs"
  server >"$M/server.yaml"
  start_cubelet "$M" "$@"
  check "[$mode] server pod runs" wait_for 30 is_running httpd default/server-$NODE
  check "[$mode] status.podIP in the pod CIDR" wait_for 10 in_cidr server "$NET_CIDR"
  local sip; sip=$(pod_ip server)
  client "$sip" >"$M/client.yaml"
  kill -HUP "$CUBELET_PID"
  check "[$mode] client pod runs" wait_for 30 is_running c default/client-$NODE
  check "[$mode] client reaches the server by pod IP" wait_for 20 client_log_has hello-from-server
  check "[$mode] hostPort answers on the host" wait_for 10 sh -c \
    "curl -sf -m 2 http://127.0.0.1:$HOST_PORT/index.html | grep -q hello-from-server"
  check "[$mode] two leases, two veths" sh -c "[ $(leases) = 2 ] && [ $(veths) = 2 ]"
  rm -f "$M"/*
  kill -HUP "$CUBELET_PID"
  check "[$mode] pods deleted" wait_for 30 gone
  check "[$mode] ... their IPs released (host-local store empty)" wait_for 10 sh -c "[ \$(ls '$NET_CTD/cni-ipam/cubelet' | grep -c '^[0-9]') = 0 ]"
  check "[$mode] ... and their veths gone" wait_for 10 sh -c "! ip -o link show master $NET_BRIDGE | grep -q veth"
  check "[$mode] hostPort closed" sh -c "! curl -sf -m 2 http://127.0.0.1:$HOST_PORT/index.html >/dev/null"
  check "[$mode] cubelet exits cleanly" stop_cubelet
  ctd_stop
}

source_env() { source "$NET_CTD/instance.env"; }
connectivity runtime --network-mode runtime
AGENT_FLAGS=(--network-mode agent --cni-conf-dir "$NET_CTD/agent-net.d" --cni-bin-dir /usr/lib/cni
  --cni-delegate-socket "$SOCKET")
connectivity agent "${AGENT_FLAGS[@]}"

# --- agent mode only ---------------------------------------------------------------------------------------
check "[agent] containerd starts again" ctd_start agent
conf='{"cniVersion":"1.0.0","name":"cubelet","type":"cubelet-delegate","socket":"'"$SOCKET"'"}'
out=$(CNI_COMMAND=ADD CNI_CONTAINERID=x CNI_NETNS=/proc/self/ns/net CNI_IFNAME=eth0 timeout 60 "$DELEGATE" <<<"$conf")
rc=$?
check "delegate without the agent fails" test $rc = 1
# At once: at the connect, not after waiting for an answer (that error would be "no answer from the agent").
check "... at once, at the connect" sh -c "echo '$out' | jq -e '.details | startswith(\"connect $SOCKET: \")' >/dev/null"
check "... with a clear CNI error" sh -c "echo '$out' | jq -e '.code == 11 and (.msg | contains(\"agent is not running\"))' >/dev/null"

# an extra network from a second conflist, attached as net1
cat >"$NET_CTD/agent-net.d/20-extra.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "extra", "plugins": [{"type": "bridge", "bridge": "$EXTRA_BRIDGE",
 "ipam": {"type": "host-local", "dataDir": "$NET_CTD/cni-ipam", "ranges": [[{"subnet": "$EXTRA_CIDR"}]]}}]}
JSON
# bandwidth from the pod's annotations: the agent's chain gets the bandwidth plugin
jq '.plugins += [{"type": "bandwidth", "capabilities": {"bandwidth": true}}]' \
  "$NET_CTD/agent-net.d/10-cubelet.conflist" >"$WORK/bw.conflist" && mv "$WORK/bw.conflist" "$NET_CTD/agent-net.d/10-cubelet.conflist"
server | sed 's/^metadata: {name: server}/metadata: {name: server, annotations: {kubernetes.io\/ingress-bandwidth: 10M}}/' >"$M/server.yaml"
# Which networks a pod joins is the node's decision: only those of allowedExtraNetworks, at most 8.
EXTRA_ALLOWED=(--allowed-extra-networks extra,n2,n3,n4,n5,n6,n7,n8,n9)
start_cubelet "$M" "${AGENT_FLAGS[@]}" "${EXTRA_ALLOWED[@]}"
check "[agent] server runs" wait_for 30 is_running httpd default/server-$NODE
tbf() { for v in $(ip -o link show master "$NET_BRIDGE" | awk -F': ' '{ print $2 }' | cut -d@ -f1); do tc qdisc show dev "$v"; done | grep -q 'tbf.*rate 10Mbit'; }
check "... ingress-bandwidth annotation -> a 10Mbit tbf on its host veth" tbf
client "$(pod_ip server)" extra >"$M/client.yaml"
kill -HUP "$CUBELET_PID"
check "[agent] client with an extra network runs" wait_for 30 is_running c default/client-$NODE
check "... net1 inside the pod has an address of the extra network" wait_for 10 client_log_has "net1: .* inet ${EXTRA_CIDR%.*/*}\."
check "... and it still reaches the server on eth0" wait_for 20 client_log_has hello-from-server
check "... the extra network's lease is held" test "$(ls "$NET_CTD/cni-ipam/extra" | grep -c '^[0-9]')" = 1
refused_pod() { # refused_pod NAME NETWORKS
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
  annotations: {cubelet.io/extra-networks: "$2"}
spec:
  containers: [{name: c, image: cubelet.local/busybox:1.35, command: ["sleep", "3600"]}]
YAML
}
refused_pod sneaky "extra,cubelet"
refused_pod greedy "extra,n2,n3,n4,n5,n6,n7,n8,n9"
kill -HUP "$CUBELET_PID"
forbidden() { # forbidden NAME MESSAGE: Failed with the reason and message, a Warning Event, no sandbox
  status_is "$1" '[.phase, .reason, .message] | join("|")' "Failed|ExtraNetworkForbidden|Pod $2" &&
    local_get /events | jq -e --arg n "$1-$NODE" --arg m "$2" \
      '.items[] | select(.involvedObject.name == $n and .type == "Warning" and .reason == "ExtraNetworkForbidden" and .message == $m)' >/dev/null &&
    ! cri pods | awk -F'\t' -v n="$1-$NODE" '$4 == n' | grep -q .
}
check "[agent] a pod naming a network not allowed is refused at admission" wait_for 20 forbidden sneaky \
  'extra network "cubelet" (annotation cubelet.io/extra-networks) is not allowed on this node (allowedExtraNetworks: extra, n2, n3, n4, n5, n6, n7, n8, n9)'
check "[agent] a pod naming more than 8 networks is refused" wait_for 20 forbidden greedy \
  'too many extra networks (annotation cubelet.io/extra-networks): 9, at most 8'

# cubelet restarted, then the pods deleted: DEL still runs from the cache
check "[agent] cubelet stops (pods keep running)" stop_cubelet
rm -f "$M"/*
start_cubelet "$M" "${AGENT_FLAGS[@]}" "${EXTRA_ALLOWED[@]}"
check "[agent] after a restart the deleted pods go" wait_for 30 gone
check "... their IPs are released (both networks)" wait_for 10 sh -c \
  "[ \$(ls '$NET_CTD/cni-ipam/cubelet' '$NET_CTD/cni-ipam/extra' | grep -c '^[0-9]') = 0 ]"
check "... and the result cache is empty" sh -c "[ -z \"\$(ls '$WORK/root/cni-cache/results' 2>/dev/null)\" ]"
check "[agent] cubelet exits cleanly" stop_cubelet

# An empty CNI directory and a pod CIDR (podCIDR, or the Node's spec.podCIDR): cubelet writes its default
# network (bridge cubelet0 + host-local + portmap + bandwidth) and pods get addresses from that range.
DEFAULT_CIDR=${DEFAULT_CIDR:-$TI_NET.66.0/24}
# The default network's bridge is always cubelet0: another instance's run of this test waits (tests/instance.sh).
exec 9>/tmp/cubelet-it-cubelet0.lock
flock 9
rm -f "$NET_CTD/agent-net.d"/*
server >"$M/server.yaml"
start_cubelet "$M" "${AGENT_FLAGS[@]}" --pod-cidr "$DEFAULT_CIDR"
check "[agent] empty CNI directory + --pod-cidr: the default network is written" wait_for 10 \
  test -s "$NET_CTD/agent-net.d/10-cubelet.conflist"
check "... and logged" log_has '"Wrote the default pod network"'
check "... a pod runs on it" wait_for 30 is_running httpd default/server-$NODE
ip_in_default() { pod_ip server | grep -q "^${DEFAULT_CIDR%.*/*}\."; }
check "... with an address from the pod CIDR" wait_for 10 ip_in_default
rm -f "$M"/*
check "... removed again" wait_for 30 gone
check "[agent] cubelet exits cleanly" stop_cubelet
ip link del cubelet0 2>/dev/null
exec 9>&-
finish

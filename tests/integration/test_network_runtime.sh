#!/bin/bash
# Runtime network mode: NetworkReady from the CNI configuration (the runtime's own directory, or
# --cni-conf-dir), shown in /healthz's detail; without a network only hostNetwork pods start.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
N="$WORK/net.d"
mkdir -p "$M" "$N"
HZ="http://127.0.0.1:$HEALTHZ_PORT/healthz"
source "$CTD_DIR/instance.env"

pod() { # pod NAME HOST_NETWORK
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  hostNetwork: $2
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
YAML
}
verbose() { curl -s "$HZ?verbose"; }
net_ok() { verbose | grep -q '^\[+\]network ok'; }
net_failed() { verbose | grep -q "^\[-\]network failed: $1"; }
event_has() { # event_has POD REASON TEXT
  local_get /events |
    jq -e --arg p "$1-$NODE" --arg r "$2" --arg t "$3" \
      '[.items[] | select(.involvedObject.name == $p and .reason == $r and (.message | contains($t)))] | length > 0' \
      >/dev/null
}

# --- no flags: the runtime's own CNI directory is checked; a pod gets an IP from the pod CIDR
pod web false >"$M/web.yaml"
start_cubelet "$M"
check "runtime mode checks the runtime's CNI directory" wait_for 10 log_has "confDir=\"$CUBELET_CNI_CONF_DIR\""
check "healthz detail: network ok" wait_for 10 net_ok
check "pod runs" wait_for 20 is_running c default/web-$NODE
check "status.podIP from PodSandboxStatus, in the pod CIDR" wait_for 10 sh -c \
  "ip=\$(curl -s http://127.0.0.1:$RO_PORT/pods | jq -r '.items[] | select(.metadata.name == \"web-$NODE\") | .status.podIP'); case \$ip in ${CUBELET_POD_CIDR%.*/*}.*) true ;; *) false ;; esac"
rm -f "$M"/*
kill -HUP "$CUBELET_PID"
check "pod removed" wait_for 20 is_gone c default/web-$NODE
check "cubelet stops cleanly" stop_cubelet

# --- a conflist naming a missing plugin: NetworkReady false, healthz still 200 with the reason in its detail
sed 's/"type": "portmap"/"type": "no-such-plugin"/' "$CUBELET_CNI_CONF_DIR"/*.conflist >"$N/10-net.conflist"
start_cubelet "$M" --cni-conf-dir "$N" --cni-bin-dir "$CUBELET_CNI_BIN_DIR"
check "missing plugin -> healthz detail names it" wait_for 10 net_failed \
  'NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: .*no-such-plugin'
check "... healthz itself stays 200 (as upstream)" test "$(curl -s -o /dev/null -w '%{http_code}' "$HZ")" = 200
check "... and it is logged" log_has '"Container runtime network not ready"'
pod hn true >"$M/hn.yaml"
pod web false >"$M/web.yaml"
kill -HUP "$CUBELET_PID"
check "hostNetwork pod runs without a network" wait_for 20 is_running c default/hn-$NODE
check "... and reports the host IP" wait_for 10 status_is hn .podIP 127.0.0.1
check "other pod: FailedCreatePodSandBox with the plugin's error" wait_for 20 event_has web FailedCreatePodSandBox \
  'network is not ready: container runtime network not ready: NetworkReady=false'
check "... and no sandbox" sh -c "! cri pods | grep -q 'web-$NODE'"

# --- a broken conflist: same, with the parse error
echo '{"cniVersion": "1.0.0", "name": "x", "plugins": [' >"$N/10-net.conflist"
check "broken conflist -> healthz detail says so" wait_for 15 net_failed '.*10-net.conflist'

# --- the configuration fixed: the network becomes ready and the waiting pod starts
cp "$CUBELET_CNI_CONF_DIR"/*.conflist "$N/10-net.conflist"
check "valid conflist -> network ok again" wait_for 15 net_ok
check "... and the waiting pod starts" wait_for 30 is_running c default/web-$NODE
check "hostNetwork pod kept running" is_running c default/hn-$NODE

rm -f "$M"/*
kill -HUP "$CUBELET_PID"
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "pods removed" wait_for 20 gone
check "cubelet exits cleanly" stop_cubelet
finish

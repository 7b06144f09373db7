#!/bin/bash
# The Node's Ready condition follows NetworkReady: a CNI directory without a valid network makes it
# False with upstream's "container runtime network not ready" message; a valid one makes it True again.
# Runs a control plane of its own (master.sh on E2E_NR_* ports) and uses the integration tests' containerd.
# Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, KUBECTL, KUBE_APISERVER.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
command -v etcd >/dev/null || { echo "SKIP: no etcd (run tests/e2e/kube-build.sh)"; exit 77; }
MASTER=$(dirname "$0")/master.sh
MDIR=${E2E_NR_MASTER_DIR:-/tmp/cubelet-e2e-netready$TI_SUFFIX}
export E2E_APISERVER_PORT=${E2E_NR_APISERVER_PORT:-$((16463 + TI_PORT_OFFSET))}
export E2E_ETCD_PORT=${E2E_NR_ETCD_PORT:-$((24890 + TI_PORT_OFFSET))}
"$MASTER" stop "$MDIR" --purge >/dev/null 2>&1
"$MASTER" start "$MDIR" >/dev/null || { echo "not ok - control plane starts"; exit 1; }
trap '"$MASTER" stop "$MDIR" --purge >/dev/null 2>&1; cleanup_cgroups' EXIT
NODE=e2e-netready
export KUBECONFIG=$MDIR/admin.kubeconfig
"$MASTER" node-kubeconfig "$MDIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
ready() { "$KUBECTL" --request-timeout=10s get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null; }
source "$CTD_DIR/instance.env"
N="$WORK/net.d"
mkdir -p "$N" "$WORK/m"
echo '{"cniVersion": "1.0.0", "name": "broken", "plugins": [{"type": "no-such-plugin"}]}' >"$N/10-net.conflist"

start_cubelet "$WORK/m" --kubeconfig "$WORK/node.kubeconfig" --cni-conf-dir "$N" --cni-bin-dir "$CUBELET_CNI_BIN_DIR"
not_ready() { ready | grep -q '^False|.*container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: .*no-such-plugin'; }
check "no valid network -> Node Ready False with upstream's message" wait_for 40 not_ready
cp "$CUBELET_CNI_CONF_DIR"/*.conflist "$N/10-net.conflist"
is_ready() { ready | grep -q '^True|'; }
check "valid network -> Node Ready True" wait_for 40 is_ready
check "cubelet exits cleanly" stop_cubelet
finish

#!/bin/bash
# master.sh itself: a second instance on other ports, idempotent start, restart on kept state, and a stop
# that leaves no process behind.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
skip_unless_binaries

source "$(dirname "${BASH_SOURCE[0]}")/../instance.sh"
export E2E_APISERVER_PORT=${LIFECYCLE_APISERVER_PORT:-$((16543 + TI_PORT_OFFSET))}
export E2E_ETCD_PORT=${LIFECYCLE_ETCD_PORT:-$((23890 + TI_PORT_OFFSET))}
dir=$WORK/master
no_leftovers() { ! pgrep -f -- "$dir/" >/dev/null; }
no_pid_files() { [ ! -e "$dir/etcd.pid" ] && [ ! -e "$dir/apiserver.pid" ]; }
readyz_ok() { [ "$("$KUBECTL" --kubeconfig "$dir/admin.kubeconfig" get --raw /readyz)" = ok ]; }
pids() { cat "$dir/etcd.pid" "$dir/apiserver.pid" 2>/dev/null | tr '\n' ' '; }
cleanup() { "$MASTER" stop "$dir" --purge 2>/dev/null; }
trap cleanup EXIT

out=$("$MASTER" start "$dir" 2>"$WORK/start.err")
check "start prints the admin kubeconfig path" [ "$out" = "$dir/admin.kubeconfig" ]
check "start is silent on stderr" [ ! -s "$WORK/start.err" ]
check "readyz on port $E2E_APISERVER_PORT" readyz_ok
etcd_on_loopback() { ss -Hltn "sport = :$E2E_ETCD_PORT" | grep -q "127.0.0.1:$E2E_ETCD_PORT"; }
check "etcd listens on 127.0.0.1:$E2E_ETCD_PORT" etcd_on_loopback
first=$(pids)
ca=$(sha256sum <"$dir/pki/ca.crt")
stamps() { stat -c '%n %y' "$dir/admin.kubeconfig" "$dir/pki/ca.crt" "$dir/pki/apiserver.crt"; }
made=$(stamps)

out=$("$MASTER" start "$dir")
check "a second start returns the same path" [ "$out" = "$dir/admin.kubeconfig" ]
check "a second start keeps the same processes" [ "$(pids)" = "$first" ]
# It reuses what runs (no timing: a loaded machine makes any bound flaky): nothing is written again.
check "a second start rewrites neither the kubeconfig nor the certificates" [ "$(stamps)" = "$made" ]

"$MASTER" stop "$dir"
check "stop leaves no process behind" no_leftovers
check "stop removes the pid files" no_pid_files
check "stop without --purge keeps DIR" [ -s "$dir/pki/ca.key" ]
check "stop twice is fine" "$MASTER" stop "$dir"

start_quiet() { "$MASTER" start "$dir" >/dev/null; }
check "restart on the kept state" start_quiet
check "restart keeps the CA" [ "$(sha256sum <"$dir/pki/ca.crt")" = "$ca" ]
check "readyz after restart" readyz_ok

"$MASTER" stop "$dir" --purge
check "stop --purge removes DIR" [ ! -e "$dir" ]
check "stop --purge leaves no process behind" no_leftovers

finish

#!/bin/bash
# cubelet-cri (installed as crictl too) against a real containerd: every command, its output and its exit
# status, and its errors. This build's own binary (CRI_CLI): the other tests look through TEST_CRI, which in
# the sanitizer build is the plain build's (tests/CMakeLists.txt), so this is where the sanitizers see it.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
CLI=${CRI_CLI:?}
M="$WORK/manifests"
mkdir -p "$M"
IMG=cubelet.local/busybox:1.35
cli() { "$CLI" -r "unix://$SOCK" "$@"; }
# run NAME COMMAND...: the command's stdout, stderr and status in $WORK/NAME.{out,err,rc}.
run() {
  local n=$1 rc=0; shift
  "$@" >"$WORK/$n.out" 2>"$WORK/$n.err" || rc=$?
  echo "$rc" >"$WORK/$n.rc"
}
rc_is() { [ "$(cat "$WORK/$1.rc")" = "$2" ] || { echo "#   $1: status $(cat "$WORK/$1.rc"), not $2"; false; }; }
out_has() { grep -Eq -- "$2" "$WORK/$1.out" || { echo "#   $1: no line like '$2' in:"; sed 's/^/#     /' "$WORK/$1.out"; false; }; }
err_has() { grep -Eq -- "$2" "$WORK/$1.err" || { echo "#   $1: no '$2' on stderr:"; sed 's/^/#     /' "$WORK/$1.err"; false; }; }
# says NAME STATUS PATTERN: NAME ended with STATUS and said PATTERN on stderr.
says() { rc_is "$1" "$2" && err_has "$1" "$3"; }

# --- usage and arguments
run help cli --help
check "--help: the usage on stdout, status 0" sh -c "grep -q '^Usage: cubelet-cri' '$WORK/help.out' && [ \$(cat '$WORK/help.rc') = 0 ]"
run none "$CLI"
check "no command: the usage on stderr, status 2" sh -c "grep -q '^Usage:' '$WORK/none.err' && [ \$(cat '$WORK/none.rc') = 2 ]"
run bogus cli frobnicate
check "an unknown command: status 2" rc_is bogus 2
run noarg cli inspect
check "inspect without an ID: status 2" rc_is noarg 2
run badep "$CLI" -r "tcp://127.0.0.1:1" version
check "an endpoint that is not unix://: refused, status 1" rc_is badep 1
check "... saying so" err_has badep 'invalid endpoint tcp://127.0.0.1:1'
run dead "$CLI" -r "unix://$WORK/no.sock" -t 2000 version
check "a dead socket: status 1 with the call's error" says dead 1 '^cubelet-cri: version: '

# --- the runtime
run version cli version
check "version: containerd, CRI v1" sh -c "[ \$(cat '$WORK/version.rc') = 0 ] &&
  grep -qx 'RuntimeName:	containerd' '$WORK/version.out' && grep -qx 'RuntimeApiVersion:	v1' '$WORK/version.out'"
run info cli info
check "info: JSON with the runtime's conditions (RuntimeReady true, NetworkReady)" sh -c "[ \$(cat '$WORK/info.rc') = 0 ] &&
  jq -e '[.status.conditions[] | select(.status) | .type] | index(\"RuntimeReady\") != null' '$WORK/info.out' >/dev/null &&
  jq -e '[.status.conditions[].type] | index(\"NetworkReady\") != null' '$WORK/info.out' >/dev/null"
check "info: the runtime's verbose config too" sh -c "jq -e '.config.containerd' '$WORK/info.out' >/dev/null"
check "info: a value the runtime gives as a bare string (lastCNILoadStatus) is a JSON string" \
  sh -c "jq -e '.lastCNILoadStatus | type == \"string\"' '$WORK/info.out' >/dev/null"

# --- images
run img cli inspecti "$IMG"
check "inspecti: the image's ID, size and tag" sh -c "[ \$(cat '$WORK/img.rc') = 0 ] &&
  grep -Eq '^id	sha256:[0-9a-f]{64}$' '$WORK/img.out' && grep -Eq '^size	[1-9][0-9]*$' '$WORK/img.out' &&
  grep -qx 'repoTag	$IMG' '$WORK/img.out'"
run noimg cli inspecti no.such/image:1
check "inspecti of an absent image: status 1 (kubeadm's ImageExists)" rc_is noimg 1
check "... saying so" err_has noimg 'no such image "no.such/image:1" present'
# A registry nobody listens on: the pull fails at once, without leaving the machine.
run pull cli -t 20000 pull 127.0.0.1:1/none:1
check "pull from a dead registry: status 1 with the runtime's error" says pull 1 '^cubelet-cri: pull image: '

# --- a bare sandbox: runp, pods, stopp, rmp; events heard meanwhile
"$CLI" -r "unix://$SOCK" events >"$WORK/events.out" 2>"$WORK/events.err" & # not through cli(): $! is the tool itself
EV=$!
check "events: subscribed, said on stderr" wait_for 30 grep -qx 'cubelet-cri: events: subscribed' "$WORK/events.err"
# and one whose output cannot be written (a full device; a reader gone is the same to it)
"$CLI" -r "unix://$SOCK" events >/dev/full 2>"$WORK/evfull.err" &
EVF=$!
check "events to /dev/full: subscribed" wait_for 30 grep -qx 'cubelet-cri: events: subscribed' "$WORK/evfull.err"
run runp cli runp cli-bare
SB=$(cat "$WORK/runp.out")
check "runp: a sandbox ID" sh -c "[ \$(cat '$WORK/runp.rc') = 0 ] && echo '$SB' | grep -Eqx '[0-9a-f]{64}'"
run pods cli pods
check "pods: the sandbox, ready, with its metadata and the default handler" \
  out_has pods "^${SB:0:13}	READY	default	cli-bare	0	cubelet-cri-runp-cli-bare	\\(default\\)\$"
check "pods: the header first" sh -c "head -1 '$WORK/pods.out' | grep -qx 'POD_ID	STATE	NAMESPACE	NAME	ATTEMPT	UID	RUNTIME'"
run podsq cli pods -q
check "pods -q: the full IDs only" sh -c "grep -qx '$SB' '$WORK/podsq.out' && ! grep -q POD_ID '$WORK/podsq.out'"
run badrt cli runp --runtime no-such-handler cli-bad
check "runp with an unknown runtime handler: status 1 with the runtime's error" \
  says badrt 1 '^cubelet-cri: run pod sandbox: .*no-such-handler'
run stopp cli stopp "$SB"
check "stopp: said, status 0" sh -c "[ \$(cat '$WORK/stopp.rc') = 0 ] && grep -qx 'Stopped sandbox $SB' '$WORK/stopp.out'"
check "... and the sandbox is not ready" sh -c "'$CLI' -r 'unix://$SOCK' pods | grep -q '^${SB:0:13}	NOTREADY	default	cli-bare	'"
run rmp cli rmp -f "$SB"
check "rmp -f: the ID, status 0" sh -c "[ \$(cat '$WORK/rmp.rc') = 0 ] && grep -qx '$SB' '$WORK/rmp.out'"
check "... and the sandbox is gone" sh -c "! '$CLI' -r 'unix://$SOCK' pods -q | grep -qx '$SB'"
# event KIND ID: a line of that kind for that container or sandbox
event() { grep -q "^$1	$2	" "$WORK/events.out"; }
check "events: the sandbox's creation" wait_for 30 event create "$SB"
check "events: its start, with its pid" wait_for 30 grep -Eq "^start	$SB	[1-9][0-9]*	0	0	[1-9][0-9]{18}\$" "$WORK/events.out"
check "events: its exit, with its status and the shim's exit time (not after it was heard)" \
  wait_for 30 sh -c "awk -F'\t' '\$1 == \"exit\" && \$2 == \"$SB\" && \$4 ~ /^[0-9]+\$/ && \$5 > 1e18 && \$5 <= \$6 { f = 1 } END { exit !f }' '$WORK/events.out'"
check "events: its removal" wait_for 30 event delete "$SB"
kill -TERM "$EV"
evrc=0; wait "$EV" || evrc=$?
check "events: SIGTERM ends it, status 0" test "$evrc" = 0
check "events to /dev/full: it ends by itself at its first event" wait_for 30 sh -c "! kill -0 $EVF 2>/dev/null"
evrc=0; wait "$EVF" || evrc=$?
check "... with status 1, saying why" sh -c "[ $evrc = 1 ] && grep -qx 'cubelet-cri: events: writing the output failed' '$WORK/evfull.err'"
run evbad "$CLI" -r "tcp://127.0.0.1:1" events
check "events on an endpoint that is not unix://: refused, status 1" says evbad 1 'events: tcp://127.0.0.1:1: Invalid argument'
run stopgone cli stopp 0123456789abcdef
check "stopp of an unknown sandbox: status 1 with the runtime's error" says stopgone 1 '^cubelet-cri: stop pod sandbox: '

# --- containers: ps and inspect, on a pod cubelet runs
cat >"$M/cli.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: cli}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
YAML
start_cubelet "$M" || not_ok "cubelet starts"
check "cubelet runs the pod" wait_for 60 is_running c "default/cli-$NODE"
CID=$(running_ids c "default/cli-$NODE" | head -1)
run ps cli ps
check "ps: the container, running, with its pod, pod UID and sandbox" \
  out_has ps "^$CID	RUNNING	c	0	default/cli-$NODE	[0-9a-f-]{32,36}	[0-9a-f]{13}\$"
check "ps: the header first" sh -c "head -1 '$WORK/ps.out' | grep -qx 'CONTAINER_ID	STATE	NAME	ATTEMPT	POD	POD_UID	POD_ID'"
run inspect cli inspect "$CID"
check "inspect: ID, name, state, image, log path, times" sh -c "[ \$(cat '$WORK/inspect.rc') = 0 ] &&
  grep -qx 'id	$CID' '$WORK/inspect.out' && grep -qx 'name	c' '$WORK/inspect.out' &&
  grep -qx 'state	RUNNING' '$WORK/inspect.out' && grep -qx 'image	$IMG' '$WORK/inspect.out' &&
  grep -q '^logPath	$WORK/logs/' '$WORK/inspect.out' && grep -Eq '^startedAt	[1-9][0-9]+$' '$WORK/inspect.out' &&
  grep -qx 'finishedAt	0' '$WORK/inspect.out'"
check "inspect: the container's annotations" out_has inspect '^annotation	io\.kubernetes\.container\.'
run inspectgone cli inspect 0123456789abcdef
check "inspect of an unknown container: status 1 with the runtime's error" says inspectgone 1 '^cubelet-cri: container status: '
rm -f "$M/cli.yaml"
check "the pod goes" wait_for 60 is_gone c "default/cli-$NODE"
run psa cli ps -a
check "ps -a: nothing of the pod left, the header still" sh -c "! grep -q 'default/cli-$NODE' '$WORK/psa.out' &&
  head -1 '$WORK/psa.out' | grep -q '^CONTAINER_ID'"

check "cubelet exits cleanly" stop_cubelet
finish

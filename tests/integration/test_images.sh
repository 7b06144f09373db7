#!/bin/bash
# Image pulls as upstream's image manager does them, against a real registry (Debian's docker-registry with
# htpasswd authentication, over plain HTTP through containerd's hosts.toml) and a real containerd: a
# reference that does not parse is InvalidImageName and never reaches the runtime; a pull the registry
# refuses is ErrImagePull with the runtime's words; the node's credentials (config.json in the root
# directory) are used, each matching one in turn, most specific first; no credential ever reaches the log.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
source "$(dirname "$0")/registry.sh"
M="$WORK/manifests"
mkdir -p "$M"
trap 'registry_stop; cleanup_cgroups' EXIT
registry_start private/busybox:1.35
PW_BAD="wrong-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

cat >"$M/private.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: private}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
YAML
cat >"$M/badref.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: badref}
spec:
  containers:
  - {name: c, image: "cubelet.local/BusyBox:1.35", imagePullPolicy: IfNotPresent}
YAML
# -v 2: a repeated event (the same Pulling) is logged with its count.
start_cubelet "$M" -v 2
waiting() { status_is "$1" '.containerStatuses[0].state.waiting.reason' "$2"; }
check "a reference that does not parse: InvalidImageName" wait_for 30 waiting badref InvalidImageName
check "... with upstream's message" status_is badref '.containerStatuses[0].state.waiting.message' \
  'Failed to apply default image tag "cubelet.local/BusyBox:1.35": couldn'"'"'t parse image reference "cubelet.local/BusyBox:1.35": invalid reference format: repository name must be lowercase'
check "... and an InspectFailed event" log_has 'reason="InspectFailed" message="Failed to apply default image tag'
# The pull fails: ErrImagePull (for a second: the next sync is inside the back-off), with the runtime's
# words in the Failed event; then ImagePullBackOff until the back-off (10 s, then 20 s) has passed.
check "without credentials the registry refuses the pull: ErrImagePull" wait_for 60 log_has 'reason="ErrImagePull"'
check "... a Failed event with the runtime's words" log_has \
  "reason=\"Failed\" message=\"Failed to pull image \\\\\"$IMAGE\\\\\": rpc error: code = .*401 Unauthorized"
check "later syncs inside the back-off: ImagePullBackOff" wait_for 30 waiting private ImagePullBackOff
check "... with upstream's message" status_is private '.containerStatuses[0].state.waiting.message' \
  "Back-off pulling image \"$IMAGE\""
check "... and a BackOff event" log_has "reason=\"BackOff\" message=\"Back-off pulling image \\\\\"$IMAGE\\\\\"\""
# When each pull was tried, from cubelet's log (klog's hh:mm:ss.uuuuuu): 10 s, then 20 s apart.
pulls_at() { grep "reason=\"Pulling\" message=\"Pulling image \\\\\"$IMAGE" "$WORK/cubelet.log" |
  awk '{ split($2, t, ":"); printf "%.1f\n", t[1] * 3600 + t[2] * 60 + t[3] }'; }
three_pulls() { [ "$(pulls_at | wc -l)" -ge 3 ]; }
check "the pull is tried again after each back-off" wait_for 60 three_pulls
gaps=$(pulls_at | head -3 | awk 'NR > 1 { d = $1 - p; if (d < -43200) d += 86400; printf "%s%.1f", (NR > 2 ? " " : ""), d } { p = $1 }')
echo "# gaps between pulls: $gaps s"
check "... 10 s, then 20 s apart (a busy machine gets 5 s more)" sh -c \
  "echo '$gaps' | awk '{ exit !(\$1 >= 9.5 && \$1 < 15 && \$2 >= 19.5 && \$2 < 25) }'"
check "cubelet exits cleanly" stop_cubelet

# The node's credentials: config.json in the root directory, first in upstream's search order. Two entries
# match; the more specific one (with the path) is tried first and is wrong, then the registry's own.
b64() { printf '%s' "$1" | base64 -w0; }
cat >"$WORK/root/config.json" <<JSON
{"auths": {
  "$REG/private": {"auth": "$(b64 "$REG_USER:$PW_BAD")"},
  "http://$REG/v2/": {"username": "$REG_USER", "password": "$REG_PW"},
  "other.example.com": {"username": "x", "password": "y"}
}}
JSON
start_cubelet "$M"
check "with the node's credentials the private image is pulled and runs" wait_for 60 is_running c "default/private-$NODE"
check "... the wrong credential was tried first and refused by the registry" grep -q 'authentication failure' "$WORK/registry.log"
check "... the pull event, the time as Go prints a duration" log_has \
  "reason=\"Pulled\" message=\"Successfully pulled image \\\\\"$IMAGE\\\\\" in [0-9][0-9.]*m\\?s\""
check "no password or auth string in cubelet's log" sh -c \
  "! grep -qF -e '$REG_PW' -e '$PW_BAD' -e '$(b64 "$REG_USER:$PW_BAD")' '$WORK/cubelet.log'"

rm -f "$M"/*
both_gone() { is_gone c "default/private-$NODE" && is_gone c "default/badref-$NODE"; }
check "pods removed" wait_for 30 both_gone
check "cubelet exits cleanly at the end" stop_cubelet
registry_stop
finish

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
start_cubelet "$M"
waiting() { status_is "$1" '.containerStatuses[0].state.waiting.reason' "$2"; }
check "a reference that does not parse: InvalidImageName" wait_for 30 waiting badref InvalidImageName
check "... with upstream's message" status_is badref '.containerStatuses[0].state.waiting.message' \
  'Failed to apply default image tag "cubelet.local/BusyBox:1.35": couldn'"'"'t parse image reference "cubelet.local/BusyBox:1.35": invalid reference format: repository name must be lowercase'
check "... and an InspectFailed event" log_has 'reason="InspectFailed" message="Failed to apply default image tag'
check "without credentials the registry refuses the pull: ErrImagePull" wait_for 60 waiting private ErrImagePull
check "... with the runtime's words in the message" sh -c \
  "curl -sf http://127.0.0.1:$RO_PORT/pods | jq -r '.items[] | select(.metadata.name == \"private-$NODE\") | .status.containerStatuses[0].state.waiting.message' |
   grep -q '^Failed to pull image \"$IMAGE\": .*401 Unauthorized'"
check "... and a Failed event" log_has "reason=\"Failed\" message=\"Failed to pull image \\\\\"$IMAGE\\\\\""
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
check "... the pull event" log_has "reason=\"Pulled\" message=\"Successfully pulled image \\\\\"$IMAGE\\\\\" in "
check "no password or auth string in cubelet's log" sh -c \
  "! grep -qF -e '$REG_PW' -e '$PW_BAD' -e '$(b64 "$REG_USER:$PW_BAD")' '$WORK/cubelet.log'"

rm -f "$M"/*
both_gone() { is_gone c "default/private-$NODE" && is_gone c "default/badref-$NODE"; }
check "pods removed" wait_for 30 both_gone
check "cubelet exits cleanly at the end" stop_cubelet
registry_stop
finish

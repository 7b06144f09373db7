#!/bin/bash
# Image pulls never hold a pod worker (#13): with one pod worker, a pod whose image is present starts while
# other pods' slow pulls run (a proxy in front of the registry makes each blob wait); two pods wanting the
# same image share one pull; serializeImagePulls (the default) runs one pull at a time, and
# --serialize-image-pulls=false runs them side by side.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
source "$(dirname "$0")/registry.sh"
M="$WORK/manifests"
mkdir -p "$M"
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; registry_stop; cleanup_cgroups' EXIT
registry_start private/busybox:1.35
for n in a b c d; do
  skopeo copy -q --dest-tls-verify=false --dest-creds "$REG_USER:$REG_PW" "oci-archive:$IMAGES_DIR/busybox.tar" \
    "docker://$REG/slow/$n:1" || not_ok "push slow/$n"
done
PROXY_PORT=$((HEALTHZ_PORT + 7))
PROXY=127.0.0.1:$PROXY_PORT
DELAY=8
python3 "$(dirname "$0")/../helpers/slow_proxy.py" "$PROXY_PORT" "$REG" "$DELAY" "$WORK/proxy.log" &
PROXY_PID=$!
mkdir -p "$CTD_DIR/certs.d/$PROXY"
printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$PROXY" "$PROXY" \
  >"$CTD_DIR/certs.d/$PROXY/hosts.toml"
proxy_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY/v2/")" = 401 ]; }
check "the slow proxy answers" wait_for 30 proxy_up
forget() { local n; for n in a b c d; do ctr --address "$SOCK" -n k8s.io images rm "$PROXY/slow/$n:1" >/dev/null 2>&1; done; true; }
forget
mkdir -p "$WORK/root"
printf '{"auths": {"%s": {"username": "%s", "password": "%s"}}}\n' "$PROXY" "$REG_USER" "$REG_PW" >"$WORK/root/config.json"

pod() { # pod NAME IMAGE
  cat >"$M/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $2, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
}
pod slow-a1 "$PROXY/slow/a:1"
pod slow-a2 "$PROXY/slow/a:1"
pod slow-b "$PROXY/slow/b:1"
pod present cubelet.local/busybox:1.35
start_cubelet "$M" --pod-workers 1
check "one pod worker: the pod whose image is present runs while the slow pulls go on" wait_for 20 \
  is_running c "default/present-$NODE"
check "... before any slow pull has ended (each manifest and blob waits ${DELAY} s)" sh -c \
  "! grep -q ' /v2/slow/[ab]/manifests/[^ ]* 200\$' '$WORK/proxy.log' 2>/dev/null"
slow_running() { is_running c "default/slow-a1-$NODE" && is_running c "default/slow-a2-$NODE" && is_running c "default/slow-b-$NODE"; }
check "the slow pods run once their images are pulled" wait_for 120 slow_running
manifests() { grep -c " /v2/slow/$1/manifests/[^ ]* 200\$" "$WORK/proxy.log"; }
echo "# manifest requests: slow/a $(manifests a), slow/b $(manifests b)"
check "two pods wanting slow/a:1 share one pull (as many manifest requests as slow/b's one pull)" \
  [ "$(manifests a)" = "$(manifests b)" ]
check "... each pod got its Pulling event" sh -c \
  "grep 'reason=\"Pulling\"' '$WORK/cubelet.log' | grep -c 'slow-a[12]-$NODE' | grep -qx 2"
# span N: the first start and last end of a pull's slow requests (proxy log: start end method path status).
span() { awk -v p=" /v2/slow/$1/" 'index($0, p) && $5 == 200 { if (!s || $1 < s) s = $1; if ($2 > e) e = $2 } END { print s, e }' "$WORK/proxy.log"; }
# spans X Y CONDITION: both pulls were seen, and CONDITION (awk, over s1 e1 s2 e2) holds.
spans() {
  read -r s1 e1 <<<"$(span "$1")"; read -r s2 e2 <<<"$(span "$2")"
  echo "# slow/$1: $s1..$e1, slow/$2: $s2..$e2"
  awk -v s1="$s1" -v e1="$e1" -v s2="$s2" -v e2="$e2" "BEGIN { exit !(s1 && s2 && ($3)) }"
}
apart() { spans "$1" "$2" 'e1 <= s2 || e2 <= s1'; }
overlap() { spans "$1" "$2" 's1 < e2 && s2 < e1'; }
check "serializeImagePulls (default): one pull at a time (slow/a and slow/b never overlap)" apart a b
check "cubelet exits cleanly" stop_cubelet
rm -f "$M"/*

pod slow-c "$PROXY/slow/c:1"
pod slow-d "$PROXY/slow/d:1"
start_cubelet "$M" --pod-workers 1 --serialize-image-pulls false
both() { is_running c "default/slow-c-$NODE" && is_running c "default/slow-d-$NODE"; }
check "--serialize-image-pulls=false: both slow pods run" wait_for 120 both
check "... their pulls ran side by side (slow/c and slow/d overlap)" overlap c d
rm -f "$M"/*
gone() { for p in slow-a1 slow-a2 slow-b present slow-c slow-d; do is_gone c "default/$p-$NODE" || return 1; done; }
check "pods removed" wait_for 60 gone
check "cubelet exits cleanly at the end" stop_cubelet
forget
rm -rf "$CTD_DIR/certs.d/$PROXY"
finish

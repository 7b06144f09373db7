# A private registry for pull tests (source it after lib.sh): Debian's docker-registry with htpasswd
# authentication on a port of the test's own, the busybox test image pushed into it with skopeo, and
# containerd told (through its hosts directory, packaging/containerd: certs.d) to reach it over plain HTTP.
# Sets REG (host:port), IMAGE, REG_USER, REG_PW; registry_stop undoes it all. Needs IMAGES_DIR.
REG_PORT=$((HEALTHZ_PORT + 6))
REG=127.0.0.1:$REG_PORT
REG_USER=puller
REG_PW="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
REG_PID=""

registry_start() { # registry_start IMAGE_PATH (e.g. private/busybox:1.35): sets IMAGE
  local tool
  for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (packaging/install-deps.sh installs it)"; exit 77; }
  done
  IMAGE=$REG/$1
  # bcrypt, as htpasswd wants it, from Python's crypt (no apache2-utils needed).
  python3 - "$REG_USER" "$REG_PW" >"$WORK/htpasswd" 2>/dev/null <<'PY'
import crypt, sys
print(f"{sys.argv[1]}:{crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH))}")
PY
  cat >"$WORK/registry.yml" <<YAML
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: $REG}
auth: {htpasswd: {realm: cubelet-test, path: $WORK/htpasswd}}
YAML
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  check "the registry runs and asks for credentials" wait_for 30 registry_asks
  check "the test image is pushed with skopeo" skopeo copy -q --dest-tls-verify=false \
    --dest-creds "$REG_USER:$REG_PW" "oci-archive:$IMAGES_DIR/busybox.tar" "docker://$IMAGE"
  mkdir -p "$CTD_DIR/certs.d/$REG"
  cat >"$CTD_DIR/certs.d/$REG/hosts.toml" <<TOML
server = "http://$REG"
[host."http://$REG"]
  capabilities = ["pull", "resolve"]
TOML
  registry_forget_image
}
registry_asks() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/")" = 401 ]; }
registry_forget_image() { ctr --address "$SOCK" -n k8s.io images rm "$IMAGE" >/dev/null 2>&1; true; }
registry_stop() {
  [ -n "$REG_PID" ] || return 0
  kill "$REG_PID" 2>/dev/null
  wait "$REG_PID" 2>/dev/null
  REG_PID=""
  registry_forget_image
  rm -rf "$CTD_DIR/certs.d/$REG"
}

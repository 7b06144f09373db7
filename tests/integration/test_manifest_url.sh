#!/bin/bash
# The manifest URL source (--manifest-url) against a real containerd and a local HTTP server: pods start, a
# changed document replaces them, a broken document, a 404 or an unreachable server keep them (one clear
# log line each), headers reach the server, a PodList gives two pods, an empty body removes them, and a
# restarted cubelet kills nothing before the URL has been read.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests" WWW="$WORK/www"
mkdir -p "$M" "$WWW"
IMG=cubelet.local/busybox:1.35

# A file server that records each request's path and headers (JSON lines) and writes its port to a file.
cat >"$WORK/server.py" <<'PY'
import functools, http.server, json, sys
www, reqlog, portfile, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with open(reqlog, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": list(self.headers.items())}) + "\n")
        super().do_GET()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(H, directory=www))
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os; os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
SERVER_PID=""
start_server() { # start_server PORT (0: any)
  rm -f "$WORK/port"
  python3 "$WORK/server.py" "$WWW" "$WORK/requests" "$WORK/port" "$1" &
  SERVER_PID=$!
  wait_for 30 test -s "$WORK/port"
}
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }
trap 'stop_server; cleanup_cgroups' EXIT
requests() { grep -c . "$WORK/requests" 2>/dev/null || echo 0; }
# more_requests N: the server has been asked at least twice since there were N requests.
more_requests() { [ "$(requests)" -ge $(($1 + 2)) ]; }

# pod NAME SCRIPT: one container whose shell exits on SIGTERM. Served documents change at once (lib.sh put):
# the server can read a file between its truncation and its write, and an empty body removes the URL's pods,
# as upstream (a hogged sanitizer run saw the pod replaced so).
pod() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; $2"]
YAML
}
forever='while true; do sleep 0.2; done'
replaced() { local id; id=$(running_ids c "$1"); [ -n "$id" ] && [ "$id" != "$2" ]; }
warnings() { grep -c "^W.*Failed to read pods from URL.*$1" "$WORK/cubelet.log"; }
repeats() { grep -c "^I.*Failed to read pods from URL.*$1" "$WORK/cubelet.log"; }

pod uweb "$forever" | put "$WWW/pods.yaml"
start_server 0
PORT=$(cat "$WORK/port")
URL="http://127.0.0.1:$PORT/pods.yaml"
FLAGS=(--manifest-url "$URL" --manifest-url-header 'X-Token: abc,x-multi:1' --manifest-url-header 'X-Multi:2'
  --http-check-frequency 1s -v 4)
start_cubelet "$M" "${FLAGS[@]}"

# --- the document's pod runs, with upstream's static-pod identity for source "http"
check "URL manifest -> container running" wait_for 30 is_running c default/uweb-$NODE
meta() { curl -sf "http://127.0.0.1:$RO_PORT/pods" | jq -r --arg n "$1-$NODE" ".items[] | select(.metadata.name == \$n) | .metadata | $2"; }
check "config.source is http" test "$(meta uweb '.annotations["kubernetes.io/config.source"]')" = http
check "config.hash is the UID" test "$(meta uweb '.annotations["kubernetes.io/config.hash"]')" = "$(meta uweb .uid)"
check "sources ready once the URL was read" wait_for 30 log_has '"All pod sources are ready"'
headers_sent() {
  jq -e -s '.[-1].headers | (map(select(.[0] == "X-Token")) == [["X-Token", "abc"]]) and
    (map(select(.[0] == "X-Multi") | .[1]) == ["1", "2"])' "$WORK/requests" >/dev/null
}
check "headers reach the server (canonical names, repeated names in order)" headers_sent

# --- a changed document replaces the pod
old=$(running_ids c default/uweb-$NODE)
olduid=$(meta uweb .uid)
pod uweb "echo v2; $forever" | put "$WWW/pods.yaml"
check "changed document -> pod replaced" wait_for 30 replaced default/uweb-$NODE "$old"
check "... under a new UID" test "$(meta uweb .uid)" != "$olduid"
check "... the old container is gone" wait_for 15 sh -c "! '$CUBELET_CRI' -r 'unix://$SOCK' ps -a | grep -q '^$old'"

# --- broken: pods kept, one clear log line (the repeats only at -v 4)
id=$(running_ids c default/uweb-$NODE)
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: uweb}\nspec:\n  containers:\n  - name: c\n    image: [oops\n' |
  put "$WWW/pods.yaml"
check "broken document reported with the URL and the line" wait_for 30 log_has \
  "Failed to read pods from URL\" url=\"$URL\" err=\"$URL: line"
n=$(requests)
check "... read again" wait_for 30 more_requests "$n"
check "... logged once as a warning" test "$(warnings 'err=.*line')" = 1
check "... and the pod keeps running" test "$(running_ids c default/uweb-$NODE)" = "$id"

pod uweb "echo v2; $forever" | put "$WWW/pods.yaml"
check "fixed document -> \"Successfully read pods from URL\"" wait_for 30 log_has '"Successfully read pods from URL"'
check "... same pod, nothing restarted" test "$(running_ids c default/uweb-$NODE)" = "$id"

# --- an HTTP error status: pods kept
rm "$WWW/pods.yaml"
check "404 reported as upstream words it" wait_for 30 log_has "err=\"$URL: 404 Not Found\""
n=$(requests)
check "... read again" wait_for 30 more_requests "$n"
check "... logged once" test "$(warnings '404 Not Found')" = 1
check "... and the pod keeps running" test "$(running_ids c default/uweb-$NODE)" = "$id"
pod uweb "echo v2; $forever" | put "$WWW/pods.yaml"
check "served again -> recovered" wait_for 30 sh -c "[ \$(grep -c '\"Successfully read pods from URL\"' '$WORK/cubelet.log') -ge 2 ]"

# --- unreachable: pods kept
stop_server
check "unreachable server reported" wait_for 30 log_has 'Failed to read pods from URL" url=".*" err="Get '
repeated() { [ "$(repeats 'err=.Get')" -ge 1 ]; }
check "... read again, repeats only at -v 4" wait_for 30 repeated
check "... logged once as a warning" test "$(warnings 'err=.Get')" = 1
check "... and the pod keeps running" test "$(running_ids c default/uweb-$NODE)" = "$id"

# --- a restarted cubelet with the URL unreachable kills nothing: the URL source has not spoken
check "cubelet exits cleanly" stop_cubelet
start_cubelet "$M" "${FLAGS[@]}"
gone_reads() { [ "$(warnings 'err=.Get')" -ge 2 ] && [ "$(repeats 'err=.Get')" -ge $(($1 + 2)) ]; }
check "restarted, URL still unreachable: read and failed three times" wait_for 15 gone_reads "$(repeats 'err=.Get')"
check "... sources not ready" test "$(grep -c '"All pod sources are ready"' "$WORK/cubelet.log")" = 1
check "... the pod was not killed as an orphan" test "$(running_ids c default/uweb-$NODE)" = "$id"
start_server "$PORT"
check "URL back -> sources ready" wait_for 15 sh -c "[ \$(grep -c '\"All pod sources are ready\"' '$WORK/cubelet.log') = 2 ]"
synced() { [ -n "$(meta uweb .uid)" ]; }
check "... the pod synced again" wait_for 15 synced
check "... the running pod adopted, not restarted" test "$(running_ids c default/uweb-$NODE)" = "$id"

# --- a PodList (JSON) with two pods; the first document's pod goes
cat >"$WWW/pods.tmp" <<JSON
{"apiVersion": "v1", "kind": "PodList", "items": [
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ua"}, "spec": {"terminationGracePeriodSeconds": 2,
  "containers": [{"name": "c", "image": "$IMG", "command": ["sh", "-c", "trap 'exit 0' TERM; $forever"]}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ub"}, "spec": {"terminationGracePeriodSeconds": 2,
  "containers": [{"name": "c", "image": "$IMG", "command": ["sh", "-c", "trap 'exit 0' TERM; $forever"]}]}}]}
JSON
mv "$WWW/pods.tmp" "$WWW/pods.yaml"
both() { is_running c default/ua-$NODE && is_running c default/ub-$NODE; }
check "PodList with two pods -> both run" wait_for 30 both
check "... the pod no longer listed is gone" wait_for 20 is_gone c default/uweb-$NODE

# --- an empty body: an empty set, as upstream (the pods go), reported
: >"$WWW/pods.yaml"
none() { is_gone c default/ua-$NODE && is_gone c default/ub-$NODE; }
check "empty body -> the URL's pods are stopped" wait_for 20 none
check "... reported" log_has "err=\"zero-length data received from $URL\""

check "cubelet exits cleanly at the end" stop_cubelet
stop_server
finish

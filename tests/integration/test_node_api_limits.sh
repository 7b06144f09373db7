#!/bin/bash
# The node server (10250) under hostile clients, standalone: a client certificate that does not verify is
# 401 even with anonymous requests allowed (never anonymous); numeric query parameters out of range are
# 400 and nothing crashes (the ASan build aborts on signed overflow); a body past the bound is 413; idle
# connections from one address are few and short-lived, and while hundreds are held the node API answers
# others within a second; shutdown with a request in flight is clean; a bearer token whose TokenReview
# fails (no API server) is 401, not anonymous.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
command -v python3 >/dev/null || { echo "SKIP: no python3 for the flood helper"; exit 77; }
FLOOD=$(dirname "$0")/flood.py
M="$WORK/manifests"
P="$WORK/pki"
mkdir -p "$M" "$P"
IMG=cubelet.local/busybox:1.35

# A client CA cubelet trusts, a user of it, and a certificate from a CA it does not trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=it-client-ca" -days 1 \
  -keyout "$P/ca.key" -out "$P/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=it-users/CN=alice" \
  -keyout "$P/alice.key" -out "$P/alice.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$P/ext"
openssl x509 -req -in "$P/alice.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -set_serial 0x$(openssl rand -hex 8) \
  -days 1 -extfile "$P/ext" -out "$P/alice.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=mallory" \
  -addext "extendedKeyUsage=clientAuth" -days 1 -keyout "$P/mallory.key" -out "$P/mallory.crt" 2>/dev/null

cat >"$M/talker.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, command: ["sh", "-c", "i=0; while true; do echo line \$i; i=\$((i+1)); sleep 0.2; done"]}
YAML
start_cubelet "$M" --anonymous-auth true --authorization-mode AlwaysAllow --client-ca-file "$P/ca.crt" -v 1
URL=https://127.0.0.1:$NODE_PORT
LOGS=$URL/containerLogs/default/talker-$NODE/c
code() { curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
code_is() { [ "$(code "${@:2}")" = "$1" ]; } # code_is STATUS CURL-ARGS...: asked anew at each try of wait_for
body_is() { # body_is WANT CURL-ARGS...: the answer's body holds WANT
  local want=$1; shift
  curl -sk --max-time 10 "$@" >"$WORK/body" 2>&1
  grep -qF -- "$want" "$WORK/body" || { echo "# got: $(head -c 300 "$WORK/body")"; return 1; }
}
alive() { kill -0 "$CUBELET_PID" 2>/dev/null && [ "$(code "$URL/healthz")" = 200 ]; }

check "the node server answers anonymous requests (anonymous enabled)" wait_for 10 code_is 200 "$URL/healthz"
check "a certificate from the trusted CA: 200" test "$(code --cert "$P/alice.crt" --key "$P/alice.key" "$URL/healthz")" = 200
check "a certificate from a CA cubelet does not trust: 401, not anonymous" \
  test "$(code --cert "$P/mallory.crt" --key "$P/mallory.key" "$URL/healthz")" = 401
check "... and said so in the log" wait_for 5 log_has 'Client certificate rejected'

check "the talker runs and logs" wait_for 30 sh -c "curl -sfk '$LOGS' | grep -q '^line 1$'"
check "sinceSeconds past int64 nanoseconds: 400 naming the range" \
  body_is 'sinceSeconds: expected an integer from 1 to 9223372036' "$LOGS?sinceSeconds=9223372037"
check "sinceSeconds=INT64_MAX: 400" test "$(code "$LOGS?sinceSeconds=9223372036854775807")" = 400
check "sinceSeconds past int64: 400" test "$(code "$LOGS?sinceSeconds=99999999999999999999")" = 400
check "sinceSeconds=-9223372036854775808: 400" test "$(code "$LOGS?sinceSeconds=-9223372036854775808")" = 400
check "the largest sinceSeconds: 200, every line" body_is 'line 0' "$LOGS?sinceSeconds=9223372036"
check "tailLines=-1: 400" body_is 'tailLines: expected an integer from 0' "$LOGS?tailLines=-1"
check "limitBytes=0: 400" body_is 'limitBytes: expected an integer from 1' "$LOGS?limitBytes=0"
check "sinceSeconds and sinceTime together: 400" \
  body_is 'at most one of sinceTime or sinceSeconds' "$LOGS?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z"
check "cubelet lives on" alive

head -c 100000 /dev/zero >"$WORK/big"
# With Expect: 100-continue, so that the 413 (sent before the body is read) is not lost to a reset when the
# server closes on the unread body.
check "a 100 kB body: 413" test "$(code -H 'Expect: 100-continue' -X POST --data-binary @"$WORK/big" "$URL/exec/default/talker-$NODE/c?command=true&output=1")" = 413
check "a small body is read and dropped: the request is answered (405 for POST /pods)" \
  test "$(code -X POST --data-binary 'x=1' "$URL/pods")" = 405
chunked() { curl -sk --max-time 10 -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -X POST \
  --data-binary @"$WORK/big" "$URL/exec/default/talker-$NODE/c?command=true&output=1"; }
chunked_refused() { local c; c=$(chunked); [[ $c != 2* ]] || { echo "# $c"; return 1; }; }
check "a chunked body past the bound: no 2xx (the connection is closed)" chunked_refused
check "cubelet lives on" alive

# 300 idle connections from 127.0.0.2 (held 14 s): 32 accepted, the rest closed at once; the accepted ones
# closed by the server after its 10 s idle timeout; meanwhile requests from 127.0.0.1 answer at once.
"$FLOOD" idle --port "$NODE_PORT" --src 127.0.0.2 -n 300 --hold 14 >"$WORK/idle.json" &
flood=$!
sleep 1
fast() { # fast CURL-ARGS...: 200 within a second
  local out; out=$(curl -sk -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$@")
  awk -v o="$out" 'BEGIN { split(o, f, " "); if (f[1] != 200 || f[2] >= 1.0) { print "# " o; exit 1 } }'
}
check "with 300 idle connections held: kubectl logs' request answers within a second" fast --cert "$P/alice.crt" --key "$P/alice.key" "$LOGS?tailLines=1"
check "... and an anonymous one too" fast "$URL/healthz"
wait "$flood"
idle_is() { jq -e "$1" "$WORK/idle.json" >/dev/null || { echo "# $(cat "$WORK/idle.json")"; return 1; }; }
check "... of 300 idle connections from one address, 268 closed at once" idle_is '.connected == 300 and .closed_fast == 268'
check "... and the other 32 after the idle timeout" idle_is '.closed_late == 32 and .open_at_end == 0'
check "... which the log names at -v 2 or below only (no flood of warnings)" sh -c "! grep -q 'W.*Connection refused' '$WORK/cubelet.log'"
check "cubelet lives on" alive

# Shutdown with a followed log in flight: the daemon stops before what it uses is freed (ASan: no error).
curl -skN --max-time 30 "$LOGS?follow=true" >"$WORK/follow.out" 2>&1 &
follower=$!
streams() { [ "$(wc -l <"$WORK/follow.out")" -ge 3 ]; }
check "a followed log streams" wait_for 10 streams
check "cubelet stops cleanly with a followed log open" stop_cubelet
check "... and the follower's stream ends" wait_for 10 sh -c "! kill -0 $follower 2>/dev/null"
wait "$follower" 2>/dev/null
rm -f "$M"/*
start_cubelet "$M"
check "the talker is removed once its manifest is" wait_for 30 is_gone c "default/talker-$NODE"
check "cubelet stops cleanly" stop_cubelet
# An API server that is not there: TokenReview fails, and that is 401, never anonymous.
cat >"$WORK/dead.kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: dead
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: some-token}}]
contexts: [{name: dead, context: {cluster: c, user: u}}]
YAML
start_cubelet "$M" --kubeconfig "$WORK/dead.kubeconfig" --anonymous-auth true --authorization-mode AlwaysAllow
check "no API server: a request without credentials is anonymous (200)" wait_for 10 code_is 200 "$URL/healthz"
check "... a bearer token, whose TokenReview fails: 401, not anonymous" \
  test "$(code -H 'Authorization: Bearer some-token' "$URL/healthz")" = 401
check "... and the failure is logged" wait_for 5 log_has 'TokenReview failed'
check "cubelet stops cleanly" stop_cubelet
finish

#!/bin/bash
# A real Kubernetes control plane for the e2e tests: etcd and kube-apiserver on 127.0.0.1 only, with a
# private CA and certificates made by openssl. No controller-manager or scheduler runs. Bootstrap tokens
# (Secrets in kube-system) authenticate, as kubeadm's clusters do.
#   master.sh start DIR                            prints DIR/admin.kubeconfig
#   master.sh stop DIR [--purge]
#   master.sh stop-apiserver DIR                  only the API server (outage tests; start brings it back)
#   master.sh node-kubeconfig DIR NODE OUT [--embed]   client cert system:node:NODE (or E2E_KUBECONFIG_EMBED=1)
#   master.sh node-serving-cert DIR NODE CERT KEY      a kubelet serving cert the apiserver will trust
# Env: E2E_APISERVER_PORT (16443), E2E_ETCD_PORT (23790), both moved by the test instance (tests/instance.sh), E2E_ETCD_PEER_PORT (etcd port + 10),
#      KUBE_APISERVER (default: the binary cached by kube-build.sh), ETCD (default: etcd in PATH).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../instance.sh"

API_PORT=${E2E_APISERVER_PORT:-$((16443 + TI_PORT_OFFSET))}
ETCD_PORT=${E2E_ETCD_PORT:-$((23790 + TI_PORT_OFFSET))}
ETCD_PEER_PORT=${E2E_ETCD_PEER_PORT:-$((ETCD_PORT + 10))}
KUBE_APISERVER=${KUBE_APISERVER:-/var/cache/cubelet-e2e/kubernetes-1.20.2/kube-apiserver}
ETCD=${ETCD:-etcd}
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1 # the first address of SERVICE_CIDR: the kubernetes Service
READY_TIMEOUT=${E2E_READY_TIMEOUT:-60}
# Bumped whenever the API server's flags change, so that a running instance with older ones is restarted.
# 2: --enable-bootstrap-token-auth (TLS bootstrap tests: bootstrap token Secrets in kube-system).
APISERVER_FLAGS_VERSION=2

die() { echo "master.sh: $*" >&2; exit 1; }
usage() {
  echo "usage: master.sh start DIR | stop DIR [--purge] | node-kubeconfig DIR NODE OUT [--embed]" \
    "| node-serving-cert DIR NODE CERT KEY" >&2
  exit 2
}

# ossl ARGS...: openssl, quiet unless it fails.
ossl() {
  local out
  out=$(openssl "$@" 2>&1) || { echo "$out" >&2; die "openssl $1 failed"; }
}

newkey() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; chmod 600 "$1"; }

# issue PKI NAME SUBJECT EXTENSIONS: NAME.key and NAME.crt signed by the CA, unless both exist already.
issue() {
  local pki=$1 name=$2 subj=$3 ext=$4
  [ -s "$pki/$name.crt" ] && [ -s "$pki/$name.key" ] && return 0
  newkey "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
  printf '%b\n' "$ext" >"$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt.tmp"
  mv -f "$pki/$name.crt.tmp" "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

CLIENT_EXT='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
SERVER_EXT='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth'

make_pki() {
  local pki=$1
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -s "$pki/ca.crt" ] || [ ! -s "$pki/ca.key" ]; then
    rm -f "$pki"/*.crt "$pki"/*.key
    newkey "$pki/ca.key"
    ossl req -x509 -new -key "$pki/ca.key" -subj "/CN=cubelet-e2e-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/ca.crt"
  fi
  issue "$pki" apiserver "/CN=kube-apiserver" \
    "$SERVER_EXT\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$SERVICE_IP"
  issue "$pki" admin "/O=system:masters/CN=admin" "$CLIENT_EXT"
  issue "$pki" apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$CLIENT_EXT"
  if [ ! -s "$pki/sa.key" ] || [ ! -s "$pki/sa.pub" ]; then
    newkey "$pki/sa.key"
    ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
  fi
}

# write_kubeconfig OUT USER CA CERT KEY EMBED: a kubeconfig for this DIR's apiserver. Once started, the
# instance's address comes from DIR/admin.kubeconfig, so node credentials need no port in the env.
write_kubeconfig() {
  local out=$1 user=$2 ca=$3 cert=$4 key=$5 embed=$6 tmp server="https://127.0.0.1:$API_PORT"
  if [ "$user" != admin ] && [ -s "$dir/admin.kubeconfig" ]; then
    server=$(awk '$1 == "server:" { print $2; exit }' "$dir/admin.kubeconfig")
  fi
  tmp=$(mktemp "$out.XXXXXX")
  chmod 600 "$tmp"
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters:"
    echo "- name: cubelet-e2e"
    echo "  cluster:"
    echo "    server: $server"
    if [ "$embed" = 1 ]; then
      echo "    certificate-authority-data: $(base64 -w0 "$ca")"
    else
      echo "    certificate-authority: $ca"
    fi
    echo "users:"
    echo "- name: $user"
    echo "  user:"
    if [ "$embed" = 1 ]; then
      echo "    client-certificate-data: $(base64 -w0 "$cert")"
      echo "    client-key-data: $(base64 -w0 "$key")"
    else
      echo "    client-certificate: $cert"
      echo "    client-key: $key"
    fi
    echo "contexts:"
    echo "- name: $user@cubelet-e2e"
    echo "  context:"
    echo "    cluster: cubelet-e2e"
    echo "    user: $user"
    echo "current-context: $user@cubelet-e2e"
  } >"$tmp"
  mv -f "$tmp" "$out"
}

# running PID: exists and is not a zombie (PID 1 of a container may never reap it).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# alive NAME: the process in DIR/NAME.pid runs and is still the binary we started (not a reused pid).
alive() {
  local pid exe
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && running "$pid" || return 1
  exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -d' ' -f1) || return 1
  [ "$(basename "$exe")" = "$(cat "$dir/$1.exe" 2>/dev/null)" ]
}

# launch NAME BINARY ARGS...: in its own session, so a test runner's signals do not reach it.
launch() {
  local name=$1
  shift
  basename "$1" >"$dir/$name.exe"
  setsid "$@" </dev/null >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  # Until setsid has exec'd the binary, the pid shows the shell or setsid: a busy machine can take a
  # moment, and alive() would call that "exited".
  local i exe
  for ((i = 0; i < 100; i++)); do
    running "$!" || break
    exe=$(tr '\0' ' ' <"/proc/$!/cmdline" 2>/dev/null | cut -d' ' -f1)
    [ "$(basename "${exe:-x}")" = "$(basename "$1")" ] && break
    sleep 0.05
  done
}

# halt NAME: SIGTERM, 20 s to exit, then SIGKILL.
halt() {
  local name=$1 pid i
  if alive "$name"; then
    pid=$(cat "$dir/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      echo "master.sh: $name (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while running "$pid"; do sleep 0.1; done
    fi
  fi
  rm -f "$dir/$name.pid" "$dir/$name.exe"
}

readyz() {
  curl -sf --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null | grep -qx ok
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# fail_start NAME MESSAGE: says why, shows the tail of NAME's log, stops what runs.
fail_start() {
  echo "master.sh: $2" >&2
  if [ -f "$dir/$1.log" ]; then
    echo "---- $dir/$1.log (tail) ----" >&2
    tail -n 30 "$dir/$1.log" >&2
  fi
  halt apiserver
  halt etcd
  exit 1
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "needs root"
  [ -x "$KUBE_APISERVER" ] || die "no kube-apiserver at $KUBE_APISERVER (run tests/e2e/kube-build.sh)"
  command -v "$ETCD" >/dev/null || die "no etcd (run tests/e2e/kube-build.sh)"
  mkdir -p "$dir"
  # A running instance is reused only when it was started with the flags this version of the script
  # gives (an older one lacks --enable-bootstrap-token-auth, say).
  if alive etcd && alive apiserver && readyz && [ "$(cat "$dir/apiserver.args" 2>/dev/null)" = "$APISERVER_FLAGS_VERSION" ]; then
    echo "$dir/admin.kubeconfig"
    return 0
  fi
  halt apiserver
  halt etcd
  local p
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT"; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use (set E2E_APISERVER_PORT / E2E_ETCD_PORT)"
  done
  make_pki "$dir/pki"
  local pki=$dir/pki
  write_kubeconfig "$dir/admin.kubeconfig" admin "$pki/ca.crt" "$pki/admin.crt" "$pki/admin.key" 0

  launch etcd "$(command -v "$ETCD")" --name e2e --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --logger zap --log-outputs stderr
  local deadline=$((SECONDS + 20))
  until curl -sf --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
    alive etcd || fail_start etcd "etcd exited"
    [ "$SECONDS" -lt "$deadline" ] || fail_start etcd "etcd not healthy after 20 s"
    sleep 0.1
  done

  # An audit log of every request (metadata only), so tests and benches count what a client sent.
  printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: ["RequestReceived"]' 'rules:' \
    '- level: Metadata' >"$dir/audit-policy.yaml"
  # No endpoint reconciler: the kubernetes Service's Endpoints may not hold a loopback address, and the
  # default one would log that failure every 10 s.
  launch apiserver "$KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction --disable-admission-plugins=ServiceAccount \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --kubelet-preferred-address-types=InternalIP \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-signing-key-file="$pki/sa.key" --service-account-key-file="$pki/sa.pub" \
    --endpoint-reconciler-type=none \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log" --audit-log-maxsize=100 \
    --allow-privileged=true \
    --enable-bootstrap-token-auth \
    --profiling=false
  echo "$APISERVER_FLAGS_VERSION" >"$dir/apiserver.args"
  deadline=$((SECONDS + READY_TIMEOUT))
  until readyz; do
    alive apiserver || fail_start apiserver "kube-apiserver exited"
    [ "$SECONDS" -lt "$deadline" ] || fail_start apiserver "kube-apiserver not ready after $READY_TIMEOUT s"
    sleep 0.2
  done
  echo "$dir/admin.kubeconfig"
}

cmd_stop() {
  [ -d "$dir" ] || return 0
  halt apiserver
  halt etcd
  if [ "$purge" = 1 ]; then rm -rf "$dir"; fi
}

# Only the API server (an outage test); etcd and the certificates stay, `start` brings it back.
cmd_stop_apiserver() {
  [ -d "$dir" ] || return 0
  halt apiserver
}

cmd_node_kubeconfig() {
  local node=$1 out=$2 embed=$3 pki=$dir/pki
  [ -s "$pki/ca.key" ] || die "no CA in $pki (run master.sh start $dir first)"
  issue "$pki" "node-$node" "/O=system:nodes/CN=system:node:$node" "$CLIENT_EXT"
  write_kubeconfig "$out" "system:node:$node" "$pki/ca.crt" "$pki/node-$node.crt" "$pki/node-$node.key" "$embed"
}

cmd_node_serving_cert() {
  local node=$1 cert=$2 key=$3 pki=$dir/pki
  [ -s "$pki/ca.key" ] || die "no CA in $pki (run master.sh start $dir first)"
  issue "$pki" "kubelet-$node" "/O=system:nodes/CN=system:node:$node" \
    "$SERVER_EXT\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$node"
  install -m 0644 "$pki/kubelet-$node.crt" "$cert"
  install -m 0600 "$pki/kubelet-$node.key" "$key"
}

[ $# -ge 2 ] || usage
verb=$1
dir=$(realpath -m "$2")
shift 2
purge=0 embed=${E2E_KUBECONFIG_EMBED:-0}
args=()
for a in "$@"; do
  case "$a" in
  --purge) purge=1 ;;
  --embed) embed=1 ;;
  *) args+=("$a") ;;
  esac
done
case "$verb" in
start) [ ${#args[@]} -eq 0 ] || usage; cmd_start ;;
stop) [ ${#args[@]} -eq 0 ] || usage; cmd_stop ;;
stop-apiserver) [ ${#args[@]} -eq 0 ] || usage; cmd_stop_apiserver ;;
node-kubeconfig) [ ${#args[@]} -eq 2 ] || usage; cmd_node_kubeconfig "${args[0]}" "$(realpath -m "${args[1]}")" "$embed" ;;
node-serving-cert) [ ${#args[@]} -eq 3 ] || usage; cmd_node_serving_cert "${args[@]}" ;;
*) usage ;;
esac

# Shared helpers for the integration tests (bash). Expects CUBELET, CUBELET_CRI, CTD_DIR from CTest.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../instance.sh"

passed=0 failed=0
WORK=$(mktemp -d /tmp/cubelet-it.XXXXXX)
SOCK="$CTD_DIR/containerd.sock"
NODE=it-node
HEALTHZ_PORT=${HEALTHZ_PORT:-$((10390 + TI_PORT_OFFSET))}
RO_PORT=${RO_PORT:-$((HEALTHZ_PORT + 4))}
# The node server (HTTPS), off the default 10250 so that test runs side by side do not collide.
NODE_PORT=${NODE_PORT:-$((HEALTHZ_PORT + 2))}
# The root-only unix socket with /pods and /events: one per test, off the default /run/cubelet/cubelet.sock.
LOCAL_SOCK="$WORK/cubelet.sock"
CUBELET_PID=""
# Each test's pod cgroups live under a root of its own, so tests never meet in /kubepods. The instance's
# prefix lets the containerd fixture's stop remove what a test could not (pods a stopped cubelet left
# running are only killed then), without touching the other instance's.
CGROUP_ROOT=${CGROUP_ROOT:-/cubelet-it$TI_SUFFIX-$$}
# The sandboxes on the shared containerd when the test began (tests that use it take CTest's containerd lock,
# so whatever appears later is this test's): those a stopped cubelet left running go when the test ends.
# Nothing is removed when that listing failed (an empty one would take every sandbox for the test's).
PODS_BEFORE="" PODS_BEFORE_OK=0
if [ -S "$SOCK" ] && PODS_BEFORE=$("$CUBELET_CRI" -r "unix://$SOCK" pods -q 2>/dev/null | sort); then
  PODS_BEFORE_OK=1
fi

# Unmounts (lazily, deepest first) whatever is still mounted below the test's directory: the volumes of
# pods a stopped or killed cubelet left, which would otherwise outlive the test (and keep it on the disk).
umount_work() {
  local m
  for m in $(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  true
}

# Removes the sandboxes (and their containers) the test made that are still there: left running, they would
# load the machine for the rest of the suite, and a containerd restart in a later test would re-create their
# logs below the test's removed directory. Their cgroups are then empty and go with the test's root below.
# At most a minute in all: the fixture's stop ends whatever is left.
remove_own_pods() {
  local id end=$((SECONDS + 60))
  [ "$PODS_BEFORE_OK" = 1 ] && [ -S "$SOCK" ] || return 0
  for id in $(cri pods -q 2>/dev/null | sort | comm -13 <(printf '%s\n' "$PODS_BEFORE") -); do
    [ "$SECONDS" -lt "$end" ] || break
    cri rmp -f "$id" >/dev/null 2>&1 || true
  done
}

# Removes the test's cgroup root from every hierarchy, deepest first; a cgroup with tasks stays. Also the
# EXIT trap: a test that ends early (set -u, a failed command) never leaves its cubelet running on the
# shared containerd, where it would take other tests' pods for orphans, nor mounts below its directory.
cleanup_cgroups() {
  local d
  if [ -n "${CUBELET_PID:-}" ]; then
    kill -TERM "$CUBELET_PID" 2>/dev/null && wait "$CUBELET_PID" 2>/dev/null
    CUBELET_PID=""
  fi
  remove_own_pods
  umount_work
  for d in /sys/fs/cgroup/*"$CGROUP_ROOT" /sys/fs/cgroup"$CGROUP_ROOT"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  true
}
trap cleanup_cgroups EXIT

skip_unless_ready() {
  if [ "$(id -u)" != 0 ]; then echo "SKIP: integration tests need root"; exit 77; fi
  if [ ! -S "$SOCK" ]; then echo "SKIP: no test containerd at $SOCK (fixture did not start)"; exit 77; fi
}

# For the e2e tests on these helpers: skip unless kubectl is there (KUBECTL, and the real one kubectl-lite runs
# for what it does not take: a missing one would fail every call, and `! kubectl ...` would pass).
skip_unless_kubectl() {
  [ -x "${KUBECTL:-}" ] && [ -x "${KUBECTL_REAL:-$KUBECTL}" ] ||
    { echo "SKIP: no kubectl at ${KUBECTL_REAL:-${KUBECTL:-}} (run tests/e2e/kube-build.sh)"; exit 77; }
}

# For the e2e tests: the Node's hugepage pools in Ki (they come off its allocatable memory); 0 without any.
hugepages_ki() {
  "$KUBECTL" --request-timeout=10s get node "$1" -o json | jq '[.status.capacity | to_entries[]
    | select(.key | startswith("hugepages-")) | .value
    | if endswith("Ki") then .[:-2] | tonumber elif endswith("Mi") then .[:-2] | tonumber * 1024
      elif endswith("Gi") then .[:-2] | tonumber * 1048576 else tonumber / 1024 end] | add // 0'
}

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  status_got=""
  if "$@"; then ok "$d"; else
    [ -z "$status_got" ] || echo "#   last seen: $status_got"
    not_ok "$d"
  fi
}

source "$(dirname "${BASH_SOURCE[0]}")/../wait.sh"

cri() { "$CUBELET_CRI" -r "unix://$SOCK" "$@"; }

# Running container IDs of a container NAME in pod POD (namespace/name).
running_ids() { cri ps | awk -F'\t' -v p="$2" -v n="$1" '$3 == n && $5 == p { print $1 }'; }
all_ids() { cri ps -a | awk -F'\t' -v p="$2" -v n="$1" '$3 == n && $5 == p { print $1 }'; }
count_running() { running_ids "$1" "$2" | grep -c . ; }
is_running() { [ "$(count_running "$1" "$2")" -ge 1 ]; }
is_gone() { [ -z "$(all_ids "$1" "$2")" ] && ! cri pods | awk -F'\t' -v n="${2#*/}" '$4 == n' | grep -q .; }
exited_count() { cri ps -a | awk -F'\t' -v p="$2" -v n="$1" '$3 == n && $5 == p && $2 == "EXITED"' | grep -c . ; }
attempts() { cri ps -a | awk -F'\t' -v p="$2" -v n="$1" '$3 == n && $5 == p { print $4 }' | sort -n | tail -1; }

# start_cubelet MANIFEST_DIR [flags...]; CUBELET_IT_FLAGS (words) follow the flags: --v=5 to look into a failure.
start_cubelet() {
  local dir=$1; shift
  # shellcheck disable=SC2086
  "$CUBELET" --pod-manifest-path "$dir" --container-runtime-endpoint "unix://$SOCK" \
    --root-dir "$WORK/root" --pod-logs-dir "$WORK/logs" --hostname-override "$NODE" \
    --healthz-port "$HEALTHZ_PORT" --read-only-port "$RO_PORT" --address 127.0.0.1 --node-ip 127.0.0.1 --port "$NODE_PORT" \
    --local-socket "$LOCAL_SOCK" --file-check-frequency 2s --cgroup-root "$CGROUP_ROOT" "$@" ${CUBELET_IT_FLAGS:-} \
    >>"$WORK/cubelet.log" 2>&1 &
  CUBELET_PID=$!
  wait_for 30 curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz" -o /dev/null
}

stop_cubelet() { # returns cubelet's exit status (non-zero under ASan when it leaked)
  [ -n "$CUBELET_PID" ] || return 0
  kill -TERM "$CUBELET_PID" 2>/dev/null
  local rc=0
  wait "$CUBELET_PID" || rc=$?
  CUBELET_PID=""
  return $rc
}

# local_get PATH: a GET on the local socket (/pods, /events, /healthz).
local_get() { curl -sf --unix-socket "$LOCAL_SOCK" "http://localhost$1"; }

# put FILE: stdin into FILE at once (a hidden temporary renamed over it): the file source never reads half
# a manifest, which may be a valid pod of its own (its first document, or a container without its limits).
put() { local t; t="$(dirname "$1")/.$(basename "$1").tmp"; cat >"$t" && mv -f "$t" "$1"; }

log_has() { grep -q -- "$1" "$WORK/cubelet.log"; }
log_count_ge() { [ "$(grep -c -- "$1" "$WORK/cubelet.log")" -ge "$2" ]; } # log_count_ge TEXT N

# pod_status NAME JQ-FILTER: the filter applied to the pod's status from the read-only port's /pods.
pod_status() {
  curl -sf "http://127.0.0.1:$RO_PORT/pods" |
    jq -r --arg n "$1-$NODE" ".items[] | select(.metadata.name == \$n) | .status | $2"
}
# status_is NAME JQ-FILTER VALUE (what it saw last is in status_got: check prints it when it fails). One
# listing and one jq a try, as pod_status: the container statuses for the diagnosis come out of the same jq.
status_is() {
  local out got=""
  out=$(curl -sf "http://127.0.0.1:$RO_PORT/pods" | jq -r --arg n "$1-$NODE" \
    ".items[] | select(.metadata.name == \$n) | .status | ([.initContainerStatuses, .containerStatuses] | tojson), ($2)")
  [[ "$out" == *$'\n'* ]] && got=${out#*$'\n'}
  [ "$got" = "$3" ] && return 0
  status_got="$1: $2 is '$got', not '$3'; the container statuses: ${out%%$'\n'*}"
  return 1
}

finish() {
  if [ -n "$CUBELET_PID" ]; then stop_cubelet || true; fi
  if [ "$failed" -gt 0 ]; then
    echo "---- cubelet log ($WORK/cubelet.log) ----"
    tail -n 80 "$WORK/cubelet.log"
  elif [ -n "${CUBELET_IT_KEEP:-}" ]; then
    echo "kept: $WORK (CUBELET_IT_KEEP)"
  else
    # Kept only when something failed. Never into a mount a pod may have left (--one-file-system).
    umount_work
    rm -rf --one-file-system "$WORK" 2>/dev/null
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

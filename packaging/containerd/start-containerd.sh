#!/bin/bash
# Start a private containerd instance for cubelet.
#
# usage: start-containerd.sh --dir DIR [--address SOCK] [--cni-conf-dir D]
#                            [--cni-bin-dir D] [--pod-cidr CIDR] [--bridge NAME]
#                            [--snapshotter overlayfs|native|auto]
#                            [--no-forward-guard]
#                            [--network-mode runtime|agent --delegate-plugin FILE
#                             --delegate-socket SOCK]
#
# Layout under DIR (all per instance, several instances can run side by side):
#   DIR/config.toml        rendered from config.toml.in
#   DIR/root, DIR/state    containerd root / state (runc state in DIR/state/runc,
#                          pod netns in DIR/state/netns)
#   DIR/containerd.sock    gRPC address (default; ttrpc is SOCK.ttrpc)
#   DIR/net.d/10-cubelet.conflist   rendered CNI config (unless --cni-conf-dir)
#
# --network-mode agent (cubelet runs CNI; start cubelet with --network-mode agent
# --cni-conf-dir DIR/agent-net.d --cni-bin-dir CNI_BIN_DIR --cni-delegate-socket SOCK):
#   DIR/net.d/10-cubelet-delegate.conflist  names only cubelet's delegate plugin, with
#                                           "socket": SOCK (where cubelet listens)
#   DIR/cni-bin/       containerd's CNI bin dir: cubelet-delegate (copied from
#                      --delegate-plugin) and loopback (containerd sets up lo itself)
#   DIR/agent-net.d/10-cubelet.conflist    the real network, for cubelet
#   DIR/cni-ipam           host-local IPAM leases
#   DIR/containerd.log     containerd's log;  DIR/containerd.pid  its pid
#   DIR/instance.env       facts for stop-containerd.sh / import-images.sh
#
# Prints the socket path on stdout when containerd answers (max 20 s).
# Idempotent: if the instance already runs, just prints the socket path.
#
# Parallel instances should use distinct --bridge and --pod-cidr values:
# the bridge gets the first address of the pod CIDR.
#
# Unless --no-forward-guard is given, an iptables rule
#   FORWARD -i BRIDGE ! -o BRIDGE -j DROP
# keeps pod traffic from being routed off the machine (the bridge plugin with
# isGateway=true turns on net.ipv4.ip_forward). stop-containerd.sh --purge
# removes it again.
set -euo pipefail

prog=start-containerd.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
warn() { echo "$prog: warning: $*" >&2; }
log() { echo "$prog: $*" >&2; }

usage() {
	sed -n '4,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG_TEMPLATE="$SCRIPT_DIR/config.toml.in"
CNI_TEMPLATE="$SCRIPT_DIR/cni-default.conflist.in"

DIR="" ADDRESS="" CNI_CONF_DIR="" CNI_BIN_DIR="/usr/lib/cni"
POD_CIDR="10.88.0.0/16" BRIDGE="cubelet0" SNAPSHOTTER="auto" FORWARD_GUARD=1
NETWORK_MODE=runtime DELEGATE_PLUGIN="" DELEGATE_SOCKET="/run/cubelet/cni.sock"

need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value"; }
while [ $# -gt 0 ]; do
	case "$1" in
		--dir) need_arg "$@"; DIR=$2; shift 2 ;;
		--address) need_arg "$@"; ADDRESS=$2; shift 2 ;;
		--cni-conf-dir) need_arg "$@"; CNI_CONF_DIR=$2; shift 2 ;;
		--cni-bin-dir) need_arg "$@"; CNI_BIN_DIR=$2; shift 2 ;;
		--pod-cidr) need_arg "$@"; POD_CIDR=$2; shift 2 ;;
		--bridge) need_arg "$@"; BRIDGE=$2; shift 2 ;;
		--snapshotter) need_arg "$@"; SNAPSHOTTER=$2; shift 2 ;;
		--no-forward-guard) FORWARD_GUARD=0; shift ;;
		--network-mode) need_arg "$@"; NETWORK_MODE=$2; shift 2 ;;
		--delegate-plugin) need_arg "$@"; DELEGATE_PLUGIN=$2; shift 2 ;;
		--delegate-socket) need_arg "$@"; DELEGATE_SOCKET=$2; shift 2 ;;
		-h|--help) usage ;;
		*) echo "$prog: unknown argument '$1'" >&2; usage ;;
	esac
done
[ -n "$DIR" ] || { echo "$prog: --dir is required" >&2; usage; }

for tool in containerd ctr sed; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
command -v containerd-shim-runc-v2 >/dev/null 2>&1 || die "containerd-shim-runc-v2 not found in PATH"
command -v runc >/dev/null 2>&1 || die "runc not found in PATH"
[ -f "$CONFIG_TEMPLATE" ] || die "template $CONFIG_TEMPLATE missing"
[ -f "$CNI_TEMPLATE" ] || die "template $CNI_TEMPLATE missing"
[ "$(id -u)" = 0 ] || die "must run as root"

# --- validate ---------------------------------------------------------------
[[ "$BRIDGE" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "invalid bridge name '$BRIDGE' (1-15 chars of A-Za-z0-9_.-)"
[[ "$POD_CIDR" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]] || die "invalid --pod-cidr '$POD_CIDR' (want e.g. 10.88.0.0/16)"
case "$SNAPSHOTTER" in overlayfs|native|auto) ;; *) die "--snapshotter must be overlayfs, native or auto" ;; esac
case "$NETWORK_MODE" in
	runtime) ;;
	agent)
		[ -n "$DELEGATE_PLUGIN" ] && [ -x "$DELEGATE_PLUGIN" ] || die "--network-mode agent needs --delegate-plugin (the built cubelet-delegate)"
		[ -z "$CNI_CONF_DIR" ] || die "--network-mode agent renders its own CNI directories; drop --cni-conf-dir"
		case "$DELEGATE_SOCKET" in /*) ;; *) die "--delegate-socket must be an absolute path" ;; esac
		[ ${#DELEGATE_SOCKET} -lt 108 ] || die "--delegate-socket is too long for a unix socket"
		;;
	*) die "--network-mode must be runtime or agent" ;;
esac
for p in "$DIR" "$ADDRESS" "$CNI_CONF_DIR" "$CNI_BIN_DIR" "$DELEGATE_SOCKET"; do
	case "$p" in *'"'*|*'\'*|*'@'*|*'|'*|*'&'*|*$'\n'*) die "path '$p' contains an unsupported character (\" \\ @ | & newline)" ;; esac
done
[ -x "$CNI_BIN_DIR/bridge" ] || warn "$CNI_BIN_DIR/bridge not found: pod networking will fail"

created_dir=0
[ -d "$DIR" ] || created_dir=1
mkdir -p "$DIR" || die "cannot create $DIR"
DIR=$(cd "$DIR" && pwd)
[ -n "$ADDRESS" ] || ADDRESS="$DIR/containerd.sock"
case "$ADDRESS" in /*) ;; *) ADDRESS="$(pwd)/$ADDRESS" ;; esac
# sockaddr_un.sun_path is 108 bytes and containerd also binds SOCK.ttrpc.
[ ${#ADDRESS} -le 100 ] || { [ "$created_dir" = 0 ] || rmdir "$DIR"; die "socket path '$ADDRESS' is too long (${#ADDRESS} > 100 chars); use a shorter --dir or --address"; }

ROOT="$DIR/root" STATE="$DIR/state" CONFIG="$DIR/config.toml"
PIDFILE="$DIR/containerd.pid" LOGFILE="$DIR/containerd.log" ENVFILE="$DIR/instance.env"

ctr_ok() { timeout 5 ctr --address "$ADDRESS" version >/dev/null 2>&1; }

# pid of the containerd running with this DIR's config, if any
running_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qxF "$CONFIG" || return 1
	echo "$pid"
}

if pid=$(running_pid); then
	running_mode=$(sed -n 's/^CUBELET_NETWORK_MODE=//p' "$ENVFILE" 2>/dev/null)
	if [ "${running_mode:-runtime}" != "$NETWORK_MODE" ]; then
		die "containerd (pid $pid) for $DIR runs in network mode ${running_mode:-runtime}, not $NETWORK_MODE; run stop-containerd.sh --dir $DIR first"
	fi
	if ctr_ok; then
		log "containerd already running (pid $pid)"
		echo "$ADDRESS"
		exit 0
	fi
	die "containerd (pid $pid) for $DIR runs but does not answer on $ADDRESS; run stop-containerd.sh --dir $DIR first"
fi
rm -f "$PIDFILE"
if [ -S "$ADDRESS" ]; then
	if ctr_ok; then
		die "another containerd already answers on $ADDRESS (not started from $DIR)"
	fi
	rm -f "$ADDRESS" "$ADDRESS.ttrpc"
fi

mkdir -p "$ROOT" "$STATE" "$(dirname "$ADDRESS")"
chmod 0711 "$ROOT" "$STATE"

# --- snapshotter --------------------------------------------------------------
probe_overlay() {
	local t; t=$(mktemp -d "$ROOT/.overlay-probe.XXXXXX")
	mkdir -p "$t/l1" "$t/l2" "$t/u" "$t/w" "$t/m"
	local ok=1
	# two lower dirs, like containerd's overlayfs snapshotter uses
	if mount -t overlay overlay -o "lowerdir=$t/l1:$t/l2,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
		if touch "$t/m/x" 2>/dev/null; then ok=0; fi
		umount "$t/m" 2>/dev/null || umount -l "$t/m" 2>/dev/null || true
	fi
	rm -rf "$t"
	return $ok
}
if [ "$SNAPSHOTTER" = auto ]; then
	if probe_overlay; then
		SNAPSHOTTER=overlayfs
	else
		warn "overlay mounts do not work under $ROOT; using the native snapshotter"
		SNAPSHOTTER=native
	fi
fi

# --- CNI ----------------------------------------------------------------------
RENDERED_CNI=0
if [ -z "$CNI_CONF_DIR" ]; then
	CNI_CONF_DIR="$DIR/net.d"
	RENDERED_CNI=1
fi
case "$CNI_CONF_DIR" in /*) ;; *) CNI_CONF_DIR="$(pwd)/$CNI_CONF_DIR" ;; esac
mkdir -p "$CNI_CONF_DIR"
IPAM_DIR="$DIR/cni-ipam"
AGENT_CNI_CONF_DIR=""
RUNTIME_CNI_BIN_DIR=$CNI_BIN_DIR
if [ "$RENDERED_CNI" = 1 ]; then
	mkdir -p "$IPAM_DIR"
	# The real network: containerd's in runtime mode, cubelet's own in agent mode.
	NET_DIR=$CNI_CONF_DIR
	if [ "$NETWORK_MODE" = agent ]; then
		AGENT_CNI_CONF_DIR="$DIR/agent-net.d"
		NET_DIR=$AGENT_CNI_CONF_DIR
		mkdir -p "$NET_DIR"
		rm -f "$CNI_CONF_DIR/10-cubelet.conflist"
		RUNTIME_CNI_BIN_DIR="$DIR/cni-bin"
		mkdir -p "$RUNTIME_CNI_BIN_DIR"
		cp -f "$DELEGATE_PLUGIN" "$RUNTIME_CNI_BIN_DIR/cubelet-delegate.tmp"
		mv -f "$RUNTIME_CNI_BIN_DIR/cubelet-delegate.tmp" "$RUNTIME_CNI_BIN_DIR/cubelet-delegate"
		ln -sfn "$CNI_BIN_DIR/loopback" "$RUNTIME_CNI_BIN_DIR/loopback"
		printf '{\n  "cniVersion": "1.0.0",\n  "name": "cubelet",\n  "plugins": [\n    {"type": "cubelet-delegate", "socket": "%s"}\n  ]\n}\n' \
			"$DELEGATE_SOCKET" > "$CNI_CONF_DIR/10-cubelet-delegate.conflist.tmp"
		mv -f "$CNI_CONF_DIR/10-cubelet-delegate.conflist.tmp" "$CNI_CONF_DIR/10-cubelet-delegate.conflist"
	else
		rm -f "$CNI_CONF_DIR/10-cubelet-delegate.conflist"
	fi
	sed -e "s|@BRIDGE@|$BRIDGE|g" -e "s|@POD_CIDR@|$POD_CIDR|g" \
		-e "s|@IPAM_DATA_DIR@|$IPAM_DIR|g" \
		"$CNI_TEMPLATE" > "$NET_DIR/10-cubelet.conflist.tmp"
	if command -v jq >/dev/null 2>&1; then
		jq -e . "$NET_DIR/10-cubelet.conflist.tmp" >/dev/null ||
			die "rendered CNI config is not valid JSON"
	fi
	mv -f "$NET_DIR/10-cubelet.conflist.tmp" "$NET_DIR/10-cubelet.conflist"

	# Remember whether the bridge is ours, so --purge only deletes what we made.
	if [ ! -f "$DIR/bridge.owned" ] && [ ! -f "$DIR/bridge.foreign" ]; then
		if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
			warn "bridge $BRIDGE already exists (another instance?); it will be shared and not deleted on purge"
			echo "$BRIDGE" > "$DIR/bridge.foreign"
		else
			echo "$BRIDGE" > "$DIR/bridge.owned"
		fi
	fi

	# The bridge plugin turns net.ipv4.ip_forward on; remember the value so
	# stop-containerd.sh --purge can restore it.
	[ -f "$DIR/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward > "$DIR/ip_forward.orig" 2>/dev/null || true

	# Keep routed pod traffic on this machine.
	if [ "$FORWARD_GUARD" = 1 ]; then
		if command -v iptables >/dev/null 2>&1; then
			guard=(FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "cubelet-forward-guard $DIR" -j DROP)
			if iptables -w 5 -C "${guard[@]}" 2>/dev/null ||
				iptables -w 5 -I "${guard[@]}" 2>"$DIR/iptables.err"; then
				echo "$BRIDGE" > "$DIR/forward-guard"
				rm -f "$DIR/iptables.err"
			else
				warn "could not add iptables FORWARD guard for $BRIDGE: $(cat "$DIR/iptables.err")"
			fi
		else
			warn "iptables not found: no FORWARD guard for $BRIDGE"
		fi
	fi
elif ! ls "$CNI_CONF_DIR"/*.conf "$CNI_CONF_DIR"/*.conflist "$CNI_CONF_DIR"/*.json >/dev/null 2>&1; then
	warn "CNI conf dir $CNI_CONF_DIR has no network config yet: pod sandboxes will fail until one is added"
fi

# --- containerd config ----------------------------------------------------------
sed -e "s|@ROOT@|$ROOT|g" -e "s|@STATE@|$STATE|g" -e "s|@ADDRESS@|$ADDRESS|g" \
	-e "s|@CNI_CONF_DIR@|$CNI_CONF_DIR|g" -e "s|@CNI_BIN_DIR@|$RUNTIME_CNI_BIN_DIR|g" \
	-e "s|@SNAPSHOTTER@|$SNAPSHOTTER|g" -e "s|@HOSTS_DIR@|$DIR/certs.d|g" \
	"$CONFIG_TEMPLATE" > "$CONFIG.tmp"
if grep -q '@[A-Z_]*@' "$CONFIG.tmp"; then
	die "unrendered placeholder in $CONFIG.tmp: $(grep -o '@[A-Z_]*@' "$CONFIG.tmp" | sort -u | tr '\n' ' ')"
fi
mv -f "$CONFIG.tmp" "$CONFIG"

q() { printf '%q' "$1"; }
{
	echo "CONTAINERD_ADDRESS=$(q "$ADDRESS")"
	echo "CONTAINERD_SNAPSHOTTER=$(q "$SNAPSHOTTER")"
	echo "CUBELET_CNI_CONF_DIR=$(q "$CNI_CONF_DIR")"
	echo "CUBELET_CNI_BIN_DIR=$(q "$CNI_BIN_DIR")"
	echo "CUBELET_CNI_RENDERED=$RENDERED_CNI"
	echo "CUBELET_BRIDGE=$(q "$BRIDGE")"
	echo "CUBELET_POD_CIDR=$(q "$POD_CIDR")"
	echo "CUBELET_IPAM_DIR=$(q "$IPAM_DIR")"
	echo "CUBELET_NETWORK_MODE=$NETWORK_MODE"
	echo "CUBELET_AGENT_CNI_CONF_DIR=$(q "$AGENT_CNI_CONF_DIR")"
	echo "CUBELET_DELEGATE_SOCKET=$(q "$DELEGATE_SOCKET")"
} > "$ENVFILE"

# --- start ----------------------------------------------------------------------
{
	echo "===== $(date -u +%Y-%m-%dT%H:%M:%SZ) $prog: starting containerd (snapshotter $SNAPSHOTTER)"
} >> "$LOGFILE"
# setsid: own session, so the caller's Ctrl-C / process-group kill does not hit it.
setsid containerd --config "$CONFIG" >> "$LOGFILE" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$PIDFILE"

deadline=$((SECONDS + 20))
while :; do
	if ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$PIDFILE"
		echo "$prog: error: containerd exited during start-up; last log lines ($LOGFILE):" >&2
		tail -n 25 "$LOGFILE" >&2
		exit 1
	fi
	if [ -S "$ADDRESS" ] && ctr_ok; then
		break
	fi
	if [ $SECONDS -ge $deadline ]; then
		echo "$prog: error: containerd (pid $pid) did not answer on $ADDRESS within 20 s; last log lines:" >&2
		tail -n 25 "$LOGFILE" >&2
		kill -TERM "$pid" 2>/dev/null || true
		exit 1
	fi
	sleep 0.2
done

log "containerd running (pid $pid, snapshotter $SNAPSHOTTER, log $LOGFILE)"
echo "$ADDRESS"

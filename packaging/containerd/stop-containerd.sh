#!/bin/bash
# Stop a private containerd instance started by start-containerd.sh.
#
# usage: stop-containerd.sh --dir DIR [--purge]
#
#   (default)  SIGTERM containerd, wait up to 10 s, then SIGKILL.
#              Shims/containers of the instance keep running (like a normal
#              containerd restart); a later start-containerd.sh reconnects.
#   --purge    full cleanup of the instance:
#                - SIGKILL all tasks in all namespaces via ctr (while containerd runs;
#                  killing the init kills its PID namespace),
#                - stop containerd,
#                - SIGKILL leftover containerd-shim-runc-v2 processes whose command
#                  line names this instance's address (and their children),
#                - CNI DEL for every host-local IPAM lease of the instance,
#                - unmount everything mounted under DIR,
#                - delete the bridge if this instance created it,
#                - remove the iptables FORWARD guard,
#                - remove DIR.
# Idempotent: stopping a stopped / missing instance succeeds.
set -euo pipefail

prog=stop-containerd.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
warn() { echo "$prog: warning: $*" >&2; }
log() { echo "$prog: $*" >&2; }

usage() {
	sed -n '4,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

DIR="" PURGE=0 TIMEOUT=10
while [ $# -gt 0 ]; do
	case "$1" in
		--dir) [ $# -ge 2 ] && [ -n "$2" ] || die "option --dir needs a value"; DIR=$2; shift 2 ;;
		--purge) PURGE=1; shift ;;
		-h|--help) usage ;;
		*) echo "$prog: unknown argument '$1'" >&2; usage ;;
	esac
done
[ -n "$DIR" ] || { echo "$prog: --dir is required" >&2; usage; }
[ "$(id -u)" = 0 ] || die "must run as root"

if [ ! -d "$DIR" ]; then
	log "$DIR does not exist; nothing to do"
	exit 0
fi
DIR=$(cd "$DIR" && pwd)

CONFIG="$DIR/config.toml" PIDFILE="$DIR/containerd.pid" ENVFILE="$DIR/instance.env"
CONTAINERD_ADDRESS="$DIR/containerd.sock"
CUBELET_CNI_CONF_DIR="$DIR/net.d" CUBELET_CNI_BIN_DIR=/usr/lib/cni CUBELET_CNI_RENDERED=0 CUBELET_AGENT_CNI_CONF_DIR=""
CUBELET_IPAM_DIR="$DIR/cni-ipam"
if [ -f "$ENVFILE" ]; then
	# shellcheck disable=SC1090  # written by start-containerd.sh with printf %q
	. "$ENVFILE"
fi
ADDRESS=$CONTAINERD_ADDRESS

ctrx() { timeout 15 ctr --address "$ADDRESS" "$@"; }

running_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qxF "$CONFIG" || return 1
	echo "$pid"
}

# --- 1. kill tasks through containerd (purge only) ------------------------------
kill_tasks() {
	local ns id ids
	local -a all=()
	for ns in $(ctrx namespaces ls -q 2>/dev/null); do
		ids=$(ctrx -n "$ns" tasks ls -q 2>/dev/null) || continue
		for id in $ids; do
			ctrx -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
			all+=("$ns/$id")
		done
	done
	[ ${#all[@]} -gt 0 ] || return 0
	log "killed ${#all[@]} task(s); deleting them"
	local deadline=$((SECONDS + 10)) t
	for t in "${all[@]}"; do
		ns=${t%%/*} id=${t#*/}
		while ! ctrx -n "$ns" tasks delete "$id" >/dev/null 2>&1; do
			if [ $SECONDS -ge $deadline ]; then
				ctrx -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 ||
					warn "could not delete task $ns/$id"
				break
			fi
			sleep 0.2
		done
	done
}

# --- 2. stop containerd ------------------------------------------------------------
stop_containerd() {
	local pid
	if ! pid=$(running_pid); then
		log "containerd for $DIR is not running"
		rm -f "$PIDFILE"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			warn "containerd (pid $pid) still running after ${TIMEOUT}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.1
	done
	# containerd is not our child, so it is reaped by init; wait for /proc to clear
	deadline=$((SECONDS + 5))
	while [ -d "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] &&
		[ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	rm -f "$PIDFILE"
	log "containerd (pid $pid) stopped"
}

# --- 3. leftover shims ---------------------------------------------------------------
# Print "pid ns id" for every containerd shim whose command line has -address ADDRESS.
find_shims() {
	local d pid ns id addr
	local -a argv
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ -r "$d/cmdline" ] || continue
		mapfile -d '' -t argv < "$d/cmdline" 2>/dev/null || continue
		[ ${#argv[@]} -gt 0 ] || continue
		case "${argv[0]##*/}" in containerd-shim*) ;; *) continue ;; esac
		ns="" id="" addr=""
		local i
		for ((i = 1; i < ${#argv[@]} - 1; i++)); do
			case "${argv[i]}" in
				-namespace|--namespace) ns=${argv[i+1]} ;;
				-id|--id) id=${argv[i+1]} ;;
				-address|--address) addr=${argv[i+1]} ;;
			esac
		done
		[ "$addr" = "$ADDRESS" ] && echo "$pid $ns $id"
	done
}

kill_shims() {
	local pid ns id child n=0
	while read -r pid ns id; do
		[ -n "$pid" ] || continue
		for child in $(pgrep -P "$pid" 2>/dev/null); do
			kill -KILL "$child" 2>/dev/null || true
		done
		kill -KILL "$pid" 2>/dev/null || true
		n=$((n + 1))
		# drop runc state (and with it the cgroups) of the container
		if [ -n "$ns" ] && [ -n "$id" ]; then
			local r
			for r in "$DIR/state/runc/$ns" "$DIR/state/runc-test/$ns" "/run/containerd/runc/$ns"; do
				if [ -d "$r/$id" ]; then
					runc --root "$r" delete --force "$id" >/dev/null 2>&1 || true
				fi
			done
			# the shim's socket: /run/containerd/s/sha256(ADDRESS/ns/id)
			local h
			h=$(printf '%s' "$ADDRESS/$ns/$id" | sha256sum | cut -d' ' -f1)
			rm -f "/run/containerd/s/$h"
		fi
	done < <(find_shims)
	[ $n -eq 0 ] || log "killed $n leftover shim(s)"
}

# --- 4. CNI DEL for leftover IPAM leases ----------------------------------------
cni_cleanup() {
	# agent mode: the real network is cubelet's (DIR/agent-net.d), not the delegate's
	local conflist="${CUBELET_AGENT_CNI_CONF_DIR:-$CUBELET_CNI_CONF_DIR}/10-cubelet.conflist"
	[ "$CUBELET_CNI_RENDERED" = 1 ] && [ -f "$conflist" ] || return 0
	command -v jq >/dev/null 2>&1 || { warn "jq missing: skipping CNI DEL of leftover leases"; return 0; }
	local net n f cid ifname i conf
	net=$(jq -r .name "$conflist")
	n=$(jq '.plugins | length' "$conflist")
	[ -d "$CUBELET_IPAM_DIR/$net" ] || return 0
	for f in "$CUBELET_IPAM_DIR/$net"/*; do
		[ -f "$f" ] || continue
		case "${f##*/}" in lock|last_reserved_ip*) continue ;; esac
		cid=$(sed -n '1s/\r$//p' "$f")
		ifname=$(sed -n '2s/\r$//p' "$f")
		[ -n "$cid" ] || continue
		[ -n "$ifname" ] || ifname=eth0
		for ((i = n - 1; i >= 0; i--)); do
			# portmap's DEL is a no-op without runtimeConfig.portMappings; any
			# entry makes it delete the container's chains (found by name + id).
			conf=$(jq -c --argjson i "$i" '.plugins[$i] + {name: .name, cniVersion: .cniVersion}
				| if .capabilities.portMappings then
					.runtimeConfig.portMappings = [{hostPort: 1, containerPort: 1, protocol: "tcp"}]
				  else . end' "$conflist")
			local type; type=$(jq -r .type <<< "$conf")
			[ -x "$CUBELET_CNI_BIN_DIR/$type" ] || continue
			CNI_COMMAND=DEL CNI_CONTAINERID="$cid" CNI_NETNS="" CNI_IFNAME="$ifname" \
				CNI_PATH="$CUBELET_CNI_BIN_DIR" "$CUBELET_CNI_BIN_DIR/$type" <<< "$conf" >/dev/null 2>&1 ||
				warn "CNI DEL ($type) for $cid failed"
		done
		rm -f "/var/lib/cni/results/$net-$cid-$ifname" "/var/lib/cni/results/cni-loopback-$cid-lo"
		log "released CNI lease ${f##*/} of $cid"
	done
}

# --- 5. unmount everything under DIR ----------------------------------------------
mounts_under() {
	local mp
	# field 5 of mountinfo is the mount point, with \040-style octal escapes
	while read -r _ _ _ _ mp _; do
		mp=$(printf '%b' "$mp")
		case "$mp" in "$DIR"|"$DIR"/*) echo "$mp" ;; esac
	done < /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

unmount_all() {
	local pass mp left
	for pass in 1 2 3; do
		left=$(mounts_under)
		[ -n "$left" ] || return 0
		while IFS= read -r mp; do
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
				{ [ $pass -lt 3 ] || warn "could not unmount $mp"; }
		done <<< "$left"
	done
	[ -z "$(mounts_under)" ]
}

# --- 6. bridge + forward guard --------------------------------------------------------
remove_network() {
	local br
	if [ -f "$DIR/bridge.owned" ]; then
		br=$(cat "$DIR/bridge.owned")
		if [ -n "$br" ] && ip link show dev "$br" >/dev/null 2>&1; then
			if ip -d link show dev "$br" | grep -qw bridge; then
				ip link delete "$br" type bridge && log "deleted bridge $br" ||
					warn "could not delete bridge $br"
			else
				warn "$br is not a bridge; leaving it alone"
			fi
		fi
	fi
	if [ -f "$DIR/forward-guard" ] && command -v iptables >/dev/null 2>&1; then
		br=$(cat "$DIR/forward-guard")
		local -a guard=(FORWARD -i "$br" ! -o "$br" -m comment --comment "cubelet-forward-guard $DIR" -j DROP)
		while iptables -w 5 -C "${guard[@]}" 2>/dev/null; do
			iptables -w 5 -D "${guard[@]}" || { warn "could not remove iptables FORWARD guard for $br"; break; }
		done
	fi
	# The bridge plugin (isGateway) switches net.ipv4.ip_forward on. Switch it
	# back off if it was off when the instance started and no other cubelet
	# instance (recognised by its FORWARD guard) is still around.
	if [ "$(cat "$DIR/ip_forward.orig" 2>/dev/null)" = 0 ] &&
		[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]; then
		if command -v iptables >/dev/null 2>&1 &&
			iptables -w 5 -S FORWARD 2>/dev/null | grep -q 'cubelet-forward-guard '; then
			log "other cubelet instances still run; leaving net.ipv4.ip_forward=1"
		else
			echo 0 > /proc/sys/net/ipv4/ip_forward && log "restored net.ipv4.ip_forward=0" ||
				warn "could not restore net.ipv4.ip_forward=0"
		fi
	fi
}

# -----------------------------------------------------------------------------------
if [ "$PURGE" = 1 ] && running_pid >/dev/null && [ -S "$ADDRESS" ]; then
	kill_tasks
fi
stop_containerd
[ "$PURGE" = 1 ] || exit 0

kill_shims
cni_cleanup
unmount_all || warn "some mounts under $DIR remain"
remove_network

# Only remove directories that look like an instance directory.
if [ "$DIR" = / ] || { [ ! -f "$CONFIG" ] && [ ! -f "$ENVFILE" ] && [ -n "$(ls -A "$DIR")" ]; }; then
	die "$DIR does not look like a start-containerd.sh instance directory; not removing it"
fi
rm -rf --one-file-system "$DIR" 2>/dev/null || {
	unmount_all || true
	rm -rf --one-file-system "$DIR" || die "could not remove $DIR"
}
# a socket given with --address outside DIR
rm -f "$ADDRESS" "$ADDRESS.ttrpc" 2>/dev/null || true
log "purged $DIR"

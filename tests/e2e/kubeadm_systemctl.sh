#!/bin/bash
# The kubeadm test's stand-in for systemd (no systemd runs here): installed as "systemctl" first on kubeadm's
# PATH, it runs the kubelet unit as the .deb installs it, cubelet.service (alias kubelet.service) with the
# 10-kubeadm.conf drop-in: ExecStart is packaging/deb/cubelet-start, its environment the drop-in's
# Environment= lines and then its EnvironmentFile=- files (kubeadm-flags.env, /etc/default/kubelet), read at
# each start as systemd does. It answers what kubeadm 1.20 asks (daemon-reload, start, restart, stop,
# status, is-enabled, is-active for "kubelet"), nothing else. Env (from the test): SYSTEMCTL_STATE (the
# unit's pid and log), SYSTEMCTL_DROPIN, SYSTEMCTL_EXEC (cubelet-start), CUBELET_BIN.
set -u
S=$SYSTEMCTL_STATE
pidfile=$S/kubelet.pid

active() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

stop() {
  local pid
  active || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null
  # systemd's TimeoutStopSec, shortened: 30 s, then SIGKILL.
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$pidfile"
  echo "$(date +%T.%N) stopped" >>"$S/unit.log"
}

start() {
  local line v f
  active && return 0
  (
    while IFS= read -r line; do
      case "$line" in
        Environment=\"*\")
          v=${line#Environment=\"}
          export "${v%\"}"
          ;;
        EnvironmentFile=-*)
          f=${line#EnvironmentFile=-}
          if [ -f "$f" ]; then
            set -a
            # shellcheck disable=SC1090
            . "$f"
            set +a
          fi
          ;;
      esac
    done <"$SYSTEMCTL_DROPIN"
    exec setsid "$SYSTEMCTL_EXEC"
  ) >>"$S/kubelet.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "$(date +%T.%N) started $!" >>"$S/unit.log"
}

echo "$(date +%T.%N) systemctl $*" >>"$S/unit.log"
case "${1:-} ${2:-}" in
  "daemon-reload "*) ;;
  "start kubelet") start ;;
  "restart kubelet") stop && start ;;
  "stop kubelet") stop ;;
  "status kubelet")
    echo "* kubelet.service - cubelet (test stand-in)"
    echo "   Loaded: loaded"
    active
    ;;
  "is-enabled kubelet") echo enabled ;;
  "is-active kubelet")
    if active; then echo active; else
      echo inactive
      exit 3
    fi
    ;;
  *)
    echo "systemctl (the kubeadm test's stand-in): '$*' is not supported" >&2
    exit 1
    ;;
esac

# shellcheck shell=bash
# wait_for SECONDS COMMAND...: tries COMMAND until it succeeds (0) or SECONDS have passed (1). Between two
# tries it sleeps four times the CPU the last try used (its reaped children's, from /proc), and at least as
# long as the try took, within 0.1-1 s: a cheap check (a file, the local socket) is polled ten times a second;
# a dear one (kubectl: about 0.4 CPU-seconds, kubectl-lite 0.08) never takes more than a fifth of a core
# while it polls, on a machine it shares with what it is waiting for. Pacing by CPU, not by the try's length,
# keeps a cheaper client from polling more often for the same cost.
# Its locals are prefixed: COMMAND sees the caller's variables (bash scoping is dynamic), not these.
_wf_child_ticks() { # the CPU of this shell's reaped children in ticks of 10 ms (stat fields 16, 17)
  local _wf_stat IFS=' '
  read -r _wf_stat < "/proc/$BASHPID/stat" || { _wf_ticks=0; return; }
  _wf_stat=${_wf_stat##*) } # the fields after the command name, which may hold spaces: field 3 on
  set -- $_wf_stat
  _wf_ticks=$((${14} + ${15}))
}
wait_for() {
  local _wf_deadline _wf_t0 _wf_now _wf_pause _wf_s _wf_ticks _wf_c0 _wf_cpu
  _wf_deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + $1 * 1000))
  shift
  while :; do
    _wf_t0=${EPOCHREALTIME//[!0-9]/}
    _wf_child_ticks
    _wf_c0=$_wf_ticks
    "$@" && return 0
    _wf_now=${EPOCHREALTIME//[!0-9]/}
    [ $((_wf_now / 1000)) -ge "$_wf_deadline" ] && return 1
    _wf_child_ticks
    _wf_cpu=$(((_wf_ticks - _wf_c0) * 10))
    _wf_pause=$(((_wf_now - _wf_t0) / 1000))
    [ "$_wf_pause" -lt $((_wf_cpu * 4)) ] && _wf_pause=$((_wf_cpu * 4))
    [ "$_wf_pause" -lt 100 ] && _wf_pause=100
    [ "$_wf_pause" -gt 1000 ] && _wf_pause=1000
    printf -v _wf_s '%d.%03d' $((_wf_pause / 1000)) $((_wf_pause % 1000))
    sleep "$_wf_s"
  done
}

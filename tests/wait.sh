# shellcheck shell=bash
# wait_for SECONDS COMMAND...: tries COMMAND until it succeeds (0) or SECONDS have passed (1). Between two
# tries it sleeps as long as the last try took, at least 0.1 s and at most 1 s: a cheap check (a file, the
# local socket) is polled ten times a second, a dear one (kubectl: about half a CPU-second) takes at most
# half a core while it polls instead of all of one, on a machine it shares with what it is waiting for.
# Its locals are prefixed: COMMAND sees the caller's variables (bash scoping is dynamic), not these.
wait_for() {
  local _wf_deadline _wf_t0 _wf_now _wf_pause _wf_s
  _wf_deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + $1 * 1000))
  shift
  while :; do
    _wf_t0=${EPOCHREALTIME//[!0-9]/}
    "$@" && return 0
    _wf_now=${EPOCHREALTIME//[!0-9]/}
    [ $((_wf_now / 1000)) -ge "$_wf_deadline" ] && return 1
    _wf_pause=$(((_wf_now - _wf_t0) / 1000))
    [ "$_wf_pause" -lt 100 ] && _wf_pause=100
    [ "$_wf_pause" -gt 1000 ] && _wf_pause=1000
    printf -v _wf_s '%d.%03d' $((_wf_pause / 1000)) $((_wf_pause % 1000))
    sleep "$_wf_s"
  done
}

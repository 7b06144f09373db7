# shellcheck shell=bash
# The upstream kubelet sets machine-wide kernel settings at start (vm.overcommit_memory=1,
# vm.panic_on_oom=0, kernel.panic=10, kernel.panic_on_oops=1, kernel.keys.root_max*): a bench that runs it
# saves them before and puts them back after (sysctls_save, then sysctls_restore in its EXIT trap).
UPSTREAM_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)
SAVED_SYSCTLS=()
sysctls_save() {
  local k
  SAVED_SYSCTLS=()
  for k in "${UPSTREAM_SYSCTLS[@]}"; do SAVED_SYSCTLS+=("$k=$(sysctl -n "$k" 2>/dev/null)"); done
}
sysctls_restore() {
  local kv
  for kv in ${SAVED_SYSCTLS[@]+"${SAVED_SYSCTLS[@]}"}; do
    [ -n "${kv#*=}" ] && sysctl -qw "$kv" 2>/dev/null
  done
  true
}

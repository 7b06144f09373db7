# shellcheck shell=bash disable=SC2034
# The test instance (CMake's CUBELET_TEST_INSTANCE, 0 to 5, in the env as CUBELET_TEST_INSTANCE): every
# fixture and test of one build directory uses its own containerd directory, bridge, pod CIDRs, ports and
# control plane, so that two builds' suites (the plain and the sanitizer pass of ./dev.sh test) run side by
# side without meeting; each pass's fault tests have one more (CMake's CUBELET_FAULTS_INSTANCE: dev.sh gives
# 2 to the plain pass's, 3 to the sanitizer pass's) and run beside it. Instance 0 keeps the historic names
# and numbers.
TI=${CUBELET_TEST_INSTANCE:-0}
case "$TI" in [0-5]) ;; *) echo "CUBELET_TEST_INSTANCE must be 0 to 5, not '$TI'" >&2; exit 2 ;; esac
TI_SUFFIX=$([ "$TI" = 0 ] || echo "$TI")
# Every fixed port of the tests moves by this much: 2000 apart keeps each instance's ports (10390..11392,
# 16443..16543, 18391, 23790..24900) clear of the others' and below the ephemeral range (32768), so
# instances 4 and 5 (helpers' side runs) go 2000 and 4000 below instance 0 instead.
case "$TI" in [0-3]) TI_PORT_OFFSET=$((TI * 2000)) ;; *) TI_PORT_OFFSET=$(((3 - TI) * 2000)) ;; esac
# Pod networks: 10.199.x.0/24 for instance 0, 10.189.x.0/24 for 1, ... (bench/ uses 10.193 to 10.198).
TI_NET=10.$((199 - 10 * TI))
TI_CTD_DIR=/tmp/cubelet-it${TI_SUFFIX}-ctd
TI_BRIDGE=cubit$TI
TI_MASTER_DIR=/tmp/cubelet-e2e-master$TI_SUFFIX
# The lock a person or a helper takes around a ctest run of this instance (flock -o), and ./dev.sh test too.
TI_LOCK=/tmp/cubelet-it$TI_SUFFIX.lock

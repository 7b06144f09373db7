#!/bin/bash
# Fidelity at the runtime's level (bench/spec_parity.sh): the bench pod and bench/parity's Burstable and
# Guaranteed pods run under cubelet, then under the upstream kubelet 1.20.2 (built by kube-build.sh, as the
# API server), on a private containerd of the script's own; every container's and sandbox's OCI spec and the
# limits in every pod's, QoS class's and node's cgroups must be equal, ids and paths aside.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
[ -x "${UPSTREAM_KUBELET:-}" ] || { echo "skip: no upstream kubelet at ${UPSTREAM_KUBELET:-} (tests/e2e/kube-build.sh kubelet)"; exit 77; }
exec "$(dirname "$0")/../../bench/spec_parity.sh" "$BUILD_DIR"

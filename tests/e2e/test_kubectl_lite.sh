#!/bin/bash
# kubectl-lite (tests/helpers/kubectl_lite.c, the tests' KUBECTL) prints exactly what kubectl prints for every
# read it takes itself (run with KUBECTL_REAL=/bin/false: a fallback would show), and hands everything else to
# the real kubectl. On the fixture's API server, objects of its own.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
skip_unless_ready
LITE=${KUBECTL_LITE:?} REAL=${KUBECTL_REAL:?}
export KUBECONFIG=$ADMIN_KUBECONFIG
ns=lite-$$
cleanup() { "$REAL" delete namespace "$ns" --wait=false >/dev/null 2>&1; }
trap cleanup EXIT

"$REAL" create namespace "$ns" >/dev/null
"$REAL" label namespace "$ns" lite=yes >/dev/null
"$REAL" -n "$ns" create configmap cm1 --from-literal=a='x<y>&z' --from-literal=b=2 >/dev/null
"$REAL" -n "$ns" label configmap cm1 app=lite >/dev/null
"$REAL" -n "$ns" create configmap cm2 --from-literal=c=3 >/dev/null
"$REAL" -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p1, labels: {app: lite}}
spec:
  nodeName: lite-no-such-node
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, ports: [{containerPort: 80, name: http}, {containerPort: 81}]}
  tolerations:
  - {key: a, operator: Exists}
  - {key: b, operator: Equal, value: v}
YAML

# same ARGS...: the same output and exit status; lite must not fall back.
same() {
  local a b ra rb
  a=$("$REAL" "$@" 2>&1); ra=$?
  b=$(KUBECTL_REAL=/bin/false "$LITE" "$@" 2>&1); rb=$?
  [ "$a" = "$b" ] && [ "$ra" = "$rb" ] && return 0
  echo "#   kubectl ($ra): ${a:0:300}"
  echo "#   lite    ($rb): ${b:0:300}"
  return 1
}
# same_json ARGS...: the same JSON (kubectl indents and orders keys its own way).
same_json() {
  local a b
  a=$("$REAL" "$@" | jq -S 'del(.. | .resourceVersion?, .managedFields?)') || return 1
  b=$(KUBECTL_REAL=/bin/false "$LITE" "$@" | jq -S 'del(.. | .resourceVersion?, .managedFields?)') || return 1
  [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b") | head -n 20 | sed 's/^/#   /'; return 1; }
}
# falls_back ARGS...: lite hands it to the real kubectl (its output is kubectl's).
falls_back() {
  local a b
  a=$("$REAL" "$@" 2>&1)
  b=$(KUBECTL_LITE_DEBUG=1 "$LITE" "$@" 2>&1)
  [ "$b" != "${b#kubectl-lite: }" ] && [ "$(sed 1d <<<"$b")" = "$a" ] && return 0
  echo "#   kubectl: ${a:0:300}"
  echo "#   lite:    ${b:0:300}"
  return 1
}

check "a field" same -n "$ns" get pod p1 -o jsonpath='{.spec.nodeName}'
check "a missing field prints nothing" same -n "$ns" get pod p1 -o jsonpath='{.status.podIP}'
check "fields with text between, an index, [*]" \
  same -n "$ns" get pod p1 -o 'jsonpath={.metadata.name}:{.spec.containers[0].ports[*].containerPort}|{.spec.containers[-1].name}'
check "a filter" same -n "$ns" get pod p1 -o 'jsonpath={.spec.tolerations[?(@.key=="b")].value}'
check "a filter with backslashed quotes: kubectl's error" falls_back -n "$ns" get pod p1 -o 'jsonpath={.spec.tolerations[?(@.key==\"a\")].operator}'
check "an escaped dot in a key" same -n "$ns" get pod p1 -o 'jsonpath={.metadata.labels.app}{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}'
check "an object and a list, as Go's JSON (sorted, <>& escaped)" \
  same -n "$ns" get configmap cm1 -o 'jsonpath={.data} {.spec.containers} {.metadata.labels}'
check "a list of objects" same -n "$ns" get pod p1 -o 'jsonpath={.spec.tolerations}'
check "numbers and booleans" same -n "$ns" get pod p1 -o 'jsonpath={.spec.terminationGracePeriodSeconds} {.spec.enableServiceLinks}'
check "range over a list, a literal newline" \
  same -n "$ns" get configmaps -o 'jsonpath={range .items[*]}{.metadata.name} {.data}{"\n"}{end}'
check "a list with a label selector" same -n "$ns" get configmaps -l app=lite -o name
check "a list with a field selector" same -n "$ns" get pods --field-selector spec.nodeName=lite-no-such-node -o name
check "-o name of one object" same -n "$ns" get cm cm2 -o name
check "-o name of a cluster-scoped object" same get ns "$ns" -o name
check "cluster-scoped lists" same get namespaces -l lite=yes -o name
check "NotFound: kubectl's message and status" same -n "$ns" get pod nope -o name
check "NotFound of a grouped kind" same get csr nope -o json
# exists NAME: kubectl get pod NAME >/dev/null's status and error, by lite (no fallback) and by kubectl
exists() {
  local a b ra rb
  a=$("$REAL" -n "$ns" get pod "$1" 2>&1 >/dev/null); ra=$?
  b=$(KUBECTL_REAL=/bin/false "$LITE" -n "$ns" get pod "$1" 2>&1 >/dev/null); rb=$?
  [ "$a" = "$b" ] && [ "$ra" = "$rb" ] || { echo "#   kubectl ($ra): $a"; echo "#   lite ($rb): $b"; return 1; }
}
check "a table to /dev/null (does it exist?): found" exists p1
check "... not found" exists nope
check "--ignore-not-found" same -n "$ns" get pod nope --ignore-not-found -o name
check "-o json of one object" same_json -n "$ns" get pod p1 -o json
check "-o json of a list (kubectl's List)" same_json -n "$ns" get configmaps -o json
check "-o json byte for byte (sorted keys, <>& escaped)" same -n "$ns" get configmap cm1 -o json
check "-o json of a list byte for byte" same -n "$ns" get configmaps -l app=lite -o json
check "-A" same_json get configmaps -A -l app=lite -o json
check "--raw" same_json get --raw "/api/v1/namespaces/$ns/configmaps/cm1"
check "--request-timeout and --kubeconfig" same --request-timeout=10s --kubeconfig "$ADMIN_KUBECONFIG" -n "$ns" get cm cm1 -o 'jsonpath={.data.b}'
check "an index out of bounds: kubectl's error" falls_back -n "$ns" get pod p1 -o 'jsonpath={.spec.containers[5].name}'
# same_status ARGS...: with stderr discarded, the same output and status (lite need not fall back).
same_status() {
  local a b ra rb
  a=$("$REAL" "$@" 2>/dev/null); ra=$?
  b=$(KUBECTL_REAL=/bin/false "$LITE" "$@" 2>/dev/null); rb=$?
  [ "$a" = "$b" ] && [ "$ra" = "$rb" ] || { echo "#   kubectl ($ra): $a"; echo "#   lite ($rb): $b"; return 1; }
}
check "... its error discarded: kubectl's status, nothing printed" \
  same_status -n "$ns" get events --field-selector involvedObject.name=nope -o 'jsonpath={.items[0].message}'
# A key found on one path only: kubectl's recursive descent walks maps in Go's random order ({..name} printed
# "c http p1" once and "p1 c http" the next time).
check "a recursive descent: kubectl" falls_back -n "$ns" get pod p1 -o 'jsonpath={..containerPort}'
check "a filter on a number: kubectl's error" \
  falls_back -n "$ns" get pod p1 -o 'jsonpath={.spec.containers[0].ports[?(@.containerPort=="80")].name}'
check "an index kubectl does not read: kubectl's error" falls_back -n "$ns" get pod p1 -o 'jsonpath={.spec.containers[+0].name}'
check "an empty template: kubectl's error" falls_back -n "$ns" get pod p1 -o 'jsonpath='
check "the name ..: kubectl's error" falls_back get ns ..
check "custom columns: kubectl" falls_back -n "$ns" get configmaps -o custom-columns=NAME:.metadata.name,DATA:.data.b
check "-o yaml: kubectl" falls_back -n "$ns" get cm cm1 -o yaml
check "a write: kubectl" falls_back -n "$ns" annotate --overwrite configmap cm2 x=y
check "--raw of a text answer: kubectl" falls_back get --raw /readyz
finish

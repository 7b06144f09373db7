#!/bin/bash
# Volumes of API pods against a real kube-apiserver and containerd: configMap, secret and projected volumes
# seen from inside the container (contents, modes, read-only, tmpfs), a Secret update reaching the running
# pod, an optional missing ConfigMap, a missing ConfigMap as a FailedMount event, and a static pod
# referencing a ConfigMap refused. Env from CTest: CUBELET, CUBELET_CRI, CTD_DIR, MASTER_DIR, KUBECTL.
source "$(dirname "$0")/../integration/lib.sh"
skip_unless_ready
skip_unless_kubectl
mkdir -p "$WORK/bin" && ln -sf "$KUBECTL" "$WORK/bin/kubectl" && export PATH="$WORK/bin:$PATH"
MASTER=$(dirname "$0")/master.sh
[ -s "$MASTER_DIR/admin.kubeconfig" ] || { echo "SKIP: no API server at $MASTER_DIR (fixture did not start)"; exit 77; }
NODE=e2e-vol-node
IMG=cubelet.local/busybox:1.35
export KUBECONFIG=$MASTER_DIR/admin.kubeconfig
k() { kubectl --request-timeout=10s "$@"; }
M="$WORK/manifests"
mkdir -p "$M"
"$MASTER" node-kubeconfig "$MASTER_DIR" "$NODE" "$WORK/node.kubeconfig" >/dev/null
k delete node "$NODE" --ignore-not-found >/dev/null 2>&1
k delete pod vol-pod vol-missing tok-pod many-refs --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
k delete configmap vol-cfg --ignore-not-found >/dev/null 2>&1
k delete secret vol-sec --ignore-not-found >/dev/null 2>&1

# log_of POD CONTAINER: the container's output without the CRI prefixes.
log_of() { cat "$WORK"/logs/default_"$1"_*/"$2"/0.log 2>/dev/null | cut -d' ' -f4-; }
log_line() { log_of "$1" "$2" | grep -qFx -- "$3"; }
pod_jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }

k create configmap vol-cfg --from-literal=color=blue --from-literal=size=large >/dev/null
k create secret generic vol-sec --from-literal=password=hunter2 --from-literal=user=admin >/dev/null

start_cubelet "$M" --kubeconfig "$WORK/node.kubeconfig"
check "node registers" wait_for 30 sh -c \
  "[ \"\$(kubectl get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null)\" = True ]"

k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: vol-pod, labels: {app: vol}}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c"]
    args:
    - |
      trap 'exit 0' TERM
      echo "cfg-color=\$(cat /cfg/sub/color)"
      echo "cfg-mode=\$(stat -Lc %a /cfg/sub/color)"
      ls /cfg | tr '\n' ' ' | sed 's/^/cfg-ls=/; s/ \$//'; echo
      echo "sec-user=\$(cat /sec/user)"
      echo "sec-mode=\$(stat -Lc %a /sec/password)"
      grep " /sec " /proc/mounts | grep -q tmpfs && echo sec-tmpfs
      grep " /proj " /proc/mounts | grep -q tmpfs && echo proj-tmpfs
      touch /sec/x 2>/dev/null || echo sec-readonly
      touch /cfg/x 2>/dev/null || echo cfg-readonly
      echo "proj-color=\$(cat /proj/color)"
      echo "proj-pw=\$(cat /proj/creds/pw)"
      echo "proj-name=\$(cat /proj/podname)"
      echo "proj-mode=\$(stat -Lc %a /proj/creds/pw)"
      echo "opt=\$(ls -A /opt-cfg | grep -v '^\.\.' | wc -l)"
      echo started
      while true; do echo "live=\$(cat /sec/password)"; sleep 1; done
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
    - {name: proj, mountPath: /proj}
    - {name: opt, mountPath: /opt-cfg}
  volumes:
  - name: cfg
    configMap:
      name: vol-cfg
      items: [{key: color, path: sub/color, mode: 0640}]
  - name: sec
    secret: {secretName: vol-sec, defaultMode: 0400}
  - name: proj
    projected:
      defaultMode: 0444
      sources:
      - configMap: {name: vol-cfg, items: [{key: color, path: color}]}
      - secret: {name: vol-sec, items: [{key: password, path: creds/pw, mode: 0600}]}
      - downwardAPI: {items: [{path: podname, fieldRef: {fieldPath: metadata.name}}]}
  - name: opt
    configMap: {name: vol-nope, optional: true}
YAML
check "API pod with configMap/secret/projected volumes runs" wait_for 40 sh -c \
  "[ \"\$(kubectl get pod vol-pod -o jsonpath='{.status.phase}' 2>/dev/null)\" = Running ]"
check "... its script ran" wait_for 15 log_line vol-pod c started
for want in cfg-color=blue cfg-mode=640 cfg-ls=sub sec-user=admin sec-mode=400 sec-tmpfs proj-tmpfs \
  sec-readonly cfg-readonly proj-color=blue proj-pw=hunter2 proj-name=vol-pod proj-mode=600 opt=0 \
  live=hunter2; do
  check "inside the container: $want" log_line vol-pod c "$want"
done
uid=$(pod_jp vol-pod '{.metadata.uid}')
SEC="$WORK/root/pods/$uid/volumes/kubernetes.io~secret/sec"
check "the secret volume is a tmpfs on the host" grep -q " $SEC tmpfs " /proc/mounts
check "the configMap volume is not" eval "! grep -q '$WORK/root/pods/$uid/volumes/kubernetes.io~configmap/cfg ' /proc/mounts"

# A Secret update reaches the running container (watch, then resync or change kick), without a restart.
cid=$(running_ids c default/vol-pod)
t0=$(date +%s%N)
k create secret generic vol-sec --from-literal=password=s3cr3t --from-literal=user=admin --dry-run=client -o yaml |
  k apply -f - >/dev/null 2>&1
check "secret update visible in the running pod within 70 s" wait_for 70 log_line vol-pod c live=s3cr3t
echo "# secret update -> visible in the pod: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "... the container was not restarted" test "$(running_ids c default/vol-pod)" = "$cid"

# A missing ConfigMap: FailedMount event, the container waits in ContainerCreating.
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: vol-missing}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: ["sleep", "3600"], volumeMounts: [{name: v, mountPath: /v}]}
  volumes:
  - {name: v, configMap: {name: vol-absent}}
YAML
failed_mount() {
  kubectl get events -o json 2>/dev/null | jq -e --arg n "$1" --arg m "$2" \
    '[.items[] | select(.involvedObject.name == $n and .reason == "FailedMount" and .type == "Warning" and (.message | contains($m)))] | length > 0' >/dev/null
}
check "missing ConfigMap: FailedMount event in kubectl get events" wait_for 30 failed_mount vol-missing \
  'MountVolume.SetUp failed for volume "v" : configmap "vol-absent" not found'
check "... the container waits in ContainerCreating" wait_for 30 sh -c \
  "[ \"\$(kubectl get pod vol-missing -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}')\" = ContainerCreating ]"
k create configmap vol-absent --from-literal=a=b >/dev/null
check "... ConfigMap created: the pod starts" wait_for 70 sh -c \
  "[ \"\$(kubectl get pod vol-missing -o jsonpath='{.status.phase}')\" = Running ]"

# Deletion: volumes unmounted and removed.
k delete pod vol-pod vol-missing --wait=false >/dev/null
check "pods deleted: containers gone" wait_for 30 is_gone c default/vol-pod
check "... the pod directory is gone, tmpfs unmounted" wait_for 15 eval \
  "[ ! -e '$WORK/root/pods/$uid' ] && ! grep -q '$WORK/root/pods/$uid' /proc/mounts"
# A projected serviceAccountToken: a token bound to the pod through TokenRequest, valid for the audience.
k delete serviceaccount tok-sa --ignore-not-found >/dev/null 2>&1
k create serviceaccount tok-sa >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: tok-pod}
spec:
  nodeName: $NODE
  serviceAccountName: tok-sa
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: ["sh", "-c", "echo token=\$(cat /var/run/tok/token); exec sleep 3600"]
    volumeMounts: [{name: tok, mountPath: /var/run/tok}]
  volumes:
  - name: tok
    projected:
      sources:
      - serviceAccountToken: {path: token, audience: e2e-aud, expirationSeconds: 600}
YAML
check "projected serviceAccountToken: the pod runs" wait_for 40 sh -c \
  "[ \"\$(kubectl get pod tok-pod -o jsonpath='{.status.phase}')\" = Running ]"
token=""
get_token() { token=$(log_of tok-pod c | sed -n 's/^token=//p' | head -1); [ -n "$token" ]; }
check "... its token file holds a JWT" wait_for 15 get_token
review() {
  printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"%s","audiences":["e2e-aud"]}}' "$token" |
    k create -o json -f - 2>/dev/null |
    jq -e '.status.authenticated == true and .status.user.username == "system:serviceaccount:default:tok-sa" and (.status.user.extra["authentication.kubernetes.io/pod-name"][0] == "tok-pod")' >/dev/null
}
check "... which the API server accepts for the audience, bound to the pod (TokenReview)" review
k delete pod tok-pod --wait=false >/dev/null
check "... pod deleted: gone" wait_for 30 is_gone c default/tok-pod

# A pod naming many Secrets does not make as many watches (threads and API streams): at most 32, the
# others read by GET. 80 optional Secrets that do not exist, then one that does (read by GET: past the 32).
watches() { grep -lx kube-watch /proc/"$CUBELET_PID"/task/*/comm 2>/dev/null | wc -l; }
before=$(watches)
{
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: many-refs}\nspec:\n  nodeName: %s\n' "$NODE"
  printf '  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: %s\n' "$IMG"
  printf '    imagePullPolicy: Never\n    command: ["sh", "-c", "echo user=$USER_FROM_SEC; exec sleep 3600"]\n    env:\n'
  for i in $(seq 0 79); do
    printf '    - {name: V%s, valueFrom: {secretKeyRef: {name: many-%s, key: k, optional: true}}}\n' "$i" "$i"
  done
  printf '    - {name: USER_FROM_SEC, valueFrom: {secretKeyRef: {name: vol-sec, key: user}}}\n'
} | k apply -f - >/dev/null
check "a pod naming 81 Secrets runs" wait_for 120 sh -c \
  "[ \"\$(kubectl get pod many-refs -o jsonpath='{.status.phase}')\" = Running ]"
check "... with the value of the one that exists (read by GET)" wait_for 15 log_line many-refs c user=admin
during=$(watches)
echo "# kube-watch threads: $before before, $during with the pod"
check "... and at most 32 more watches for them" test "$during" -le $((before + 32))
k delete pod many-refs --wait=false >/dev/null
many_gone() { ! cri ps -a | grep -q many-refs && [ "$(watches)" -le "$before" ]; }
check "... pod deleted: gone, and its watches stopped" wait_for 30 many_gone

# A static pod may not use API objects. (Last: the status writer retries the refused mirror pod, which holds
# up other pods' statuses.)
cat >"$M/static-cm.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: static-cm}
spec:
  containers:
  - {name: c, image: $IMG, command: ["sleep", "3600"], volumeMounts: [{name: v, mountPath: /v}]}
  volumes:
  - {name: v, configMap: {name: vol-cfg}}
YAML

check "static pod with a configMap volume: refused with a clear reason" wait_for 20 log_has \
  'static pods may not reference API objects: configmap \\"vol-cfg\\"'
check "... as a FailedMount event on its mirror pod" wait_for 20 failed_mount "static-cm-$NODE" \
  'static pods may not reference API objects: configmap "vol-cfg"'

rm -f "$M"/*
wait_for 30 is_gone c default/vol-missing
wait_for 30 is_gone c "default/static-cm-$NODE"
check "cubelet stops cleanly" stop_cubelet
k delete configmap vol-cfg vol-absent --ignore-not-found >/dev/null 2>&1
k delete secret vol-sec --ignore-not-found >/dev/null 2>&1
k delete serviceaccount tok-sa --ignore-not-found >/dev/null 2>&1
k delete node "$NODE" >/dev/null 2>&1
finish

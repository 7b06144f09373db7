#!/bin/bash
# Container log rotation against a real containerd (ReopenContainerLog): a chatty container's log is
# rotated above containerLogMaxSize, at most containerLogMaxFiles files are kept, the container goes on
# writing to the reopened file; the /var/log/containers-style link follows the log and goes with the pod.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
cat >"$WORK/config.yaml" <<'YAML'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerLogMaxSize: 4Ki
containerLogMaxFiles: 3
containerLogMonitorInterval: 1s
YAML
cat >"$M/chatty.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", "i=0; while :; do i=\$((i+1)); echo line-\$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; sleep 0.02; done"]
YAML
start_cubelet "$M" --config "$WORK/config.yaml"
check "the chatty container runs" wait_for 30 is_running c default/chatty-$NODE
dir() { ls -d "$WORK"/logs/default_chatty-"$NODE"_*/c 2>/dev/null | head -1; }
rotated() { ls "$(dir)" 2>/dev/null | grep -c '^0\.log\.' ; }
check "its log is rotated (a 0.log.<stamp> file appears)" wait_for 20 sh -c "[ \$(ls '$(dir)' | grep -c '^0\.log\.') -ge 1 ]"
sleep 6
check "at most containerLogMaxFiles (3) files are kept" sh -c "[ \$(ls '$(dir)' | grep -c '^0\.log') -le 3 ]"
check "... and rotation goes on (two rotated files)" sh -c "[ \$(ls '$(dir)' | grep -c '^0\.log\.') -eq 2 ]"
grows() { local a b; a=$(stat -c %s "$(dir)/0.log"); sleep 0.5; b=$(stat -c %s "$(dir)/0.log"); [ "$b" -gt "$a" ] || [ "$b" -lt "$a" ]; }
check "the container writes to the reopened 0.log" grows
check "... which the log file's last lines show" sh -c "tail -n1 '$(dir)/0.log' | grep -q 'stdout F line-'"
link() { ls "$WORK"/containers/chatty-"$NODE"_default_c-*.log 2>/dev/null | head -1; }
check "a containers/<pod>_<ns>_<container>-<id>.log link points at the log" sh -c \
  "l=\$(ls '$WORK'/containers/chatty-${NODE}_default_c-*.log | head -1); [ -L \"\$l\" ] && [ \"\$(readlink -f \"\$l\")\" = \"\$(readlink -f '$(dir)/0.log')\" ]"
rm -f "$M"/*
check "pod removed" wait_for 30 is_gone c default/chatty-$NODE
check "... and its dangling link is pruned" wait_for 10 sh -c "! ls '$WORK'/containers/chatty-*.log >/dev/null 2>&1"
check "cubelet exits cleanly" stop_cubelet
finish

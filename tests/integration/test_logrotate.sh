#!/bin/bash
# Container log rotation against a real containerd (ReopenContainerLog), as upstream's container log
# manager: a chatty container's log is rotated above containerLogMaxSize, the rotated files older than the
# newest one are gzipped, at most containerLogMaxFiles files are kept (the live one included), the
# container goes on writing to the reopened file and nothing it wrote is lost between the files; the
# node server reads the live log and the previous instance's as plain text; the /var/log/containers-style
# link follows the log and goes with the pod, and the log directory (.gz files and all) goes too.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
MAX_FILES=4
cat >"$WORK/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerLogMaxSize: 4Ki
containerLogMaxFiles: $MAX_FILES
containerLogMonitorInterval: 1s
YAML
# Bursts of 50 numbered lines, then a short pause: a few hundred KiB a second.
writer='i=0; burst() { j=0; while [ $j -lt 50 ]; do i=$((i+1)); j=$((j+1)); echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done; sleep 0.01; }'
cat >"$M/chatty.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", '$writer; while :; do burst; done']
YAML
# Writes for about six seconds, says how far it got, and fails: its log stays put for the checks, and the
# restarted instance makes it the "previous" one. That one only sleeps (an emptyDir remembers the first):
# a third instance would have the first one's container, and its logs, removed (one dead container kept)
# while a busy machine is still checking them.
cat >"$M/quitter.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: quitter}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", 'if [ -e /m/once ]; then exec sleep 3600; fi; touch /m/once; $writer; end=\$((\$(date +%s) + 6)); while [ \$(date +%s) -lt \$end ]; do burst; done; echo done-\$i; exit 1']
    volumeMounts: [{name: m, mountPath: /m}]
  volumes:
  - {name: m, emptyDir: {}}
YAML
# Writes a batch of lines ending with a marker, then waits (reading the node's log directory through a
# hostPath) until the log manager has rotated the file that holds the marker and its 0.log is empty, and
# fails without writing more: its 0.log is empty when it ends, as when a rotation falls just before a
# container's exit. (A rotation in the middle of a batch leaves too little to rotate again: after 3 s it
# writes another.) Its second instance only sleeps (an emptyDir remembers the first).
cat >"$M/rotated.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: rotated}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: cubelet.local/busybox:1.35
    command: ["sh", "-c", 'if [ -e /m/once ]; then exec sleep 3600; fi; touch /m/once; $writer; L=\$(ls -d /podlogs/default_rotated-*/c); k=0; while [ \$k -lt 40 ]; do k=\$((k+1)); burst; burst; echo rot-last-\$k; t=0; while [ \$t -lt 30 ]; do if [ ! -s \$L/0.log ] && grep -qs "^.* stdout F rot-last-\$k\$" \$L/0.log.2*; then exit 1; fi; t=\$((t+1)); sleep 0.1; done; done; exit 1']
    volumeMounts: [{name: m, mountPath: /m}, {name: logs, mountPath: /podlogs, readOnly: true}]
  volumes:
  - {name: m, emptyDir: {}}
  - {name: logs, hostPath: {path: "$WORK/logs", type: Directory}}
YAML
start_cubelet "$M" --config "$WORK/config.yaml" --anonymous-auth true --authorization-mode AlwaysAllow
check "the chatty container runs" wait_for 30 is_running c default/chatty-$NODE
dir() { ls -d "$WORK"/logs/default_"$1"-"$NODE"_*/c 2>/dev/null | head -1; }
CHATTY=$(dir chatty)
# The container's files as upstream counts them: a .tmp is a compression under way, and a plain file
# beside its own .gz is one being replaced (both go at once).
files() { # files DIR: the log files, oldest first, the live one last
  local d=$1 f
  for f in $(ls "$d" | grep '^0\.log\.' | grep -v '\.tmp$' | sort); do
    [ -e "$d/$f.gz" ] || echo "$f"
  done
  [ -e "$d/0.log" ] && echo 0.log
}
count() { files "$1" | grep -c .; }
check "its log is rotated (a 0.log.<stamp> file appears)" wait_for 20 sh -c "ls '$CHATTY' | grep -q '^0\.log\.[0-9]\{8\}-[0-9]\{6\}$'"
check "... and the older rotated files are gzipped (a 0.log.<stamp>.gz appears)" wait_for 20 sh -c \
  "ls '$CHATTY' | grep -q '^0\.log\.[0-9]\{8\}-[0-9]\{6\}\.gz$'"
# Watch the directory for a while: never more than containerLogMaxFiles files.
most=0
for _ in $(seq 60); do n=$(count "$CHATTY"); [ "$n" -gt "$most" ] && most=$n; sleep 0.1; done
check "at most containerLogMaxFiles ($MAX_FILES) files at any time (most seen: $most)" [ "$most" -le "$MAX_FILES" ]
check "... and rotation goes on ($((MAX_FILES - 1)) rotated files)" wait_for 10 sh -c \
  "[ \$(ls '$CHATTY' | grep -v '\.tmp\$' | grep -c '^0\.log\.') -eq $((MAX_FILES - 1)) ]"
grows() { local a b; a=$(stat -c %s "$CHATTY/0.log"); sleep 0.5; b=$(stat -c %s "$CHATTY/0.log"); [ "$b" -gt "$a" ] || [ "$b" -lt "$a" ]; }
check "the container writes to the reopened 0.log" grows
# Retried: a 0.log just reopened is empty until the container's next burst, which a busy machine delays.
check "... which the log file's last lines show" wait_for 10 sh -c "tail -n1 '$CHATTY/0.log' | grep -q 'stdout F line-'"

# The lines' numbers, oldest file first: no number missing or repeated inside a file or between files.
numbers() { # numbers DIR
  local f
  for f in $(files "$1"); do
    case $f in *.gz) gzip -dc "$1/$f" ;; *) cat "$1/$f" ;; esac
  done | sed -n 's/^[^ ]* stdout [PF] line-\([0-9]*\)-.*/\1/p'
}
consecutive() { # reads numbers; true when each is one more than the one before (and there is one)
  awk 'NR > 1 && $1 != prev + 1 { bad = 1; print "# gap after " prev ": " $1 } { prev = $1 }
       END { if (NR == 0) print "# no lines"; exit bad || NR == 0 }'
}
# snapshot DIR: hard links to its log files in a new directory (printed), taken in one quick pass, or fails
# when the listing changed meanwhile (a rotation or a compression). Reading the files themselves takes long
# on a busy machine: a rotation in the middle removed the file about to be read, and a live container's
# log showed a gap at every try.
snapshot() {
  local d=$1 s before f
  s=$(mktemp -d "$WORK/snap.XXXXXX")
  before=$(ls "$d")
  for f in $(files "$d"); do ln "$d/$f" "$s/$f" 2>/dev/null || { rm -rf "$s"; return 1; }; done
  [ "$(ls "$d")" = "$before" ] || { rm -rf "$s"; return 1; }
  echo "$s"
}
# continuous DIR: the numbers of a snapshot of DIR run on, through three files at least (two boundaries:
# a compressed file's and the plain rotated one's). How many lines that is depends on how fast the container
# wrote between two rotations: a few hundred on a busy machine (1000 was asked for once, and failed there).
continuous() {
  local s rc n
  s=$(snapshot "$1") || return 1
  n=$(files "$s" | grep -c .)
  numbers "$s" | consecutive
  rc=$?
  [ "$n" -ge 3 ] || { echo "# only $n files"; rc=1; }
  [ "$rc" = 0 ] || echo "# $(numbers "$s" | grep -c .) lines in $n files"
  rm -rf "$s"
  return "$rc"
}
# A rotation between the listing and the links fails the try; a real loss shows up every time.
check "chatty: the lines run on without a gap from the oldest file to the live one" wait_for 60 continuous "$CHATTY"

quitter_done() { [ "$(exited_count c "default/quitter-$NODE")" -ge 1 ] || [ "$(attempts c "default/quitter-$NODE")" -ge 1 ]; }
check "the quitter's first instance has finished" wait_for 30 quitter_done
QUITTER=$(dir quitter)
ls -l "$QUITTER" | sed 's/^/# /'
check "quitter: at most containerLogMaxFiles ($MAX_FILES) files" sh -c "[ \$(ls '$QUITTER' | grep -c '^0\.log') -le $MAX_FILES ]"
check "... no .tmp left over" sh -c "! ls '$QUITTER' | grep -q '\.tmp\$'"
gz_ok() { local f n=0; for f in "$QUITTER"/0.log.*.gz; do [ -e "$f" ] || return 1; gzip -t "$f" || return 1; n=$((n + 1)); done; [ "$n" -ge 1 ]; }
check "... the older rotated files are valid gzip (gzip -t)" gz_ok
newest_plain() {
  local newest
  newest=$(ls "$QUITTER" | grep '^0\.log\.' | sort | tail -1)
  echo "# newest rotated: $newest"
  case $newest in *.gz | *.tmp | "") return 1 ;; esac
  ! gzip -t "$QUITTER/$newest" 2>/dev/null && grep -q '^[^ ]* stdout F line-' "$QUITTER/$newest"
}
check "... the newest rotated file is plain CRI text" newest_plain
check "... only the newest rotated file is plain" sh -c \
  "[ \$(ls '$QUITTER' | grep '^0\.log\.' | grep -vc '\.gz\$') -eq 1 ]"
# Its files are final (1.log may appear beside them): a retry only gets past a listing that changed.
check "... the lines run on without a gap from the oldest file to the last one" wait_for 30 continuous "$QUITTER"
# The file that holds the container's last line: 0.log, or when the log manager rotated it after that line
# was written (before the exit was seen), the newest rotated file. kubectl logs reads the same one.
last_file() {
  if [ -s "$QUITTER/0.log" ]; then echo "$QUITTER/0.log"; return; fi
  echo "$QUITTER/$(ls "$QUITTER" | grep '^0\.log\.[0-9]\{8\}-[0-9]\{6\}$' | sort | tail -1)"
}
last_line() { # the container's final "done-N" names the last line of all
  local done
  done=$(tail -n1 "$(last_file)" | sed -n 's/.* stdout F done-\([0-9]*\)$/\1/p')
  [ -n "$done" ] && [ "$done" = "$(numbers "$QUITTER" | tail -n1)" ]
}
check "... and end with the container's last line" last_line

# The node server (kubectl logs): the live file and, with previous=true, the previous instance's, as plain
# text, never a rotated or compressed one.
URL="https://127.0.0.1:$NODE_PORT/containerLogs/default"
check "the quitter restarted (a 1.log)" wait_for 60 test -e "$QUITTER/1.log"
plain_lines() { # plain_lines FILE: what the container wrote, line by line (how much depends on when the
  # file was last rotated)
  if grep -avE '^(line-[0-9]+-x+|done-[0-9]+)$' "$1" | head -3 | sed 's/^/# unexpected: /' | grep .; then
    return 1
  fi
  [ "$(wc -l <"$1")" -ge 1 ] || { echo "# no lines"; return 1; }
}
get_plain() { # get_plain URL FILE
  local rc=0
  curl -sSfk "$1" >"$2" || rc=$?
  [ "$rc" = 0 ] || { echo "# curl $1: exit $rc"; return 1; }
  plain_lines "$2"
}
check "containerLogs?previous=true: the previous instance's 0.log as plain lines" \
  get_plain "$URL/quitter-$NODE/c?previous=true" "$WORK/prev.out"
check "... ending where the container stopped" sh -c \
  "[ \"\$(tail -n1 '$WORK/prev.out')\" = \"\$(tail -n1 '$(last_file)' | cut -d' ' -f4-)\" ]"
# A log rotated just before its container ended: its 0.log is empty, and kubectl logs --previous shows the
# newest rotated file instead of nothing.
ROTATED=$(dir rotated)
check "the rotated pod's first instance ended after its log was rotated (a 1.log)" wait_for 60 test -e "$ROTATED/1.log"
ls -l "$ROTATED" | sed 's/^/# /'
check "... leaving its 0.log empty" test -e "$ROTATED/0.log" -a ! -s "$ROTATED/0.log"
check "containerLogs?previous=true of it: the rotated file's lines, ending with its last" sh -c \
  "curl -sSfk '$URL/rotated-$NODE/c?previous=true' >'$WORK/rot.out' && tail -n1 '$WORK/rot.out' | grep -q '^rot-last-[0-9]*\$'"
check "containerLogs of the chatty container: plain lines of the live file" \
  get_plain "$URL/chatty-$NODE/c?tailLines=200" "$WORK/live.out"

link() { ls "$WORK"/containers/chatty-"$NODE"_default_c-*.log 2>/dev/null | head -1; }
check "a containers/<pod>_<ns>_<container>-<id>.log link points at the log" sh -c \
  "l=\$(ls '$WORK'/containers/chatty-${NODE}_default_c-*.log | head -1); [ -L \"\$l\" ] && [ \"\$(readlink -f \"\$l\")\" = \"\$(readlink -f '$CHATTY/0.log')\" ]"
check "no link points at a rotated or compressed file" sh -c \
  "! ls -l '$WORK'/containers/ | grep -q '\.log\.[0-9]'"
# A dangling link goes only once its container has exited or is unknown to the runtime (upstream): a
# container created and not yet started has no log file yet, one being rotated has none for a moment.
CID=$(basename "$(link)" .log); CID=${CID##*-}
ln -sfn "$WORK/no-such.log" "$WORK/containers/early-${NODE}_default_c-$CID.log"
ln -sfn "$WORK/no-such.log" "$WORK/containers/ghost1-${NODE}_default_c-$(printf '%064d' 1).log"
check "a dangling link of a container the runtime does not know is pruned (every 6th pass: a minute at 10 s)" \
  wait_for 30 test ! -L "$WORK/containers/ghost1-${NODE}_default_c-$(printf '%064d' 1).log"
ln -sfn "$WORK/no-such.log" "$WORK/containers/ghost2-${NODE}_default_c-$(printf '%064d' 2).log"
check "... (a later pass too)" wait_for 30 test ! -L "$WORK/containers/ghost2-${NODE}_default_c-$(printf '%064d' 2).log"
check "... one of a running container stays" test -L "$WORK/containers/early-${NODE}_default_c-$CID.log"
rm -f "$WORK/containers/early-${NODE}_default_c-$CID.log"
rm -f "$M"/*
both_gone() { is_gone c "default/chatty-$NODE" && is_gone c "default/quitter-$NODE" && is_gone c "default/rotated-$NODE"; }
check "pods removed" wait_for 30 both_gone
check "... their dangling links are pruned" wait_for 30 sh -c "! ls '$WORK'/containers/*.log >/dev/null 2>&1"
check "... and their log directories go, .gz files and all" wait_for 10 sh -c "! ls -d '$WORK'/logs/default_* >/dev/null 2>&1"
check "cubelet exits cleanly" stop_cubelet
finish

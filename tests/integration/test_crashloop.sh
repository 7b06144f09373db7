#!/bin/bash
# CrashLoopBackOff timing against a real containerd: the first restart at once, then 10 s, 20 s, 40 s.
source "$(dirname "$0")/lib.sh"
skip_unless_ready
M="$WORK/manifests"
mkdir -p "$M"
start_cubelet "$M" --v=4
cat >"$M/crash.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: cubelet.local/busybox:1.35, command: ["sh", "-c", "exit 1"]}
YAML
starts_logged() { [ "$(grep -c "\"Container started\" pod=\"default/crash-$NODE\"" "$WORK/cubelet.log")" -ge "$1" ]; }
check "fourth restart within 120 s" wait_for 120 starts_logged 5

# Gaps between starts, from cubelet's log (the runtime keeps only the newest dead instance). The container
# exits at once, so a gap is the back-off plus the restart itself.
starts=$(grep "\"Container started\" pod=\"default/crash-$NODE\"" "$WORK/cubelet.log" |
  awk '{ split($2, t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }')
read -r -a s <<<"$(echo $starts)"
gap() { local d=$(( s[$2] - s[$1] )); [ $d -lt 0 ] && d=$(( d + 86400000 )); echo $d; } # midnight
g1=$(gap 0 1) g2=$(gap 1 2) g3=$(gap 2 3) g4=$(gap 3 4)
echo "# gaps between starts: ${g1} ms, ${g2} ms, ${g3} ms, ${g4} ms"
# The lower bounds are the back-off itself; the upper ones leave a busy machine 5 s for the restart.
check "first restart at once (< 5 s)" test "$g1" -lt 5000
check "then about 10 s" sh -c "[ $g2 -ge 9500 ] && [ $g2 -le 15000 ]"
check "then about 20 s" sh -c "[ $g3 -ge 19500 ] && [ $g3 -le 25000 ]"
check "then about 40 s" sh -c "[ $g4 -ge 39500 ] && [ $g4 -le 45000 ]"
check "status: CrashLoopBackOff, back-off 80s" wait_for 30 status_is crash \
  '.containerStatuses[0].state.waiting | [.reason, (.message | split(" ")[1])] | join(",")' CrashLoopBackOff,80s
# The last state is CRI's, whether the restart acted on containerd's exit event before CRI listed the exit
# (pleg/exits.c) or after: the exit code, the reason and the finish time of the newest instance, once CRI
# lists it exited.
newest_c() { cri ps -a | awk -F'\t' -v p="default/crash-$NODE" '$3 == "c" && $5 == p { print $4, $2, $1 }' | sort -n | tail -1; }
newest_exited() { [ "$(newest_c | cut -d' ' -f2)" = EXITED ]; }
check "the newest instance is listed exited" wait_for 30 newest_exited
fin=$(cri inspect "$(newest_c | cut -d' ' -f3)" | awk -F'\t' '$1 == "finishedAt" { print $2 }')
want="1,Error,$(date -u -d "@$(( fin / 1000000000 ))" +%Y-%m-%dT%H:%M:%SZ)"
check "status: the last state is the runtime's ($want)" wait_for 30 status_is crash \
  '.containerStatuses[0].lastState.terminated | [.exitCode, .reason, .finishedAt] | join(",")' "$want"
echo "# restarts that acted on the exit event before the runtime listed it:" \
  "$(grep 'Counting a container exited before the runtime lists it so' "$WORK/cubelet.log" | grep -o 'containerID="[^"]*"' |
    sort -u | grep -c .)"

# Each removed dead instance takes its log along (upstream's removeContainerLog): the newest two remain.
logs_of_c() { ls "$WORK"/logs/default_crash-"$NODE"_*/c/ 2>/dev/null | tr '\n' ' '; }
left=$(logs_of_c)
check "the logs of removed instances go with them (left: $left)" [ "$left" = "3.log 4.log " ]

rm -f "$M"/*
gone() { ! cri ps -a | grep -q -- "-$NODE"; }
check "pod removed" wait_for 15 gone
check "cubelet exits cleanly" stop_cubelet
finish

#!/usr/bin/env python3
"""The leak checks of tests/faults/leaks.sh, each in one process (the shell versions forked a few programs
per pod and mount: half a minute a pass with 30 pods on a busy machine, which was most of a fault test's
time).

    leaks.py CHECK...   sandboxes containers ips veths cgroups mounts poddirs, or all (every check, quiet)
    leaks.py report     every check on one listing of the node: "NAME ok" or "NAME failed" a check, each
                        preceded by its "NAME #   ..." lines (leaks.sh's lk_check_all)
    leaks.py wanted-uids | mount-points | leases | veth-names

Reads its settings from the environment (leaks.sh passes them): LK_CRI, LK_SOCK, LK_RE (an extended regex
on namespace/name), LK_WANT (the wanted pods, one a line), LK_ROOT, LK_CGROUP_ROOT, LK_MOUNTS_PER_POD,
LK_IPAM, LK_BRIDGE, LK_BASE_LEASES and LK_BASE_VETHS (what lk_init found). Each check prints what is wrong
("#   ..." lines) and exits 1, or exits 0.
"""
import io
import os
import re
import subprocess
import sys

ENV = os.environ


def env(name):
    return ENV.get(name, "")


def lines(name):
    return [x for x in env(name).split("\n") if x]


def cri(*args):
    out = subprocess.run([env("LK_CRI"), "-r", "unix://" + env("LK_SOCK")] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True, text=True).stdout
    return [ln.split("\t") for ln in out.split("\n")[1:] if ln]


class Node:
    """What the node holds, each listed once per run."""

    def __init__(self):
        self.re = re.compile(env("LK_RE"))
        self.want = lines("LK_WANT")
        self._sandboxes = self._containers = None

    def sandboxes(self):  # (id13, state, ns/name, uid)
        if self._sandboxes is None:
            self._sandboxes = [(r[0], r[1], r[2] + "/" + r[3], r[5]) for r in cri("pods")
                               if len(r) >= 6 and self.re.search(r[2] + "/" + r[3])]
        return self._sandboxes

    def containers(self):  # (id, state, name, ns/name, pod id13)
        if self._containers is None:
            self._containers = [(r[0], r[1], r[2], r[4], r[6]) for r in cri("ps", "-a")
                                if len(r) >= 7 and self.re.search(r[4])]
        return self._containers

    def wanted_uids(self):
        return sorted({uid for _, st, name, uid in self.sandboxes() if st == "READY" and name in self.want})


def say(msg):
    print("#   " + msg)


def check_sandboxes(node):
    ok = True
    sbs = node.sandboxes()
    for w in node.want:
        mine = [s for s in sbs if s[2] == w]
        if len(mine) != 1:
            say(f"{w} has {len(mine)} sandboxes")
            ok = False
        elif mine[0][1] != "READY":
            say(f"{w}: sandbox not ready")
            ok = False
    for sid, st, name, _ in sbs:
        if name not in node.want:
            say(f"leaked sandbox {sid} ({st}) of {name}")
            ok = False
    return ok


def check_containers(node):
    ok = True
    cs = node.containers()
    ready = {(s[0], s[2]) for s in node.sandboxes() if s[1] == "READY"}
    for w in node.want:
        names = [c[2] for c in cs if c[3] == w]
        if not names:
            say(f"{w} has no container")
            ok = False
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            say(f"{w} has more than one instance of: {' '.join(dup)}")
            ok = False
    for cid, st, name, pod, sb in cs:
        if pod not in node.want:
            say(f"leaked container {cid[:13]} ({name}, {st}) of {pod}")
            ok = False
        elif st != "RUNNING":
            say(f"container {cid[:13]} ({name}) of {pod} is {st}")
            ok = False
        elif (sb, pod) not in ready:
            say(f"container {cid[:13]} ({name}) of {pod} runs outside the pod's ready sandbox")
            ok = False
    return ok


def leases():
    """host-local's lease files: "ip id" (the file is named by the address, its first line the id)."""
    out = []
    d = env("LK_IPAM")
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return out
    for f in names:
        if f == "lock" or f.startswith("last_reserved_ip"):
            continue
        try:
            with open(os.path.join(d, f)) as fh:
                first = fh.readline().strip().replace("\r", "")
        except (OSError, UnicodeDecodeError):
            continue
        if os.path.isfile(os.path.join(d, f)):
            out.append(f"{f} {first}")
    return out


def check_ips(node):
    ok = True
    base = set(lines("LK_BASE_LEASES"))
    new = [x for x in leases() if x not in base]
    ready = {s[0] for s in node.sandboxes() if s[1] == "READY"}
    for lease in new:
        ip, _, lid = lease.partition(" ")
        if lid[:13] not in ready:
            say(f"leaked address {ip} (sandbox {lid[:13]} is not a ready sandbox of this node)")
            ok = False
    if len(new) != len(node.want):
        say(f"{len(new)} addresses leased for {len(node.want)} pods")
        ok = False
    return ok


def veth_names():
    if not env("LK_BRIDGE"):
        return []
    r = subprocess.run(["ip", "-o", "link", "show", "master", env("LK_BRIDGE"), "type", "veth"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    names = []
    for ln in r.stdout.split("\n"):
        parts = ln.split(": ")
        if len(parts) >= 2:
            names.append(parts[1].split("@")[0])
    return sorted(names)


def check_veths(node):
    base = set(lines("LK_BASE_VETHS"))
    new = [v for v in veth_names() if v not in base]
    if len(new) == len(node.want):
        return True
    say(f"{len(new)} veths on {env('LK_BRIDGE')} for {len(node.want)} pods: {' '.join(new)[:300]}")
    return False


def check_cgroups(node):
    ok = True
    want = node.wanted_uids()
    root = env("LK_CGROUP_ROOT")
    tops = [os.path.join("/sys/fs/cgroup", h) + root for h in sorted(os.listdir("/sys/fs/cgroup"))]
    tops.append("/sys/fs/cgroup" + root)
    have = []  # (uid, parent dir)
    for top in tops:
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for d, subdirs, _ in os.walk(top):
            for s in subdirs:
                if s.startswith("pod"):
                    have.append((s[3:], d))
    for uid, d in have:
        if uid not in want:
            say(f"leaked pod cgroup {d}/pod{uid}")
            ok = False
    found = {uid for uid, _ in have}
    for uid in want:
        if uid not in found:
            say(f"no cgroup for wanted pod {uid}")
            ok = False
    return ok


def unescape(field):  # mountinfo's octal escapes (\040 for a space)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points():
    root = env("LK_ROOT")
    out = []
    with open("/proc/self/mountinfo") as fh:
        for ln in fh:
            f = ln.split(" ")
            if len(f) < 5:
                continue
            mp = unescape(f[4])
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return out


def check_mounts(node):
    ok = True
    mps = mount_points()
    want = node.wanted_uids()
    dup = sorted({m for m in mps if mps.count(m) > 1})
    if dup:
        say(f"mounted more than once: {' '.join(dup)[:300]}")
        ok = False
    prefix = env("LK_ROOT") + "/pods/"
    for mp in mps:
        uid = mp[len(prefix):].split("/")[0] if mp.startswith(prefix) else None
        if uid is None or uid not in want:
            say(f"leaked mount {mp}")
            ok = False
    per = env("LK_MOUNTS_PER_POD")
    if per:
        for uid in want:
            n = sum(1 for m in mps if m.startswith(prefix + uid + "/"))
            if n != int(per):
                say(f"pod {uid} has {n} mounts, not {per}")
                ok = False
    return ok


def check_poddirs(node):
    try:
        have = sorted(os.listdir(env("LK_ROOT") + "/pods"))
    except OSError:
        have = []
    want = node.wanted_uids()
    ok = True
    for d in have:
        if d not in want:
            say(f"leaked pod directory {d}")
            ok = False
    for uid in want:
        if uid not in have:
            say(f"no directory for wanted pod {uid}")
            ok = False
    return ok


CHECKS = {"sandboxes": check_sandboxes, "containers": check_containers, "ips": check_ips,
          "veths": check_veths, "cgroups": check_cgroups, "mounts": check_mounts, "poddirs": check_poddirs}


def report(node):
    real = sys.stdout
    for c in CHECKS:
        said = io.StringIO()
        sys.stdout = said
        try:
            ok = CHECKS[c](node)
        except subprocess.CalledProcessError:
            say("cannot list sandboxes or containers")
            ok = False
        finally:
            sys.stdout = real
        for line in said.getvalue().splitlines():
            print(f"{c} {line}")
        print(f"{c} {'ok' if ok else 'failed'}")
    return 0


def main(args):
    if args == ["leases"]:
        print("\n".join(leases()))
        return 0
    if args == ["veth-names"]:
        print("\n".join(veth_names()))
        return 0
    if args == ["mount-points"]:
        print("\n".join(mount_points()))
        return 0
    node = Node()
    try:
        if args == ["wanted-uids"]:
            print("\n".join(node.wanted_uids()))
            return 0
        if args == ["report"]:
            return report(node)
        if args == ["all"]:  # quiet, stops at the first failing check
            with open(os.devnull, "w") as null:
                sys.stdout = null
                return 0 if all(CHECKS[c](node) for c in CHECKS) else 1
        ok = True
        for c in args:
            ok = CHECKS[c](node) and ok
        return 0 if ok else 1
    except subprocess.CalledProcessError:
        say("cannot list sandboxes or containers")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Hostile clients of the node server, for the tests and bench/ (not a tool for anything else).

  flood.py idle   --port P [--src ADDR] [-n N] [--hold S]
      opens N TCP connections from ADDR that never send a byte and holds them S seconds; prints JSON:
      how many the server closed at once (< 2 s: refused), later (idle timeout), and never.
  flood.py tokens --port P [--src ADDR] [--duration S] [--workers W]
      W clients sending GET /pods over TLS with a fresh random bearer token each, for S seconds or until
      SIGTERM; prints JSON with the count of each HTTP status (0: no answer)."""
import argparse, json, os, secrets, select, signal, socket, ssl, sys, threading, time


def idle(a):
    socks, opened = {}, time.monotonic()
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.bind((a.src, 0))
        try:
            s.connect((a.host, a.port))
        except OSError:
            s.close()
            continue
        socks[s.fileno()] = (s, time.monotonic())
    connected = len(socks)
    closed_fast = closed_late = 0
    deadline = opened + a.hold
    poller = select.poll()
    for fd in socks:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while socks and time.monotonic() < deadline:
        for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            # The client never sent a byte: whatever comes is the end (EOF, a reset, or a TLS alert first).
            s, t = socks.pop(fd)
            poller.unregister(fd)
            if time.monotonic() - t < 2:
                closed_fast += 1
            else:
                closed_late += 1
            s.close()
    open_at_end = len(socks)
    for s, _ in socks.values():
        s.close()
    print(json.dumps({"connected": connected, "closed_fast": closed_fast, "closed_late": closed_late,
                      "open_at_end": open_at_end}))


def tokens(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    counts, lock, stop = {}, threading.Lock(), threading.Event()
    deadline = time.monotonic() + a.duration
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def worker():
        while time.monotonic() < deadline and not stop.is_set():
            code = 0
            try:
                with socket.create_connection((a.host, a.port), timeout=10, source_address=(a.src, 0)) as raw:
                    with ctx.wrap_socket(raw) as s:
                        s.sendall(("GET /pods HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer %s\r\n"
                                   "Connection: close\r\n\r\n" % secrets.token_urlsafe(24)).encode())
                        head = s.recv(64).decode("latin-1")
                        code = int(head.split(" ")[1]) if head.startswith("HTTP/") else 0
            except (OSError, ValueError, IndexError):
                code = 0
            with lock:
                counts[code] = counts.get(code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(a.workers)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    print(json.dumps({str(k): v for k, v in sorted(counts.items())}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["idle", "tokens"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--src", default="127.0.0.2")
    p.add_argument("-n", type=int, default=300)
    p.add_argument("--hold", type=float, default=5)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--workers", type=int, default=16)
    a = p.parse_args()
    idle(a) if a.mode == "idle" else tokens(a)


if __name__ == "__main__":
    main()

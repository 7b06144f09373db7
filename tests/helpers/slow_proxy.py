#!/usr/bin/env python3
"""A reverse proxy for a registry that makes blob downloads slow: slow_proxy.py LISTEN_PORT UPSTREAM DELAY_S LOG.

Every request is passed to UPSTREAM (host:port, plain HTTP) with its headers; a GET or HEAD of a manifest or
a blob that carries credentials waits DELAY_S seconds first (a pull always resolves its manifest, even when
the runtime has every blob already; the unauthenticated first try, answered 401, is not slowed). Each request is logged as "<start> <end> <method> <path> <status>" (seconds since the
epoch), so a test can tell which pulls overlapped and how many there were. Listens on 127.0.0.1 only."""
import http.client
import http.server
import sys
import threading
import time

PORT, UPSTREAM, DELAY, LOG = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
log_lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        start = time.time()
        if (self.command in ("GET", "HEAD") and ("/blobs/" in self.path or "/manifests/" in self.path)
                and self.headers.get("Authorization")):
            time.sleep(DELAY)
        body = None
        if self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        # A HEAD answer has no body but says how long the GET's would be (containerd needs the size).
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()
        with log_lock, open(LOG, "a") as f:
            f.write(f"{start:.3f} {time.time():.3f} {self.command} {self.path} {resp.status}\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()

#!/usr/bin/env python3
"""A Kubernetes channel-protocol WebSocket client for the e2e tests (exec, attach, port-forward).

Connects to URL with a client certificate, offers the given subprotocols, optionally sends data on
channels, reads every frame until the server closes (or --duration passes) and prints one JSON object:
{"protocol": negotiated, "status": 101, "headers": {...}, "channels": {"1": "text", ...}}.

Framing (k8s.io/apimachinery wsstream): in channel.k8s.io and v4.channel.k8s.io each binary frame starts
with its channel number byte; in base64.channel.k8s.io and v4.base64.channel.k8s.io each text frame starts
with the channel number as an ASCII digit and carries base64. Port forwarding starts every channel with
the port number (2 bytes, little endian); --port-prefix strips and reports them.
"""
import argparse
import base64
import json
import ssl
import sys
import time

import websocket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--protocol", action="append", default=[], help="offered subprotocol, in order")
    ap.add_argument("--send", action="append", default=[], metavar="CH:TEXT",
                    help="data to send on channel CH once connected (\\n is a newline)")
    ap.add_argument("--duration", type=float, default=20.0, help="stop reading after this many seconds")
    ap.add_argument("--port-prefix", action="store_true", help="each channel starts with a 2-byte port")
    a = ap.parse_args()

    sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": a.ca, "certfile": a.cert, "keyfile": a.key}
    out = {"protocol": None, "status": None, "headers": {}, "channels": {}, "ports": {}}
    try:
        ws = websocket.create_connection(a.url, subprotocols=a.protocol or None, sslopt=sslopt, timeout=10)
    except websocket.WebSocketBadStatusException as e:
        out["status"] = e.status_code
        out["error"] = str(e)
        print(json.dumps(out))
        return 0
    out["status"] = ws.getstatus()
    out["protocol"] = ws.subprotocol
    out["headers"] = {k.lower(): v for k, v in (ws.getheaders() or {}).items()}
    b64 = bool(ws.subprotocol) and "base64" in ws.subprotocol

    for s in a.send:
        ch, _, text = s.partition(":")
        data = text.replace("\\n", "\n").encode()
        if b64:
            ws.send(ch + base64.b64encode(data).decode(), opcode=websocket.ABNF.OPCODE_TEXT)
        else:
            ws.send(bytes([int(ch)]) + data, opcode=websocket.ABNF.OPCODE_BINARY)

    chans = {}
    deadline = time.monotonic() + a.duration
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ws.settimeout(left)
        try:
            opcode, data = ws.recv_data()
        except (websocket.WebSocketTimeoutException, TimeoutError):
            break
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if not data:
            continue
        if b64:
            text = data.decode() if isinstance(data, bytes) else data
            ch, payload = int(text[0]), base64.b64decode(text[1:])
        else:
            ch, payload = data[0], bytes(data[1:])
        chans.setdefault(ch, bytearray()).extend(payload)
    try:
        ws.close(timeout=1)
    except Exception:
        pass

    for ch, buf in chans.items():
        if a.port_prefix and len(buf) >= 2:
            out["ports"][str(ch)] = buf[0] | buf[1] << 8
            buf = buf[2:]
        out["channels"][str(ch)] = buf.decode(errors="replace")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

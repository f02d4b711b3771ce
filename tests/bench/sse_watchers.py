#!/usr/bin/env python3
"""N SSE watchers of one session on one docshare-server: its RSS and threads
with them all open, and the delivery time of one shared document to all of
them (from the upload's answer, which comes after the append, to each
watcher's read of the event; p50/p99/max).

  sse_watchers.py --http PORT --pid PID --session ID --agent-token T \
      --file photo.jpg [--watchers 2000]

Plain sockets and one selector: the client side costs no threads either.
"""
import argparse
import http.client
import selectors
import socket
import time


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["Threads"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--agent-token", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--watchers", type=int, default=2000)
    args = ap.parse_args()

    rss0, threads0 = proc_status(args.pid)
    sel = selectors.DefaultSelector()
    request = (f"GET /v1/sessions/{args.session}/events?after_sequence=0 HTTP/1.1\r\n"
               f"Host: x\r\nAuthorization: Bearer {args.agent_token}\r\n\r\n").encode()
    seen = {}
    for _ in range(args.watchers):
        s = socket.create_connection(("127.0.0.1", args.http))
        s.sendall(request)
        s.setblocking(False)
        seen[s] = b""
        sel.register(s, selectors.EVENT_READ)

    def pump(until, predicate, stamp=None):
        while time.monotonic() < until and not predicate():
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(65536)
                if not data:  # refused (a cap) or closed: counted as not open
                    sel.unregister(key.fileobj)
                    continue
                seen[key.fileobj] += data
                if stamp is not None and key.fileobj not in stamp and \
                        b"event: document_shared" in seen[key.fileobj]:
                    stamp[key.fileobj] = time.monotonic()

    deadline = time.monotonic() + 300
    pump(deadline, lambda: all(b"retry:" in v or b"HTTP/1.1 4" in v
                               for v in seen.values()))
    opened = sum(1 for v in seen.values() if b"retry:" in v)
    rss1, threads1 = proc_status(args.pid)
    print(f"watchers open: {opened}/{args.watchers}")
    print(f"server before: rss {rss0} MiB, threads {threads0}")
    print(f"server with watchers: rss {rss1} MiB, threads {threads1}")

    body = open(args.file, "rb").read()
    conn = http.client.HTTPConnection("127.0.0.1", args.http, timeout=300)
    conn.request("POST", f"/v1/sessions/{args.session}/documents?filename=bench.jpg",
                 body, {"Authorization": f"Bearer {args.agent_token}",
                        "Content-Type": "image/jpeg"})
    reply = conn.getresponse()
    reply.read()
    appended = time.monotonic()
    stamps = {}
    pump(appended + 300, lambda: len(stamps) == opened, stamps)
    lat = sorted((t - appended) * 1000 for t in stamps.values())
    if lat:
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print(f"upload status {reply.status}; delivered to {len(lat)}/{len(seen)}: "
              f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms "
              "(from the upload's answer)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Threads and memory of docshare-server holding N open HTTP requests.

Not a test: a measurement. Starts the server on loopback, opens N connections
that each send a request's headers (POST /v1/check, body still to come, so each
is a request in flight, as an SSE stream will be), and reads the server's
thread count and RSS from /proc before and after.

  python3 tests/http/bench/idle_connections.py build/docshare-server 2000
"""
import json
import os
import resource
import socket
import subprocess
import sys
import time


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def main():
    binary, count = sys.argv[1], int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    server = subprocess.Popen(
        [binary, "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
         "--http-address=127.0.0.1:0", "--admin-token=bench", "--render-isolation=thread",
         "--render-workers=1"],
        stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard)))
    port = None
    for line in server.stdout:
        if '"started"' in line or "http_port" in line:
            port = json.loads(line).get("http_port")
            if port:
                break
    time.sleep(1)  # let start-up threads settle before the first reading
    before = proc_status(server.pid)
    sockets = []
    request = (b"POST /v1/check HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench\r\n"
               b"Content-Length: 4096\r\n\r\n")
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        sockets.append(s)
    time.sleep(2)  # a measurement, not a test: give the loop time to read every header
    after = proc_status(server.pid)
    print(f"connections={count} threads_before={before[0]} threads_after={after[0]} "
          f"rss_kib_before={before[1]} rss_kib_after={after[1]} "
          f"rss_per_connection_bytes={(after[1] - before[1]) * 1024 // max(count, 1)}")
    for s in sockets:
        s.close()
    server.terminate()
    server.wait(timeout=60)


if __name__ == "__main__":
    main()

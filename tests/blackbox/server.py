"""A docshare-server process on loopback for the black-box tests."""

import json
import os
import subprocess
import threading

ADMIN_TOKEN = "blackbox-admin-0123456789abcdef0123"


class Server:
    """Starts docshare-server on 127.0.0.1 port 0 and learns its port from the
    `started` log line."""

    def __init__(self, binary, *flags):
        self.proc = subprocess.Popen(
            [binary, "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
             "--http-address=127.0.0.1:0", "--admin-token=" + ADMIN_TOKEN,
             "--render-timeout=240", *flags],
            stdout=subprocess.PIPE, text=True)
        self.port = None
        self.metrics_port = None
        started = threading.Event()

        def read():
            for line in self.proc.stdout:  # drained to the end, so it never blocks
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("event") == "started":
                    self.port = entry["grpc_port"]
                    self.metrics_port = entry.get("metrics_port")
                    started.set()
            started.set()

        threading.Thread(target=read, daemon=True).start()
        if not started.wait(120) or self.port is None:
            self.stop()
            raise RuntimeError("docshare-server did not start")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("set " + name)
    return value

"""Black-box tests of the document lifecycle from Python's grpcio (default
settings) against two docshare-server replicas sharing one real redis-server:
withdraw mid-session with watchers live, late, reconnecting and on the other
replica, then a search of every Redis key and of the preview cache for the
bytes; acknowledgements seen by the agent exactly once; GetSession after a
replica restarts; each error's ErrorInfo decoded.

Run by ctest (label blackbox) with the variables of test_python.py."""

import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import ADMIN_TOKEN, Server, env  # noqa: E402
from test_python import Client, bearer, compile_protos  # noqa: E402

SECRET = "blackbox-lifecycle-secret-0123456789abcdef"
WAIT = 120  # seconds: a bound, never a sleep


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of the test's own, no persistence."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port",
             str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while self.cli("PING").strip() != b"PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)  # polling a condition, bounded by the deadline

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), "--raw", *args],
                              capture_output=True).stdout

    def everything(self):
        """Every key's name, DUMP, and a stream's entries, as bytes."""
        out = b""
        for key in self.cli("--scan").split(b"\n"):
            if not key:
                continue
            k = key.decode()
            out += key + self.cli("DUMP", k)
            if self.cli("TYPE", k).strip() == b"stream":
                out += self.cli("XRANGE", k, "-", "+")
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)


class Watch:
    """A WatchSession read on a thread into a queue."""

    def __init__(self, client, token, session_id, after=0):
        self.stream = client.watch(
            client.pb.WatchSessionRequest(session_id=session_id, after_sequence=after),
            metadata=bearer(token), timeout=WAIT)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for event in self.stream:
                self.events.put(event)
        except grpc.RpcError:
            pass
        self.events.put(None)

    def next(self):
        return self.events.get(timeout=WAIT)

    def until_end(self):
        out = []
        while True:
            event = self.next()
            if event is None:
                return out
            out.append(event)

    def cancel(self):
        self.stream.cancel()


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pb, cls.status_pb, cls.details_pb = compile_protos(cls.tmp.name)
        cls.redis = Redis()
        cls.flags = ["--backplane=redis://127.0.0.1:%d" % cls.redis.port,
                     "--token-secret=" + SECRET]
        cls.a = Server(env("DOCSHARE_SERVER"), *cls.flags)
        cls.b = Server(env("DOCSHARE_SERVER"), *cls.flags)
        cls.on_a = cls.client(cls.a)
        cls.on_b = cls.client(cls.b)

    @classmethod
    def client(cls, server):
        c = Client(server.address, cls.pb)
        ch = c.channel
        pb = cls.pb
        c.withdraw = ch.unary_unary("/docshare.v1.DocumentService/WithdrawDocument",
                                    pb.WithdrawDocumentRequest.SerializeToString,
                                    pb.WithdrawDocumentResponse.FromString)
        c.ack = ch.unary_unary("/docshare.v1.DocumentService/AcknowledgeDocument",
                               pb.AcknowledgeDocumentRequest.SerializeToString,
                               pb.AcknowledgeDocumentResponse.FromString)
        c.get = ch.unary_unary("/docshare.v1.SessionService/GetSession",
                               pb.GetSessionRequest.SerializeToString,
                               pb.Session.FromString)
        c.end = ch.unary_unary("/docshare.v1.SessionService/EndSession",
                               pb.EndSessionRequest.SerializeToString,
                               pb.EndSessionResponse.FromString)
        return c

    @classmethod
    def tearDownClass(cls):
        for c in (cls.on_a, cls.on_b):
            c.channel.close()
        cls.a.stop()
        cls.b.stop()
        cls.redis.stop()
        cls.tmp.cleanup()

    def start(self, session_id):
        return self.on_a.start(self.pb.StartSessionRequest(session_id=session_id),
                               metadata=bearer(ADMIN_TOKEN), timeout=WAIT)

    def photo(self, name="320x240.jpg"):
        with open(os.path.join(env("DOCSHARE_CORPUS"), "sharp", name), "rb") as f:
            return f.read()

    def error_info(self, err):
        trailers = dict(err.trailing_metadata())
        status = self.status_pb.Status.FromString(trailers["grpc-status-details-bin"])
        self.assertEqual(status.code, err.code().value[0])
        info = self.details_pb.ErrorInfo()
        self.assertTrue(status.details[0].Unpack(info))
        self.assertEqual(info.domain, "docshare.v1")
        return info

    def metric(self, server, name):
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % server.metrics_port, timeout=WAIT) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def test_withdraw_mid_session_leaves_nothing_behind(self):
        pb = self.pb
        s = self.start("py-withdraw")
        live_a = Watch(self.on_a, s.consumer_token, "py-withdraw")
        live_b = Watch(self.on_b, s.consumer_token, "py-withdraw")
        reconnecting = Watch(self.on_b, s.consumer_token, "py-withdraw")
        photo = self.photo("Landscape_2.jpg")  # shared by no other test: its bytes are its own
        misses = self.metric(self.a, "docshare_preview_cache_misses_total")
        doc = self.on_a.share(s.agent_token, "py-withdraw", photo, "statement.jpg").document
        shared = live_a.next()
        self.assertEqual(shared.document_shared.document.document_id, doc.document_id)
        preview = shared.document_shared.document.previews[1].data
        self.assertGreater(len(preview), 1000)
        self.assertEqual(live_b.next().sequence, 1)
        self.assertEqual(reconnecting.next().sequence, 1)
        reconnecting.cancel()  # the page reloads
        probe = preview[len(preview) // 2:len(preview) // 2 + 64]
        self.assertTrue(probe in self.redis.everything(), "the search must see shared bytes")

        self.on_b.withdraw(pb.WithdrawDocumentRequest(session_id="py-withdraw",
                                                      document_id=doc.document_id),
                           metadata=bearer(s.agent_token), timeout=WAIT)
        for live in (live_a, live_b):
            event = live.next()
            self.assertEqual(event.sequence, 2)
            self.assertEqual(event.document_withdrawn.document_id, doc.document_id)
            self.assertEqual(event.document_withdrawn.withdrawn_by, pb.ROLE_AGENT)
            live.cancel()
        for client, after in ((self.on_a, 0), (self.on_b, 1)):  # late; reconnecting
            replay = Watch(client, s.consumer_token, "py-withdraw", after)
            events = [replay.next() for _ in range(2 - after)]
            replay.cancel()
            if after == 0:
                first = events[0].document_shared.document
                self.assertEqual(first.document_id, doc.document_id)
                self.assertEqual(len(first.previews), 0)
                self.assertEqual(first.filename, "")
            self.assertTrue(events[-1].HasField("document_withdrawn"))

        left = self.redis.everything()
        self.assertFalse(probe in left, "a withdrawn preview's bytes are still in Redis")
        self.assertFalse(b"statement.jpg" in left, "a withdrawn filename is still in Redis")
        # The cache of the replica that rendered it dropped it: the same bytes
        # are rendered again.
        self.on_a.share(s.agent_token, "py-withdraw", photo, "again.jpg")
        self.assertEqual(self.metric(self.a, "docshare_preview_cache_misses_total"),
                         misses + 2)
        self.assertEqual(self.metric(self.a, "docshare_withdrawals_total") +
                         self.metric(self.b, "docshare_withdrawals_total"), 1)

        # Twice: OK, and no second event; the consumer may not.
        self.on_a.withdraw(pb.WithdrawDocumentRequest(session_id="py-withdraw",
                                                      document_id=doc.document_id),
                           metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
        got = self.on_b.get(pb.GetSessionRequest(session_id="py-withdraw"),
                            metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
        self.assertEqual(got.last_sequence, 3)
        with self.assertRaises(grpc.RpcError) as caught:
            self.on_a.withdraw(pb.WithdrawDocumentRequest(session_id="py-withdraw",
                                                          document_id="doc_nope"),
                               metadata=bearer(s.agent_token), timeout=WAIT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        info = self.error_info(caught.exception)
        self.assertEqual(info.reason, "DOCUMENT_NOT_FOUND")
        self.assertEqual(dict(info.metadata), {"document_id": "doc_nope"})

    def test_acknowledgements_reach_the_agent_exactly_once(self):
        pb = self.pb
        s = self.start("py-ack")
        agent = Watch(self.on_a, s.agent_token, "py-ack")
        doc = self.on_a.share(s.agent_token, "py-ack", self.photo(), "a.jpg").document
        for ack in (pb.ACKNOWLEDGEMENT_DISPLAYED, pb.ACKNOWLEDGEMENT_DISPLAYED,
                    pb.ACKNOWLEDGEMENT_CLOSED, pb.ACKNOWLEDGEMENT_CLOSED):
            self.on_b.ack(pb.AcknowledgeDocumentRequest(
                session_id="py-ack", document_id=doc.document_id, acknowledgement=ack),
                metadata=bearer(s.consumer_token), timeout=WAIT)
        with self.assertRaises(grpc.RpcError) as caught:
            self.on_b.ack(pb.AcknowledgeDocumentRequest(
                session_id="py-ack", document_id=doc.document_id,
                acknowledgement=pb.ACKNOWLEDGEMENT_DISPLAYED),
                metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(self.error_info(caught.exception).reason, "PERMISSION_DENIED")
        self.on_b.end(pb.EndSessionRequest(session_id="py-ack"),
                      metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
        events = agent.until_end()
        acks = [e.document_acknowledged for e in events
                if e.HasField("document_acknowledged")]
        self.assertEqual([(a.document_id, a.acknowledged_by, a.acknowledgement)
                          for a in acks],
                         [(doc.document_id, pb.ROLE_CONSUMER, pb.ACKNOWLEDGEMENT_DISPLAYED),
                          (doc.document_id, pb.ROLE_CONSUMER, pb.ACKNOWLEDGEMENT_CLOSED)])
        self.assertEqual([e.sequence for e in events], [1, 2, 3, 4])

    def test_get_session_after_a_replica_restarts(self):
        pb = self.pb
        s = self.start("py-get")
        docs = [self.on_a.share(s.agent_token, "py-get", self.photo(), n).document
                for n in ("one.jpg", "two.jpg")]
        self.on_a.withdraw(pb.WithdrawDocumentRequest(session_id="py-get",
                                                      document_id=docs[0].document_id),
                           metadata=bearer(s.agent_token), timeout=WAIT)
        watcher = Watch(self.on_b, s.consumer_token, "py-get")
        self.assertEqual(watcher.next().sequence, 1)
        # Replica A restarts; the backend asks it (a new process) for the session.
        self.on_a.channel.close()
        self.a.stop()
        self.a.proc.stdout.close()
        type(self).a = Server(env("DOCSHARE_SERVER"), *self.flags)
        type(self).on_a = self.client(self.a)
        deadline = time.monotonic() + WAIT
        while True:  # watcher counts are reported every second, at most 10 s old
            got = self.on_a.get(pb.GetSessionRequest(session_id="py-get"),
                                metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
            if got.watchers == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # polling a condition, bounded by the deadline
        watcher.cancel()
        self.assertEqual(got.state, pb.SESSION_STATE_ACTIVE)
        self.assertEqual(got.last_sequence, 3)
        self.assertEqual(got.watchers, 1)
        self.assertEqual([d.document_id for d in got.documents], [docs[1].document_id])
        for p in got.documents[0].previews:
            self.assertEqual(p.data, b"")
            self.assertTrue(p.url.startswith("/v1/previews/py-get/"), p.url)
        with self.assertRaises(grpc.RpcError) as caught:
            self.on_a.get(pb.GetSessionRequest(session_id="py-nobody"),
                          metadata=bearer(ADMIN_TOKEN), timeout=WAIT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(self.error_info(caught.exception).reason, "NOT_FOUND")


if __name__ == "__main__":
    unittest.main(verbosity=2)

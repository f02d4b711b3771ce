"""Black-box tests from Python's grpcio (Debian's python3-grpcio), with the
client's default settings: share, watch, a rejection's ErrorInfo, and the big
GIF's event received under the default 4 MiB receive limit.

Run by ctest (label blackbox) with DOCSHARE_SERVER, DOCSHARE_PROTO_DIR,
DOCSHARE_RPC_PROTO_DIR, DOCSHARE_CORPUS and DOCSHARE_NOISE_GIF set."""

import hashlib
import importlib
import os
import subprocess
import sys
import tempfile
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import ADMIN_TOKEN, Server, env  # noqa: E402

CHUNK = 64 * 1024


def compile_protos(out):
    """Message classes from the project's proto and Debian's google/rpc ones,
    with Debian's protoc (the same protobuf as python3-protobuf)."""
    proto_dir, rpc_dir = env("DOCSHARE_PROTO_DIR"), env("DOCSHARE_RPC_PROTO_DIR")
    subprocess.run(["protoc", "--proto_path=" + proto_dir, "--proto_path=" + rpc_dir,
                    "--python_out=" + out, "docshare/v1/docshare.proto",
                    "google/rpc/status.proto", "google/rpc/error_details.proto"],
                   check=True)
    sys.path.insert(0, out)
    return (importlib.import_module("docshare.v1.docshare_pb2"),
            importlib.import_module("google.rpc.status_pb2"),
            importlib.import_module("google.rpc.error_details_pb2"))


class Client:
    """docshare's RPCs over a channel with grpcio's defaults."""

    def __init__(self, address, pb):
        self.pb = pb
        self.channel = grpc.insecure_channel(address)
        ch = self.channel
        self.start = ch.unary_unary("/docshare.v1.SessionService/StartSession",
                                    pb.StartSessionRequest.SerializeToString,
                                    pb.StartSessionResponse.FromString)
        self.watch = ch.unary_stream("/docshare.v1.SessionService/WatchSession",
                                     pb.WatchSessionRequest.SerializeToString,
                                     pb.SessionEvent.FromString)
        self.share_call = ch.stream_unary("/docshare.v1.DocumentService/ShareDocument",
                                          pb.ShareDocumentRequest.SerializeToString,
                                          pb.ShareDocumentResponse.FromString)

    def share(self, token, session_id, data, filename):
        def parts():
            yield self.pb.ShareDocumentRequest(header=self.pb.ShareHeader(
                session_id=session_id, filename=filename, size_bytes=len(data)))
            for at in range(0, len(data), CHUNK):
                yield self.pb.ShareDocumentRequest(chunk=data[at:at + CHUNK])
        return self.share_call(parts(), metadata=[("authorization", "Bearer " + token)],
                               timeout=600)


def bearer(token):
    return [("authorization", "Bearer " + token)]


class BlackBox(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pb, cls.status_pb, cls.details_pb = compile_protos(cls.tmp.name)
        cls.server = Server(env("DOCSHARE_SERVER"))
        cls.client = Client(cls.server.address, cls.pb)

    @classmethod
    def tearDownClass(cls):
        cls.client.channel.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def start(self, session_id):
        return self.client.start(self.pb.StartSessionRequest(session_id=session_id),
                                 metadata=bearer(ADMIN_TOKEN), timeout=60)

    def photo(self):
        with open(os.path.join(env("DOCSHARE_CORPUS"), "sharp", "320x240.jpg"), "rb") as f:
            return f.read()

    def test_share_then_watch(self):
        s = self.start("py-share")
        photo = self.photo()
        shared = self.client.share(s.agent_token, "py-share", photo, "photo.jpg")
        doc = shared.document
        self.assertEqual(doc.source_type, self.pb.FILE_TYPE_JPEG)
        self.assertEqual((doc.source_width, doc.source_height), (320, 240))
        self.assertEqual(doc.shared_by, self.pb.ROLE_AGENT)
        self.assertEqual(len(doc.previews), 2)
        for p in doc.previews:
            self.assertEqual(p.data, b"")
            self.assertGreater(p.size_bytes, 0)
            self.assertEqual(len(p.sha256), 64)

        stream = self.client.watch(self.pb.WatchSessionRequest(session_id="py-share"),
                                   metadata=bearer(s.consumer_token), timeout=120)
        self.assertIn(("docshare-last-sequence", "1"), stream.initial_metadata())
        event = next(stream)
        stream.cancel()
        self.assertEqual(event.sequence, 1)
        got = event.document_shared.document
        self.assertEqual(got.document_id, doc.document_id)
        for p, q in zip(got.previews, doc.previews):
            self.assertEqual(p.data[:4], b"RIFF")
            self.assertEqual(len(p.data), q.size_bytes)
            self.assertEqual(hashlib.sha256(p.data).hexdigest(), q.sha256)

    def test_a_rejection_carries_its_error_info(self):
        s = self.start("py-reject")
        pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b" " * 300000
        with self.assertRaises(grpc.RpcError) as caught:
            self.client.share(s.agent_token, "py-reject", pdf, "statement.jpg")
        err = caught.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        trailers = dict(err.trailing_metadata())
        self.assertEqual(trailers["docshare-reject-reason"],
                         "REJECT_REASON_UNSUPPORTED_TYPE")
        status = self.status_pb.Status.FromString(trailers["grpc-status-details-bin"])
        self.assertEqual(status.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(status.message, err.details())
        self.assertEqual(len(status.details), 1)
        info = self.details_pb.ErrorInfo()
        self.assertTrue(status.details[0].Unpack(info))
        self.assertEqual(info.reason, "REJECT_REASON_UNSUPPORTED_TYPE")
        self.assertEqual(info.domain, "docshare.v1")
        self.assertEqual(dict(info.metadata), {"detected_mime_type": "application/pdf"})

    def test_the_big_gif_reaches_a_default_client(self):
        with open(env("DOCSHARE_NOISE_GIF"), "rb") as f:
            gif = f.read()
        self.assertGreater(len(gif), 24_000_000)
        s = self.start("py-big")
        shared = self.client.share(s.agent_token, "py-big", gif, "noise.gif")
        self.assertEqual(shared.document.frame_count, 30)
        stream = self.client.watch(self.pb.WatchSessionRequest(session_id="py-big"),
                                   metadata=bearer(s.consumer_token), timeout=300)
        event = next(stream)
        stream.cancel()
        self.assertLess(event.ByteSize(), 4 << 20)
        for p in event.document_shared.document.previews:
            self.assertEqual(len(p.data), p.size_bytes)
            self.assertEqual(hashlib.sha256(p.data).hexdigest(), p.sha256)


if __name__ == "__main__":
    unittest.main(verbosity=2)

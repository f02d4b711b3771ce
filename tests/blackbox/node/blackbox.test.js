// Black-box tests from Node's @grpc/grpc-js with default settings: share,
// watch, a rejection's ErrorInfo, and the big GIF's event received under the
// default 4 MiB receive limit. Run by ./run (ctest label blackbox).
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { after, before, test } = require('node:test');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const env = (name) => {
  if (!process.env[name]) throw new Error(`set ${name}`);
  return process.env[name];
};
const ADMIN = 'blackbox-admin-0123456789abcdef0123';
const CHUNK = 64 * 1024;
const bearer = (token) => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

let server;
let sessions;
let documents;
let rpcRoot;

function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(env('DOCSHARE_SERVER'), [
      '--grpc-address=127.0.0.1:0', '--metrics-address=127.0.0.1:0',
      '--http-address=127.0.0.1:0', `--admin-token=${ADMIN}`, '--render-timeout=240'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('docshare-server did not start')), 120000);
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      let entry;
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.event === 'started') {
        clearTimeout(timer);
        resolve({ proc, address: `127.0.0.1:${entry.grpc_port}` });
      }
    });
    proc.on('exit', (code) => reject(new Error(`docshare-server exited ${code}`)));
  });
}

before(async () => {
  server = await startServer();
  const definition = protoLoader.loadSync('docshare/v1/docshare.proto', {
    includeDirs: [env('DOCSHARE_PROTO_DIR')], keepCase: true, longs: Number, enums: String,
    defaults: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).docshare.v1;
  // Default channel options: nothing passed, so grpc-js' 4 MiB receive limit.
  sessions = new v1.SessionService(server.address, grpc.credentials.createInsecure());
  documents = new v1.DocumentService(server.address, grpc.credentials.createInsecure());
  rpcRoot = new protobuf.Root();
  rpcRoot.resolvePath = (origin, target) => {
    const rpc = path.join(env('DOCSHARE_RPC_PROTO_DIR'), target);
    return fs.existsSync(rpc) ? rpc : target;
  };
  rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
});

after(() => {
  sessions?.close();
  documents?.close();
  server?.proc.kill('SIGTERM');
});

const start = (id) => new Promise((resolve, reject) => {
  sessions.StartSession({ session_id: id }, bearer(ADMIN), (err, res) => (err ? reject(err) : resolve(res)));
});

function share(token, sessionId, bytes, filename) {
  return new Promise((resolve, reject) => {
    const call = documents.ShareDocument(bearer(token), (err, res) => (err ? reject(err) : resolve(res)));
    call.write({ header: { session_id: sessionId, filename, size_bytes: bytes.length } });
    for (let at = 0; at < bytes.length; at += CHUNK) call.write({ chunk: bytes.subarray(at, at + CHUNK) });
    call.end();
  });
}

// The first event of a watch, and the watch's initial metadata.
function firstEvent(token, sessionId) {
  return new Promise((resolve, reject) => {
    const call = sessions.WatchSession({ session_id: sessionId }, bearer(token));
    let metadata;
    call.on('metadata', (md) => { metadata = md; });
    call.on('data', (event) => {
      call.cancel();
      resolve({ event, metadata });
    });
    call.on('error', (err) => { if (err.code !== grpc.status.CANCELLED) reject(err); });
  });
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

test('share, then watch: previews with their size and SHA-256', async () => {
  const s = await start('node-share');
  const photo = fs.readFileSync(path.join(env('DOCSHARE_CORPUS'), 'sharp', '320x240.jpg'));
  const { document: doc } = await share(s.agent_token, 'node-share', photo, 'photo.jpg');
  assert.equal(doc.source_type, 'FILE_TYPE_JPEG');
  assert.equal(doc.shared_by, 'ROLE_AGENT');
  assert.equal(doc.previews.length, 2);
  const { event, metadata } = await firstEvent(s.consumer_token, 'node-share');
  assert.deepEqual(metadata.get('docshare-last-sequence'), ['1']);
  assert.equal(event.sequence, 1);
  const got = event.document_shared.document;
  assert.equal(got.document_id, doc.document_id);
  got.previews.forEach((p, i) => {
    assert.equal(p.data.subarray(0, 4).toString(), 'RIFF');
    assert.equal(p.data.length, doc.previews[i].size_bytes);
    assert.equal(sha256(p.data), doc.previews[i].sha256);
  });
});

test('a rejection carries google.rpc.ErrorInfo in grpc-status-details-bin', async () => {
  const s = await start('node-reject');
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n'),
    Buffer.alloc(300000, 0x20)]);
  const err = await share(s.agent_token, 'node-reject', pdf, 'statement.jpg').then(
    () => assert.fail('a PDF was accepted'), (e) => e);
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.deepEqual(err.metadata.get('docshare-reject-reason'), ['REJECT_REASON_UNSUPPORTED_TYPE']);
  const [details] = err.metadata.get('grpc-status-details-bin');
  const status = rpcRoot.lookupType('google.rpc.Status').decode(details);
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(status.details.length, 1);
  assert.equal(status.details[0].type_url, 'type.googleapis.com/google.rpc.ErrorInfo');
  const info = rpcRoot.lookupType('google.rpc.ErrorInfo').decode(status.details[0].value);
  assert.equal(info.reason, 'REJECT_REASON_UNSUPPORTED_TYPE');
  assert.equal(info.domain, 'docshare.v1');
  assert.deepEqual({ ...info.metadata }, { detected_mime_type: 'application/pdf' });
});

test('the 30-frame noise GIF reaches a default client', async () => {
  const gif = fs.readFileSync(env('DOCSHARE_NOISE_GIF'));
  assert.ok(gif.length > 24000000, `the GIF is ${gif.length} bytes`);
  const s = await start('node-big');
  const { document: doc } = await share(s.agent_token, 'node-big', gif, 'noise.gif');
  assert.equal(doc.frame_count, 30);
  const { event } = await firstEvent(s.consumer_token, 'node-big');
  for (const p of event.document_shared.document.previews) {
    assert.equal(p.data.length, p.size_bytes);
    assert.equal(sha256(p.data), p.sha256);
  }
});

// --- The document lifecycle ------------------------------------------------------

const call = (client, method, request, token) => new Promise((resolve, reject) => {
  client[method](request, bearer(token), (err, res) => (err ? reject(err) : resolve(res)));
});

// Every event of a watch until the stream ends (SessionEnded or an error).
function watchAll(token, sessionId, after = 0) {
  const stream = sessions.WatchSession({ session_id: sessionId, after_sequence: after }, bearer(token));
  const events = [];
  const waiters = [];
  stream.on('data', (event) => {
    events.push(event);
    waiters.splice(0).forEach((w) => w());
  });
  const done = new Promise((resolve) => {
    stream.on('error', () => resolve(events));
    stream.on('end', () => resolve(events));
  });
  // Resolves once `n` events have arrived.
  const count = (n) => new Promise((resolve) => {
    const check = () => (events.length >= n ? resolve(events) : waiters.push(check));
    check();
  });
  return { stream, events, count, done };
}

function errorInfo(err) {
  const [details] = err.metadata.get('grpc-status-details-bin');
  const status = rpcRoot.lookupType('google.rpc.Status').decode(details);
  assert.equal(status.code, err.code);
  const info = rpcRoot.lookupType('google.rpc.ErrorInfo').decode(status.details[0].value);
  assert.equal(info.domain, 'docshare.v1');
  return info;
}

const KINDS = ['document_shared', 'session_ended', 'document_withdrawn', 'document_acknowledged'];
const kind = (event) => KINDS.find((k) => event[k]);

const photo = () => fs.readFileSync(path.join(env('DOCSHARE_CORPUS'), 'sharp', '320x240.jpg'));

test('withdraw mid-session: live, late and reconnecting watchers, no bytes replayed', async () => {
  const s = await start('node-withdraw');
  const live = watchAll(s.consumer_token, 'node-withdraw');
  const { document: doc } = await share(s.agent_token, 'node-withdraw', photo(), 'statement.jpg');
  await live.count(1);
  assert.ok(live.events[0].document_shared.document.previews[1].data.length > 1000);
  const consumerTry = await call(documents, 'WithdrawDocument',
    { session_id: 'node-withdraw', document_id: doc.document_id }, s.consumer_token).then(
    () => assert.fail('the consumer withdrew the agent\'s document'), (e) => e);
  assert.equal(consumerTry.code, grpc.status.PERMISSION_DENIED);
  assert.equal(errorInfo(consumerTry).reason, 'PERMISSION_DENIED');
  await call(documents, 'WithdrawDocument',
    { session_id: 'node-withdraw', document_id: doc.document_id }, s.agent_token);
  await call(documents, 'WithdrawDocument',  // twice: OK, no second event
    { session_id: 'node-withdraw', document_id: doc.document_id }, ADMIN);
  await live.count(2);
  assert.deepEqual(live.events[1].document_withdrawn,
    { document_id: doc.document_id, withdrawn_by: 'ROLE_AGENT' });
  const late = watchAll(s.consumer_token, 'node-withdraw');
  const reconnecting = watchAll(s.consumer_token, 'node-withdraw', 1);
  await late.count(2);
  await reconnecting.count(1);
  const replayed = late.events[0].document_shared.document;
  assert.equal(replayed.document_id, doc.document_id);
  assert.equal(replayed.previews.length, 0);
  assert.equal(replayed.filename, '');
  assert.equal(kind(reconnecting.events[0]), 'document_withdrawn');
  await call(sessions, 'EndSession', { session_id: 'node-withdraw' }, ADMIN);
  for (const w of [live, late, reconnecting]) {
    const events = await w.done;
    assert.equal(events.filter((e) => e.document_withdrawn).length, 1);
  }
  const unknown = await call(documents, 'WithdrawDocument',
    { session_id: 'node-withdraw', document_id: 'doc_x' }, s.agent_token).then(
    () => assert.fail('withdrew in an ended session'), (e) => e);
  assert.equal(unknown.code, grpc.status.FAILED_PRECONDITION);
});

test('acknowledgements reach the agent exactly once', async () => {
  const s = await start('node-ack');
  const agent = watchAll(s.agent_token, 'node-ack');
  const { document: doc } = await share(s.agent_token, 'node-ack', photo(), 'a.jpg');
  for (const ack of ['ACKNOWLEDGEMENT_DISPLAYED', 'ACKNOWLEDGEMENT_DISPLAYED', 'ACKNOWLEDGEMENT_CLOSED']) {
    await call(documents, 'AcknowledgeDocument',
      { session_id: 'node-ack', document_id: doc.document_id, acknowledgement: ack }, s.consumer_token);
  }
  const missing = await call(documents, 'AcknowledgeDocument',
    { session_id: 'node-ack', document_id: 'doc_nope', acknowledgement: 'ACKNOWLEDGEMENT_DISPLAYED' },
    s.consumer_token).then(() => assert.fail('acknowledged no document'), (e) => e);
  assert.equal(missing.code, grpc.status.NOT_FOUND);
  assert.equal(errorInfo(missing).reason, 'DOCUMENT_NOT_FOUND');
  await call(sessions, 'EndSession', { session_id: 'node-ack' }, ADMIN);
  const events = await agent.done;
  assert.deepEqual(events.map(kind),
    ['document_shared', 'document_acknowledged', 'document_acknowledged', 'session_ended']);
  assert.deepEqual(events.filter((e) => e.document_acknowledged).map((e) => e.document_acknowledged),
    [{ document_id: doc.document_id, acknowledged_by: 'ROLE_CONSUMER', acknowledgement: 'ACKNOWLEDGEMENT_DISPLAYED' },
      { document_id: doc.document_id, acknowledged_by: 'ROLE_CONSUMER', acknowledgement: 'ACKNOWLEDGEMENT_CLOSED' }]);
});

test('GetSession: the documents still shared, by URL', async () => {
  const s = await start('node-get');
  const first = (await share(s.agent_token, 'node-get', photo(), 'one.jpg')).document;
  const second = (await share(s.agent_token, 'node-get', photo(), 'two.jpg')).document;
  await call(documents, 'WithdrawDocument', { session_id: 'node-get', document_id: first.document_id }, ADMIN);
  const got = await call(sessions, 'GetSession', { session_id: 'node-get' }, s.consumer_token);
  assert.equal(got.state, 'SESSION_STATE_ACTIVE');
  assert.equal(got.last_sequence, 3);
  assert.deepEqual(got.documents.map((d) => d.document_id), [second.document_id]);
  for (const p of got.documents[0].previews) {
    assert.equal(p.data.length, 0);
    assert.match(p.url, /^\/v1\/previews\/node-get\/[^/]+\/2\/(thumbnail|display)\?/);
  }
  const other = await call(sessions, 'GetSession', { session_id: 'node-share' }, s.consumer_token).then(
    () => assert.fail('a token of another session read it'), (e) => e);
  assert.equal(other.code, grpc.status.PERMISSION_DENIED);
});

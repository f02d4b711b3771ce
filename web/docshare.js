// docshare browser client: an ES module with no build step and no
// dependencies, served by docshare-server as /v1/client.js.
//
//   import { Client, watch } from "https://docshare.example.com/v1/client.js";
//   const client = new Client({ token, session });
//   const verdict = await client.check(file);  // before uploading it
//   if (!verdict.supported) showError(verdict.reason, verdict.message);
//   const document = await client.share(file);
//   await client.withdraw(document);         // its previews are gone everywhere
//   const stop = watch(session, token, {
//     onDocument(doc) { return imgShowing(doc); },  // acknowledged DISPLAYED once loaded
//     onWithdrawn(documentId) { ... },
//     onAcknowledged(ack) { ... },                  // e.g. "seen by customer"
//   });

// The server reads at most this much of a file to judge its type.
export const HEAD_BYTES = 4096;

// An error answer of the server: {code, message, reason, detectedMimeType}
// with its HTTP status.
export class DocshareError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.name = "DocshareError";
    this.status = status;
    this.code = body.code || "";
    this.reason = body.reason || "";
    this.detectedMimeType = body.detectedMimeType || "";
  }
}

// The origin this module was loaded from: the server's, by default.
const SERVER = new URL("..", import.meta.url).origin;

// "DISPLAYED" or "ACKNOWLEDGEMENT_DISPLAYED" -> "ACKNOWLEDGEMENT_DISPLAYED".
const ACK_PREFIX = "ACKNOWLEDGEMENT_";
const acknowledgementName = (state) =>
  String(state).startsWith(ACK_PREFIX) ? String(state) : ACK_PREFIX + state;

// A Document JSON or a document id -> the id.
const documentIdOf = (doc) => (typeof doc === "string" ? doc : doc && doc.documentId);

export class Client {
  // token: a participant (or admin) token. server: the docshare origin
  // (default: where this module came from).
  // session: the session id (for share and watch).
  constructor({ token, session = "", server = SERVER } = {}) {
    if (!token) throw new TypeError("docshare: a token is required");
    this.token = token;
    this.session = session;
    this.server = server.replace(/\/+$/, "");
  }

  // Uploads a File through the share pipeline (the bytes decide its type;
  // its MIME type and name are hints). Resolves to the Document JSON;
  // rejects with a DocshareError whose `reason` is the RejectReason.
  async share(file) {
    const query = `?filename=${encodeURIComponent(file.name || "")}`;
    const response = await fetch(
      `${this.server}/v1/sessions/${encodeURIComponent(this.session)}/documents${query}`,
      {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.token}`,
          "Content-Type": file.type || "application/octet-stream",
        },
        body: file,
      });
    return this.#json(response);
  }

  // Takes a document back (the agent's own, or any with the admin token):
  // its previews' URLs answer 410 from now on and every watcher hears
  // onWithdrawn. `doc`: the Document JSON or its documentId. Resolves when
  // done (withdrawing twice is fine); rejects with a DocshareError.
  async withdraw(doc) {
    await this.#documentAction(doc, "withdraw");
  }

  // Tells the session what this participant did with a document: state
  // "DISPLAYED" (on screen; watch() sends it by itself once an image has
  // loaded) or "CLOSED" (the full ACKNOWLEDGEMENT_* names work too). Once
  // per document, role and state; a repeat is fine. Rejects with a
  // DocshareError (410 for a withdrawn document).
  async acknowledge(doc, state = "DISPLAYED") {
    await this.#documentAction(doc, "acknowledge",
                               { acknowledgement: acknowledgementName(state) });
  }

  // The session now (GET /v1/sessions/{id}): {sessionId, state, expiresAt,
  // lastSequence, documents (still shared, previews as URLs), watchers}.
  async describe() {
    const response = await fetch(
      `${this.server}/v1/sessions/${encodeURIComponent(this.session)}`,
      { headers: { Authorization: `Bearer ${this.token}` } });
    return this.#json(response);
  }

  // Watches the session: see watch() below.
  watch(handlers) {
    return watch(this.session, this.token, handlers, this.server);
  }

  // Judges a File (or Blob) by its first 4 KiB, as the share would: resolves
  // to CheckFileResponse JSON, {supported, detectedType, detectedMimeType,
  // reason, message}; reason is e.g. "REJECT_REASON_UNSUPPORTED_TYPE". A
  // picker can dim what would be refused before anything is uploaded.
  async check(file) {
    const head = file.slice(0, HEAD_BYTES);
    const query = file.name ? `?filename=${encodeURIComponent(file.name)}` : "";
    const response = await fetch(`${this.server}/v1/check${query}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${this.token}`,
        "Content-Type": "application/octet-stream",
      },
      body: head,
    });
    return this.#json(response);
  }

  async #documentAction(doc, action, body) {
    const id = documentIdOf(doc);
    if (!id) throw new TypeError("docshare: a document (or its documentId) is required");
    const session = (typeof doc === "object" && doc.sessionId) || this.session;
    const response = await fetch(
      `${this.server}/v1/sessions/${encodeURIComponent(session)}/documents/` +
        `${encodeURIComponent(id)}:${action}`,
      {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(body || {}),
      });
    if (response.status !== 204) await this.#json(response);
  }

  async #json(response) {
    let body;
    try {
      body = await response.json();
    } catch {
      body = { message: `HTTP ${response.status} without a JSON body` };
    }
    if (!response.ok) throw new DocshareError(response.status, body);
    return body;
  }
}

// Watches a session's events (Server-Sent Events, previews as signed URLs).
// handlers: onDocument(document, event), onWithdrawn(documentId, event,
// withdrawnBy), onAcknowledged({documentId, acknowledgedBy,
// acknowledgement}, event), onEnded(reason, event), onEvent(event) for
// every event, onState("open" | "reconnecting" | "closed", error?),
// onError(error) when an automatic acknowledgement fails.
// When onDocument returns the <img> showing the document (or an element
// holding one), the document is acknowledged DISPLAYED as soon as that
// image has loaded, once; `acknowledge: false` among the handlers turns
// that off. EventSource resumes by itself (Last-Event-ID) when the
// stream drops; when the server refuses a reconnect outright (a 503 while a
// replica drains), this reopens after a pause with ?after_sequence= the
// last event seen, so nothing is missed and nothing repeats. Returns a
// function that stops watching.
export function watch(session, token, handlers = {}, server = SERVER) {
  const base = `${server.replace(/\/+$/, "")}/v1/sessions/${encodeURIComponent(session)}` +
    `/events?access_token=${encodeURIComponent(token)}`;
  let last = 0;
  let source = null;
  let stopped = false;
  let retry = null;
  const call = (name, ...args) => handlers[name] && handlers[name](...args);
  const client = new Client({ token, session, server });
  const acknowledged = new Set();
  // DISPLAYED once the image showing `doc` has loaded (not for an image
  // that failed: it is not on screen).
  const acknowledgeWhenLoaded = (doc, shown) => {
    if (handlers.acknowledge === false || !shown) return;
    const img = shown instanceof HTMLImageElement ? shown
      : shown.querySelector && shown.querySelector("img");
    if (!img) return;
    const displayed = () => {
      if (stopped || acknowledged.has(doc.documentId)) return;
      acknowledged.add(doc.documentId);
      client.acknowledge(doc, "DISPLAYED").catch((error) => call("onError", error));
    };
    if (img.complete && img.naturalWidth > 0) displayed();
    else img.addEventListener("load", displayed, { once: true });
  };
  const onMessage = (message) => {
    const event = JSON.parse(message.data);
    last = Number(event.sequence);
    call("onEvent", event);
    if (event.documentShared) {
      const doc = event.documentShared.document;
      acknowledgeWhenLoaded(doc, call("onDocument", doc, event));
    }
    if (event.documentWithdrawn) {
      const w = event.documentWithdrawn;
      call("onWithdrawn", w.documentId, event, w.withdrawnBy);
    }
    if (event.documentAcknowledged) call("onAcknowledged", event.documentAcknowledged, event);
    if (event.sessionEnded) {
      call("onEnded", event.sessionEnded.reason, event);
      stop();
    }
  };
  const open = () => {
    source = new EventSource(last ? `${base}&after_sequence=${last}` : base);
    for (const kind of ["document_shared", "document_withdrawn", "document_acknowledged",
                        "session_ended"]) {
      source.addEventListener(kind, onMessage);
    }
    source.onopen = () => call("onState", "open");
    source.onerror = () => {
      if (stopped) return;
      if (source.readyState === EventSource.CLOSED) {
        call("onState", "reconnecting");
        retry = setTimeout(open, 1000);
      } else {
        call("onState", "reconnecting");
      }
    };
  };
  const stop = () => {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
    call("onState", "closed");
  };
  open();
  return stop;
}

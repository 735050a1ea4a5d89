// DreamStream JavaScript client: an ES module for browsers and Node >= 20.
//
//   import { createApi, postFrame, Streamer, Viewer, runWorker, CloseCode } from "dreamstream";
//
// (The package's entry, index.js, re-exports this module and the browser helpers of capture.js
// and render.js; this file alone still works when copied or imported by path.)
//
// WebSocket: browsers and Node >= 22 have a global one. On Node 20 either run with
// `node --experimental-websocket` or pass an implementation: `{ WebSocket: (await import("ws")).default }`.
// Browsers cannot set headers on a WebSocket, so credentials travel in the URL (`?key=`,
// `?token=`) unless you pass `headers` with an implementation that takes them (the `ws` package).
// Protocol: docs/protocol.md.


const DEFAULT_TIMEOUT_MS = 10000;

export class DreamStreamError extends Error {
  constructor(status, code, message, body) {
    super(`HTTP ${status} ${code}: ${message}`);
    this.name = "DreamStreamError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export class AuthenticationError extends Error {
  constructor(message) {
    super(message);
    this.name = "AuthenticationError";
  }
}

// ---- Close codes ----------------------------------------------------------------------------

// Every code the server closes a WebSocket with (docs/protocol.md, "Close codes"), with its name
// there and what it means. `CloseCode.replaced === 4001`; closeMeaning(code) for words.
export const CLOSE_CODES = Object.freeze({
  1000: { name: "normal", meaning: "closed normally" },
  1001: { name: "going_away", meaning: "the other side went away" },
  1002: { name: "protocol_error", meaning: "the peer broke the WebSocket protocol" },
  1007: { name: "invalid_data", meaning: "a text message or close reason that is not UTF-8" },
  1008: { name: "policy", meaning: "too many bad frames or messages in a row" },
  1009: { name: "too_big", meaning: "a message over the size limit" },
  1011: { name: "internal", meaning: "internal server error" },
  1013: { name: "try_again", meaning: "the database is unavailable; try again shortly" },
  4001: { name: "replaced", meaning: "replaced by a newer connection" },
  4002: { name: "ended", meaning: "the stream ended" },
  4008: { name: "job_timeout", meaning: "the worker held a job past its deadline" },
  4401: { name: "unauthorized", meaning: "not authenticated, or the credential was revoked" },
  4402: { name: "no_credits", meaning: "not enough credits" },
  4403: { name: "forbidden", meaning: "forbidden (e.g. a foreign Origin)" },
  4404: { name: "not_found", meaning: "no such streamer" },
  4409: { name: "conflict", meaning: "conflicts with the stream's state (e.g. not started)" },
});

export const CloseCode = Object.freeze(
  Object.fromEntries(Object.entries(CLOSE_CODES).map(([code, { name }]) => [name, Number(code)])));

// Codes the server does not send (1006 when a connection just breaks) read as a lost connection.
export function closeMeaning(code) {
  return CLOSE_CODES[code]?.meaning ?? "connection lost";
}

// The server refused our credentials: a worker stops instead of retrying.
const AUTH_CLOSE_CODES = [CloseCode.unauthorized, CloseCode.forbidden];

// ---- URLs -----------------------------------------------------------------------------------

function httpUrl(baseUrl, path) {
  const base = baseUrl ?? globalThis.location?.origin;
  if (!base) throw new Error("a base URL is required outside a browser");
  const u = new URL(base);
  if (u.protocol === "ws:") u.protocol = "http:";
  if (u.protocol === "wss:") u.protocol = "https:";
  const prefix = u.pathname.replace(/\/+$/, "");
  const [p, q] = path.split("?");
  u.pathname = prefix + p;
  u.search = q ? `?${q}` : "";
  u.hash = "";
  return u;
}

function wsUrl(baseUrl, path, query = {}) {
  const u = httpUrl(baseUrl, path);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(query)) if (v != null) u.searchParams.set(k, v);
  return u.toString();
}

function openSocket(url, opts) {
  const Impl = opts.WebSocket ?? globalThis.WebSocket;
  if (!Impl) {
    throw new Error("no WebSocket implementation: use Node >= 22, `node --experimental-websocket`, " +
                    "or pass { WebSocket } (for example the `ws` package)");
  }
  const ws = opts.headers ? new Impl(url, { headers: opts.headers }) : new Impl(url);
  ws.binaryType = "arraybuffer";
  return ws;
}

function waitOpen(ws, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      try { ws.close(); } catch { /* already closing */ }
      reject(new Error("WebSocket open timed out"));
    }, timeoutMs);
    const onOpen = () => { cleanup(); resolve(ws); };
    const onClose = (ev) => {
      cleanup();
      const err = new Error(`WebSocket closed before opening (${ev.code} ${ev.reason || ""})`.trim());
      err.code = ev.code;
      err.reason = ev.reason;
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("close", onClose);
    };
    ws.addEventListener("open", onOpen);
    ws.addEventListener("close", onClose);
  });
}

async function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof Blob !== "undefined" && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  throw new TypeError("expected JPEG bytes (Uint8Array, ArrayBuffer or Blob)");
}

function parseJson(text) {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

export function isJpeg(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[end - 2] === 0xff && b[end - 1] === 0xd9;
}

// ---- HTTP API -------------------------------------------------------------------------------

async function readResponse(res) {
  const type = res.headers.get("content-type") || "";
  if (res.ok) {
    if (res.status === 204) return {};
    if (type.startsWith("application/json")) return res.json();
    return new Uint8Array(await res.arrayBuffer());
  }
  let body = null;
  try { body = type.startsWith("application/json") ? await res.json() : await res.text(); } catch { /* empty */ }
  const err = body && body.error ? body.error : {};
  throw new DreamStreamError(res.status, err.code || `http_${res.status}`, err.message || String(body ?? ""), body);
}

// JSON helpers. token: an API token (Bearer). In a browser on the site itself, leave it out:
// the session cookie is sent (credentials: "same-origin"). An app on another origin that the
// server names in --allowed-origin passes credentials: "include" to send that cookie.
export function createApi(baseUrl, { token, fetch: fetchImpl = globalThis.fetch, credentials = "same-origin" } = {}) {
  if (!["same-origin", "include", "omit"].includes(credentials)) {
    throw new TypeError(`credentials must be "same-origin", "include" or "omit", got ${credentials}`);
  }
  async function request(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, credentials };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return readResponse(await fetchImpl(httpUrl(baseUrl, path), init));
  }
  const user = (name) => encodeURIComponent(name);
  const channel = (name, rest = "") => `/api/streams/${user(name)}${rest}`;
  const id = (n) => {
    const v = Number(n);
    if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`expected a positive integer id, got ${n}`);
    return v;
  };
  const unwrapSettings = (r) => r.settings ?? r;
  return {
    request,
    me: () => request("GET", "/api/me"),
    startStream: () => request("POST", "/api/streams/start", {}),
    stopStream: () => request("POST", "/api/streams/stop", {}),
    streamInfo: (username) => request("GET", `/api/streams/${user(username)}`),
    liveStreams: async () => (await request("GET", "/api/streams/live")).streams,
    sessions: () => request("GET", "/api/streams/sessions"),
    rotateStreamKey: async () => (await request("POST", "/api/me/stream-key", {})).stream_key,
    // API tokens. scopes: what the new token may do ("read", "stream", "chat", "key", "tokens",
    // "account"); left out, every scope its maker has. A token can give only scopes it has.
    createToken: (name, { scopes } = {}) => {
      if (scopes !== undefined && !Array.isArray(scopes)) {
        throw new TypeError(`scopes must be an array of names, got ${typeof scopes}`);
      }
      return request("POST", "/api/me/tokens", scopes === undefined ? { name } : { name, scopes });
    },
    tokens: async () => (await request("GET", "/api/me/tokens")).tokens,
    revokeToken: (tokenId) => request("DELETE", `/api/me/tokens/${id(tokenId)}`),
    // A single-use ticket for one ingest socket (`new Streamer(url, { ticket })`), valid for a
    // minute: what a web app's server hands its page instead of the stream key.
    createIngestTicket: () => request("POST", "/api/ingest/ticket", {}),
    latestJpeg: (username) => request("GET", `/u/${user(username)}/latest.jpg`),

    // The caller's own stream settings: {comments_enabled, styles_enabled, style_policy,
    // style_slot_seconds, base_style, strength, record}. updateSettings sends only the fields given;
    // the change applies live (viewers get `settings` and `styles` events).
    settings: async () => unwrapSettings(await request("GET", "/api/streams/settings")),
    updateSettings: async (fields) => unwrapSettings(await request("PATCH", "/api/streams/settings", fields)),

    // Comments. postComment resolves to the Comment {id, session_id, author, body, created_ms}.
    postComment: async (username, body) => (await request("POST", channel(username, "/comments"), { body })).comment,
    comments: (username, { before, limit } = {}) => {
      const q = new URLSearchParams();
      if (before != null) q.set("before", String(before));
      if (limit != null) q.set("limit", String(limit));
      const s = q.toString();
      return request("GET", channel(username, "/comments") + (s ? `?${s}` : ""));
    },
    deleteComment: async (username, commentId) => request("DELETE", channel(username, `/comments/${id(commentId)}`)),

    // Style requests. requestStyle resolves to {request, styles}; styles() to the StyleState.
    requestStyle: (username, prompt) => request("POST", channel(username, "/styles"), { prompt }),
    styles: (username) => request("GET", channel(username, "/styles")),
    // The streamer's controls; each resolves to the new StyleState (403 forbidden for others).
    approveStyle: async (username, requestId) => request("POST", channel(username, `/styles/${id(requestId)}/approve`), {}),
    rejectStyle: async (username, requestId) => request("POST", channel(username, `/styles/${id(requestId)}/reject`), {}),
    skipStyle: (username) => request("POST", channel(username, "/styles/skip"), {}),
    clearStyles: (username) => request("POST", channel(username, "/styles/clear"), {}),
  };
}

// POST /api/ingest/frame. Resolves to {accepted, seq}; rejects with DreamStreamError.
export async function postFrame(baseUrl, streamKey, jpeg, { fetch: fetchImpl = globalThis.fetch } = {}) {
  const res = await fetchImpl(httpUrl(baseUrl, "/api/ingest/frame"), {
    method: "POST",
    headers: { Authorization: `Bearer ${streamKey}`, "Content-Type": "image/jpeg" },
    body: await toBytes(jpeg),
  });
  return readResponse(res);
}

// ---- Streamer -------------------------------------------------------------------------------

// Pushes JPEG frames to /ws/ingest. `key` is the stream key (sent as ?key=, or as a header
// when `headers` is supported), or `ticket` a single-use ingest ticket (?ticket=, from
// createIngestTicket); without either a browser uses its session cookie.
// sendJpeg() drops the frame (returns false, counts `dropped`) while more than
// `maxBufferedBytes` are still queued in the socket, so a slow link never builds up lag.
// Callbacks: onStatus(msg), onError(msg), onEvent(msg) for every JSON message (the channel's
// styles, settings, comment, comment_deleted and viewers events included), onOutput(jpeg, header)
// for the processed frames the ingest socket also carries, onClose({code, reason}).
export class Streamer {
  constructor(baseUrl, { key, ticket, WebSocket, maxBufferedBytes = 0, onStatus, onError, onEvent,
                         onOutput, onClose, headerAuth = false } = {}) {
    this.url = wsUrl(baseUrl, "/ws/ingest", { ...(headerAuth ? {} : { key }), ticket });
    this.opts = { WebSocket, headers: headerAuth && key ? { Authorization: `Bearer ${key}` } : undefined };
    this.maxBufferedBytes = maxBufferedBytes;
    Object.assign(this, { onStatus, onError, onEvent, onOutput, onClose });
    this.sent = 0;
    this.dropped = 0;
    this.status = null;
    this.errors = [];
    this.ended = null;
    this.styles = null;    // the latest StyleState ({type:"styles"} events on the ingest socket)
    this.settings = null;  // the latest stream settings ({type:"settings"})
    this.closeCode = null;
    this.closeReason = null;
    this.ws = null;
    this._header = null;
    this.closed = new Promise((resolve) => { this._resolveClosed = resolve; });
  }

  async connect(timeoutMs = DEFAULT_TIMEOUT_MS) {
    const ws = openSocket(this.url, this.opts);
    this.ws = ws;
    ws.addEventListener("message", (ev) => this._onMessage(ev.data));
    ws.addEventListener("close", (ev) => {
      this.closeCode = ev.code;
      this.closeReason = ev.reason;
      this.onClose?.({ code: ev.code, reason: ev.reason });
      this._resolveClosed({ code: ev.code, reason: ev.reason });
    });
    await waitOpen(ws, timeoutMs);
    return this;
  }

  _onMessage(data) {
    if (typeof data === "string") {
      const msg = parseJson(data);
      if (!msg) return;
      if (msg.type === "status") { this.status = msg; this.onStatus?.(msg); }
      else if (msg.type === "error") { this.errors.push(msg); this.onError?.(msg); }
      else if (msg.type === "ended") this.ended = msg;
      else if (msg.type === "styles") this.styles = msg.styles;
      else if (msg.type === "settings") this.settings = msg.settings;
      else if (msg.type === "frame") this._header = msg;
      this.onEvent?.(msg);
    } else {
      const header = this._header;
      this._header = null;
      this.onOutput?.(new Uint8Array(data), header);
    }
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  // Returns true when the frame was handed to the socket, false when dropped or closed.
  // maxBufferedBytes overrides the streamer's own limit for this frame (streamCamera's rule).
  sendJpeg(jpeg, { maxBufferedBytes = this.maxBufferedBytes } = {}) {
    if (!this.isOpen) return false;
    if (this.ws.bufferedAmount > maxBufferedBytes) {
      this.dropped++;
      return false;
    }
    this.ws.send(jpeg);
    this.sent++;
    return true;
  }

  close(code = 1000, reason = "done") {
    if (this.ws && this.ws.readyState <= 1) this.ws.close(code, reason);
    return this.closed;
  }
}

// ---- Viewer ---------------------------------------------------------------------------------

// An inline message (docs/protocol.md, "Inline frames"): a 4-byte big-endian length N, N bytes
// of header JSON, the payload. Returns {meta, payload}: meta the header object whatever its
// `type` ("frame" before a JPEG, "video" before an H.264 access unit), null when it is not a JSON
// object; payload a Uint8Array view. null when the message is shorter than its prefix says.
export function splitInlineMessage(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < 4) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(0);
  if (n > bytes.length - 4) return null;
  const meta = parseJson(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
  return { meta: meta && !Array.isArray(meta) ? meta : null, payload: bytes.subarray(4 + n) };
}

// An inline frame message: the header JSON and the JPEG. Returns {header, jpeg} (header {} when
// the JSON is not a frame header; jpeg a Uint8Array view), or null when shorter than its prefix
// says.
export function splitInlineFrame(data) {
  const m = splitInlineMessage(data);
  if (!m) return null;
  return { header: m.meta && m.meta.type === "frame" ? m.meta : {}, jpeg: m.payload };
}

// Watches /ws/watch/<username>. Either callbacks (onFrame(frame), onEvent(msg), onClose) or
// `for await (const item of viewer)`: items are {kind:"event", event} or
// {kind:"frame", frame:{jpeg, seq, captured_ms, processed_ms, info}}; iteration ends on close.
// Events: state, viewers, styles ({styles: StyleState}), settings ({settings}), comment
// ({comment}), comment_deleted ({id}). The latest `state`, `viewers` (count), `styles` and
// `settings` are also kept as properties (null until the first).
// frames: "inline" (default) asks for one binary message per frame (`?frames=inline`);
// "split" takes the older text header + binary JPEG pair. Both give the same frames.
// video: "h264" asks for the stream as H.264 access units (`?video=h264`, docs/protocol.md,
// "Video"; inline frames only): each binary message is dispatched on its header's type; access
// units go to onVideo({data, key, decode_only, seq, ts_ms, captured_ms, processed_ms, codec,
// width, height, info}) only (never to the iterator, whose bounded queue would break a GOP),
// and the JPEG frames the socket may still carry (before the first keyframe) stay frames.
// dropVideo() reconnects without it (what renderViewer does when decoding fails).
export class Viewer {
  constructor(baseUrl, username, { WebSocket, onFrame, onVideo, onEvent, onClose, maxQueue = 64,
                                   frames = "inline", video = null } = {}) {
    if (frames !== "inline" && frames !== "split") throw new Error(`frames: "inline" or "split", not ${frames}`);
    if (video !== null && video !== undefined && video !== "h264") throw new Error(`video: "h264" or null, not ${video}`);
    if (video && frames !== "inline") throw new Error('video: "h264" needs frames: "inline"');
    this.frames = frames;
    this.video = video || null;
    this._base = baseUrl;
    this._username = username;
    this.url = this._url();
    this.opts = { WebSocket };
    Object.assign(this, { onFrame, onVideo, onEvent, onClose });
    this.maxQueue = maxQueue;
    this.state = null;
    this.viewers = null;
    this.styles = null;
    this.settings = null;
    this.ws = null;
    this.closeCode = null;
    this.closeReason = null;
    this._header = null;
    this._queue = [];
    this._waiters = [];
    this._done = false;
  }

  _url() {
    return wsUrl(this._base, `/ws/watch/${encodeURIComponent(this._username)}`,
                 { frames: this.frames === "inline" ? "inline" : null, video: this.video });
  }

  async connect(timeoutMs = DEFAULT_TIMEOUT_MS) {
    await this._open(timeoutMs);
    return this;
  }

  _open(timeoutMs) {
    const ws = openSocket(this.url, this.opts);
    this.ws = ws;
    // A socket replaced by dropVideo() neither hands on messages nor ends the viewer.
    ws.addEventListener("message", (ev) => { if (this.ws === ws) this._onMessage(ev.data); });
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.closeCode = ev.code;
      this.closeReason = ev.reason;
      this._done = true;
      this.onClose?.({ code: ev.code, reason: ev.reason });
      for (const w of this._waiters.splice(0)) w({ value: undefined, done: true });
    });
    return waitOpen(ws, timeoutMs);
  }

  // Goes back to JPEG frames: a new socket without the video option replaces the current one
  // (events and frames continue on it; the viewer does not close). Resolves once it is open.
  async dropVideo(timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (!this.video || this._done) return this;
    this.video = null;
    this.url = this._url();
    const old = this.ws;
    const opened = this._open(timeoutMs);
    try { old?.close(1000, "video off"); } catch { /* already closing */ }
    await opened;
    return this;
  }

  _push(item) {
    const w = this._waiters.shift();
    if (w) return w({ value: item, done: false });
    this._queue.push(item);
    if (this._queue.length > this.maxQueue) this._queue.shift();  // a slow reader sees fewer items
  }

  _onMessage(data) {
    if (typeof data === "string") {
      const msg = parseJson(data);
      if (!msg) return;
      if (msg.type === "frame") { this._header = msg; return; }
      if (msg.type === "state") this.state = msg.state;
      else if (msg.type === "viewers") this.viewers = msg.count;
      else if (msg.type === "styles") this.styles = msg.styles;
      else if (msg.type === "settings") this.settings = msg.settings;
      this.onEvent?.(msg);
      this._push({ kind: "event", event: msg });
      return;
    }
    let h;
    let jpeg;
    if (this.frames === "inline") {
      const m = splitInlineMessage(data);
      if (!m) return;
      if (m.meta?.type === "video") {
        const v = m.meta;
        const unit = { data: m.payload, key: v.key === true, decode_only: v.decode_only === true, seq: v.seq,
                       ts_ms: v.ts_ms, captured_ms: v.captured_ms, processed_ms: v.processed_ms,
                       codec: v.codec, width: v.width, height: v.height, info: v };
        this.onVideo?.(unit);  // never queued for `for await`: a dropped unit would break its GOP
        return;
      }
      h = m.meta?.type === "frame" ? m.meta : {};
      jpeg = m.payload;
    } else {
      h = this._header || {};
      this._header = null;
      jpeg = new Uint8Array(data);
    }
    const frame = { jpeg, seq: h.seq, captured_ms: h.captured_ms,
                    processed_ms: h.processed_ms, info: h };
    this.onFrame?.(frame);
    this._push({ kind: "frame", frame });
  }

  // The next item, or null after close / timeout.
  next(timeoutMs) {
    if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
    if (this._done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      let timer = null;
      const waiter = (r) => { if (timer) clearTimeout(timer); resolve(r); };
      this._waiters.push(waiter);
      if (timeoutMs != null) {
        timer = setTimeout(() => {
          const i = this._waiters.indexOf(waiter);
          if (i >= 0) this._waiters.splice(i, 1);
          resolve({ value: undefined, done: false, timedOut: true });
        }, timeoutMs);
      }
    });
  }

  // Reads items until an event of `type` for which predicate(event) holds and resolves to it;
  // frames and other events read meanwhile are skipped. Rejects on timeout or close.
  async waitEvent(type, predicate = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} event within ${timeoutMs} ms`);
      const r = await this.next(left);
      if (r.timedOut) throw new Error(`no ${type} event within ${timeoutMs} ms`);
      if (r.done) throw new Error(`viewer closed (${this.closeCode}) before a ${type} event`);
      if (r.value.kind === "event" && r.value.event.type === type && predicate(r.value.event)) return r.value.event;
    }
  }

  [Symbol.asyncIterator]() {
    return { next: () => this.next(), return: async () => { this.close(); return { done: true }; } };
  }

  close() {
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000, "bye");
  }
}

// ---- Worker ---------------------------------------------------------------------------------

// Serves /ws/worker jobs with process(jpeg: Uint8Array, params) -> JPEG bytes (Uint8Array,
// ArrayBuffer or Blob), or {jpeg, timings}; may be async. Runs until `signal` (an AbortSignal)
// aborts; reconnects after drops (250 ms doubling to maxBackoffMs, jittered). Rejects with
// AuthenticationError when the server refuses the token (close 4401 / 4403).
//
// slots (1-8): jobs or batches held at once (docs/protocol.md, "Slots"); held messages run one
// at a time in arrival order, and a `cancel` of one not started yet drops it (answered
// `cancelled`). maxBatch (1-16): jobs of different streams per model call ("Batches"):
// processBatch([{jpeg, params, job}]) returns (or resolves to) one output per item, in order:
// bytes, {jpeg, timings}, or an Error for an item that failed alone; a throw fails them all.
// Without processBatch a batch's items go through process() one by one; without process, a
// single job goes through processBatch() as a batch of one.
export async function runWorker(serverUrl, token, process, {
  name = "js-worker", backend = "js", WebSocket, signal, log = (m) => console.error(`dreamstream worker: ${m}`),
  onWelcome, maxBackoffMs = 10000, headerAuth = false, processBatch, slots = 1, maxBatch = 1,
} = {}) {
  if (!process && !processBatch) throw new TypeError("runWorker needs process or processBatch");
  for (const [label, value, top] of [["slots", slots, 8], ["maxBatch", maxBatch, 16]]) {
    if (!Number.isInteger(value) || value < 1 || value > top) {
      throw new RangeError(`${label} must be an integer from 1 to ${top}`);
    }
  }
  const u = new URL(serverUrl);
  const path = u.pathname === "/" || u.pathname === "" ? "/ws/worker" : "";
  const url = wsUrl(serverUrl, path || u.pathname, headerAuth ? {} : { token });
  const opts = { WebSocket, headers: headerAuth ? { Authorization: `Bearer ${token}` } : undefined };
  const hello = { type: "hello", name, backend, protocol: 1 };
  if (slots > 1) hello.slots = slots;
  if (maxBatch > 1) hello.max_batch = maxBatch;
  const model = { process, processBatch };
  let step = 250;
  while (!signal?.aborted) {
    let welcomed = false;
    try {
      welcomed = await workerSession(url, opts, { hello, slots, model, signal, log, onWelcome });
    } catch (e) {
      if (e instanceof AuthenticationError) throw e;
      log(`connection lost: ${e.message}`);
    }
    if (signal?.aborted) break;
    if (welcomed) step = 250;
    const delay = step / 2 + Math.random() * (step / 2);
    step = Math.min(step * 2, maxBackoffMs);
    log(`reconnecting in ${(delay / 1000).toFixed(2)} s`);
    await new Promise((resolve) => {
      const t = setTimeout(resolve, delay);
      signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}

// What a worker connection holds (docs/protocol.md, "Slots" and "Batches"): the message being
// worked on, those waiting in arrival order, and the one whose JPEGs are arriving. No I/O: the
// session feeds it and acts on its answers; tests/vectors/job_holding.json drives it as it
// drives the C++ worker and the Python SDK. Exported for those tests; not part of the package's
// API (index.js leaves it out).
export class JobHolder {
  constructor(slots) {
    this.capacity = slots > 1 ? slots + 1 : 1;  // a cancel may cross its job's start
    this.waiting = [];  // {batch, items: [{job, jpeg}]}
    this.working = false;
    this.assembling = null;  // {batch, items: [{job, jpeg, cancelled}], images}
  }

  // A job or batch header: its JPEGs follow. Returns the jobs of a message still missing
  // JPEGs, which is given up.
  header(jobs, batch) {
    const lost = (this.assembling?.items ?? []).map((it) => it.job);
    this.assembling = { batch, items: jobs.map((job) => ({ job, jpeg: null, cancelled: false })), images: 0 };
    return lost;
  }

  // One JPEG. Returns {kind, refused}: kind is "unexpected", "partial", "queued", "refused"
  // (refused: the jobs to answer busy) or "cancelled".
  binary(jpeg) {
    const a = this.assembling;
    if (!a) return { kind: "unexpected", refused: [] };
    a.items[a.images++].jpeg = jpeg;
    if (a.images < a.items.length) return { kind: "partial", refused: [] };
    this.assembling = null;
    const items = a.items.filter((it) => !it.cancelled).map(({ job, jpeg: j }) => ({ job, jpeg: j }));
    if (!items.length) return { kind: "cancelled", refused: [] };
    if (this.waiting.length + (this.working ? 1 : 0) >= this.capacity) {
      return { kind: "refused", refused: items.map((it) => it.job) };
    }
    this.waiting.push({ batch: a.batch, items });
    return { kind: "queued", refused: [] };
  }

  // True when jobId had not started: it is dropped (answer `cancelled`).
  cancel(jobId) {
    if (jobId == null) return false;
    for (let i = 0; i < this.waiting.length; i++) {
      const k = this.waiting[i].items.findIndex((it) => it.job.job_id === jobId);
      if (k < 0) continue;
      this.waiting[i].items.splice(k, 1);
      if (!this.waiting[i].items.length) this.waiting.splice(i, 1);
      return true;
    }
    const it = this.assembling?.items.find((x) => x.job.job_id === jobId && !x.cancelled);
    if (!it) return false;
    it.cancelled = true;  // its JPEG still comes; it keeps its place so the others match
    return true;
  }

  // The oldest waiting message, now started; null while one is worked on or none waits.
  startNext() {
    if (this.working || !this.waiting.length) return null;
    this.working = true;
    return this.waiting.shift();
  }

  finish() {
    this.working = false;
  }

  // The connection is gone: nothing waits any more.
  clear() {
    this.waiting.length = 0;
  }
}

function workerSession(url, opts, { hello, slots, model, signal, log, onWelcome }) {
  return new Promise((resolve, reject) => {
    const ws = openSocket(url, opts);
    let welcomed = false;
    const held = new JobHolder(slots);
    let open = true;
    const send = (obj) => { if (ws.readyState === 1) ws.send(JSON.stringify(obj)); };
    const pump = () => {
      if (!open) return;
      const message = held.startNext();
      if (!message) return;
      runMessage(ws, message, model, log).finally(() => { held.finish(); pump(); });
    };
    const onAbort = () => ws.close(1000, "worker stopping");
    signal?.addEventListener("abort", onAbort, { once: true });
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("close", (ev) => {
      open = false;
      held.clear();
      signal?.removeEventListener("abort", onAbort);
      if (AUTH_CLOSE_CODES.includes(ev.code)) {
        reject(new AuthenticationError(`server closed with ${ev.code} ${ev.reason}`));
      } else {
        if (!signal?.aborted) log(`server closed: ${ev.code} ${ev.reason || ""}`);
        resolve(welcomed);
      }
    });
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data === "string") {
        const msg = parseJson(ev.data);
        if (!msg) return;
        if (msg.type === "welcome") {
          welcomed = true;
          log(`connected as ${msg.name ?? hello.name}`);
          onWelcome?.(msg);
        } else if (msg.type === "job" || msg.type === "batch") {
          const jobs = msg.type === "job" ? [msg] : msg.jobs;
          if (!Array.isArray(jobs) || !jobs.length || !jobs.every((j) => j && typeof j === "object")) {
            log("ignoring a batch without a list of jobs");
            return;
          }
          for (const job of held.header(jobs, msg.type === "batch")) log(`job ${job.job_id} came without its JPEG`);
        } else if (msg.type === "cancel") {
          if (held.cancel(msg.job_id)) send({ type: "cancelled", job_id: msg.job_id });
        } else if (msg.type === "error") {
          log(`server error: ${msg.code} ${msg.message ?? ""}`);
        }
        return;
      }
      const { kind, refused } = held.binary(new Uint8Array(ev.data));
      for (const job of refused) {
        send({ type: "error", job_id: job.job_id, code: "busy",
               message: slots === 1 ? "a job is already in flight" : "the worker holds as many jobs as it may" });
      }
      if (kind === "queued") pump();
    });
  });
}

// One job, or one batch in one model call; then each job is answered on its own.
async function runMessage(ws, { batch, items }, { process, processBatch }, log) {
  const t0 = performance.now();
  let outs;
  let took = null;  // per item, when items run one by one
  let fn = "process()";
  if (processBatch && (batch || !process)) {
    fn = "processBatch()";
    try {
      outs = await processBatch(items.map(({ job, jpeg }) => ({ jpeg, params: { ...(job.params || {}) }, job })));
      if (!Array.isArray(outs) || outs.length !== items.length) {
        throw new Error(`processBatch() returned ${Array.isArray(outs) ? outs.length : "no list of"} outputs for ${items.length} jobs`);
      }
    } catch (e) {
      outs = items.map(() => e);
    }
  } else {
    outs = [];
    took = [];
    for (const { job, jpeg } of items) {
      const t1 = performance.now();
      try {
        outs.push(await process(jpeg, { ...(job.params || {}) }));
      } catch (e) {
        outs.push(e);
      }
      took.push(performance.now() - t1);
    }
  }
  const callMs = performance.now() - t0;
  const round = (v) => Math.round(v * 100) / 100;
  for (let i = 0; i < items.length; i++) {
    const { job } = items[i];
    let r = outs[i];
    let timings = {};
    let bytes;
    try {
      if (r instanceof Error) throw r;
      if (r && !(r instanceof Uint8Array) && !(r instanceof ArrayBuffer) && r.jpeg !== undefined) {
        timings = r.timings || {};
        r = r.jpeg;
      }
      bytes = await toBytes(r);
    } catch (e) {
      log(`${fn} failed on ${job.job_id}: ${e?.message ?? e}`);
      if (ws.readyState === 1) {
        ws.send(JSON.stringify({ type: "error", job_id: job.job_id, code: "backend_failed",
                                 message: String(e?.message ?? e).slice(0, 200) }));
      }
      continue;
    }
    const t = { decode_ms: 0, infer_ms: round(took ? took[i] : callMs), encode_ms: 0 };
    if (!took && items.length > 1) t.batch = items.length;
    for (const [k, v] of Object.entries(timings)) t[k] = round(Number(v));
    if (ws.readyState !== 1) return;
    // Both sends are queued in order on the socket: the header, then its JPEG.
    ws.send(JSON.stringify({ type: "result", job_id: job.job_id, timings: t }));
    ws.send(bytes);
  }
}

// Type declarations for dreamstream.js, the protocol client (docs/protocol.md, docs/api.md).
// Hand-written; test/package.test.mjs checks that every runtime export is declared and
// test/types/usage.ts uses each one under `tsc --strict`.

/** JPEG bytes as the client accepts them. */
export type JpegInput = Uint8Array | ArrayBuffer | ArrayBufferView | Blob;

/** A WebSocket constructor: the global one, or an implementation such as the `ws` package's. */
export type WebSocketConstructor = new (url: string, options?: any) => WebSocket;

/** The fetch function used for HTTP calls (the global one by default). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** An API error: HTTP status, the server's error code and message, and the parsed body. */
export class DreamStreamError extends Error {
  constructor(status: number, code: string, message: string, body?: unknown);
  name: "DreamStreamError";
  status: number;
  code: string;
  body: unknown;
}

/** The server refused the worker's credentials (close 4401 / 4403). */
export class AuthenticationError extends Error {
  constructor(message: string);
  name: "AuthenticationError";
}

// ---- Close codes ----------------------------------------------------------------------------

export type CloseCodeName =
  | "normal" | "going_away" | "protocol_error" | "invalid_data" | "policy" | "too_big" | "internal"
  | "try_again" | "replaced" | "ended" | "job_timeout" | "unauthorized" | "no_credits" | "forbidden"
  | "not_found" | "conflict";

export interface CloseCodeEntry {
  readonly name: CloseCodeName;
  readonly meaning: string;
}

/** Every code the server closes a WebSocket with, keyed by the number. */
export const CLOSE_CODES: Readonly<Record<number, CloseCodeEntry>>;

/** Close code numbers by name: `CloseCode.no_credits === 4402`. */
export const CloseCode: Readonly<{
  normal: 1000; going_away: 1001; protocol_error: 1002; invalid_data: 1007; policy: 1008;
  too_big: 1009; internal: 1011; try_again: 1013; replaced: 4001; ended: 4002; job_timeout: 4008;
  unauthorized: 4401; no_credits: 4402; forbidden: 4403; not_found: 4404; conflict: 4409;
}>;

/** A close code in words; codes the server does not send read as "connection lost". */
export function closeMeaning(code: number): string;

/** True when the bytes start with a JPEG SOI and end (ignoring zero padding) with an EOI. */
export function isJpeg(bytes: Uint8Array | ArrayBuffer): boolean;

// ---- Shapes of the API (docs/api.md) --------------------------------------------------------

export interface Author {
  username: string;
  display_name: string;
}

export interface Comment {
  id: number;
  session_id: number;
  author: Author;
  /** As typed: render it as text, never as HTML. */
  body: string;
  created_ms: number;
}

export type StyleRequestStatus = "pending" | "queued" | "active" | "done" | "rejected" | "skipped" | "cleared";

export interface StyleRequest {
  id: number;
  session_id: number;
  prompt: string;
  author: Author;
  status: StyleRequestStatus;
  created_ms: number;
  started_ms: number | null;
  ended_ms: number | null;
}

export type StylePolicy = "auto" | "approve";

export interface StyleState {
  current: {
    prompt: string;
    source: "base" | "request";
    request: StyleRequest | null;
    started_ms: number | null;
    ends_ms: number | null;
  };
  queue: StyleRequest[];
  pending: StyleRequest[];
  policy: StylePolicy;
  slot_seconds: number;
  base_style: string;
  enabled: boolean;
}

export interface StreamSettings {
  comments_enabled: boolean;
  styles_enabled: boolean;
  style_policy: StylePolicy;
  style_slot_seconds: number;
  base_style: string;
  strength: number;
  record: boolean;
}

export interface User {
  id: number;
  username: string;
  display_name: string;
  email: string;
  balance: string | number;
  balance_cents: number;
  remaining_minutes: number;
  stream_url: string;
  [field: string]: unknown;
}

export interface StreamInfo {
  username: string;
  display_name: string;
  live: boolean;
  state: string;
  viewers: number;
  settings: StreamSettings;
  current_style: unknown;
  styles: StyleState;
  [field: string]: unknown;
}

export interface LiveStream {
  username: string;
  display_name: string;
  viewers: number;
  state: string;
  started_ms: number;
  thumbnail_url: string;
}

/** JSON the server answers; the exact fields are in docs/api.md. */
export type Json = Record<string, any>;

export interface CreateApiOptions {
  /** An API token (`dst_…`), sent as `Authorization: Bearer`. Leave it out in a browser on the
   * site itself (or an `--allowed-origin`): the session cookie is sent. */
  token?: string;
  fetch?: FetchFunction;
  /** What `fetch` sends of the browser's cookies (default "same-origin"). "include" sends the
   * DreamStream session cookie from an app on an origin the server allows (`--allowed-origin`). */
  credentials?: "same-origin" | "include" | "omit";
}

/** What an API token may do (docs/api.md#scopes). */
export type TokenScope = "read" | "stream" | "chat" | "key" | "tokens" | "account";

export interface ApiToken {
  id: number;
  name: string;
  created_ms: number;
  last_used_ms: number | null;
  scopes: TokenScope[];
}

export interface CreatedToken {
  id: number;
  name: string;
  /** The secret (`dst_…`), shown only here. */
  token: string;
  scopes: TokenScope[];
}

export interface Api {
  /** Any call: JSON in and out (JPEG answers as bytes); rejects with DreamStreamError. */
  request(method: string, path: string, body?: unknown): Promise<any>;
  me(): Promise<{ user: User }>;
  startStream(): Promise<{ stream: Json; url: string }>;
  stopStream(): Promise<{ stream: Json }>;
  streamInfo(username: string): Promise<StreamInfo>;
  liveStreams(): Promise<LiveStream[]>;
  sessions(): Promise<{ sessions: Json[]; next_before: number | null }>;
  /** A new stream key (`dsk_…`); the old one stops working. Needs the `key` scope. */
  rotateStreamKey(): Promise<string>;
  /** A new API token, shown once. Without `scopes` it gets every scope its maker has; a token
   * needs the `tokens` scope to make one, and can give only scopes it has. */
  createToken(name: string, opts?: { scopes?: TokenScope[] }): Promise<CreatedToken>;
  tokens(): Promise<ApiToken[]>;
  /** Any token may revoke itself; revoking another needs the `tokens` scope. */
  revokeToken(tokenId: number): Promise<{ ok: true }>;
  /** A single-use ticket (`dit_…`) that opens one ingest socket within a minute
   * (`new Streamer(url, { ticket })`), so a page streams without the stream key. */
  createIngestTicket(): Promise<IngestTicket>;
  latestJpeg(username: string): Promise<Uint8Array>;
  settings(): Promise<StreamSettings>;
  updateSettings(fields: Partial<StreamSettings>): Promise<StreamSettings>;
  postComment(username: string, body: string): Promise<Comment>;
  comments(username: string, opts?: { before?: number; limit?: number }): Promise<{ comments: Comment[]; next_before: number | null }>;
  deleteComment(username: string, commentId: number): Promise<{ deleted: true }>;
  requestStyle(username: string, prompt: string): Promise<{ request: StyleRequest; styles: StyleState }>;
  styles(username: string): Promise<StyleState>;
  approveStyle(username: string, requestId: number): Promise<StyleState>;
  rejectStyle(username: string, requestId: number): Promise<StyleState>;
  skipStyle(username: string): Promise<StyleState>;
  clearStyles(username: string): Promise<StyleState>;
}

/** HTTP helpers against the server at baseUrl (the page's origin when left out in a browser). */
export function createApi(baseUrl?: string | URL | null, opts?: CreateApiOptions): Api;

/** POST /api/ingest/frame with a stream key: one frame over HTTP (starts the stream if needed). */
export function postFrame(baseUrl: string | URL | null | undefined, streamKey: string, jpeg: JpegInput,
                          opts?: { fetch?: FetchFunction }): Promise<{ accepted: boolean; seq: number }>;

// ---- Socket messages (docs/protocol.md) -----------------------------------------------------

/** A JSON message from the server; `type` says which (status, error, ended, styles, settings,
 * comment, comment_deleted, viewers, state, frame, …). */
export interface ServerMessage {
  type: string;
  [field: string]: any;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The `frame` header of a processed frame. */
export interface FrameHeader {
  type?: "frame";
  seq?: number;
  captured_ms?: number;
  processed_ms?: number;
  [field: string]: any;
}

/** A processed frame as a Viewer hands it on. */
export interface Frame {
  /** The JPEG (a view into the received message). */
  jpeg: Uint8Array;
  seq: number | undefined;
  captured_ms: number | undefined;
  processed_ms: number | undefined;
  /** The whole header. */
  info: FrameHeader;
}

// ---- Streamer -------------------------------------------------------------------------------

export interface IngestTicket {
  ticket: string;
  /** When it stops working, in ms since the epoch (server clock). */
  expires_ms: number;
  expires_in_ms: number;
}

export interface StreamerOptions {
  /** The stream key (`dsk_…`); without a key or ticket a browser uses its session cookie. */
  key?: string;
  /** A single-use ingest ticket (`dit_…`) from `Api.createIngestTicket()`, for one connect. */
  ticket?: string;
  WebSocket?: WebSocketConstructor;
  /** How many bytes may wait in the socket before sendJpeg() drops frames (default 0). */
  maxBufferedBytes?: number;
  /** Send the key as `Authorization: Bearer` (needs a WebSocket that takes headers, e.g. `ws`). */
  headerAuth?: boolean;
  onStatus?: (msg: ServerMessage) => void;
  onError?: (msg: ServerMessage) => void;
  onEvent?: (msg: ServerMessage) => void;
  onOutput?: (jpeg: Uint8Array, header: FrameHeader | null) => void;
  onClose?: (info: CloseInfo) => void;
}

/** Pushes JPEG frames to /ws/ingest, dropping them while the socket is backed up. */
export class Streamer {
  constructor(baseUrl: string | URL | null | undefined, opts?: StreamerOptions);
  readonly url: string;
  maxBufferedBytes: number;
  onStatus: ((msg: ServerMessage) => void) | undefined;
  onError: ((msg: ServerMessage) => void) | undefined;
  onEvent: ((msg: ServerMessage) => void) | undefined;
  onOutput: ((jpeg: Uint8Array, header: FrameHeader | null) => void) | undefined;
  onClose: ((info: CloseInfo) => void) | undefined;
  /** Frames handed to the socket. */
  sent: number;
  /** Frames dropped because the socket was backed up. */
  dropped: number;
  /** The latest `status` message. */
  status: ServerMessage | null;
  errors: ServerMessage[];
  /** The `ended` message, once the stream ended. */
  ended: ServerMessage | null;
  styles: StyleState | null;
  settings: StreamSettings | null;
  closeCode: number | null;
  closeReason: string | null;
  ws: WebSocket | null;
  /** Resolves when the socket closes. */
  readonly closed: Promise<CloseInfo>;
  connect(timeoutMs?: number): Promise<this>;
  readonly isOpen: boolean;
  /** True when handed to the socket; false when dropped (more than maxBufferedBytes queued) or closed. */
  sendJpeg(jpeg: Uint8Array | ArrayBuffer | Blob, opts?: { maxBufferedBytes?: number }): boolean;
  close(code?: number, reason?: string): Promise<CloseInfo>;
}

// ---- Viewer ---------------------------------------------------------------------------------

/** Splits an inline frame message (4-byte length, frame JSON, JPEG); null when truncated. */
export function splitInlineFrame(data: Uint8Array | ArrayBuffer): { header: FrameHeader; jpeg: Uint8Array } | null;

/**
 * Splits any inline message (4-byte length, header JSON, payload): meta is the header object
 * whatever its type ("frame", "video"), null when not a JSON object; null when truncated.
 */
export function splitInlineMessage(data: Uint8Array | ArrayBuffer): { meta: { type?: string; [field: string]: any } | null; payload: Uint8Array } | null;

/** One H.264 access unit as a Viewer with `video: "h264"` hands it on. */
export interface VideoUnit {
  /** Annex-B bytes (a view into the received message). */
  data: Uint8Array;
  key: boolean;
  decode_only: boolean;
  seq: number | undefined;
  ts_ms: number;
  captured_ms: number | undefined;
  processed_ms: number | undefined;
  /** On keyframes: the codec string and the coded size. */
  codec: string | undefined;
  width: number | undefined;
  height: number | undefined;
  /** The whole header ({type: "video", …}). */
  info: { type: "video"; key: boolean; ts_ms: number; [field: string]: any };
}

/** What `for await` gives (video units go to onVideo only). */
export type ViewerItem = { kind: "event"; event: ServerMessage } | { kind: "frame"; frame: Frame };

export interface ViewerOptions {
  WebSocket?: WebSocketConstructor;
  onFrame?: (frame: Frame) => void;
  onEvent?: (msg: ServerMessage) => void;
  onClose?: (info: CloseInfo) => void;
  /** Items kept for a slow `for await` reader (default 64; the oldest go first). */
  maxQueue?: number;
  /** "inline" (default): one binary message per frame; "split": header + JPEG pairs. */
  frames?: "inline" | "split";
  /** "h264": ask for H.264 access units (`?video=h264`; inline frames only), handed to onVideo only. */
  video?: "h264" | null;
  onVideo?: (unit: VideoUnit) => void;
}

/** Watches /ws/watch/<username>: callbacks, or `for await (const item of viewer)`. */
export class Viewer implements AsyncIterable<ViewerItem> {
  constructor(baseUrl: string | URL | null | undefined, username: string, opts?: ViewerOptions);
  readonly url: string;
  readonly frames: "inline" | "split";
  /** "h264" while the socket asks for video; null after dropVideo(). */
  readonly video: "h264" | null;
  onFrame: ((frame: Frame) => void) | undefined;
  onVideo: ((unit: VideoUnit) => void) | undefined;
  onEvent: ((msg: ServerMessage) => void) | undefined;
  onClose: ((info: CloseInfo) => void) | undefined;
  maxQueue: number;
  /** The latest stream state ("live", "offline", …), null before the first `state` event. */
  state: string | null;
  /** The latest viewer count. */
  viewers: number | null;
  styles: StyleState | null;
  settings: StreamSettings | null;
  ws: WebSocket | null;
  closeCode: number | null;
  closeReason: string | null;
  connect(timeoutMs?: number): Promise<this>;
  /** Reconnects without the video option (JPEG frames again); the viewer stays open. */
  dropVideo(timeoutMs?: number): Promise<this>;
  /** The next item; `done` after close; `timedOut` when timeoutMs passed first. */
  next(timeoutMs?: number): Promise<IteratorResult<ViewerItem, undefined> & { timedOut?: boolean }>;
  /** The next event of `type` for which predicate holds; rejects on timeout or close. */
  waitEvent(type: string, predicate?: (event: ServerMessage) => boolean, timeoutMs?: number): Promise<ServerMessage>;
  [Symbol.asyncIterator](): AsyncIterator<ViewerItem>;
  close(): void;
}

// ---- Worker ---------------------------------------------------------------------------------

/** Job parameters the server sends (prompt, strength, …). */
export type JobParams = Record<string, any>;

export interface Job {
  type?: string;
  job_id: string;
  params?: JobParams;
  [field: string]: any;
}

/** What a model returns for one frame: JPEG bytes, or JPEG bytes with timings in ms. */
export type WorkerOutput = Uint8Array | ArrayBuffer | Blob | { jpeg: Uint8Array | ArrayBuffer | Blob; timings?: Record<string, number> };

export type ProcessFunction = (jpeg: Uint8Array, params: JobParams) => WorkerOutput | Promise<WorkerOutput>;

export interface BatchItem {
  jpeg: Uint8Array;
  params: JobParams;
  job: Job;
}

/** One output per item, in order; an Error fails that item alone. */
export type ProcessBatchFunction = (items: BatchItem[]) => Array<WorkerOutput | Error> | Promise<Array<WorkerOutput | Error>>;

export interface RunWorkerOptions {
  name?: string;
  backend?: string;
  WebSocket?: WebSocketConstructor;
  /** Stops the worker when aborted. */
  signal?: AbortSignal;
  log?: (message: string) => void;
  onWelcome?: (msg: ServerMessage) => void;
  maxBackoffMs?: number;
  headerAuth?: boolean;
  processBatch?: ProcessBatchFunction;
  /** Jobs or batches held at once, 1–8 (default 1). */
  slots?: number;
  /** Streams' frames per model call, 1–16 (default 1). */
  maxBatch?: number;
}

/** Serves /ws/worker jobs until `signal` aborts; rejects with AuthenticationError when refused. */
export function runWorker(serverUrl: string | URL, token: string, process: ProcessFunction | null | undefined,
                          opts?: RunWorkerOptions): Promise<void>;

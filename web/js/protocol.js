// The live wire protocol as the pages see it (docs/protocol.md): every WebSocket close code in
// use, and one way to open a live socket (/ws/ingest, /ws/watch/<name>) that turns its
// messages into calls: JSON events by `type`, a processed JPEG together with the `frame` header
// sent just before it (or in front of it, inline), H.264 access units with their `video` header,
// and the close with its entry from the table.
// The SDKs keep the same table (clients/js/dreamstream.js, clients/python/dreamstream.py); tests
// check all three against docs/protocol.md.

// code → name and what it means to the person in front of the page.
export const kCloseCodes = Object.freeze({
  1000: { name: 'normal', meaning: 'The connection was closed normally.' },
  1001: { name: 'going_away', meaning: 'The other side went away.' },
  1002: { name: 'protocol_error', meaning: 'The connection broke the WebSocket protocol.' },
  1007: { name: 'invalid_data', meaning: 'A message was not valid text.' },
  1008: { name: 'policy', meaning: 'The server closed the connection after too many bad frames or messages in a row.' },
  1009: { name: 'too_big', meaning: 'A message was too large for the server.' },
  1011: { name: 'internal', meaning: 'The server hit an internal error.' },
  1013: { name: 'try_again', meaning: 'The server’s database is unavailable right now. Try again shortly.' },
  4001: { name: 'replaced', meaning: 'A newer connection for this stream took over.' },
  4002: { name: 'ended', meaning: 'The stream has ended.' },
  4008: { name: 'job_timeout', meaning: 'The model worker took too long with a job.' },
  4401: { name: 'unauthorized', meaning: 'Not logged in, or the login or key was revoked.' },
  4402: { name: 'no_credits', meaning: 'Not enough credits to stream.' },
  4403: { name: 'forbidden', meaning: 'The server refused this connection (for example from another site).' },
  4404: { name: 'not_found', meaning: 'There is no such streamer.' },
  4409: { name: 'conflict', meaning: 'The stream is not in a state that allows this (for example not started yet).' },
});

// name → code, for comparisons that read as words: `code === CloseCode.no_credits`.
export const CloseCode = Object.freeze(
  Object.fromEntries(Object.entries(kCloseCodes).map(([code, { name }]) => [name, Number(code)])),
);

// The table's entry for `code`; a code the server does not send (1006 when a connection just
// breaks) reads as a lost connection.
export function closeEntry(code) {
  const known = kCloseCodes[code];
  return known ? { code, ...known } : { code, name: 'unknown', meaning: 'The connection to the server was lost.' };
}

export function liveSocketUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

function parseEvent(text) {
  try {
    const msg = JSON.parse(text);
    return msg && typeof msg === 'object' && typeof msg.type === 'string' ? msg : null;
  } catch {
    return null;
  }
}

// An inline message (docs/protocol.md, "Inline frames"): a 4-byte big-endian length N, N bytes
// of header JSON, then the payload. Returns { meta, payload }: meta the header whatever its
// `type` ('frame' before a JPEG, 'video' before an H.264 access unit), null when it is not a JSON
// object with a type; payload a Uint8Array view into `buffer`. null when the message is shorter
// than its prefix says.
export function splitInlineMessage(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 4) return null;
  const n = new DataView(buffer).getUint32(0);
  if (n > buffer.byteLength - 4) return null;
  const meta = parseEvent(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
  return { meta, payload: new Uint8Array(buffer, 4 + n) };
}

// An inline frame: the `frame` JSON, then the JPEG. Returns { header, jpeg } (header null when
// the JSON is not a `frame` message; jpeg a Uint8Array view into `buffer`), or null when the
// message is shorter than its prefix says.
export function splitInlineFrame(buffer) {
  const m = splitInlineMessage(buffer);
  if (!m) return null;
  return { header: m.meta?.type === 'frame' ? m.meta : null, jpeg: m.payload };
}

// Opens the live socket at `path` and returns it. Options, all optional:
//   events: { [type]: (msg) => … }  one per JSON event type; unknown types are ignored
//   onFrame(data, header)           a processed JPEG (a Blob, or an ArrayBuffer with
//                                   binaryType 'arraybuffer') and its `frame` header
//                                   ({type:'frame', seq, captured_ms, processed_ms}), or null
//                                   when none came
//   onOpen()
//   onClose({ code, reason, entry }) entry: closeEntry(code)
//   frames: 'split'                 the header as a text message before each binary JPEG;
//           'inline'                one binary message per frame (`?frames=inline`), half the
//                                   messages for the server and the page
//           'none'                  no pictures (`?frames=none`): only the events (a page that
//                                   plays HLS)
//   video: true                     also `?video=h264` (inline frames only): H.264 access units
//                                   go to onVideo(header, bytes) ({type:'video', key,
//                                   decode_only, ts_ms, …} and a Uint8Array of Annex-B);
//                                   JPEG frames the socket still carries go to onFrame
// Throws like `new WebSocket` when the URL is refused.
export function openLiveSocket(path, { events = {}, onFrame, onVideo, onOpen, onClose, binaryType = 'blob', frames = 'split', video = false } = {}) {
  const none = frames === 'none';
  const inline = !none && (frames === 'inline' || video);
  const query = none ? 'frames=none'
    : [inline && 'frames=inline', video && 'video=h264'].filter(Boolean).join('&');
  const ws = new WebSocket(liveSocketUrl(query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path));
  // Inline frames are split synchronously, so they arrive as ArrayBuffers whatever the page asked.
  ws.binaryType = inline ? 'arraybuffer' : binaryType;
  let header = null;
  ws.addEventListener('open', () => onOpen?.());
  ws.addEventListener('message', (ev) => {
    if (inline && typeof ev.data !== 'string') {
      const m = splitInlineMessage(ev.data);
      if (!m) return;
      if (m.meta?.type === 'video') {
        onVideo?.(m.meta, m.payload);
        return;
      }
      const data = binaryType === 'blob'
        ? new Blob([m.payload], { type: 'image/jpeg' })
        : m.payload.buffer.slice(m.payload.byteOffset);
      onFrame?.(data, m.meta?.type === 'frame' ? m.meta : null);
      return;
    }
    if (typeof ev.data !== 'string') {
      const frameHeader = header;
      header = null;
      onFrame?.(ev.data, frameHeader);
      return;
    }
    const msg = parseEvent(ev.data);
    if (!msg) return;
    if (msg.type === 'frame') {
      header = msg;
      return;
    }
    if (Object.hasOwn(events, msg.type)) events[msg.type](msg);
  });
  ws.addEventListener('close', (ev) => onClose?.({ code: ev.code, reason: ev.reason, entry: closeEntry(ev.code) }));
  return ws;
}

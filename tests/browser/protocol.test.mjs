// web/js/protocol.js and web/js/live_events.js in plain node, with a fake WebSocket: the
// close-code table matches docs/protocol.md, and openLiveSocket turns a socket's messages into
// the page's calls.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { channelEvents } from '../../web/js/live_events.js';
import { CloseCode, closeEntry, kCloseCodes, openLiveSocket, splitInlineFrame, splitInlineMessage } from '../../web/js/protocol.js';
import { canDecodeVideo, videoPathLabel } from '../../web/js/video.js';

// code → name from the table under the "Close codes" heading of docs/protocol.md.
function docCloseCodes() {
  const doc = fs.readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const codes = new Map();
  let inSection = false;
  for (const line of doc.split('\n')) {
    if (/^#+\s/.test(line)) inSection = /close codes?/i.test(line);
    const row = inSection && line.match(/^\|\s*`?(\d{4})`?\s*\|\s*`?([\w-]+)`?\s*\|/);
    if (row) codes.set(Number(row[1]), row[2]);
  }
  return codes;
}

class FakeSocket extends EventTarget {
  static last = null;
  constructor(url) {
    super();
    this.url = url;
    FakeSocket.last = this;
  }
  receive(data) {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }
  closeWith(code, reason) {
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason }));
  }
}

function withFakeBrowser(fn) {
  const saved = { WebSocket: globalThis.WebSocket, location: globalThis.location };
  globalThis.WebSocket = FakeSocket;
  globalThis.location = { protocol: 'https:', host: 'dream.example:8443' };
  try {
    return fn();
  } finally {
    Object.assign(globalThis, saved);
  }
}

test('the close-code table has every code of docs/protocol.md, with the same names', () => {
  const doc = docCloseCodes();
  assert.ok(doc.size >= 12, `docs/protocol.md has a close-code table (found ${doc.size} rows)`);
  const ours = new Map(Object.entries(kCloseCodes).map(([code, e]) => [Number(code), e.name]));
  assert.deepEqual([...ours].sort(), [...doc].sort());
  for (const [code, e] of Object.entries(kCloseCodes)) assert.ok(e.meaning.length > 0, `${code} says what it means`);
  assert.equal(CloseCode.no_credits, 4402);
  assert.equal(CloseCode.replaced, 4001);
});

test('an unknown close code reads as a lost connection', () => {
  assert.equal(closeEntry(4404).name, 'not_found');
  const e = closeEntry(1006);
  assert.equal(e.code, 1006);
  assert.equal(e.name, 'unknown');
  assert.match(e.meaning, /lost/);
});

test('openLiveSocket builds the URL, dispatches events by type and pairs each frame with its header', () => {
  withFakeBrowser(() => {
    const seen = [];
    const ws = openLiveSocket('/ws/watch/alice', {
      binaryType: 'arraybuffer',
      events: { state: (m) => seen.push(['state', m.state]), viewers: (m) => seen.push(['viewers', m.count]) },
      onFrame: (data, header) => seen.push(['frame', data, header?.seq ?? null]),
      onOpen: () => seen.push(['open']),
      onClose: (c) => seen.push(['close', c.code, c.reason, c.entry.name]),
    });
    assert.equal(ws, FakeSocket.last);
    assert.equal(ws.url, 'wss://dream.example:8443/ws/watch/alice');
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.dispatchEvent(new Event('open'));
    ws.receive('{"type":"state","state":"live"}');
    ws.receive('{"type":"frame","seq":42,"captured_ms":1,"processed_ms":2}');
    const jpeg1 = new Uint8Array([0xff, 0xd8, 1]).buffer;
    const jpeg2 = new Uint8Array([0xff, 0xd8, 2]).buffer;
    ws.receive(jpeg1);
    ws.receive('not json');
    ws.receive('{"type":"toString"}');
    ws.receive('{"type":"comment","comment":{"id":1}}'); // no handler: ignored
    ws.receive('{"type":"viewers","count":3}');
    ws.receive(jpeg2); // no header before it
    ws.closeWith(4404, 'no such streamer');
    assert.equal(seen.length, 6);
    assert.deepEqual(seen[0], ['open']);
    assert.deepEqual(seen[1], ['state', 'live']);
    assert.deepEqual(seen[2], ['frame', jpeg1, 42]);
    assert.deepEqual(seen[3], ['viewers', 3]);
    assert.deepEqual(seen[4], ['frame', jpeg2, null]);
    assert.deepEqual(seen[5], ['close', 4404, 'no such streamer', 'not_found']);
  });
});

// One inline frame message as the server sends it with ?frames=inline.
function inlineFrame(meta, jpegBytes) {
  const json = new TextEncoder().encode(meta);
  const out = new Uint8Array(4 + json.length + jpegBytes.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(jpegBytes, 4 + json.length);
  return out.buffer;
}

test('with frames inline the socket asks for them and splits each message into header and JPEG', async () => {
  await withFakeBrowser(async () => {
    const seen = [];
    const ws = openLiveSocket('/ws/ingest?key=k', {
      frames: 'inline',
      events: { state: (m) => seen.push(['state', m.state]) },
      onFrame: (data, header) => seen.push(['frame', data, header?.seq ?? null]),
    });
    assert.equal(ws.url, 'wss://dream.example:8443/ws/ingest?key=k&frames=inline');
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.receive('{"type":"state","state":"live"}');
    ws.receive(inlineFrame('{"type":"frame","seq":7,"captured_ms":1,"processed_ms":2}', [0xff, 0xd8, 7]));
    ws.receive(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1]).buffer); // a bare JPEG: not inline, dropped
    ws.receive(inlineFrame('', [0xff, 0xd8, 8])); // no header
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0], ['state', 'live']);
    assert.equal(seen[1][2], 7);
    assert.ok(seen[1][1] instanceof Blob, 'a Blob, as the page asked (the default)');
    assert.equal(seen[1][1].type, 'image/jpeg');
    assert.deepEqual([...new Uint8Array(await seen[1][1].arrayBuffer())], [0xff, 0xd8, 7]);
    assert.equal(seen[2][2], null);
    assert.deepEqual([...new Uint8Array(await seen[2][1].arrayBuffer())], [0xff, 0xd8, 8]);
  });
  withFakeBrowser(() => {
    const seen = [];
    const ws = openLiveSocket('/ws/watch/alice', {
      frames: 'inline',
      binaryType: 'arraybuffer',
      onFrame: (data, header) => seen.push([data, header.seq]),
    });
    assert.equal(ws.url, 'wss://dream.example:8443/ws/watch/alice?frames=inline');
    ws.receive(inlineFrame('{"type":"frame","seq":9}', [0xff, 0xd8, 9]));
    assert.ok(seen[0][0] instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(seen[0][0])], [0xff, 0xd8, 9]);
    assert.equal(seen[0][1], 9);
  });
});

test('with video the socket asks for H.264 and inline frames, and dispatches each message on its header type', async () => {
  await withFakeBrowser(async () => {
    const seen = [];
    const ws = openLiveSocket('/ws/watch/alice', {
      video: true,
      events: { state: (m) => seen.push(['state', m.state]) },
      onFrame: (data, header) => seen.push(['frame', data, header?.seq ?? null]),
      onVideo: (header, bytes) => seen.push(['video', header, [...bytes]]),
    });
    // Inline frames whatever `frames` says: the video units come only in that layout.
    assert.equal(ws.url, 'wss://dream.example:8443/ws/watch/alice?frames=inline&video=h264');
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.receive(inlineFrame('{"type":"frame","seq":1}', [0xff, 0xd8, 1])); // before the first keyframe
    const key = '{"type":"video","seq":2,"key":true,"decode_only":false,"ts_ms":1000,"captured_ms":990,"processed_ms":995,"codec":"avc1.42c01e","width":640,"height":480}';
    ws.receive(inlineFrame(key, [0, 0, 0, 1, 0x67, 0x42]));
    ws.receive('{"type":"state","state":"live"}');
    ws.receive(inlineFrame('{"type":"video","seq":3,"key":false,"decode_only":true,"ts_ms":1100}', [0, 0, 0, 1, 0x41]));
    ws.receive(inlineFrame('{"type":"video","seq":4,"key":false,"decode_only":false,"ts_ms":1200}', []));
    ws.receive(new Uint8Array([0, 0, 0, 99, 1]).buffer); // shorter than its prefix: dropped
    assert.deepEqual(seen.map((s) => s[0]), ['frame', 'video', 'state', 'video', 'video']);
    assert.equal(seen[0][2], 1);
    assert.ok(seen[0][1] instanceof Blob);
    assert.deepEqual([...new Uint8Array(await seen[0][1].arrayBuffer())], [0xff, 0xd8, 1]);
    assert.deepEqual(seen[1][1], JSON.parse(key));
    assert.deepEqual(seen[1][2], [0, 0, 0, 1, 0x67, 0x42]);
    assert.equal(seen[3][1].decode_only, true);
    assert.deepEqual(seen[3][2], [0, 0, 0, 1, 0x41]);
    assert.deepEqual(seen[4][2], []);
  });
  withFakeBrowser(() => {
    // Without the option, a page gets no video (and no video=h264 in the URL).
    const seen = [];
    const ws = openLiveSocket('/ws/watch/alice', { frames: 'inline', onFrame: (d, h) => seen.push(['frame', h]), onVideo: () => seen.push(['video']) });
    assert.equal(ws.url, 'wss://dream.example:8443/ws/watch/alice?frames=inline');
    ws.receive(inlineFrame('{"type":"frame","seq":5}', [0xff, 0xd8]));
    assert.deepEqual(seen, [['frame', { type: 'frame', seq: 5 }]]);
  });
});

test('splitInlineMessage keeps the header whatever its type; splitInlineFrame only a frame header', () => {
  const video = inlineFrame('{"type":"video","seq":2,"key":true,"ts_ms":5}', [0, 0, 1, 0x65]);
  assert.deepEqual(splitInlineMessage(video).meta, { type: 'video', seq: 2, key: true, ts_ms: 5 });
  assert.deepEqual([...splitInlineMessage(video).payload], [0, 0, 1, 0x65]);
  assert.equal(splitInlineFrame(video).header, null);
  assert.equal(splitInlineMessage(inlineFrame('[1,2]', [1])).meta, null);
  assert.equal(splitInlineMessage(new Uint8Array([0, 0, 0, 2, 1]).buffer), null);
});

test('without WebCodecs (node, or a page with VideoDecoder deleted) the pages stay on JPEG', async () => {
  assert.equal(typeof globalThis.VideoDecoder, 'undefined');
  assert.equal(await canDecodeVideo(), false);
  const saved = { VideoDecoder: globalThis.VideoDecoder, EncodedVideoChunk: globalThis.EncodedVideoChunk };
  try {
    globalThis.EncodedVideoChunk = class {};
    globalThis.VideoDecoder = class { static async isConfigSupported({ codec }) { return { supported: codec === 'avc1.42E01E' }; } };
    assert.equal(await canDecodeVideo(), true);
    assert.equal(await canDecodeVideo({ codec: 'avc1.640033' }), false);
    globalThis.VideoDecoder = class { static async isConfigSupported() { throw new TypeError('bad config'); } };
    assert.equal(await canDecodeVideo(), false, 'a throwing probe reads as unsupported');
  } finally {
    Object.assign(globalThis, saved);
  }
  assert.equal(videoPathLabel('h264'), 'H.264 (WebCodecs)');
  assert.equal(videoPathLabel('jpeg'), 'JPEG');
  assert.equal(videoPathLabel(null), '');
});

test('splitInlineFrame refuses a message shorter than its length prefix', () => {
  assert.equal(splitInlineFrame(new Uint8Array([0, 0, 0]).buffer), null);
  assert.equal(splitInlineFrame(new Uint8Array([0, 0, 0, 9, 1, 2]).buffer), null);
  const f = splitInlineFrame(inlineFrame('{"type":"frame","seq":1}', [0xff]));
  assert.equal(f.header.seq, 1);
  assert.deepEqual([...f.jpeg], [0xff]);
});

test('splitInlineFrame splits as tests/vectors/inline_frames.json says (C++, Python and the SDK read it too)', () => {
  const { cases } = JSON.parse(fs.readFileSync(new URL('../vectors/inline_frames.json', import.meta.url), 'utf8'));
  assert.ok(cases.length >= 8);
  for (const c of cases) {
    const bytes = Buffer.from(c.message_hex, 'hex');
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const got = splitInlineFrame(buffer);
    if (c.expect === null) {
      assert.equal(got, null, c.name);
      continue;
    }
    assert.ok(got, c.name);
    assert.deepEqual(got.header, c.expect.frame_header, c.name);
    assert.equal(Buffer.from(got.jpeg).toString('hex'), c.expect.jpeg_hex, c.name);
  }
});

test('the page is served over http: the socket is ws://', () => {
  withFakeBrowser(() => {
    globalThis.location = { protocol: 'http:', host: '127.0.0.1:8080' };
    const ws = openLiveSocket('/ws/ingest');
    assert.equal(ws.url, 'ws://127.0.0.1:8080/ws/ingest');
    assert.equal(ws.binaryType, 'blob');
  });
});

test('channel events reach the page callbacks with their payload', () => {
  const calls = [];
  const events = channelEvents({
    onComment: (c) => calls.push(['comment', c.id]),
    onCommentDeleted: (id) => calls.push(['deleted', id]),
    onStyles: (s) => calls.push(['styles', s.policy]),
    onSettings: (s) => calls.push(['settings', s.comments_enabled]),
  });
  events.comment({ type: 'comment', comment: { id: 5 } });
  events.comment({ type: 'comment' }); // no comment: nothing to add
  events.comment_deleted({ type: 'comment_deleted', id: 5 });
  events.styles({ type: 'styles', styles: { policy: 'approve' } });
  events.settings({ type: 'settings', settings: { comments_enabled: false } });
  events.settings({ type: 'settings' });
  assert.deepEqual(calls, [['comment', 5], ['deleted', 5], ['styles', 'approve'], ['settings', false]]);
});

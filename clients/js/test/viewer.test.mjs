// Viewer's dispatch of the video option (`?video=h264`, docs/protocol.md "Video") against a
// scripted socket: no server. Run: node --test viewer.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { Viewer, splitInlineMessage } from "../dreamstream.js";

// A WebSocket the test drives: open(), receive(data), and the close the viewer asked for.
class ScriptedSocket extends EventTarget {
  static made = [];
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.closedWith = null;
    ScriptedSocket.made.push(this);
    queueMicrotask(() => this.open());
  }
  open() {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }
  receive(data) {
    this.dispatchEvent(Object.assign(new Event("message"), { data }));
  }
  close(code = 1000, reason = "") {
    if (this.readyState > 1) return;
    this.readyState = 3;
    this.closedWith = { code, reason };
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
  }
  send() {}
}

// One binary message in the inline layout, as an ArrayBuffer (what the socket hands on).
function inline(header, payload) {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + payload.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(payload, 4 + json.length);
  return out.buffer;
}

const key = { type: "video", seq: 2, key: true, decode_only: true, ts_ms: 1000, captured_ms: 990, processed_ms: 995,
              codec: "avc1.64001e", width: 640, height: 480 };

test("a Viewer with video dispatches each binary message on its header type", async () => {
  ScriptedSocket.made = [];
  const frames = [];
  const units = [];
  const events = [];
  const v = await new Viewer("http://127.0.0.1:8080", "alice", {
    WebSocket: ScriptedSocket, video: "h264",
    onFrame: (f) => frames.push(f), onVideo: (u) => units.push(u), onEvent: (e) => events.push(e.type),
  }).connect();
  const ws = ScriptedSocket.made[0];
  assert.equal(ws.url, "ws://127.0.0.1:8080/ws/watch/alice?frames=inline&video=h264");
  assert.equal(v.video, "h264");

  ws.receive(inline({ type: "frame", seq: 1, captured_ms: 5, processed_ms: 6 }, [0xff, 0xd8, 0xff, 0xd9]));
  ws.receive(inline(key, [0, 0, 0, 1, 0x67, 0x64]));
  ws.receive('{"type":"viewers","count":2}');
  ws.receive(inline({ type: "video", seq: 3, key: false, decode_only: false, ts_ms: 1100 }, [0, 0, 0, 1, 0x41]));
  ws.receive(new Uint8Array([0, 0, 0, 50, 1]).buffer);  // shorter than its prefix: dropped

  assert.equal(frames.length, 1);
  assert.equal(frames[0].seq, 1);
  assert.deepEqual([...frames[0].jpeg], [0xff, 0xd8, 0xff, 0xd9]);
  assert.equal(units.length, 2);
  const [k, d] = units;
  assert.deepEqual({ key: k.key, decode_only: k.decode_only, seq: k.seq, ts_ms: k.ts_ms, captured_ms: k.captured_ms,
                     processed_ms: k.processed_ms, codec: k.codec, width: k.width, height: k.height },
                   { key: true, decode_only: true, seq: 2, ts_ms: 1000, captured_ms: 990, processed_ms: 995,
                     codec: "avc1.64001e", width: 640, height: 480 });
  assert.deepEqual([...k.data], [0, 0, 0, 1, 0x67, 0x64]);
  assert.deepEqual(k.info, key);
  assert.deepEqual({ key: d.key, decode_only: d.decode_only, codec: d.codec }, { key: false, decode_only: false, codec: undefined });
  assert.deepEqual(events, ["viewers"]);
  assert.equal(v.viewers, 2);

  // `for await` gets the frame and the event; video units only go to onVideo.
  const kinds = [];
  for (;;) {
    const r = await v.next(0);
    if (r.timedOut || r.done) break;
    kinds.push(r.value.kind);
  }
  assert.deepEqual(kinds, ["frame", "event"]);
  v.close();
});

test("dropVideo reconnects without the video option and the viewer stays open", async () => {
  ScriptedSocket.made = [];
  const units = [];
  const frames = [];
  const closes = [];
  const v = await new Viewer("http://127.0.0.1:8080", "alice", {
    WebSocket: ScriptedSocket, video: "h264", onVideo: (u) => units.push(u), onFrame: (f) => frames.push(f),
    onClose: (c) => closes.push(c.code),
  }).connect();
  const first = ScriptedSocket.made[0];
  await v.dropVideo();
  assert.equal(ScriptedSocket.made.length, 2);
  const second = ScriptedSocket.made[1];
  assert.equal(second.url, "ws://127.0.0.1:8080/ws/watch/alice?frames=inline");
  assert.equal(v.url, second.url);
  assert.equal(v.video, null);
  assert.equal(first.closedWith.code, 1000, "the old socket was closed");
  assert.deepEqual(closes, [], "closing the replaced socket does not close the viewer");
  first.receive(inline(key, [0, 0, 0, 1]));  // late on the old socket: ignored
  second.receive(inline({ type: "frame", seq: 9 }, [0xff, 0xd8]));
  assert.equal(units.length, 0);
  assert.deepEqual(frames.map((f) => f.seq), [9]);
  await v.dropVideo();  // already without video: nothing happens
  assert.equal(ScriptedSocket.made.length, 2);
  second.close(4002, "ended");
  assert.deepEqual(closes, [4002]);
  assert.equal(v.closeCode, 4002);
  assert.equal((await v.next(0)).value.frame.seq, 9, "what came before the close is still read");
  assert.deepEqual(await v.next(0), { value: undefined, done: true });
});

test("the video option is refused when it cannot work", () => {
  assert.throws(() => new Viewer("http://x", "alice", { video: "vp9" }), /video: "h264" or null/);
  assert.throws(() => new Viewer("http://x", "alice", { video: "h264", frames: "split" }), /needs frames: "inline"/);
  // Without it, nothing changes: no video parameter.
  assert.equal(new Viewer("http://x", "alice").url, "ws://x/ws/watch/alice?frames=inline");
  assert.equal(new Viewer("http://x", "alice", { frames: "split" }).url, "ws://x/ws/watch/alice");
});

test("splitInlineMessage keeps any header type; splitInlineFrame still gives {} for a video header", () => {
  const m = splitInlineMessage(inline(key, [0, 0, 1, 0x65]));
  assert.deepEqual(m.meta, key);
  assert.deepEqual([...m.payload], [0, 0, 1, 0x65]);
  assert.equal(splitInlineMessage(inline("[1]", [1])).meta, null);
  assert.equal(splitInlineMessage(inline("nope", [1])).meta, null);
  assert.equal(splitInlineMessage(new Uint8Array([0, 0, 0, 9])), null);
});

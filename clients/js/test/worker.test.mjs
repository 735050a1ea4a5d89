// runWorker's slots, batches and cancels (docs/protocol.md, "Slots" and "Batches") against a
// scripted in-memory WebSocket: exact messages, no server. Run: node --test worker.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { runWorker } from "../dreamstream.js";

// The server's end of one fake connection: what the worker sent, and a way to answer.
class FakeSocket extends EventTarget {
  static sockets = [];
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.sockets.push(this);
    setTimeout(() => { this.readyState = 1; this.dispatchEvent(new Event("open")); }, 0);
  }
  send(data) { this.sent.push(typeof data === "string" ? JSON.parse(data) : data); }
  close(code = 1000, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const ev = new Event("close");
    ev.code = code;
    ev.reason = reason;
    setTimeout(() => this.dispatchEvent(ev), 0);
  }
  message(data) {
    const ev = new Event("message");
    ev.data = typeof data === "string" ? data : data.buffer;
    this.dispatchEvent(ev);
  }
  text(obj) { this.message(JSON.stringify(obj)); }
  job(jobId, prompt = "p") {
    this.text({ type: "job", job_id: jobId, stream: "alice", seq: 1, params: { prompt } });
    this.message(new TextEncoder().encode(`jpeg-${jobId}`));
  }
  batch(jobIds) {
    this.text({ type: "batch", jobs: jobIds.map((j) => ({ job_id: j, stream: `s-${j}`, params: { prompt: `p-${j}` } })) });
    for (const j of jobIds) this.message(new TextEncoder().encode(`jpeg-${j}`));
  }
  // The worker's text messages so far (binary ones as "<jpeg>").
  log() { return this.sent.map((m) => (m instanceof Uint8Array ? "<jpeg>" : m)); }
}

async function until(cond, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// Starts runWorker on a fresh fake socket, welcomed; returns the socket and a stop function.
async function start(process, options) {
  FakeSocket.sockets = [];
  const controller = new AbortController();
  const logs = [];
  const done = runWorker("http://server.test", "dsw_x", process, {
    WebSocket: FakeSocket, signal: controller.signal, log: (m) => logs.push(m), ...options,
  });
  await until(() => FakeSocket.sockets[0]?.sent.length, "hello");
  const ws = FakeSocket.sockets[0];
  ws.text({ type: "welcome", name: "w", slots: options.slots ?? 1, max_batch: options.maxBatch ?? 1 });
  const stop = async () => { controller.abort(); await done; };
  return { ws, stop, logs };
}

const text = (bytes) => new TextDecoder().decode(bytes);

test("with two slots jobs run in order and a cancel drops one not started", async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const calls = [];
  const { ws, stop } = await start(async (jpeg, params) => {
    calls.push(params.prompt);
    await gate;
    return new TextEncoder().encode(`${text(jpeg)}+${params.prompt}`);
  }, { slots: 2 });
  assert.equal(ws.sent[0].slots, 2);
  assert.equal(ws.sent[0].max_batch, undefined);
  ws.job("j1", "a");
  await until(() => calls.length === 1, "j1 started");
  ws.job("j2", "b");
  ws.job("j3", "c");  // slots + 1: still held
  ws.job("j4", "d");  // one more: refused
  ws.text({ type: "cancel", job_id: "j2" });
  ws.text({ type: "cancel", job_id: "j1" });  // started: answered as usual
  ws.text({ type: "cancel", job_id: "j99" });
  release();
  await until(() => ws.sent.length >= 7, "answers");
  const log = ws.log();
  assert.deepEqual(log[1], { type: "error", job_id: "j4", code: "busy", message: "the worker holds as many jobs as it may" });
  assert.deepEqual(log[2], { type: "cancelled", job_id: "j2" });
  assert.deepEqual([log[3].job_id, log[4], log[5].job_id, log[6]], ["j1", "<jpeg>", "j3", "<jpeg>"]);
  assert.equal(text(ws.sent[6]), "jpeg-j3+c");
  assert.deepEqual(calls, ["a", "c"]);
  await stop();
});

test("with one slot a second job is refused as before", async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const { ws, stop } = await start(async (jpeg) => { await gate; return jpeg; }, {});
  assert.equal(ws.sent[0].slots, undefined);
  ws.job("j1");
  ws.job("j2");
  assert.deepEqual(ws.log()[1], { type: "error", job_id: "j2", code: "busy", message: "a job is already in flight" });
  release();
  await until(() => ws.sent.length >= 4, "j1's answer");
  assert.equal(ws.log()[2].job_id, "j1");
  await stop();
});

test("a batch is one processBatch call answered job by job", async () => {
  const calls = [];
  const { ws, stop, logs } = await start(null, {
    maxBatch: 4,
    processBatch: async (items) => {
      calls.push(items.map(({ job, params, jpeg }) => [job.job_id, params.prompt, text(jpeg)]));
      if (items.length === 2) throw new Error("CUDA out of memory");
      return [items[0].jpeg, new Error("bad input"), { jpeg: items[2].jpeg, timings: { model_ms: 7 } }];
    },
  });
  assert.equal(ws.sent[0].max_batch, 4);
  ws.batch(["j1", "j2", "j3"]);
  await until(() => ws.sent.length >= 6, "three answers");
  ws.batch(["j4", "j5"]);
  await until(() => ws.sent.length >= 8, "two errors");
  const log = ws.log();
  assert.deepEqual(calls[0], [["j1", "p-j1", "jpeg-j1"], ["j2", "p-j2", "jpeg-j2"], ["j3", "p-j3", "jpeg-j3"]]);
  assert.equal(log[1].job_id, "j1");
  assert.equal(log[1].timings.batch, 3);
  assert.equal(log[3].type, "error");
  assert.equal(log[3].job_id, "j2");
  assert.match(log[3].message, /bad input/);
  assert.equal(log[4].job_id, "j3");
  assert.equal(log[4].timings.model_ms, 7);
  assert.deepEqual([log[6].job_id, log[7].job_id], ["j4", "j5"]);
  assert.match(log[7].message, /CUDA out of memory/);
  assert.ok(logs.some((m) => m.includes("processBatch() failed on j5")));
  await stop();
});

test("a cancel of one job of a waiting batch keeps the rest", async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const calls = [];
  const { ws, stop } = await start(null, {
    slots: 2, maxBatch: 4,
    processBatch: async (items) => {
      calls.push(items.map(({ job }) => job.job_id));
      await gate;
      return items.map(({ jpeg }) => jpeg);
    },
  });
  ws.batch(["j1"]);
  await until(() => calls.length === 1, "the first batch started");
  ws.batch(["j2", "j3", "j4"]);
  ws.text({ type: "cancel", job_id: "j3" });
  release();
  await until(() => ws.sent.length >= 8, "answers");
  assert.deepEqual(ws.log()[1], { type: "cancelled", job_id: "j3" });
  assert.deepEqual(calls, [["j1"], ["j2", "j4"]]);
  await stop();
});

test("bad slots or maxBatch are refused at once", async () => {
  await assert.rejects(runWorker("http://x.test", "t", null, {}), TypeError);
  await assert.rejects(runWorker("http://x.test", "t", (j) => j, { slots: 0 }), RangeError);
  await assert.rejects(runWorker("http://x.test", "t", (j) => j, { maxBatch: 17 }), RangeError);
  await assert.rejects(runWorker("http://x.test", "t", (j) => j, { slots: 1.5 }), RangeError);
});

// End-to-end check of dreamstream.js against a running server (driven by
// tests/integration/test_client_js.py). Needs a WebSocket: Node >= 22, or Node 20 with
// --experimental-websocket.
//
//   node --experimental-websocket smoke.mjs BASE_URL USERNAME STREAM_KEY WORKER_TOKEN FIXTURES_DIR \
//        [STREAMER_API_TOKEN VIEWER_API_TOKEN]
//
// Runs a JS worker that marks each JPEG with a comment segment, pushes the fixtures with a
// Streamer, and checks that a Viewer receives marked frames; also postFrame, the API helpers,
// and a refused worker token. With the two API tokens (the streamer's and another user's) it
// also checks comments and style requests: the viewer comments and asks for a style, the
// streamer (policy approve) approves, rejects, skips and clears, a Viewer socket sees the
// comment / styles / settings / comment_deleted events, and refusals reject with
// DreamStreamError carrying the server's code. Prints one JSON line and exits 0 on success.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AuthenticationError, DreamStreamError, Streamer, Viewer, createApi, isJpeg, postFrame, runWorker }
  from "../dreamstream.js";

const [base, username, key, workerToken, fixturesDir, streamerToken, viewerToken] = process.argv.slice(2);
const frames = readdirSync(fixturesDir).filter((n) => n.endsWith(".jpg")).sort()
  .map((n) => new Uint8Array(readFileSync(join(fixturesDir, n))));
const MARK = new TextEncoder().encode("js-worker");

function mark(jpeg) {
  const out = new Uint8Array(jpeg.length + 4 + MARK.length);
  out.set(jpeg.subarray(0, jpeg.length - 2), 0);
  let i = jpeg.length - 2;
  out.set([0xff, 0xfe, 0, MARK.length + 2], i);
  out.set(MARK, i + 4);
  out.set([0xff, 0xd9], i + 4 + MARK.length);
  return out;
}

function contains(hay, needle) {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const timeout = setTimeout(() => { console.error("smoke test timed out"); process.exit(2); }, 60000);
const summary = {};

// A refused token ends runWorker with AuthenticationError.
try {
  await runWorker(base, "dsw_wrong", (j) => j, { log: () => {} });
  check(false, "a bad worker token was accepted");
} catch (e) {
  check(e instanceof AuthenticationError, `bad token: ${e}`);
  summary.badToken = "refused";
}

const stop = new AbortController();
let jobs = 0;
let welcomed;
const welcome = new Promise((r) => { welcomed = r; });
const worker = runWorker(base, workerToken, async (jpeg, params) => {
  jobs++;
  check(typeof params === "object", "params is an object");
  return { jpeg: mark(jpeg), timings: { encode_ms: 0.5 } };
}, { name: "js-smoke", signal: stop.signal, log: () => {}, onWelcome: welcomed });
await welcome;

const viewer = await new Viewer(base, username).connect();
check(new URL(viewer.url).searchParams.get("frames") === "inline", "a Viewer asks for inline frames");
const splitViewer = await new Viewer(base, username, { frames: "split" }).connect();
const outputs = [];
const streamer = await new Streamer(base, { key, onOutput: (jpeg) => outputs.push(jpeg) }).connect();
let n = 0;
const pushTimer = setInterval(() => streamer.sendJpeg(frames[n++ % frames.length]), 100);

let got = 0;
const events = [];
while (got < 3) {
  const r = await viewer.next(20000);
  check(!r.done && !r.timedOut, `viewer stream ended early (${viewer.closeCode}) events=${JSON.stringify(events)}`);
  if (r.value.kind === "event") { events.push(r.value.event); continue; }
  const f = r.value.frame;
  check(isJpeg(f.jpeg), "frame is a JPEG");
  check(contains(f.jpeg, MARK), "frame came from the JS worker");
  check(Number.isInteger(f.seq), "frame has a seq");
  got++;
}
summary.viewerFrames = got;
// The older format still works: a text header then the binary JPEG.
let splitGot = 0;
while (splitGot < 3) {
  const r = await splitViewer.next(20000);
  check(!r.done && !r.timedOut, `split viewer ended early (${splitViewer.closeCode})`);
  if (r.value.kind === "event") continue;
  check(isJpeg(r.value.frame.jpeg) && contains(r.value.frame.jpeg, MARK), "split frame is the worker's JPEG");
  check(Number.isInteger(r.value.frame.seq), "split frame has a seq");
  splitGot++;
}
splitViewer.close();
summary.splitViewerFrames = splitGot;
summary.viewerEvents = events.map((e) => e.type);
clearInterval(pushTimer);
check(streamer.sent > 0, "streamer sent frames");
summary.streamerSent = streamer.sent;
summary.streamerOutputs = outputs.length;

const api = createApi(base);
const info = await api.streamInfo(username);
check(info.live === true, "stream is live");
const latest = await api.latestJpeg(username);
check(latest instanceof Uint8Array && contains(latest, MARK), "latest.jpg is the worker's output");

const posted = await postFrame(base, key, frames[0]);
check(posted.accepted === true, "postFrame accepted");
try {
  await postFrame(base, "dsk_wrong", frames[0]);
  check(false, "a bad stream key was accepted");
} catch (e) {
  check(e instanceof DreamStreamError && e.status === 401, `bad key: ${e}`);
}
try {
  await api.streamInfo("nobody_here_at_all");
  check(false, "unknown user found");
} catch (e) {
  check(e instanceof DreamStreamError && e.status === 404, `unknown user: ${e}`);
}

async function refused(promise, status, code, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof DreamStreamError, `${what}: not a DreamStreamError: ${e}`);
    check(e.status === status && e.code === code, `${what}: got ${e.status} ${e.code}, want ${status} ${code}`);
    return e;
  }
  throw new Error(`check failed: ${what} was accepted`);
}

if (streamerToken && viewerToken) {
  const owner = createApi(base, { token: streamerToken });
  const fan = createApi(base, { token: viewerToken });
  const watcher = await new Viewer(base, username).connect();
  const joined = await watcher.waitEvent("styles");  // sent on joining
  check(watcher.styles === joined.styles && joined.styles.policy === "auto", "styles on joining");

  const settings = await owner.updateSettings({ style_policy: "approve", base_style: "pencil sketch" });
  check(settings.style_policy === "approve" && settings.base_style === "pencil sketch", "updateSettings");
  check((await owner.settings()).style_policy === "approve", "settings()");
  await watcher.waitEvent("settings", (e) => e.settings.style_policy === "approve");
  check(watcher.settings.base_style === "pencil sketch", "viewer.settings follows the event");

  const comment = await fan.postComment(username, "  hello from js  ");
  check(comment.body === "hello from js" && Number.isInteger(comment.id), "postComment");
  const heard = await watcher.waitEvent("comment", (e) => e.comment.id === comment.id);
  check(heard.comment.body === "hello from js", "comment event");
  const page = await createApi(base).comments(username, { limit: 10 });
  check(page.comments[0].id === comment.id, "comments() lists it (public)");

  const asked = await fan.requestStyle(username, "neon city");
  check(asked.request.status === "pending" && asked.styles.pending[0].id === asked.request.id,
        "requestStyle under policy approve");
  await watcher.waitEvent("styles", (e) => e.styles.pending.some((r) => r.id === asked.request.id));
  check((await fan.styles(username)).pending.length === 1, "styles()");
  await refused(fan.approveStyle(username, asked.request.id), 403, "forbidden", "a viewer approving");
  const approved = await owner.approveStyle(username, asked.request.id);
  check(approved.current.prompt === "neon city" && approved.current.source === "request", "approveStyle");
  await watcher.waitEvent("styles", (e) => e.styles.current.prompt === "neon city");
  check(watcher.styles.current.request.id === asked.request.id, "viewer.styles follows the event");
  await refused(owner.approveStyle(username, asked.request.id), 409, "not_pending", "approving twice");
  // The ingest socket carries the channel's events too.
  for (let i = 0; i < 100 && streamer.styles?.current?.prompt !== "neon city"; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  check(streamer.styles?.current?.prompt === "neon city", "Streamer.styles follows the ingest socket");

  const second = await fan.requestStyle(username, "glitch");
  check((await owner.rejectStyle(username, second.request.id)).pending.length === 0, "rejectStyle");
  const skipped = await owner.skipStyle(username);
  check(skipped.current.source === "base" && skipped.current.prompt === "pencil sketch", "skipStyle");
  const cleared = await owner.clearStyles(username);
  check(cleared.queue.length === 0 && cleared.pending.length === 0, "clearStyles");

  check((await fan.deleteComment(username, comment.id)).deleted === true, "deleteComment");
  check((await watcher.waitEvent("comment_deleted")).id === comment.id, "comment_deleted event");

  await owner.updateSettings({ comments_enabled: false, styles_enabled: false });
  await refused(fan.postComment(username, "muted?"), 403, "comments_disabled", "comments off");
  await refused(fan.requestStyle(username, "neon"), 403, "styles_disabled", "styles off");
  await owner.updateSettings({ comments_enabled: true, styles_enabled: true, style_policy: "auto" });
  await refused(fan.postComment(username, " "), 400, "invalid_comment", "an empty comment");
  await refused(createApi(base).postComment(username, "hi"), 401, "unauthorized", "no token");
  await refused(fan.postComment("nobody_here_at_all", "hi"), 404, "not_found", "unknown streamer");
  watcher.close();
  summary.chat = { commentId: comment.id, approved: asked.request.id, events: "ok" };
}

const closed = await streamer.close();
check(closed.code === 1000 || closed.code === 1005, `streamer close code ${closed.code}`);
viewer.close();
stop.abort();
await worker;
summary.jobs = jobs;
clearTimeout(timeout);
console.log(JSON.stringify(summary));

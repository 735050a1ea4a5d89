// The JS SDK's browser helpers (clients/js: captureFrames, streamCamera, renderViewer) in
// Chromium with the fake webcam, against the real server and its built-in worker. The page is
// the server's own /healthz (a document from 127.0.0.1 with the site's CSP and no scripts of its
// own; a page fulfilled by the test would count as public and be refused loopback sockets by
// Chromium's local network access checks) emptied to a canvas and an img; it imports the
// package's entry, clients/js/index.js, from /__sdk/ (routed by the test to clients/js).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchBrowser, newPage, startServer, uniqueUser, withScreenshotOnFailure } from './lib/server.mjs';

const sdkDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../clients/js');
const kPage = '<canvas id="out" width="8" height="8"></canvas><img id="pic" alt="">';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// A page of the server's origin with the SDK imported as window.ds; /__sdk/*.js are the
// package's files. Object URLs are counted (window.urls) to check that renderViewer revokes them.
async function sdkPage(t) {
  const p = await newPage(browser, server.baseUrl);
  await p.context.route(`${server.baseUrl}/__sdk/**`, async (route) => {
    const name = new URL(route.request().url()).pathname.slice('/__sdk/'.length);
    if (!/^[a-z_]+\.js$/.test(name)) return route.fulfill({ status: 404, body: 'no' });
    return route.fulfill({ contentType: 'text/javascript', body: await readFile(path.join(sdkDir, name), 'utf8') });
  });
  await p.page.goto('/healthz');
  await p.page.evaluate(async (html) => {
    document.body.innerHTML = html;
    window.urls = { created: 0, revoked: 0 };
    const create = URL.createObjectURL.bind(URL);
    const revoke = URL.revokeObjectURL.bind(URL);
    URL.createObjectURL = (b) => { window.urls.created++; return create(b); };
    URL.revokeObjectURL = (u) => { window.urls.revoked++; revoke(u); };
    window.ds = await import('/__sdk/index.js');
  }, kPage);
  t.after(() => p.context.close());
  return p;
}

test('streamCamera goes live from the fake webcam and renderViewer draws the processed frames into a canvas and an img', async (t) => {
  const user = uniqueUser('sdk');
  const reg = await fetch(`${server.baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  assert.equal(reg.status, 201);
  const { page, problems } = await sdkPage(t);
  await withScreenshotOnFailure(t, page, async () => {
    const result = await page.evaluate(async ({ username, password }) => {
      const { createApi, Streamer, Viewer, streamCamera, renderViewer } = window.ds;
      const login = await fetch('/api/auth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ login: username, password }),
      });
      if (!login.ok) throw new Error(`login: ${login.status}`);
      const api = createApi();  // the page's origin and its session cookie
      await api.startStream();
      const streamer = await new Streamer().connect();
      const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      const capture = streamCamera(streamer, camera, { fps: 8, width: 320, height: 240, quality: 0.7 });

      const viewer = await new Viewer(undefined, username).connect();
      let ownCallback = 0;
      viewer.onFrame = () => ownCallback++;
      const canvas = document.getElementById('out');
      const img = document.getElementById('pic');
      const seen = [];
      const onCanvas = renderViewer(viewer, canvas, { onRender: (f) => seen.push(f.seq) });
      const onImg = renderViewer(viewer, img);

      const deadline = Date.now() + 45000;
      while ((onCanvas.stats.rendered < 3 || onImg.stats.rendered < 3) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // Non-blank: the picture has more than a handful of distinct colours.
      const distinct = (source, w, h) => {
        const c = document.createElement('canvas');
        c.width = w;
        c.height = h;
        const ctx = c.getContext('2d');
        ctx.drawImage(source, 0, 0, w, h);
        const px = ctx.getImageData(0, 0, w, h).data;
        const colours = new Set();
        for (let i = 0; i < px.length; i += 4) colours.add((px[i] >> 3) << 10 | (px[i + 1] >> 3) << 5 | (px[i + 2] >> 3));
        return colours.size;
      };
      const out = {
        canvasRendered: onCanvas.stats.rendered,
        imgRendered: onImg.stats.rendered,
        canvasSize: [canvas.width, canvas.height],
        imgSize: [img.naturalWidth, img.naturalHeight],
        imgIsBlob: img.src.startsWith('blob:'),
        canvasColours: canvas.width > 8 ? distinct(canvas, canvas.width, canvas.height) : 0,
        imgColours: img.naturalWidth ? distinct(img, img.naturalWidth, img.naturalHeight) : 0,
        seqIncreasing: seen.every((s, i) => i === 0 || s > seen[i - 1]),
        ownCallback,
        captured: capture.stats.captured,
        sent: streamer.sent,
        liveUrls: window.urls.created - window.urls.revoked,
      };
      onImg.stop();
      onCanvas.stop();
      const before = ownCallback;
      await new Promise((r) => setTimeout(r, 500));
      // After the frame that was decoding at stop() (if any) has finished.
      out.urlsAfterStop = window.urls.created - window.urls.revoked;
      out.ownCallbackStillCalled = ownCallback > before;
      // Ending the stream closes the ingest socket, and that stops the capture.
      await api.stopStream();
      out.closeCode = (await streamer.closed).code;
      const ticks = () => capture.stats.captured + capture.stats.dropped;
      const atClose = ticks();
      await new Promise((r) => setTimeout(r, 600));
      out.ticksAfterClose = ticks() - atClose;
      capture.stop();
      for (const tr of camera.getTracks()) tr.stop();
      viewer.close();
      return out;
    }, { username: user.username, password: user.password });

    assert.ok(result.captured >= 3, `camera frames sent: ${JSON.stringify(result)}`);
    assert.equal(result.sent, result.captured, 'streamCamera counts the frames the socket took');
    assert.ok(result.canvasRendered >= 3, `frames drawn into the canvas: ${JSON.stringify(result)}`);
    assert.ok(result.imgRendered >= 3, `frames shown in the img: ${JSON.stringify(result)}`);
    assert.ok(result.canvasSize[0] > 8 && result.canvasSize[1] > 8, 'the canvas took the frame size');
    assert.ok(result.imgSize[0] > 0, 'the img decoded a JPEG');
    assert.ok(result.imgIsBlob, 'the img shows an object URL');
    assert.ok(result.canvasColours > 16, `the canvas is not blank (${result.canvasColours} colours)`);
    assert.ok(result.imgColours > 16, `the img is not blank (${result.imgColours} colours)`);
    assert.ok(result.seqIncreasing, 'frames are drawn in order');
    // The one shown and, while a newer frame decodes, that one; a painter that never revoked
    // would have one per frame (at least 3 here).
    assert.ok(result.liveUrls <= 2, `old object URLs are revoked (${result.liveUrls} alive)`);
    assert.equal(result.urlsAfterStop, 0, 'stop() revokes the last object URL');
    assert.ok(result.ownCallbackStillCalled, "the viewer's own onFrame keeps being called after stop()");
    assert.equal(result.closeCode, 4002, 'stopping the stream closed the ingest socket');
    assert.equal(result.ticksAfterClose, 0, 'streamCamera stops when the socket closes');
    assert.deepEqual(problems, []);
  });
});

test('a backed-up socket drops camera frames before encoding them instead of queueing them', async (t) => {
  const { page, problems } = await sdkPage(t);
  await withScreenshotOnFailure(t, page, async () => {
    const r = await page.evaluate(async () => {
      const { Streamer, captureFrames, streamCamera } = window.ds;
      const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
      // Waits (up to 8 s, for a busy machine) until cond() holds; the tests check what else held meanwhile.
      const until = async (cond) => {
        const deadline = Date.now() + 8000;
        while (!cond() && Date.now() < deadline) await sleep(20);
        return cond();
      };
      let encodes = 0;
      const convert = OffscreenCanvas.prototype.convertToBlob;
      OffscreenCanvas.prototype.convertToBlob = function (...a) { encodes++; return convert.apply(this, a); };
      // A streamer whose socket is open but has `bufferedAmount` bytes still queued.
      const streamer = new Streamer('http://127.0.0.1:1');
      const sock = { readyState: 1, bufferedAmount: 10 * 1024 * 1024, frames: [], send(b) { this.frames.push(b); } };
      streamer.ws = sock;
      const camera = await navigator.mediaDevices.getUserMedia({ video: true });
      const capture = streamCamera(streamer, camera, { fps: 20, width: 160, height: 120 });
      const out = {};
      out.ticked = await until(() => capture.stats.dropped >= 10);
      out.backedUp = { sent: sock.frames.length, encodes, ...capture.stats };
      sock.bufferedAmount = 0;
      out.flowed = await until(() => sock.frames.length >= 5);
      out.drained = { sent: sock.frames.length, ...capture.stats };
      // Under the default limit (256 KiB, or 1.5 frames) frames still go: not one frame in flight.
      sock.bufferedAmount = 100 * 1024;
      const sentBefore = sock.frames.length;
      out.underLimit = await until(() => sock.frames.length >= sentBefore + 3);
      sock.bufferedAmount = 300 * 1024;
      await sleep(300);  // a frame being encoded when the socket filled may still go
      const sentAtLimit = sock.frames.length;
      const droppedAtLimit = capture.stats.dropped;
      out.droppedOverLimit = await until(() => capture.stats.dropped >= droppedAtLimit + 5);
      out.sentOverLimit = sock.frames.length - sentAtLimit;
      out.jpeg = sock.frames.every((b) => b instanceof Uint8Array && b[0] === 0xff && b[1] === 0xd8);
      capture.stop();

      // captureFrames on its own: never a second onFrame while the first one's promise is
      // pending (those ticks are dropped); a frame refused with false counts as dropped.
      let calls = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      const slow = captureFrames(camera, {
        fps: 20, width: 160, height: 120,
        onFrame: async () => {
          calls++;
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          await sleep(300);
          inFlight--;
        },
      });
      out.slowCalled = await until(() => calls >= 3);
      slow.stop();
      out.slow = { calls, maxInFlight, ...slow.stats };
      const refused = captureFrames(camera, { fps: 20, onFrame: () => false });
      out.refusedTicked = await until(() => refused.stats.dropped >= 3);
      refused.stop();
      out.refused = { ...refused.stats };
      for (const tr of camera.getTracks()) tr.stop();
      return out;
    });

    const all = JSON.stringify(r);
    assert.ok(r.ticked, `ticks are dropped on a backed-up socket: ${all}`);
    assert.equal(r.backedUp.sent, 0, `nothing queued on a backed-up socket: ${all}`);
    assert.equal(r.backedUp.encodes, 0, `nothing encoded for a backed-up socket: ${all}`);
    assert.equal(r.backedUp.captured, 0);
    assert.ok(r.flowed, `frames flow once the socket drains: ${all}`);
    assert.equal(r.drained.captured, r.drained.sent, 'captured counts the frames the socket took');
    assert.ok(r.underLimit, `frames go while under the studio's limit: ${all}`);
    assert.ok(r.droppedOverLimit, `ticks are dropped over the limit: ${all}`);
    assert.equal(r.sentOverLimit, 0, `nothing is sent over the limit: ${all}`);
    assert.ok(r.jpeg, 'every frame sent is a JPEG');
    assert.ok(r.slowCalled, `frames keep coming after a slow onFrame: ${all}`);
    assert.equal(r.slow.maxInFlight, 1, 'one onFrame at a time');
    assert.ok(r.slow.dropped >= r.slow.calls - 1, `ticks dropped while onFrame was pending: ${all}`);
    assert.ok(r.slow.captured >= 2 && r.slow.captured <= r.slow.calls, all);
    assert.ok(r.refusedTicked, all);
    assert.equal(r.refused.captured, 0, 'a refused frame is not counted as captured');
    assert.deepEqual(problems, []);
  });
});

test('renderViewer draws only the newest of frames that arrive faster than it draws', async (t) => {
  const { page, problems } = await sdkPage(t);
  const r = await page.evaluate(async () => {
    const { renderViewer } = window.ds;
    // Solid-colour JPEGs; the last one is blue.
    const jpeg = async (colour) => {
      const c = new OffscreenCanvas(64, 48);
      const ctx = c.getContext('2d');
      ctx.fillStyle = colour;
      ctx.fillRect(0, 0, 64, 48);
      return new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer());
    };
    const red = await jpeg('#ff0000');
    const blue = await jpeg('#0000ff');
    const fake = { onFrame: undefined };  // what renderViewer hooks on a Viewer
    const canvas = document.getElementById('out');
    const drawn = [];
    const view = renderViewer(fake, canvas, { onRender: (f) => drawn.push(f.seq) });
    for (let seq = 1; seq <= 30; seq++) fake.onFrame({ jpeg: seq === 30 ? blue : red, seq });
    const deadline = Date.now() + 5000;
    while (view.stats.rendered + view.stats.skipped < 30 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    const px = canvas.getContext('2d').getImageData(32, 24, 1, 1).data;
    view.stop();
    return { ...view.stats, drawn, pixel: [...px.slice(0, 3)], size: [canvas.width, canvas.height], hooked: fake.onFrame };
  });
  assert.ok(r.rendered <= 2, `frames that arrived meanwhile were not queued: ${JSON.stringify(r)}`);
  assert.equal(r.rendered + r.skipped, 30);
  assert.equal(r.drawn.at(-1), 30, 'the newest frame is drawn last');
  assert.ok(r.pixel[2] > 200 && r.pixel[0] < 60, `the canvas shows the newest (blue) frame: ${r.pixel}`);
  assert.deepEqual(r.size, [64, 48]);
  assert.equal(r.hooked, undefined, 'stop() restores the source callback');
  assert.deepEqual(problems, []);
});

// H.264 to viewers in the browser (issue 22, item 3): the video player (clients/js/video.js and
// its copy web/js/video.js) in Chromium's WebCodecs, fed access units that FFmpeg's libx264
// encodes here in the inline layout of `/ws/watch/<name>?video=h264` (docs/protocol.md,
// "Video"); renderViewer on it; and the watch and embed pages against the real server: a moving
// picture through WebCodecs, and JPEG when `VideoDecoder` is removed from the page or decoding
// fails.
//
// The SDK's files are routed to /__sdk/ on a page of the server's origin (as in
// sdk_helpers.test.mjs): a document from 127.0.0.1 is a secure context, where WebCodecs exists.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { browserDir, kShownPicture, launchBrowser, logIn, newPage, registerUser, startServer, withScreenshotOnFailure } from './lib/server.mjs';

const run = promisify(execFile);
const sdkDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../clients/js');
const webDir = path.resolve(browserDir, '../../web');

let server;
let browser;
let streamer; // one live stream from the studio, shared by the tests against the real server

before(async () => {
  // The pages under test come from this checkout, whatever copy the binary embeds.
  server = await startServer({ extraArgs: ['--web-dir', webDir] });
  browser = await launchBrowser();
});

after(async () => {
  await streamer?.context.close();
  await browser?.close();
  await server?.stop();
});

// `count` access units of FFmpeg's moving test pattern, as libx264 encodes them for the video
// option: constrained baseline, no B-frames, zero latency, a keyframe every `gop` pictures with
// SPS and PPS in front. Each: {key, codec (keyframes), width, height, hex}.
async function h264Units({ count = 25, gop = 10, width = 320, height = 240 } = {}) {
  const { stdout } = await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=10`,
    '-frames:v', String(count), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-profile:v', 'baseline',
    '-tune', 'zerolatency', '-g', String(gop), '-bf', '0', '-x264-params', 'aud=1:repeat-headers=1', '-f', 'h264', '-',
  ], { encoding: 'buffer', maxBuffer: 64 << 20 });
  // Access units start at an access unit delimiter (NAL type 9).
  const starts = [];
  for (let i = 0; i + 4 < stdout.length; i++) {
    if (stdout[i] === 0 && stdout[i + 1] === 0 && stdout[i + 2] === 0 && stdout[i + 3] === 1 && (stdout[i + 4] & 0x1f) === 9) starts.push(i);
  }
  const units = starts.map((s, k) => stdout.subarray(s, k + 1 < starts.length ? starts[k + 1] : stdout.length));
  assert.equal(units.length, count, 'one access unit per picture');
  return units.map((u) => {
    const nals = [];
    for (let i = 0; i + 4 < u.length; i++) if (u[i] === 0 && u[i + 1] === 0 && u[i + 2] === 1) nals.push(i + 3);
    const key = nals.some((n) => (u[n] & 0x1f) === 5);
    const sps = nals.find((n) => (u[n] & 0x1f) === 7);
    const codec = sps === undefined ? undefined : `avc1.${u.subarray(sps + 1, sps + 4).toString('hex')}`;
    return { key, codec, width, height, hex: u.toString('hex') };
  });
}

// A page of the server's origin with the SDK imported as window.ds and the units as window.units
// (each {header, data}: the header as the server sends it, ts_ms 100 apart).
async function sdkPage(t, units = []) {
  const p = await newPage(browser, server.baseUrl);
  await p.context.route(`${server.baseUrl}/__sdk/**`, async (route) => {
    const name = new URL(route.request().url()).pathname.slice('/__sdk/'.length);
    if (!/^[a-z_]+\.js$/.test(name)) return route.fulfill({ status: 404, body: 'no' });
    return route.fulfill({ contentType: 'text/javascript', body: await readFile(path.join(sdkDir, name), 'utf8') });
  });
  await p.page.goto('/healthz');
  await p.page.evaluate(async (list) => {
    document.body.innerHTML = '<canvas id="out" width="8" height="8"></canvas><img id="pic" alt="">';
    window.ds = await import('/__sdk/index.js');
    const bytes = (hex) => new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16)));
    window.units = list.map((u, i) => ({
      header: {
        type: 'video', seq: i + 1, key: u.key, decode_only: false, ts_ms: 1000 + 100 * i, captured_ms: 0, processed_ms: 0,
        ...(u.key ? { codec: u.codec, width: u.width, height: u.height } : {}),
      },
      data: bytes(u.hex),
    }));
    // Every VideoFrame closed is counted: the player must close each one it gets.
    window.closedFrames = 0;
    const close = VideoFrame.prototype.close;
    VideoFrame.prototype.close = function () { window.closedFrames++; return close.call(this); };
    // A checksum of what a canvas shows, to tell pictures apart.
    window.checksum = (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let h = 0;
      for (let i = 0; i < d.length; i += 16) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
      return h;
    };
    window.until = async (cond, ms = 8000) => {
      const deadline = Date.now() + ms;
      while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return cond();
    };
  }, units);
  t.after(() => p.context.close());
  return p;
}

test('video.js is the same file in the SDK and in the pages', async () => {
  const [sdk, web] = await Promise.all([readFile(path.join(sdkDir, 'video.js'), 'utf8'), readFile(path.join(webDir, 'js/video.js'), 'utf8')]);
  assert.ok(sdk === web, 'clients/js/video.js and web/js/video.js differ: copy one over the other');
});

test('VideoPlayer decodes H.264 access units with WebCodecs into a canvas, hides decode_only pictures and closes every frame', async (t) => {
  const units = await h264Units({ count: 25, gop: 10 });
  assert.ok(units[0].key && units[10].key && units[20].key && !units[1].key, 'a keyframe every 10');
  assert.match(units[0].codec, /^avc1\.42/);
  const { page, problems } = await sdkPage(t, units);
  await withScreenshotOnFailure(t, page, async () => {
    const r = await page.evaluate(async () => {
      const { VideoPlayer, canDecodeVideo } = window.ds;
      const out = { can: await canDecodeVideo() };
      const canvas = document.getElementById('out');
      const drawn = [];
      const sums = new Set();
      const player = new VideoPlayer(canvas, {
        onDraw: (h) => { drawn.push(h.seq); sums.add(window.checksum(canvas)); },
        onError: (e) => { out.error = String(e); },
      });
      // A joining viewer: deltas before any keyframe are dropped; the GOP from the keyframe at
      // unit 11 comes with decode_only up to unit 15, which is the first one shown.
      for (const u of window.units.slice(3, 25)) {
        const i = u.header.seq;
        player.push({ ...u.header, decode_only: i >= 11 && i < 15 }, u.data);
      }
      await window.until(() => player.stats.decoded + player.stats.dropped >= 22);
      out.stats = { ...player.stats };
      out.drawn = drawn;
      out.distinct = sums.size;
      out.size = [canvas.width, canvas.height];
      out.config = player.config;
      out.closed = window.closedFrames;
      player.close();
      out.failed = player.failed;
      return out;
    });
    const all = JSON.stringify(r);
    assert.equal(r.can, true, 'Chromium decodes H.264 here');
    assert.equal(r.error, undefined, all);
    assert.deepEqual(r.stats, { units: 22, decoded: 15, drawn: 11, hidden: 4, dropped: 7 }, all);
    assert.deepEqual(r.drawn, [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'shown from the first unit not marked decode_only, in order');
    assert.ok(r.distinct >= 10, `the picture moves (${r.distinct} different pictures): ${all}`);
    assert.deepEqual(r.size, [320, 240], 'the canvas takes the picture size');
    assert.equal(r.config.codec, units[0].codec);
    assert.equal(r.closed, 15, 'every VideoFrame out of the decoder was closed, shown or not');
    assert.equal(r.failed, null);
    assert.deepEqual(problems, []);
  });
});

test('a joiner\'s catch-up GOP arrives all at once and is decoded whole; a backlog of shown deltas skips to the next keyframe', async (t) => {
  const units = await h264Units({ count: 90, gop: 60 });
  const { page, problems } = await sdkPage(t, units);
  const r = await page.evaluate(async () => {
    const { VideoPlayer } = window.ds;
    const canvas = document.getElementById('out');
    const drawn = [];
    const player = new VideoPlayer(canvas, { maxQueue: 4, onDraw: (h) => drawn.push(h.seq) });
    // 60 units of one GOP in one go, all but the last decode_only (as the server sends a joiner).
    for (const u of window.units.slice(0, 60)) player.push({ ...u.header, decode_only: u.header.seq < 60 }, u.data);
    await window.until(() => player.stats.decoded >= 60);
    const catchUp = { ...player.stats, drawn: drawn.slice() };
    // Then 29 shown deltas in one go, faster than the decoder: some are dropped up to a keyframe,
    // none after the drop is decoded.
    for (const u of window.units.slice(60, 89)) player.push(u.header, u.data);
    await window.until(() => player.stats.decoded + player.stats.dropped >= 89);
    const backlog = { ...player.stats };
    player.close();
    return { catchUp, backlog };
  });
  const all = JSON.stringify(r);
  assert.equal(r.catchUp.dropped, 0, `no catch-up unit dropped: ${all}`);
  assert.equal(r.catchUp.hidden, 59, all);
  assert.deepEqual(r.catchUp.drawn, [60], `only the last unit of the catch-up is shown: ${all}`);
  assert.ok(r.backlog.dropped > 0, `a backlog of shown deltas is dropped, not queued: ${all}`);
  assert.equal(r.backlog.decoded + r.backlog.dropped, 89, all);
  assert.deepEqual(problems, []);
});

test('an unsupported codec or undecodable bytes end the player once with an error', async (t) => {
  const units = await h264Units({ count: 3, gop: 10 });
  const { page } = await sdkPage(t, units);
  const r = await page.evaluate(async () => {
    const { VideoPlayer } = window.ds;
    const canvas = document.getElementById('out');
    const out = {};
    const errors = [];
    const bad = new VideoPlayer(canvas, { onError: (e) => errors.push(e.name || e.message) });
    bad.push({ ...window.units[0].header, codec: 'avc1.ffffff' }, window.units[0].data);
    out.unsupported = await window.until(() => bad.failed !== null);
    bad.push(window.units[0].header, window.units[0].data); // after failing: ignored
    out.errors = errors.slice();
    const garbage = new VideoPlayer(canvas, { onError: (e) => errors.push(e.name || e.message) });
    const junk = new Uint8Array(2000).map((_, i) => (i * 37 + 11) & 0xff);
    junk.set([0, 0, 0, 1, 0x65], 0);
    for (let i = 0; i < 5; i++) garbage.push({ ...window.units[0].header, seq: i, ts_ms: i * 100 }, junk);
    out.garbage = await window.until(() => garbage.failed !== null);
    out.garbageStats = { ...garbage.stats };
    out.allErrors = errors;
    return out;
  });
  assert.ok(r.unsupported, `an unsupported codec fails the player: ${JSON.stringify(r)}`);
  assert.equal(r.errors.length, 1, 'onError once');
  assert.ok(r.garbage, `bytes that are not H.264 fail the player: ${JSON.stringify(r)}`);
  assert.equal(r.garbageStats.drawn, 0);
  assert.equal(r.allErrors.length, 2);
});

test('renderViewer draws a Viewer\'s video units, keeps JPEGs off fresh video, and drops the video when decoding fails', async (t) => {
  const units = await h264Units({ count: 12, gop: 10 });
  const { page, problems } = await sdkPage(t, units);
  const r = await page.evaluate(async () => {
    const { renderViewer } = window.ds;
    const jpeg = async (colour) => {
      const c = new OffscreenCanvas(64, 48);
      const g = c.getContext('2d');
      g.fillStyle = colour;
      g.fillRect(0, 0, 64, 48);
      return new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer());
    };
    const red = await jpeg('#ff0000');
    // What renderViewer hooks on a Viewer that asked for video.
    let drops = 0;
    const fake = { onFrame: undefined, onVideo: undefined, dropVideo: async () => { drops++; } };
    const canvas = document.getElementById('out');
    const paths = [];
    const errors = [];
    const view = renderViewer(fake, canvas, { onPath: (p) => paths.push(p), onError: (e) => errors.push(String(e)) });
    const unit = (u) => ({ data: u.data, key: u.header.key, decode_only: false, seq: u.header.seq, ts_ms: u.header.ts_ms, info: u.header });
    // A JPEG before the first keyframe is drawn.
    fake.onFrame({ jpeg: red, seq: 1 });
    await window.until(() => view.stats.rendered === 1);
    const out = { first: view.path };
    for (const u of window.units.slice(0, 10)) fake.onVideo(unit(u));
    await window.until(() => view.stats.video?.drawn === 10);
    out.afterVideo = { path: view.path, rendered: view.stats.rendered, size: [canvas.width, canvas.height] };
    // A JPEG right after video pictures is not drawn over them.
    fake.onFrame({ jpeg: red, seq: 2 });
    await new Promise((res) => setTimeout(res, 100));
    out.jpegOverVideo = { path: view.path, rendered: view.stats.rendered, skipped: view.stats.skipped };
    // A keyframe of a codec this browser cannot decode: the video is dropped, JPEG goes on.
    fake.onVideo({ ...unit(window.units[10]), key: true, info: { ...window.units[10].header, key: true, codec: 'avc1.ffffff', width: 320, height: 240 } });
    await window.until(() => drops === 1);
    fake.onFrame({ jpeg: red, seq: 3 });
    await window.until(() => view.path === 'jpeg');
    out.after = { path: view.path, drops, size: [canvas.width, canvas.height], errors: errors.length, paths };
    view.stop();
    out.unhooked = fake.onFrame === undefined && fake.onVideo === undefined;
    return out;
  });
  const all = JSON.stringify(r);
  assert.equal(r.first, 'jpeg', all);
  assert.deepEqual(r.afterVideo, { path: 'h264', rendered: 11, size: [320, 240] }, all);
  assert.deepEqual(r.jpegOverVideo, { path: 'h264', rendered: 11, skipped: 1 }, all);
  assert.deepEqual(r.after, { path: 'jpeg', drops: 1, size: [64, 48], errors: 1, paths: ['jpeg', 'h264', 'jpeg'] }, all);
  assert.ok(r.unhooked, 'stop() restores the callbacks');
  assert.deepEqual(problems, []);
});

test('renderViewer on a Viewer that asked for video, in a page without VideoDecoder, drops the video at once', async (t) => {
  const p = await newPage(browser, server.baseUrl);
  t.after(() => p.context.close());
  await p.context.addInitScript(() => {
    delete window.VideoDecoder;
  });
  await p.context.route(`${server.baseUrl}/__sdk/**`, async (route) => {
    const name = new URL(route.request().url()).pathname.slice('/__sdk/'.length);
    return route.fulfill({ contentType: 'text/javascript', body: await readFile(path.join(sdkDir, name), 'utf8') });
  });
  await p.page.goto('/healthz');
  const r = await p.page.evaluate(async () => {
    const { renderViewer, canDecodeVideo } = await import('/__sdk/index.js');
    const canvas = document.createElement('canvas');
    let drops = 0;
    const errors = [];
    const viewer = { video: 'h264', onFrame: undefined, onVideo: undefined, dropVideo: async () => { drops++; } };
    const view = renderViewer(viewer, canvas, { onError: (e) => errors.push(e.message) });
    const deadline = Date.now() + 5000;
    while (!drops && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    // A unit that still comes on the old socket is ignored.
    viewer.onVideo({ data: new Uint8Array(4), key: true, info: { type: 'video', key: true, ts_ms: 1, codec: 'avc1.42e01e' } });
    view.stop();
    return { can: await canDecodeVideo(), drops, errors, video: view.stats.video };
  });
  assert.equal(r.can, false);
  assert.equal(r.drops, 1, JSON.stringify(r));
  assert.match(r.errors[0], /cannot decode H\.264/);
  assert.equal(r.video, null, 'no player was made');
  assert.deepEqual(p.problems, []);
});

// ---------- the pages ----------

// `count` JPEG pictures of FFmpeg's moving test pattern.
async function jpegFrames(count = 20) {
  const { stdout } = await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-frames:v', String(count),
    '-c:v', 'mjpeg', '-q:v', '5', '-f', 'image2pipe', '-',
  ], { encoding: 'buffer', maxBuffer: 64 << 20 });
  const out = [];
  let start = 0;
  for (let i = 2; i + 1 < stdout.length; i++) {
    if (stdout[i - 2] === 0xff && stdout[i - 1] === 0xd9 && stdout[i] === 0xff && stdout[i + 1] === 0xd8) {
      out.push(stdout.subarray(start, i));
      start = i;
    }
  }
  out.push(stdout.subarray(start));
  assert.equal(out.length, count);
  return out;
}

// One binary message in the inline layout: 4-byte big-endian N, N bytes of header JSON, payload.
function inlineMessage(header, payload) {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(json.length);
  return Buffer.concat([prefix, json, payload]);
}

// Serves the page's /ws/watch socket itself: `live`, then one message every 100 ms until the
// page closes it: H.264 units (looped, a keyframe first) on a socket that asked for
// ?video=h264, JPEG frames on one that did not. Returns the sockets opened, in order.
async function fakeWatchSocket(page, { units, jpegs, codec }) {
  const sockets = [];
  await page.routeWebSocket(/\/ws\/watch\//, (ws) => {
    const video = new URL(ws.url()).searchParams.get('video') === 'h264';
    sockets.push({ url: ws.url(), video });
    ws.send(JSON.stringify({ type: 'state', state: 'live' }));
    let i = 0;
    const timer = setInterval(() => {
      const ts = 1000 + 100 * i;
      if (video) {
        const u = units[i % units.length];
        const header = { type: 'video', seq: i + 1, key: u.key, decode_only: false, ts_ms: ts, captured_ms: ts, processed_ms: ts };
        if (u.key) Object.assign(header, { codec: codec ?? u.codec, width: u.width, height: u.height });
        ws.send(inlineMessage(header, Buffer.from(u.hex, 'hex')));
      } else {
        ws.send(inlineMessage({ type: 'frame', seq: i + 1, captured_ms: ts, processed_ms: ts }, jpegs[i % jpegs.length]));
      }
      i++;
    }, 100);
    // The page closed it: stop, and finish the close (an onClose handler replaces the default).
    ws.onClose((code, reason) => {
      clearInterval(timer);
      ws.close({ code, reason });
    });
    // A closed page or context does not call onClose: stop then too, or node never exits.
    page.once('close', () => clearInterval(timer));
  });
  return sockets;
}

// What the page's picture shows (JPEG img or video canvas): which, its seq, and a checksum and
// the spread of its pixels.
function shownPicture(target) {
  return target.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el || !el.dataset.seq || (el.tagName === 'IMG' && (!el.complete || !el.naturalWidth))) return null;
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(el, 0, 0, c.width, c.height);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    let sum2 = 0;
    let check = 0;
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
      sum += v;
      sum2 += v * v;
      check = (check * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
    }
    const n = d.length / 4;
    const mean = sum / n;
    return { tag: el.tagName.toLowerCase(), seq: el.dataset.seq, check, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
  }, kShownPicture);
}

async function until(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

// A moving picture on `target` through `tag` (img or canvas): not blank, and a later picture
// with another seq and other pixels.
async function assertMoving(target, tag) {
  const first = await until(`a picture in the ${tag}`, async () => {
    const s = await shownPicture(target);
    return s && s.tag === tag ? s : null;
  });
  assert.ok(first.sd > 3, `the picture has detail (sd ${first.sd.toFixed(1)})`);
  const later = await until('a newer, different picture', async () => {
    const s = await shownPicture(target);
    return s && s.tag === tag && s.seq !== first.seq && s.check !== first.check ? s : null;
  });
  assert.ok(later.sd > 3);
}

// Page errors other than failed loads (the anonymous watch page's 401 from /api/me, the embed
// page's favicon).
const serious = (problems) => problems.filter((m) => !/Failed to load resource/.test(m));

const withoutWebCodecs = () => {
  delete window.VideoDecoder;
};

test('the watch page plays the video option through WebCodecs into its canvas (units from a socket the test serves)', async (t) => {
  const [units, jpegs, user] = await Promise.all([h264Units({ count: 30, gop: 10 }), jpegFrames(), registerUser(server.baseUrl, 'vw')]);
  const { context, page, problems } = await newPage(browser, server.baseUrl);
  t.after(() => context.close());
  const sockets = await fakeWatchSocket(page, { units, jpegs });
  await withScreenshotOnFailure(t, page, async () => {
    await page.goto(`/u/${user.username}`);
    await page.locator('[data-stage][data-playback=h264]').waitFor({ timeout: 15000 });
    await assertMoving(page, 'canvas');
    assert.equal(await page.locator('[data-frame]').isHidden(), true, 'the JPEG img is not shown');
    assert.match(await page.locator('[data-viewers]').getAttribute('title'), /H\.264 \(WebCodecs\)/);
    assert.match(await page.locator('[data-video-frame]').getAttribute('title'), /H\.264 \(WebCodecs\)/);
    await page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
    assert.equal(sockets.length, 1);
    assert.match(sockets[0].url, /[?&]video=h264(&|$)/);
    assert.match(sockets[0].url, /[?&]frames=inline(&|$)/);
    assert.deepEqual(serious(problems), []);
  });
});

test('when the video cannot be decoded the watch and embed pages reconnect without it and show JPEG frames', async (t) => {
  const [units, jpegs, user] = await Promise.all([h264Units({ count: 10, gop: 10 }), jpegFrames(), registerUser(server.baseUrl, 'vf')]);
  for (const where of ['watch', 'embed']) {
    const { context, page, problems } = await newPage(browser, server.baseUrl);
    t.after(() => context.close());
    // Keyframes that name a codec no browser decodes: the decoder fails at once.
    const sockets = await fakeWatchSocket(page, { units, jpegs, codec: 'avc1.ffffff' });
    await withScreenshotOnFailure({ name: `${t.name} ${where}` }, page, async () => {
      await page.goto(where === 'watch' ? `/u/${user.username}` : `/u/${user.username}/embed`);
      const indicator = where === 'watch' ? '[data-stage]' : 'body';
      await page.locator(`${indicator}[data-playback=jpeg]`).waitFor({ timeout: 15000 });
      await assertMoving(page, 'img');
      assert.equal(await page.locator('[data-video-frame]').isHidden(), true);
      assert.equal(sockets.length, 2, `${where}: one socket with video, then one without: ${JSON.stringify(sockets)}`);
      assert.deepEqual(sockets.map((s) => s.video), [true, false]);
      assert.match(await page.locator('[data-frame]').getAttribute('title'), /JPEG/);
      assert.deepEqual(serious(problems), [], where);
    });
  }
});

// A live stream from the studio's fake webcam through the built-in CPU worker, once.
async function liveStream() {
  if (streamer) return streamer;
  const user = await registerUser(server.baseUrl, 'vs');
  const p = await newPage(browser, server.baseUrl);
  streamer = { ...p, user };
  await logIn(p.page, user, '/studio');
  await p.page.locator('#fps').fill('6');
  await p.page.getByRole('button', { name: 'Go live' }).click();
  await p.page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
  await p.page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });
  return streamer;
}

test('without VideoDecoder the watch page and the embed page ask for no video and show moving JPEG frames (real server)', async (t) => {
  const { user } = await liveStream();
  for (const where of ['watch', 'embed']) {
    const { context, page, problems } = await newPage(browser, server.baseUrl);
    t.after(() => context.close());
    await context.addInitScript(withoutWebCodecs);
    const urls = [];
    page.on('websocket', (ws) => urls.push(ws.url()));
    await withScreenshotOnFailure({ name: `${t.name} ${where}` }, page, async () => {
      await page.goto(where === 'watch' ? `/u/${user.username}` : `/u/${user.username}/embed`);
      assert.equal(await page.evaluate(() => typeof VideoDecoder), 'undefined');
      const indicator = where === 'watch' ? '[data-stage]' : 'body';
      await page.locator(`${indicator}[data-playback=jpeg]`).waitFor({ timeout: 30000 });
      await assertMoving(page, 'img');
      assert.equal(await page.locator('[data-video-frame]').isHidden(), true);
      const watch = urls.filter((u) => u.includes('/ws/watch/'));
      assert.equal(watch.length, 1, JSON.stringify(urls));
      assert.doesNotMatch(watch[0], /video=/);
      assert.deepEqual(serious(problems), [], where);
    });
  }
});

test('the watch page and the embed page show the live stream through WebCodecs (real server)', async (t) => {
  const { user } = await liveStream();
  for (const where of ['watch', 'embed']) {
    const { context, page, problems } = await newPage(browser, server.baseUrl);
    t.after(() => context.close());
    const urls = [];
    page.on('websocket', (ws) => urls.push(ws.url()));
    await withScreenshotOnFailure({ name: `${t.name} ${where}` }, page, async () => {
      await page.goto(where === 'watch' ? `/u/${user.username}` : `/u/${user.username}/embed`);
      const indicator = where === 'watch' ? '[data-stage]' : 'body';
      await page.locator(`${indicator}[data-playback=h264]`).waitFor({ timeout: 30000 });
      await assertMoving(page, 'canvas');
      assert.equal(await page.locator('[data-frame]').isHidden(), true, 'the JPEG img is not shown');
      assert.match(await page.locator('[data-video-frame]').getAttribute('title'), /H\.264 \(WebCodecs\)/);
      const watch = urls.filter((u) => u.includes('/ws/watch/'));
      assert.equal(watch.length, 1, JSON.stringify(urls));
      assert.match(watch[0], /[?&]video=h264(&|$)/);
      if (where === 'watch') await page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
      assert.deepEqual(serious(problems), [], where);
    });
  }
});

test('the SDK: a Viewer with video and renderViewer draw the live stream through WebCodecs; dropVideo goes back to JPEG (real server)', async (t) => {
  const { user } = await liveStream();
  const { page, problems } = await sdkPage(t);
  await withScreenshotOnFailure(t, page, async () => {
    const r = await page.evaluate(async (username) => {
      const { Viewer, canDecodeVideo, renderViewer } = window.ds;
      const out = { can: await canDecodeVideo() };
      const units = [];
      const viewer = await new Viewer(undefined, username, { video: 'h264', onVideo: (u) => units.push(u) }).connect();
      out.url = viewer.url;
      const canvas = document.getElementById('out');
      const paths = [];
      const sums = new Set();
      const view = renderViewer(viewer, canvas, {
        onPath: (p) => paths.push(p),
        onRender: (f) => { if (!f.jpeg.length) sums.add(window.checksum(canvas)); },
      });
      out.video = await window.until(() => view.stats.video?.drawn >= 4, 30000);
      out.stats = { ...view.stats.video };
      out.distinct = sums.size;
      out.firstUnit = units[0] && { key: units[0].key, codec: units[0].codec, width: units[0].width, height: units[0].height };
      out.ownCallback = units.length >= out.stats.units;
      await viewer.dropVideo();
      out.urlAfter = viewer.url;
      out.jpeg = await window.until(() => view.path === 'jpeg', 15000);
      out.paths = paths;
      view.stop();
      viewer.close();
      return out;
    }, user.username);
    const all = JSON.stringify(r);
    assert.equal(r.can, true);
    assert.match(r.url, /[?&]video=h264(&|$)/);
    assert.ok(r.video, `video pictures drawn: ${all}`);
    assert.ok(r.distinct >= 3, `the picture moves: ${all}`);
    assert.equal(r.firstUnit.key, true, 'the first unit is a keyframe');
    assert.match(r.firstUnit.codec, /^avc1\.[0-9a-f]{6}$/i);
    assert.ok(r.firstUnit.width > 0 && r.firstUnit.height > 0);
    assert.ok(r.ownCallback, "the viewer's own onVideo still gets every unit");
    assert.doesNotMatch(r.urlAfter, /video=/);
    assert.ok(r.jpeg, `JPEG frames after dropVideo: ${all}`);
    assert.equal(r.paths.at(-1), 'jpeg');
    assert.ok(r.paths.includes('h264'));
    assert.deepEqual(problems, []);
  });
});

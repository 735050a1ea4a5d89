// HLS on the pages (issue 23, item 2): hls.js vendored from npm into the served assets with its
// licence; the watch and embed pages playing the live stream from /u/<name>/live.m3u8 in a
// <video> through hls.js when `?playback=hls` asks for it and, by themselves, when the viewer
// socket cannot connect (a proxy that blocks WebSockets); Offline once the stream has ended;
// and "Open in a player" with the playlist's absolute URL.
//
// The socket is blocked inside the page: an init script points every /ws/watch WebSocket at a
// path of the same server that is no socket (the upgrade is refused with an HTTP error), so it
// fails as one behind such a proxy does (close 1006, never open).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browserDir, launchBrowser, logIn, newPage, registerUser, startServer, until, videoPicture as videoPictureOf, withScreenshotOnFailure } from './lib/server.mjs';

const webDir = path.resolve(browserDir, '../../web');
const vendorDir = path.resolve(browserDir, '../../vendor/web');

let server;
let browser;

before(async () => {
  // The pages under test come from this checkout, whatever copy the binary embeds.
  server = await startServer({ extraArgs: ['--web-dir', webDir] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the binary serves the vendored hls.js and its licence from its embedded assets', async () => {
  // No --web-dir: what the build embedded (scripts/vendor_web.sh put it into web/ first).
  const embedded = await startServer();
  try {
    const pinned = JSON.parse(await readFile(path.join(vendorDir, 'package.json'), 'utf8')).dependencies['hls.js'];
    const js = await fetch(`${embedded.baseUrl}/static/js/vendor/hls/hls.light.min.mjs`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const body = await js.text();
    assert.ok(body.length > 100_000, `the whole library (${body.length} bytes)`);
    assert.match(body, /lowLatencyMode/);
    assert.match(body, /export\s*\{[^}]*\bas default\b/, 'an ES module with a default export');
    assert.ok(body.includes(`"${pinned}"`), `the version vendor/web/package.json pins (${pinned})`);
    const licence = await fetch(`${embedded.baseUrl}/static/js/vendor/hls/LICENSE.txt`);
    assert.equal(licence.status, 200);
    assert.equal(licence.headers.get('content-type'), 'text/plain; charset=utf-8');
    const text = await licence.text();
    assert.match(text, /Apache License, Version 2\.0/);
    assert.match(text, /Dailymotion/);
  } finally {
    await embedded.stop();
  }
});

// A live stream from the studio's fake webcam through the built-in CPU worker.
async function liveStream(prefix) {
  const user = await registerUser(server.baseUrl, prefix);
  const p = await newPage(browser, server.baseUrl);
  await logIn(p.page, user, '/studio');
  await p.page.locator('#fps').fill('8');
  await p.page.getByRole('button', { name: 'Go live' }).click();
  await p.page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
  await p.page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });
  return {
    ...p,
    user,
    async end() {
      await p.page.getByRole('button', { name: 'End stream' }).click();
    },
  };
}

// Every /ws/watch socket of the page fails to connect, as behind a proxy that blocks WebSockets.
function blockWatchSockets() {
  const Real = window.WebSocket;
  window.__blockedSockets = 0;
  window.WebSocket = class extends Real {
    constructor(url, protocols) {
      const blocked = String(url).includes('/ws/watch/');
      if (blocked) window.__blockedSockets++;
      super(blocked ? new URL('/ws/blocked-by-proxy', location.href).href.replace(/^http/, 'ws') : url, protocols);
    }
  };
}

const videoPicture = (page) => videoPictureOf(page, '[data-hls-video]');

// The <video> plays through hls.js (a blob: URL from Media Source Extensions): its time grows
// and its pictures change.
async function assertPlaying(page) {
  const first = await until('a picture in the <video>', () => videoPicture(page), 40000);
  assert.ok(first.sd > 3, `the picture has detail (sd ${first.sd.toFixed(1)})`);
  assert.match(first.src, /^blob:/, 'Media Source Extensions: hls.js, not the native player');
  const later = await until('a later, different picture', async () => {
    const s = await videoPicture(page);
    return s && s.time > first.time + 1 && s.check !== first.check ? s : null;
  });
  assert.ok(later.sd > 3);
}

// Failed loads (the anonymous watch page's 401 from /api/me, the playlist's 404 before the
// encoder's first segment) and the blocked sockets' failures are expected.
const serious = (problems) => problems.filter((m) => !/Failed to load resource|WebSocket connection to 'ws:\/\/[^']*\/ws\/blocked-by-proxy' failed/.test(m));

// A live HLS stream the test makes itself: ffmpeg's moving test pattern, in real time, as fMP4
// segments of 1 s into a temporary folder, for `seconds`; its playlist ends with #EXT-X-ENDLIST.
async function ffmpegHls(t, seconds) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ds-hls-'));
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', String(seconds),
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '10', '-f', 'hls', '-hls_time', '1',
    '-hls_segment_type', 'fmp4', '-hls_list_size', '6', path.join(dir, 'live.m3u8'),
  ], { stdio: 'ignore' });
  const done = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    child.kill('SIGKILL');
    await done;
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, done };
}

// Serves the page /u/<name>/live.m3u8 and the files next to it from dir (404 until they exist).
async function serveHls(page, username, dir) {
  const asked = [];
  await page.route(new RegExp(`/u/${username}/(live\\.m3u8|[a-z0-9]+\\.(mp4|m4s))(\\?|$)`), async (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    asked.push(name);
    let body;
    try {
      body = await readFile(path.join(dir, name));
    } catch {
      return route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found"}}' });
    }
    const contentType = name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp4';
    return route.fulfill({ status: 200, contentType, body });
  });
  return asked;
}

test('the watch and embed pages play an HLS stream the test serves through hls.js when the socket is blocked, and show Offline after #EXT-X-ENDLIST', async (t) => {
  const user = await registerUser(server.baseUrl, 'hx');
  // Long enough for both pages to be seen playing on a loaded machine before the end.
  const { dir, done } = await ffmpegHls(t, 20);
  const pages = [];
  for (const where of ['watch', 'embed']) {
    const p = await newPage(browser, server.baseUrl);
    t.after(() => p.context.close());
    await p.context.addInitScript(blockWatchSockets);
    p.asked = await serveHls(p.page, user.username, dir);
    p.where = where;
    pages.push(p);
    await p.page.goto(where === 'watch' ? `/u/${user.username}` : `/u/${user.username}/embed`);
  }
  // Both at once: the stream ends while a page waits its turn otherwise.
  await Promise.all(pages.map(({ page, where, asked, problems }) =>
    withScreenshotOnFailure({ name: `${t.name} ${where}` }, page, async () => {
      const indicator = where === 'watch' ? '[data-stage]' : 'body';
      await page.locator(`${indicator}[data-playback=hls]`).waitFor({ timeout: 20000 });
      await assertPlaying(page);
      if (where === 'watch') await page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
      else assert.equal(await page.locator('[data-testid=embed-state]').isHidden(), true);
      assert.ok(asked.includes('init.mp4') && asked.some((n) => n.endsWith('.m4s')), JSON.stringify(asked));
      assert.deepEqual(serious(problems), [], where);
    })));
  await done;
  for (const { page, where, problems } of pages) {
    await withScreenshotOnFailure({ name: `${t.name} ${where} ended` }, page, async () => {
      if (where === 'watch') {
        await page.locator('[data-state-badge]', { hasText: 'Offline' }).waitFor({ timeout: 20000 });
        await page.locator('[data-testid=stream-state]', { hasText: 'Stream ended' }).waitFor();
      } else {
        await page.locator('[data-testid=embed-state]', { hasText: 'Offline' }).waitFor({ timeout: 20000 });
      }
      assert.equal(await page.locator('[data-hls-video]').isHidden(), true);
      assert.deepEqual(serious(problems), [], where);
    });
  }
});

test('?playback=hls: the watch page plays the live stream through hls.js in a <video>, and offers the .m3u8 for a player', async (t) => {
  const streamer = await liveStream('hf');
  t.after(() => streamer.context.close());
  const { context, page, problems } = await newPage(browser, server.baseUrl);
  t.after(() => context.close());
  const sockets = [];
  let pictures = 0; // binary messages on the page's sockets
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framereceived', (f) => { if (typeof f.payload !== 'string') pictures++; });
  });
  await withScreenshotOnFailure(t, page, async () => {
    await page.goto(`/u/${streamer.user.username}?playback=hls`);
    await page.locator('[data-stage][data-playback=hls]').waitFor();
    await assertPlaying(page);
    await page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
    assert.equal(await page.locator('[data-frame]').isHidden(), true, 'no JPEG img');
    assert.equal(await page.locator('[data-video-frame]').isHidden(), true, 'no WebCodecs canvas');
    assert.equal(await page.locator('[data-hls-video]').getAttribute('title'), 'Playback: HLS (hls.js)');
    // The socket still carries the events, and asks for no pictures at all: none came.
    const watch = sockets.filter((u) => u.includes('/ws/watch/'));
    assert.equal(watch.length, 1, JSON.stringify(sockets));
    assert.doesNotMatch(watch[0], /video=/);
    assert.match(watch[0], /[?&]frames=none/);
    assert.equal(pictures, 0, 'no JPEG or video on the socket of a page that plays HLS');

    // Open in a player: the absolute playlist URL, which answers as an HLS playlist.
    await page.getByText('Open in a player').click();
    const url = await page.locator('[data-testid=hls-url]').textContent();
    assert.equal(url, `${server.baseUrl}/u/${streamer.user.username}/live.m3u8`);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^#EXTM3U/);
    assert.deepEqual(serious(problems), []);
  });
});

test('when the viewer socket cannot connect the watch and embed pages play HLS by themselves, and show Offline when the stream ends', async (t) => {
  const streamer = await liveStream('hb');
  t.after(() => streamer.context.close());
  const pages = {};
  for (const where of ['watch', 'embed']) {
    const p = await newPage(browser, server.baseUrl);
    t.after(() => p.context.close());
    await p.context.addInitScript(blockWatchSockets);
    pages[where] = p;
  }
  const { watch, embed } = pages;
  await withScreenshotOnFailure({ name: `${t.name} watch` }, watch.page, async () => {
    await watch.page.goto(`/u/${streamer.user.username}`);
    await watch.page.locator('[data-stage][data-playback=hls]').waitFor({ timeout: 20000 });
    assert.ok((await watch.page.evaluate(() => window.__blockedSockets)) >= 2, 'HLS after the socket failed');
    await assertPlaying(watch.page);
    await watch.page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
  });
  await withScreenshotOnFailure({ name: `${t.name} embed` }, embed.page, async () => {
    await embed.page.goto(`/u/${streamer.user.username}/embed`);
    await embed.page.locator('body[data-playback=hls]').waitFor({ timeout: 20000 });
    await assertPlaying(embed.page);
    assert.equal(await embed.page.locator('[data-testid=embed-state]').isHidden(), true, 'no state word over the picture');
  });

  // The stream ends: the playlist says #EXT-X-ENDLIST (no socket tells these pages).
  await streamer.end();
  await withScreenshotOnFailure({ name: `${t.name} watch ended` }, watch.page, async () => {
    await watch.page.locator('[data-state-badge]', { hasText: 'Offline' }).waitFor({ timeout: 30000 });
    // "Stream ended" after #EXT-X-ENDLIST; "Offline" where the playlist was already gone (404).
    await watch.page.locator('[data-testid=stream-state]', { hasText: /Stream ended|Offline/ }).waitFor();
    assert.equal(await watch.page.locator('[data-hls-video]').isHidden(), true);
    assert.deepEqual(serious(watch.problems), []);
  });
  await withScreenshotOnFailure({ name: `${t.name} embed ended` }, embed.page, async () => {
    await embed.page.locator('[data-testid=embed-state]', { hasText: 'Offline' }).waitFor({ timeout: 30000 });
    assert.equal(await embed.page.locator('[data-hls-video]').isHidden(), true);
    assert.deepEqual(serious(embed.problems), []);
  });
});

test('an offline channel: the blocked watch page goes to HLS, shows Offline, and finds no playlist (404)', async (t) => {
  const user = await registerUser(server.baseUrl, 'ho');
  const { context, page, problems } = await newPage(browser, server.baseUrl);
  t.after(() => context.close());
  await context.addInitScript(blockWatchSockets);
  const playlists = [];
  page.on('response', (r) => {
    if (r.url().includes('/live.m3u8')) playlists.push(r.status());
  });
  await withScreenshotOnFailure(t, page, async () => {
    await page.goto(`/u/${user.username}`);
    await page.locator('[data-stage][data-playback=hls]').waitFor({ timeout: 20000 });
    await until('a playlist request', () => playlists.length > 0, 10000);
    assert.deepEqual([...new Set(playlists)], [404]);
    await page.locator('[data-state-badge]', { hasText: 'Offline' }).waitFor();
    await page.locator('[data-testid=stream-state]', { hasText: 'Offline' }).waitFor();
    assert.equal(await page.locator('[data-hls-video]').isHidden(), true);
    assert.deepEqual(serious(problems), []);
  });
});

// The embed page /u/<name>/embed in <iframe>s on another origin (issue 12, part 4): a streamer
// live from Chromium's fake webcam through the built-in worker; a page served by a second,
// tiny HTTP server on another loopback port frames `/u/<name>/embed?chat=1` and sees the
// processed picture (not blank, changing) and a comment posted through the API in the overlay,
// with no controls at all. `?transparent=1` lets the embedding page show through; the watch page
// in an iframe from that origin is refused (frame-ancestors 'none').

import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browserDir, kShownPicture, launchBrowser, newPage, startServer, registerUser, logIn as login, withScreenshotOnFailure } from './lib/server.mjs';

let server;
let browser;
let other; // the embedding site: another origin

// Serves /?src=URL&src=URL&bg=COLOR: a page with one 480x270 iframe per src.
async function startOtherOrigin() {
  const escape = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const srv = http.createServer((req, res) => {
    const q = new URL(req.url, 'http://x').searchParams;
    const bg = /^#[0-9a-f]{3,6}$/i.test(q.get('bg') || '') ? q.get('bg') : '#fff';
    const frames = q.getAll('src').map((s, i) => `<iframe id="f${i}" src="${escape(s)}" title="embed ${i}"></iframe>`);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;background:${bg}}` +
      `iframe{display:block;border:0;margin:0 0 10px;width:480px;height:270px}</style></head><body>${frames.join('')}</body></html>`);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
}

before(async () => {
  // The pages under test come from this checkout, whatever copy the binary embeds.
  server = await startServer({ extraArgs: ['--web-dir', path.resolve(browserDir, '../../web')] });
  browser = await launchBrowser();
  other = await startOtherOrigin();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await other?.close();
});

const register = (prefix) => registerUser(server.baseUrl, prefix);

const embedUrl = (name, query = '') => `${server.baseUrl}/u/${name}/embed${query}`;
const parentUrl = (srcs, bg) =>
  `${other.url}/?${[...srcs.map((s) => `src=${encodeURIComponent(s)}`), bg ? `bg=${encodeURIComponent(bg)}` : ''].filter(Boolean).join('&')}`;

async function frameOf(page, id) {
  const handle = await page.waitForSelector(`#${id}`);
  const frame = await handle.contentFrame();
  assert.ok(frame, `#${id} has a frame`);
  return frame;
}

// What the framed picture shows (JPEG or video): its seq, and the mean, spread and a checksum of
// its pixels.
function pictureStats(frame) {
  return frame.evaluate(async () => {
    // The JPEG img or the WebCodecs canvas, whichever shows the stream.
    const img = document.querySelector('[data-frame]:not([hidden]), [data-video-frame]:not([hidden])');
    if (!img || (img.tagName === 'IMG' && (!img.complete || !img.naturalWidth)) || !img.dataset.seq) return null;
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 36;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0, c.width, c.height);
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
    return { seq: img.dataset.seq, mean, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), check };
  });
}

async function until(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

// The colour at the middle of an element, as Chromium composited it (a screenshot read back).
async function pixelAt(page, selector) {
  const png = await page.locator(selector).screenshot();
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return Array.from(g.getImageData(img.width >> 1, img.height >> 1, 1, 1).data).slice(0, 3);
  }, png.toString('base64'));
}

test('an iframe on another site shows the processed picture and the chat overlay, with no controls', async (t) => {
  const streamer = await register('em');
  const fan = await register('fan');
  const name = streamer.username;
  const S = await newPage(browser, server.baseUrl);
  const P = await newPage(browser, other.url); // the embedding site: no cookies of DreamStream
  const F = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, S.page, async () => {
      await login(S.page, streamer, '/studio');
      await S.page.locator('#fps').fill('6');
      await S.page.getByRole('button', { name: 'Go live' }).click();
      await S.page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
    });

    await withScreenshotOnFailure(t, P.page, async () => {
      await P.page.goto(parentUrl([embedUrl(name, '?chat=1')]));
      const frame = await frameOf(P.page, 'f0');
      assert.notEqual(new URL(frame.url()).origin, new URL(P.page.url()).origin, 'framed from another origin');
      await frame.locator(kShownPicture).waitFor({ timeout: 30000 });

      // The picture fills the frame: the whole 480x270 box, nothing else on the page.
      const box = await frame.locator(kShownPicture).evaluate((img) => {
        const r = img.getBoundingClientRect();
        return { w: r.width, h: r.height, fit: getComputedStyle(img).objectFit, vw: innerWidth, vh: innerHeight };
      });
      assert.deepEqual([box.w, box.h, box.fit], [box.vw, box.vh, 'contain']);
      assert.deepEqual([box.vw, box.vh], [480, 270]);
      const chrome = await frame.evaluate(() =>
        document.querySelectorAll('header, nav, footer, form, button, input, textarea, select, a').length);
      assert.equal(chrome, 0, 'no header, navigation, chat box or buttons');

      // Not blank, and changing: a later frame with another seq and other pixels.
      const first = await until('a decoded picture', () => pictureStats(frame));
      assert.ok(first.sd > 3, `the picture has detail (sd ${first.sd.toFixed(1)}, mean ${first.mean.toFixed(1)})`);
      const later = await until('a newer, different picture', async () => {
        const s = await pictureStats(frame);
        return s && s.seq !== first.seq && s.check !== first.check ? s : null;
      });
      assert.ok(later.sd > 3);
      // A page framed by another loopback origin is still a secure context: H.264 through WebCodecs.
      await frame.locator('body[data-playback=h264]').waitFor({ timeout: 15000 });
      assert.equal(await frame.evaluate(() => isSecureContext), true);

      // A comment posted through the API shows in the overlay, as text.
      await F.page.goto('/');
      const posted = await F.page.evaluate(async ({ user, streamerName }) => {
        const login = await fetch('/api/auth/login', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ login: user.username, password: user.password }),
        });
        if (!login.ok) return `login ${login.status} ${await login.text()}`;
        const r = await fetch(`/api/streams/${streamerName}/comments`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ body: 'hello from <b>the API</b>' }),
        });
        return r.status;
      }, { user: fan, streamerName: name });
      assert.equal(posted, 201);
      const line = frame.locator('[data-chat] .embed-comment', { hasText: 'hello from <b>the API</b>' });
      await line.waitFor({ timeout: 10000 });
      assert.match(await line.textContent(), new RegExp(fan.username));
      assert.equal(await frame.locator('[data-chat] b').count(), 0, 'markup stays text');

      // The stream ends: the picture goes, a small "Offline" stays.
      await S.page.getByRole('button', { name: 'End stream' }).click();
      await frame.locator(kShownPicture).waitFor({ state: 'detached', timeout: 15000 });
      await frame.locator('[data-testid=embed-state]', { hasText: 'Offline' }).waitFor({ timeout: 15000 });
    });
    assert.deepEqual(P.problems, [], 'no errors on the embedding page');
  } finally {
    await F.context.close();
    await P.context.close();
    await S.context.close();
  }
});

test('transparent=1 lets the embedding page show through; the default is a black frame', async (t) => {
  const { username: name } = await register('tr');
  const P = await newPage(browser, other.url);
  try {
    await withScreenshotOnFailure(t, P.page, async () => {
      await P.page.goto(parentUrl([embedUrl(name, '?transparent=1'), embedUrl(name)], '#ff0000'));
      const clear = await frameOf(P.page, 'f0');
      const opaque = await frameOf(P.page, 'f1');
      for (const f of [clear, opaque]) await f.locator('body[data-state=offline]').waitFor({ timeout: 15000 });
      const bg = (f) => f.evaluate(() => [document.documentElement, document.body].map((el) => getComputedStyle(el).backgroundColor));
      assert.deepEqual(await bg(clear), ['rgba(0, 0, 0, 0)', 'rgba(0, 0, 0, 0)']);
      assert.deepEqual(await bg(opaque), ['rgb(0, 0, 0)', 'rgb(0, 0, 0)']);
      // An overlay shows nothing while offline; the plain embed says so in a small corner label.
      assert.equal(await clear.locator('[data-testid=embed-state]').isVisible(), false);
      await opaque.locator('[data-testid=embed-state]', { hasText: 'Offline' }).waitFor();

      const [r, g, b] = await pixelAt(P.page, '#f0');
      assert.ok(r > 200 && g < 50 && b < 50, `the page's red shows through: ${[r, g, b]}`);
      const dark = await pixelAt(P.page, '#f1');
      assert.ok(dark.every((v) => v < 30), `the plain embed is black: ${dark}`);
    });
  } finally {
    await P.context.close();
  }
});

test('the watch page in an iframe on another site is refused; the embed page next to it loads', async (t) => {
  const { username: name } = await register('wb');
  const P = await newPage(browser, other.url);
  const refused = [];
  P.page.on('console', (m) => {
    if (/frame-ancestors/.test(m.text())) refused.push(m.text());
  });
  try {
    await withScreenshotOnFailure(t, P.page, async () => {
      await P.page.goto(parentUrl([`${server.baseUrl}/u/${name}`, embedUrl(name)]));
      const embed = await frameOf(P.page, 'f1');
      await embed.locator('body[data-state=offline]').waitFor({ timeout: 15000 });
      const watch = await frameOf(P.page, 'f0');
      await until('the watch frame to settle', async () => watch.url() !== 'about:blank');
      // Chromium replaces a refused frame with its error page: no watch page inside.
      assert.ok(!watch.url().startsWith(server.baseUrl), `watch frame is at ${watch.url()}`);
      const hasStage = await watch.evaluate(() => !!document.querySelector('[data-stage]')).catch(() => false);
      assert.equal(hasStage, false, 'the watch page did not render in the frame');
    });
  } finally {
    await P.context.close();
  }
});

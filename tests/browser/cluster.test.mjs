// Many nodes behind nginx (issue 10): register, go live from the studio with Chromium's fake
// webcam, and watch from two other browser contexts, all through one nginx URL that spreads
// every request and socket round-robin over two `serve` nodes (deploy/nginx.conf).
//
// tests/browser/cluster_nginx.py starts PostgreSQL, Redis, the two nodes, nginx and a worker
// and runs this file with DS_CLUSTER_URL=<nginx>; without it (the plain `browser` suite) the
// test is skipped.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { firstPictureWidth, kShownPicture, launchBrowser, newPage, uniqueUser, withScreenshotOnFailure } from './lib/server.mjs';

const baseUrl = process.env.DS_CLUSTER_URL;
const skip = baseUrl ? false : 'needs DS_CLUSTER_URL: run tests/browser/cluster_nginx.py';

let browser;

before(async () => {
  if (baseUrl) browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// Reads /u/<name>/stream.mjpeg through nginx until `frames` JPEG parts have arrived.
async function mjpegFrames(name, frames, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let seen = 0;
  try {
    const res = await fetch(`${baseUrl}/u/${name}/stream.mjpeg`, { signal: controller.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /^multipart\/x-mixed-replace/);
    let prev = 0;
    for await (const chunk of res.body) {
      // A JPEG starts with FF D8 FF; count starts, also across chunk borders.
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (prev === 0xff && b === 0xd8 && chunk[i + 1] === 0xff) seen += 1;
        prev = b;
      }
      if (seen >= frames) break;
    }
  } catch (err) {
    if (err.name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return seen;
}

test('through nginx and two nodes: register, go live, two viewers see processed frames', { skip, timeout: 120000 }, async (t) => {
  const user = uniqueUser('cl');
  const reg = await fetch(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  assert.equal(reg.status, 201, await reg.text());

  const streamer = await newPage(browser, baseUrl);
  const viewers = [await newPage(browser, baseUrl), await newPage(browser, baseUrl)];
  const page = streamer.page;
  try {
    await withScreenshotOnFailure(t, page, async () => {
      // The login lands on one node, the studio's requests and its ingest socket on others:
      // the session is shared.
      await page.goto('/login?next=/studio');
      await page.getByLabel('Username or e-mail').fill(user.username);
      await page.getByLabel('Password', { exact: true }).fill(user.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL((u) => u.pathname === '/studio');

      await page.locator('#fps').fill('8');
      await page.getByRole('button', { name: 'Go live' }).click();
      await page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
      // Processed output comes back to the studio: ingest node -> worker (via nginx) -> home.
      await page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });

      // Every node knows the stream is live (consecutive requests go to alternate nodes).
      for (let i = 0; i < 4; i++) {
        const info = await fetch(`${baseUrl}/api/streams/${user.username}`).then((r) => r.json());
        assert.equal(info.live, true, `request ${i}: ${JSON.stringify(info)}`);
      }

      for (const [i, viewer] of viewers.entries()) {
        await withScreenshotOnFailure({ name: `${t.name} viewer ${i}` }, viewer.page, async () => {
          await viewer.page.goto(`/u/${user.username}`);
          await viewer.page.locator(kShownPicture).waitFor({ timeout: 30000 });
          const width = await firstPictureWidth(viewer.page);
          assert.ok(width > 0, `viewer ${i}: a decodable picture arrived`);
          await viewer.page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
        });
      }

      // The count is global: both viewers (on whichever nodes their sockets landed) see 2.
      for (const [i, viewer] of viewers.entries()) {
        await withScreenshotOnFailure({ name: `${t.name} viewer count ${i}` }, viewer.page, async () => {
          await viewer.page.locator('[data-viewers]', { hasText: /^2 watching$/ }).waitFor({ timeout: 15000 });
        });
      }

      // Frames keep arriving: the picture's seq moves on (JPEG or video alike).
      const first = await viewers[0].page.locator(kShownPicture).getAttribute('data-seq');
      await viewers[0].page.waitForFunction(
        ({ sel, seq }) => document.querySelector(sel)?.dataset.seq !== seq,
        { sel: kShownPicture, seq: first },
        { timeout: 15000 },
      );

      // MJPEG through nginx (proxy_buffering off): frames arrive one by one.
      const parts = await mjpegFrames(user.username, 3, 20000);
      assert.ok(parts >= 3, `MJPEG through nginx delivered ${parts} frames, want 3`);

      await page.getByRole('button', { name: 'End stream' }).click();
      await page.locator('[data-testid=studio-state]', { hasText: 'Offline' }).waitFor({ timeout: 15000 });
      for (const viewer of viewers) {
        await viewer.page.locator('[data-testid=stream-state]', { hasText: /Offline|Stream ended/ }).waitFor({ timeout: 15000 });
      }
      const info = await fetch(`${baseUrl}/api/streams/${user.username}`).then((r) => r.json());
      assert.equal(info.live, false);

      for (const [i, p] of [streamer, ...viewers].entries()) {
        const serious = p.problems.filter((m) => !/WebSocket|net::ERR|Failed to load resource/.test(m));
        assert.deepEqual(serious, [], `page ${i} errors`);
      }
    });
  } finally {
    for (const v of viewers) await v.context.close();
    await streamer.context.close();
  }
});

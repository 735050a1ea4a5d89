// Live end to end: Chromium's fake webcam streams from /studio through the built-in CPU worker,
// and a second, anonymous browser watches /u/<name> and receives processed frames.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { firstPictureWidth, kShownPicture, launchBrowser, newPage, startServer, registerUser, logIn as login, uniqueUser, withScreenshotOnFailure } from './lib/server.mjs';

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

const register = () => registerUser(server.baseUrl, 'cr');

// Moves the balance with the admin command; false when this binary has no such command yet.
async function grant(user, credits) {
  const r = await server.admin('credits', 'grant', user.username, String(credits), '--note', 'browser test');
  assert.equal(r.code, 0, r.output);
}

const hasClass = (locator, cls) => locator.evaluate((el, c) => el.classList.contains(c), cls);

test('under 10 minutes left, the profile, studio and header switch to the alert style', async (t) => {
  const user = await register();
  await grant(user, '-10.40');
  const { context, page } = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await login(page, user, '/profile');
      await page.locator('[data-testid=remaining-minutes]', { hasText: /^8$/ }).waitFor();
      assert.ok(await hasClass(page.locator('[data-testid=minutes-stat]'), 'alert-low'));
      await page.locator('[data-testid=minutes-stat] .low-warning').waitFor({ state: 'visible' });
      assert.ok(await hasClass(page.locator('[data-testid=nav-credits]'), 'alert-low'));

      await page.goto('/studio');
      await page.locator('[data-minutes]', { hasText: /^8$/ }).waitFor();
      assert.ok(await hasClass(page.locator('[data-minutes-stat]'), 'alert-low'));
    });
  } finally {
    await context.close();
  }
});

test('with no credits, going live says no credits left and offers to buy', async (t) => {
  const user = await register();
  await grant(user, '-12');
  const { context, page } = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await login(page, user, '/studio');
      await page.getByRole('button', { name: 'Go live' }).click();
      const alert = page.locator('[data-testid=no-credits]');
      await alert.waitFor();
      assert.match(await alert.textContent(), /no credits left/i);
      await page.locator('[data-testid=studio-state]', { hasText: 'Offline' }).waitFor();
      await alert.getByRole('button', { name: 'Buy credits' }).click();
      await page.locator('#buy-dialog').getByLabel('Credits').waitFor();
      const info = await fetch(`${server.baseUrl}/api/streams/${user.username}`).then((r) => r.json());
      assert.equal(info.live, false);
    });
  } finally {
    await context.close();
  }
});

test('a webcam stream from the studio reaches a viewer as processed frames', async (t) => {
  const user = uniqueUser('live');
  const reg = await fetch(`${server.baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  assert.equal(reg.status, 201);

  const streamer = await newPage(browser, server.baseUrl);
  const viewer = await newPage(browser, server.baseUrl);
  const page = streamer.page;
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await page.goto('/login?next=/studio');
      await page.getByLabel('Username or e-mail').fill(user.username);
      await page.getByLabel('Password', { exact: true }).fill(user.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL((u) => u.pathname === '/studio');

      await page.locator('#fps').fill('8');
      await page.getByRole('button', { name: 'Go live' }).click();
      await page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });

      // The streamer sees the processed output beside the camera.
      await page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });
      await page.locator('[data-metric=connection]', { hasText: 'connected' }).waitFor();

      await withScreenshotOnFailure(t, viewer.page, async () => {
        await viewer.page.goto(`/u/${user.username}`);
        await viewer.page.locator(kShownPicture).waitFor({ timeout: 30000 });
        const size = await firstPictureWidth(viewer.page);
        assert.ok(size > 0, 'a decodable picture reached the viewer');
        await viewer.page.locator('[data-state-badge]', { hasText: 'Live' }).waitFor();
        await viewer.page.locator('[data-viewers]', { hasText: /^[1-9]\d* watching$/ }).waitFor({ timeout: 15000 });
      });

      // The server's status messages arrive in the studio.
      await page.locator('[data-metric=fps-out] .metric-value', { hasText: /\d/ }).waitFor({ timeout: 15000 });

      await page.getByRole('button', { name: 'End stream' }).click();
      await page.locator('[data-testid=studio-state]', { hasText: 'Offline' }).waitFor({ timeout: 15000 });
      await viewer.page.locator('[data-testid=stream-state]', { hasText: /Offline|Stream ended/ }).waitFor({ timeout: 15000 });

      const info = await fetch(`${server.baseUrl}/api/streams/${user.username}`).then((r) => r.json());
      assert.equal(info.live, false);
    });
  } finally {
    await viewer.context.close();
    await streamer.context.close();
  }
});

// Chat and style requests end to end (issue 5): a streamer live in /studio from Chromium's fake
// webcam, viewers A and B on /u/<name>, each logged in as their own user. A comments and asks for
// a style; the streamer sees both live and approves; B sees the style change and the comment.
// User text stays text: a comment holding markup shows literally and runs nothing. Turning
// comments (or styles) off hides the box on the viewers' pages at once; a visitor who is not
// logged in is sent to the login page.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browserDir, launchBrowser, newPage, startServer, registerUser, logIn as login, withScreenshotOnFailure } from './lib/server.mjs';

let server;
let browser;

before(async () => {
  // The pages under test come from this checkout, whatever copy the binary embeds.
  server = await startServer({ extraArgs: ['--web-dir', path.resolve(browserDir, '../../web')] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const register = (prefix) => registerUser(server.baseUrl, prefix);

const publicInfo = (name) => fetch(`${server.baseUrl}/api/streams/${name}`).then((r) => r.json());

async function until(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const kXss = '<img src=x onerror=alert(1)>';

test('viewers chat and request styles, the streamer approves live, and markup stays text', async (t) => {
  const streamer = await register('st');
  const viewerA = await register('va');
  const viewerB = await register('vb');
  const name = streamer.username;
  const S = await newPage(browser, server.baseUrl);
  const A = await newPage(browser, server.baseUrl);
  const B = await newPage(browser, server.baseUrl);
  const pages = { streamer: S, A, B };
  const dialogs = [];
  for (const [who, p] of Object.entries(pages)) {
    p.page.on('dialog', (d) => {
      dialogs.push(`${who}: ${d.type()} ${d.message()}`);
      d.dismiss().catch(() => {});
    });
  }
  try {
    await withScreenshotOnFailure(t, S.page, async () => {
      // The streamer goes live from the fake webcam and asks to approve each style request.
      await login(S.page, streamer, '/studio');
      await S.page.locator('#fps').fill('4');
      await S.page.getByRole('button', { name: 'Go live' }).click();
      await S.page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
      await S.page.getByLabel('I approve each').check();
      await until('policy approve', async () => (await publicInfo(name)).settings?.style_policy === 'approve');

      await login(A.page, viewerA, `/u/${name}`);
      await login(B.page, viewerB, `/u/${name}`);
      const chatA = A.page.getByLabel('Write a comment');
      const chatB = B.page.getByLabel('Write a comment');
      await withScreenshotOnFailure(t, A.page, () => chatA.waitFor({ timeout: 15000 }));
      await withScreenshotOnFailure(t, B.page, () => chatB.waitFor({ timeout: 15000 }));
      await B.page.locator('[data-testid=viewer-count]', { hasText: /^([2-9]|\d{2,}) watching$/ }).waitFor({ timeout: 15000 });

      // A comments: the streamer and B see it live.
      await chatA.fill('hello from A');
      await chatA.press('Enter');
      await S.page.locator('[data-testid=moderation] .chat-body', { hasText: 'hello from A' }).waitFor();
      await B.page.locator('[data-testid=chat] .chat-body', { hasText: 'hello from A' }).waitFor();
      await until('the comment box to empty', async () => (await chatA.inputValue()) === '');

      // A asks for a style; it waits for the streamer, who approves it; B sees it play.
      await A.page.getByLabel('Request a style').fill('underwater pencil sketch');
      await A.page.getByRole('button', { name: 'Request', exact: true }).click();
      const pending = S.page.locator('[data-style-pending] .style-item', { hasText: 'underwater pencil sketch' });
      await pending.waitFor();
      await B.page.locator('[data-pending-note]', { hasText: /1 request awaits/ }).waitFor();
      await pending.getByRole('button', { name: /^Approve/ }).click();
      await withScreenshotOnFailure(t, B.page, () =>
        B.page.locator('[data-testid=current-style]', { hasText: 'underwater pencil sketch' }).waitFor(),
      );
      await B.page.locator('[data-style-meta]', { hasText: /Requested by .* left/ }).waitFor();
      await S.page.locator('[data-testid=current-style]', { hasText: 'underwater pencil sketch' }).waitFor();
      assert.equal((await publicInfo(name)).current_style, 'underwater pencil sketch', 'the worker jobs get the approved style');

      // Markup in a comment is shown as text on every page and never becomes an element.
      await chatA.fill(kXss);
      await chatA.press('Enter');
      const lists = { A: '[data-testid=chat]', B: '[data-testid=chat]', streamer: '[data-testid=moderation]' };
      for (const [who, p] of Object.entries(pages)) {
        const body = p.page.locator(`${lists[who]} .chat-body`, { hasText: kXss });
        await body.waitFor();
        assert.equal(await body.textContent(), kXss, `${who} shows the comment literally`);
        assert.equal(await p.page.locator('img[src="x"]').count(), 0, `${who} has no <img src=x>`);
        assert.equal(await p.page.locator('.chat-body img, .chat-body *').count(), 0, `${who} renders no elements inside comments`);
      }

      // A deletes the first comment; it disappears for B and the streamer.
      await A.page.locator('.chat-msg', { hasText: 'hello from A' }).getByRole('button', { name: /^Delete comment/ }).click();
      await B.page.locator('.chat-msg', { hasText: 'hello from A' }).waitFor({ state: 'detached' });
      await S.page.locator('.chat-msg', { hasText: 'hello from A' }).waitFor({ state: 'detached' });

      // Comments off: both viewers lose the comment box at once and are told why.
      await S.page.getByRole('switch', { name: 'Comments' }).uncheck();
      for (const p of [A, B]) {
        await p.page.locator('[data-testid=comments-off]').waitFor({ timeout: 5000 });
        await p.page.getByLabel('Write a comment').waitFor({ state: 'hidden', timeout: 1000 });
      }
      await S.page.locator('[data-chat-off]').waitFor();
      await S.page.getByRole('switch', { name: 'Style requests' }).uncheck();
      await A.page.locator('[data-testid=styles-off]').waitFor({ timeout: 5000 });
      await A.page.getByLabel('Request a style').waitFor({ state: 'hidden', timeout: 1000 });

      // Someone not logged in reads along and is pointed to the login page.
      const anon = await newPage(browser, server.baseUrl);
      try {
        await anon.page.goto(`/u/${name}`);
        await anon.page.locator('[data-testid=chat] .chat-body', { hasText: kXss }).waitFor();
        await S.page.getByRole('switch', { name: 'Comments' }).check();
        const login = anon.page.locator('[data-testid=chat-login]').getByRole('link', { name: /log in/i });
        await login.waitFor({ timeout: 5000 });
        assert.equal(await login.getAttribute('href'), `/login?next=${encodeURIComponent(`/u/${name}`)}`);
        assert.equal(await anon.page.locator('[data-chat-form]').isHidden(), true);
        await A.page.getByLabel('Write a comment').waitFor({ timeout: 5000 });
      } finally {
        await anon.context.close();
      }

      await S.page.getByRole('button', { name: 'End stream' }).click();
      await S.page.locator('[data-testid=studio-state]', { hasText: 'Offline' }).waitFor({ timeout: 15000 });

      // The history row shows the session's counts and a viewers chart.
      const { sessions } = await S.page.request.get('/api/streams/sessions?limit=1').then((r) => r.json());
      const row = S.page.locator(`[data-testid=stream-history] tr[data-session-id="${sessions[0].id}"]`);
      await row.waitFor();
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[5], String(sessions[0].comment_count), 'comment count');
      assert.equal(cells[6], String(sessions[0].style_request_count), 'style request count');
      assert.ok(sessions[0].style_request_count >= 1 && sessions[0].comment_count >= 1, JSON.stringify(sessions[0]));
      await row.locator('svg.spark title').waitFor({ state: 'attached' });

      assert.deepEqual(dialogs, [], 'no dialog opened (no script ran)');
      for (const [who, p] of Object.entries(pages)) {
        assert.deepEqual(p.problems.filter((m) => m.startsWith('pageerror')), [], `${who} had no page errors`);
      }
    });
  } finally {
    for (const p of [A, B, S]) await p.context.close();
  }
});

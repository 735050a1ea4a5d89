// The profile page's sections against the real server: account details, API tokens, stream key,
// sessions, password change, credits chooser and account deletion.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startServer, uniqueUser, withScreenshotOnFailure } from './lib/server.mjs';

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

async function apiRegister(user) {
  const res = await fetch(`${server.baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  assert.equal(res.status, 201, await res.text());
}

async function login(page, user) {
  await page.goto('/login?next=/profile');
  await page.getByLabel('Username or e-mail').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => u.pathname === '/profile');
  await page.locator('[data-profile]:not([hidden])').waitFor();
}

// Runs body(page) in a fresh logged-in context for a fresh user; screenshots on failure.
async function asNewUser(t, body) {
  const user = uniqueUser('prof');
  await apiRegister(user);
  const { context, page } = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await login(page, user);
      await body(page, user, context);
    });
  } finally {
    await context.close();
  }
}

const status = (page, path) => page.evaluate((p) => fetch(p).then((r) => r.status), path);

test('display name and e-mail are saved; a taken e-mail is reported on its field', async (t) => {
  const other = uniqueUser('oth');
  await apiRegister(other);
  await asNewUser(t, async (page, user) => {
    const form = page.locator('#account-form');
    await form.getByLabel('Display name').fill('Grace Hopper');
    await form.getByLabel('E-mail').fill(other.email);
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.locator('#acc-email-error', { hasText: /exists|taken/i }).waitFor();

    await form.getByLabel('E-mail').fill(`new.${user.email}`);
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.locator('.form-alert', { hasText: 'Saved' }).waitFor();
    await page.locator('[data-display-name]', { hasText: 'Grace Hopper' }).waitFor();
    const me = await page.evaluate(() => fetch('/api/me').then((r) => r.json()));
    assert.equal(me.user.display_name, 'Grace Hopper');
    assert.equal(me.user.email, `new.${user.email}`);
  });
});

test('an API token is shown once, listed, works, and can be revoked', async (t) => {
  await asNewUser(t, async (page) => {
    await page.getByLabel('New token name').fill('overlay');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = page.locator('[data-token-reveal] [data-secret]');
    await secret.waitFor();
    const token = (await secret.textContent()).trim();
    assert.ok(token.length >= 20, token);
    await page.locator('[data-testid=tokens] li', { hasText: 'overlay' }).waitFor();

    const withToken = await fetch(`${server.baseUrl}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(withToken.status, 200);
    // By default a token may read, stream and chat, and not touch the stream key (issue 20 item 8).
    await page.locator('[data-testid=tokens] li', { hasText: 'may: read, stream, chat' }).waitFor();
    const rotate = await fetch(`${server.baseUrl}/api/me/stream-key`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(rotate.status, 403);
    assert.equal((await rotate.json()).error.code, 'insufficient_scope');

    await page.getByRole('button', { name: 'Revoke token overlay' }).click();
    await page.locator('[data-testid=tokens] li', { hasText: 'overlay' }).waitFor({ state: 'detached' });
    const revoked = await fetch(`${server.baseUrl}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(revoked.status, 401);
  });
});

test('rotating the stream key asks for confirmation, then shows the new key once', async (t) => {
  await asNewUser(t, async (page) => {
    const btn = page.locator('[data-rotate-key]');
    await btn.click();
    await page.locator('[data-key-reveal]', { hasText: 'stop streaming' }).waitFor();
    assert.equal(await page.locator('[data-key-reveal] [data-secret]').count(), 0);
    await page.getByRole('button', { name: 'Yes, replace my stream key' }).click();
    const key = page.locator('[data-key-reveal] [data-secret]');
    await key.waitFor();
    assert.match((await key.textContent()).trim(), /^dsk_/);
    await page.locator('[data-key-reveal]').getByRole('button', { name: 'Copy' }).waitFor();
  });
});

test('another session is listed and can be revoked', async (t) => {
  await asNewUser(t, async (page, user) => {
    const second = await newPage(browser, server.baseUrl, {
      userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0',
    });
    try {
      await login(second.page, user);
      await page.reload();
      const list = page.locator('[data-testid=sessions]');
      await list.locator('li', { hasText: 'This device' }).waitFor();
      const other = list.locator('li', { hasText: 'Firefox on Windows' });
      await other.waitFor();
      const before = await list.locator('li').count();
      await other.getByRole('button', { name: /^Revoke session/ }).click();
      await other.waitFor({ state: 'detached' });
      assert.equal(await list.locator('li').count(), before - 1);
      assert.equal(await status(second.page, '/api/me'), 401);
      assert.equal(await status(page, '/api/me'), 200);
    } finally {
      await second.context.close();
    }
  });
});

test('the password change checks the current password, then works', async (t) => {
  await asNewUser(t, async (page, user) => {
    const form = page.locator('#password-form');
    await form.getByLabel('Current password').fill('definitely wrong');
    await form.getByLabel('New password', { exact: true }).fill('a brand new password');
    await form.getByLabel('Repeat new password').fill('a brand new password');
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.locator('#pw-current-error', { hasText: /wrong/i }).waitFor();

    await form.getByLabel('Repeat new password').fill('something else entirely');
    await form.getByLabel('Current password').fill(user.password);
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.locator('#pw-confirm-error', { hasText: 'do not match' }).waitFor();

    await form.getByLabel('Repeat new password').fill('a brand new password');
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.locator('.form-alert', { hasText: 'Password changed' }).waitFor();

    const res = await fetch(`${server.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
      body: JSON.stringify({ login: user.username, password: 'a brand new password' }),
    });
    assert.equal(res.status, 200);
  });
});

test('the credits chooser starts at 12 and shows what an amount buys', async (t) => {
  await asNewUser(t, async (page) => {
    await page.getByRole('button', { name: 'Buy credits' }).click();
    const dialog = page.locator('#buy-dialog');
    await dialog.waitFor();
    const input = dialog.getByLabel('Credits');
    assert.equal(await input.inputValue(), '12');
    assert.equal(await input.getAttribute('step'), '1');
    await dialog.locator('.purchase-summary', { hasText: '1 hour of streaming' }).waitFor();
    await dialog.locator('.purchase-summary', { hasText: '€12.00' }).waitFor();

    await dialog.getByRole('button', { name: '24' }).click();
    assert.equal(await input.inputValue(), '24');
    await dialog.locator('.purchase-summary', { hasText: '2 hours of streaming' }).waitFor();
    await input.fill('7');
    await dialog.locator('.purchase-summary', { hasText: '35 minutes of streaming' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
  });
});

test('buying without Stripe keys says payments are not configured', async (t) => {
  await asNewUser(t, async (page) => {
    await page.getByRole('button', { name: 'Buy credits' }).click();
    const dialog = page.locator('#buy-dialog');
    const submit = dialog.getByRole('button', { name: 'Continue to payment' });
    if (await submit.isEnabled()) await submit.click();
    await dialog.getByText(/payments are not configured/i).waitFor();
    assert.equal(new URL(page.url()).pathname, '/profile');
  });
});

test('deleting the account needs the username and the password', async (t) => {
  await asNewUser(t, async (page, user) => {
    await page.getByRole('button', { name: 'Delete my account…' }).click();
    const dialog = page.locator('#delete-dialog');
    await dialog.getByLabel(/Type your username/).fill('someone-else');
    await dialog.getByLabel('Password').fill(user.password);
    await dialog.getByRole('button', { name: 'Delete forever' }).click();
    await dialog.locator('#delete-confirm-error').waitFor();

    await dialog.getByLabel(/Type your username/).fill(user.username);
    await dialog.getByLabel('Password').fill('not my password');
    await dialog.getByRole('button', { name: 'Delete forever' }).click();
    await dialog.locator('#delete-password-error', { hasText: /wrong/i }).waitFor();
    assert.equal(await status(page, '/api/me'), 200);

    await dialog.getByLabel('Password').fill(user.password);
    await dialog.getByRole('button', { name: 'Delete forever' }).click();
    await page.waitForURL((u) => u.pathname === '/');
    assert.equal(await status(page, '/api/me'), 401);
    const res = await fetch(`${server.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
      body: JSON.stringify({ login: user.username, password: user.password }),
    });
    assert.equal(res.status, 401);
  });
});

// Buying credits in the browser: the chooser, a redirect to (a fake) Stripe Checkout, the success
// page with the new balance, the purchase in the history and its receipt; and the cancel path.
// The fake speaks the two Stripe calls the server makes (create and retrieve a checkout session)
// and plays the hosted payment page.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startServer, uniqueUser, withScreenshotOnFailure } from './lib/server.mjs';

let server;
let browser;
let stripe;

function startFakeStripe() {
  const sessions = new Map();
  let counter = 0;
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://fake');
    const send = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const view = (s) => ({
      id: s.id,
      object: 'checkout.session',
      url: `${stripe.base}/pay/${s.id}`,
      status: s.paid ? 'complete' : 'open',
      payment_status: s.paid ? 'paid' : 'unpaid',
      amount_total: s.amount,
      currency: 'eur',
      payment_intent: s.paid ? `pi_fake_${s.id}` : null,
      client_reference_id: s.form.get('client_reference_id'),
      metadata: { user_id: s.form.get('metadata[user_id]'), credits: s.form.get('metadata[credits]') },
    });
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.headers.authorization !== 'Bearer sk_test_fake') return send(401, { error: { message: 'bad key' } });
        const form = new URLSearchParams(body);
        counter += 1;
        const s = {
          id: `cs_test_fake${counter}`,
          form,
          amount: Number(form.get('line_items[0][price_data][unit_amount]')) * Number(form.get('line_items[0][quantity]')),
          paid: false,
        };
        sessions.set(s.id, s);
        send(200, view(s));
      });
      return;
    }
    const got = /^\/v1\/checkout\/sessions\/([\w]+)$/.exec(url.pathname);
    if (req.method === 'GET' && got) {
      const s = sessions.get(got[1]);
      return s ? send(200, view(s)) : send(404, { error: { message: 'No such checkout.session' } });
    }
    // The hosted payment page: /pay/<id>?action=pay|cancel answers with the redirect Stripe would.
    const pay = /^\/pay\/([\w]+)$/.exec(url.pathname);
    if (req.method === 'GET' && pay && sessions.has(pay[1])) {
      const s = sessions.get(pay[1]);
      const action = url.searchParams.get('action');
      if (!action) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><title>Fake Checkout</title><h1>Pay €${(s.amount / 100).toFixed(2)}</h1>
          <a href="?action=pay">Pay</a> <a href="?action=cancel">Back</a>`);
        return;
      }
      if (action === 'pay') s.paid = true;
      const target =
        action === 'pay' ? s.form.get('success_url').replace('{CHECKOUT_SESSION_ID}', s.id) : s.form.get('cancel_url');
      res.writeHead(303, { Location: target });
      res.end();
      return;
    }
    send(404, { error: { message: 'not found' } });
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      resolve({ base: `http://127.0.0.1:${srv.address().port}`, sessions, close: () => new Promise((r) => srv.close(r)) });
    });
  });
}

before(async () => {
  stripe = await startFakeStripe();
  server = await startServer({
    env: { STRIPE_SECRET_KEY: 'sk_test_fake', STRIPE_API_BASE: stripe.base, STRIPE_WEBHOOK_SECRET: 'whsec_fake' },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await stripe?.close();
});

async function assertPaymentsEnabled() {
  const res = await fetch(`${server.baseUrl}/api/config`);
  assert.equal(res.status, 200);
  const config = await res.json();
  assert.equal(config.payments_enabled, true, 'the fake Stripe key must enable payments');
}

async function loggedInProfile(page) {
  const user = uniqueUser('buy');
  const reg = await fetch(`${server.baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  assert.equal(reg.status, 201);
  await page.goto('/login?next=/profile');
  await page.getByLabel('Username or e-mail').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => u.pathname === '/profile');
  await page.locator('[data-testid=balance]', { hasText: '12.00' }).waitFor();
  return user;
}

test('buying 24 credits goes through checkout and shows the new balance, history and receipt', async (t) => {
  await assertPaymentsEnabled();
  const { context, page } = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await loggedInProfile(page);
      await page.getByRole('button', { name: 'Buy credits' }).click();
      const dialog = page.locator('#buy-dialog');
      const input = dialog.getByLabel('Credits');
      assert.equal(await input.inputValue(), '12');

      // Whole numbers only, within the bounds from /api/config.
      await input.fill('2.5');
      await dialog.getByRole('button', { name: 'Continue to payment' }).click();
      await dialog.locator('#buy-credits-error', { hasText: 'whole number' }).waitFor();
      await input.fill('100000');
      await dialog.getByRole('button', { name: 'Continue to payment' }).click();
      await dialog.locator('#buy-credits-error', { hasText: /between 1 and \d+/ }).waitFor();
      assert.equal(stripe.sessions.size, 0, 'nothing reaches Stripe for a rejected amount');

      await input.fill('24');
      await dialog.locator('.purchase-summary', { hasText: '2 hours of streaming' }).waitFor();
      await dialog.getByRole('button', { name: 'Continue to payment' }).click();
      await page.waitForURL((u) => u.href.startsWith(stripe.base));
      await page.getByText('Pay €24.00').waitFor();
      await page.getByRole('link', { name: 'Pay' }).click();

      await page.waitForURL((u) => u.pathname === '/checkout/success');
      await page.getByRole('heading', { name: 'Payment received' }).waitFor();
      await page.locator('[data-testid=new-balance]', { hasText: '36.00 credits' }).waitFor();
      await page.getByText('3 h of streaming').waitFor();
      await page.locator('[data-testid=nav-credits]', { hasText: '36.00' }).waitFor();

      await page.goto('/profile');
      await page.locator('[data-testid=balance]', { hasText: '36.00' }).waitFor();
      await page.locator('[data-testid=remaining-minutes]', { hasText: /^180$/ }).waitFor();
      const row = page.locator('[data-testid=transactions] tr[data-kind=purchase]');
      await row.waitFor();
      assert.match(await row.textContent(), /\+24\.00/);
      await row.getByRole('link', { name: 'Receipt' }).click();

      await page.waitForURL((u) => u.pathname.startsWith('/receipts/'));
      const receipt = page.locator('[data-testid=receipt]');
      await receipt.waitFor();
      await receipt.getByRole('heading', { name: 'Receipt' }).waitFor();
      await page.locator('[data-testid=receipt-total]', { hasText: '€24.00' }).waitFor();
      assert.match(await receipt.textContent(), /cs_test_fake\d+/);
      await page.getByRole('button', { name: 'Print or save as PDF' }).waitFor();

      // Coming back to the success page again must not credit twice.
      await page.goBack();
      await page.goBack();
      await page.goto(`/checkout/success?session_id=${[...stripe.sessions.keys()][0]}`);
      await page.locator('[data-testid=new-balance]', { hasText: '36.00 credits' }).waitFor();
    });
  } finally {
    await context.close();
  }
});

test('cancelling at checkout says nothing was charged', async (t) => {
  await assertPaymentsEnabled();
  const { context, page } = await newPage(browser, server.baseUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await loggedInProfile(page);
      await page.getByRole('button', { name: 'Buy credits' }).click();
      await page.locator('#buy-dialog').getByRole('button', { name: 'Continue to payment' }).click();
      await page.waitForURL((u) => u.href.startsWith(stripe.base));
      await page.getByRole('link', { name: 'Back' }).click();
      await page.waitForURL((u) => u.pathname === '/checkout/cancel');
      await page.locator('[data-testid=cancel-message]', { hasText: 'Nothing was charged' }).waitFor();
      await page.goto('/profile');
      await page.locator('[data-testid=balance]', { hasText: '12.00' }).waitFor();
    });
  } finally {
    await context.close();
  }
});

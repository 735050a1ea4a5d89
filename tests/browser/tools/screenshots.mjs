// Development aid: screenshots of every page (desktop and phone) into artifacts/screens/.
// DREAMSTREAM_BIN=… [DREAMSTREAM_WEB_DIR=…/web] node tools/screenshots.mjs

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifactsDir, launchBrowser, newPage, startServer, uniqueUser } from '../lib/server.mjs';

const out = path.join(artifactsDir, 'screens');
await mkdir(out, { recursive: true });
const server = await startServer();
const browser = await launchBrowser();
const only = process.argv.slice(2);
try {
  const user = uniqueUser('shot');
  for (const [vpName, viewport] of [
    ['desktop', { width: 1280, height: 860 }],
    ['phone', { width: 390, height: 844 }],
  ]) {
    const { context, page } = await newPage(browser, server.baseUrl, { viewport });
    const shot = async (name) => {
      if (only.length && !only.includes(name)) return;
      await page.waitForTimeout(400);
      await page.screenshot({ path: path.join(out, `${name}-${vpName}.png`), fullPage: true });
    };
    await page.goto('/');
    await shot('home-anon');
    await page.goto('/login');
    await shot('login');
    await page.goto('/register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await shot('register-errors');
    if (vpName === 'desktop') {
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Display name').fill('Ada Lovelace');
      await page.getByLabel('E-mail').fill(user.email);
      await page.getByLabel('Password', { exact: true }).fill(user.password);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.waitForURL('**/profile');
    } else {
      await page.goto('/login');
      await page.getByLabel('Username or e-mail').fill(user.username);
      await page.getByLabel('Password', { exact: true }).fill(user.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL('**/profile');
    }
    await page.locator('[data-testid=transactions]').waitFor();
    await shot('profile');
    await page.getByRole('button', { name: 'Buy credits' }).click();
    await shot('buy-dialog');
    await page.keyboard.press('Escape');
    await page.goto('/');
    await shot('home-user');
    await page.goto('/studio');
    await shot('studio');
    await page.goto(`/u/${user.username}`);
    await shot('watch');
    await page.goto('/checkout/cancel');
    await shot('checkout-cancel');
    await page.goto('/checkout/success?session_id=cs_test_123');
    await shot('checkout-success');
    await page.goto('/receipts/1');
    await shot('receipt');
    // States the fresh server cannot reach on its own, with the API answers stubbed in the page.
    const json = (body) => (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route('**/api/credits/transactions/77', json({
      id: 77, kind: 'purchase', amount: '24.00', amount_cents: 2400, balance_after_cents: 3600, note: 'Stripe Checkout',
      created_ms: Date.now() - 3600e3, stripe_checkout_session: 'cs_test_a1B2c3D4e5', stripe_payment_intent: 'pi_3PqRsTuVwX',
      receipt: { amount_total: 2400, currency: 'eur', customer_email: user.email, payment_status: 'paid' },
    }));
    await page.goto('/receipts/77');
    await page.locator('[data-testid=receipt]').waitFor();
    await shot('receipt-purchase');
    await page.emulateMedia({ media: 'print' });
    await shot('receipt-print');
    await page.emulateMedia({ media: 'screen' });
    await page.route('**/api/credits/checkout/cs_test_ok', json({ status: 'complete', credits: 24, balance_cents: 3600, remaining_minutes: 180 }));
    await page.goto('/checkout/success?session_id=cs_test_ok');
    await page.locator('[data-testid=new-balance]').waitFor();
    await shot('checkout-paid');
    await page.route('**/api/credits', json({ balance: '1.60', balance_cents: 160, remaining_minutes: 8, cents_per_minute: 20, credits_per_hour: '12.00' }));
    await page.goto('/profile');
    await page.locator('[data-testid=remaining-minutes]', { hasText: '8' }).waitFor();
    await shot('profile-low');
    await page.route('**/api/streams/live', json({ streams: [
      { username: 'neon_nina', display_name: 'Nina in Neon', viewers: 128, thumbnail_url: '/static/img/logo.svg' },
      { username: 'watercolour', display_name: 'Watercolour Walks', viewers: 1, thumbnail_url: '' },
      { username: 'pixel-pete', display_name: 'Pixel Pete', viewers: 42, thumbnail_url: null },
    ] }));
    await page.goto('/');
    await page.locator('.stream-card').first().waitFor();
    await shot('home-live');
    await page.route('**/api/streams/settings', json({ settings: { base_style: 'neon watercolour', strength: 0.6, comments_enabled: true, styles_enabled: true } }));
    await page.route('**/api/streams/sessions?*', json({ sessions: [
      { id: 3, status: 'completed', created_ms: Date.now() - 864e5, first_frame_ms: Date.now() - 864e5, duration_minutes: 34, cost: '6.80', cost_cents: 680, max_viewers: 57 },
      { id: 2, status: 'ended_no_credits', created_ms: Date.now() - 3 * 864e5, duration_minutes: 12, cost: '2.40', cost_cents: 240, max_viewers: 9 },
    ], next_before: null }));
    await page.goto('/studio');
    await page.locator('[data-testid=stream-history]').waitFor();
    await shot('studio-stubbed');
    await context.close();
  }
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.stop();
}

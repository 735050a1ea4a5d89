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
    await context.close();
  }
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.stop();
}

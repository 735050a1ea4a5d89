// Test harness: starts the real dreamstream binary on an ephemeral loopback port with a fresh
// data directory, launches Debian's Chromium through playwright-core, and cleans both up.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const browserDir = path.resolve(here, '..');
export const artifactsDir = path.join(browserDir, 'artifacts');

export function binaryPath() {
  return process.env.DREAMSTREAM_BIN || path.resolve(browserDir, '../../build/dreamstream');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `dreamstream serve` and resolves once /healthz answers. extraArgs are appended.
export async function startServer({ extraArgs = [], env = {}, timeoutMs = 20000 } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ds-browser-'));
  const portFile = path.join(dataDir, 'port');
  const bin = binaryPath();
  const args = ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--port-file', portFile, ...extraArgs];
  const child = spawn(bin, args, {
    // Every page registers from 127.0.0.1: lift the per-address registration limit.
    env: { ...process.env, DREAMSTREAM_REGISTER_LIMIT: '1000000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  // Waits on I/O on an event loop (util/event_loop.hpp) fail the test at stop(), as in
  // tests/integration/harness.py; counted here because the kept log is cut.
  let loopWaits = 0;
  let tail = '';
  const keep = (chunk) => {
    const text = chunk.toString();
    const lines = (tail + text).split('\n');
    tail = lines.pop();
    loopWaits += lines.filter((l) => l.includes('event=wait_on_event_loop')).length;
    log += text;
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.on('error', (err) => {
    exited = { code: -1, signal: null, error: err };
  });

  const deadline = Date.now() + timeoutMs;
  let port = null;
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`dreamstream exited early (${JSON.stringify(exited)}): ${bin}\n${log}`);
    }
    if (port === null) {
      try {
        const text = (await readFile(portFile, 'utf8')).trim();
        if (/^\d+$/.test(text)) port = Number(text);
      } catch {
        // not written yet
      }
    }
    if (port !== null) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
    }
    await sleep(50);
  }
  if (port === null || Date.now() >= deadline) {
    child.kill('SIGKILL');
    throw new Error(`dreamstream did not become healthy within ${timeoutMs} ms\n${log}`);
  }

  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    port,
    dataDir,
    log: () => log,
    // Runs `dreamstream admin --data <this server's data> ...args`; resolves to {code, output}.
    admin: (...adminArgs) => runBinary(['admin', '--data', dataDir, ...adminArgs]),
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await done;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
      if (loopWaits > 0 || tail.includes('event=wait_on_event_loop')) {
        throw new Error(`the server waited on I/O on an event loop (${loopWaits} times)\n${log.slice(-5000)}`);
      }
    },
  };
}

export function runBinary(args, { timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs,
  });
}

// A fresh browser context (own cookie jar) whose console errors and page errors are collected.
export async function newPage(browser, baseUrl, { viewport = { width: 1280, height: 860 }, userAgent } = {}) {
  const context = await browser.newContext({ baseURL: baseUrl, viewport, userAgent });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return { context, page, problems };
}

// Saves a full-page screenshot under tests/browser/artifacts/<name>.png; never throws.
export async function screenshot(page, name) {
  try {
    await mkdir(artifactsDir, { recursive: true });
    const file = path.join(artifactsDir, `${name.replace(/[^a-z0-9_.-]+/gi, '_')}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  } catch {
    return null;
  }
}

// Runs fn(page); on failure saves a screenshot named after the test, then rethrows.
export async function withScreenshotOnFailure(t, page, fn) {
  try {
    return await fn();
  } catch (err) {
    const file = await screenshot(page, `FAILED-${t.name}`);
    if (file) err.message += `\n(screenshot: ${file})`;
    throw err;
  }
}

let counter = 0;

// A unique, valid username/email pair per call.
export function uniqueUser(prefix = 'u') {
  counter += 1;
  const id = `${Date.now().toString(36)}${process.pid.toString(36)}${counter}`;
  const username = `${prefix}_${id}`.slice(0, 30).toLowerCase();
  return { username, email: `${username}@example.test`, password: 'correct horse battery', display: `Tester ${counter}` };
}

// Registers a fresh user (uniqueUser(prefix)) through the API of the server at baseUrl.
export async function registerUser(baseUrl, prefix = 'u') {
  const user = uniqueUser(prefix);
  const res = await fetch(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: baseUrl },
    body: JSON.stringify({ username: user.username, email: user.email, password: user.password }),
  });
  if (res.status !== 201) throw new Error(`register ${user.username}: ${res.status} ${await res.text()}`);
  return user;
}

// Logs user in on the login page and waits until it has gone on to `next`.
export async function logIn(page, user, next) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username or e-mail').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => u.pathname === next);
}

// The live picture of the watch and embed pages, whichever path shows it: JPEG frames in the
// <img data-frame>, H.264 decoded with WebCodecs in the <canvas data-video-frame> (web/js/picture.js).
export const kShownPicture = '[data-frame]:not([hidden]), [data-video-frame]:not([hidden])';

// The width of the first decodable picture the page shows (a loaded JPEG in the img, or a video
// picture drawn into the canvas). Polled: the watch page replaces img.onload with every frame,
// so a handler of ours could be overwritten before it fires and the wait would never end.
export async function firstPictureWidth(page, timeoutMs = 15000) {
  const handle = await page.waitForFunction(
    () => {
      const img = document.querySelector('[data-frame]');
      if (img && !img.hidden && img.complete && img.naturalWidth > 0) return img.naturalWidth;
      const canvas = document.querySelector('[data-video-frame]');
      return canvas && !canvas.hidden && canvas.dataset.seq ? canvas.width : 0;
    },
    null,
    { timeout: timeoutMs },
  );
  return handle.jsonValue();
}

// Polls fn until it returns something truthy, and returns that; fails after timeoutMs.
export async function until(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

// What the <video> at selector shows now: its time and state, and a checksum and the spread of
// its pixels (a decoded picture has detail, a blank one none); null while it is hidden or has no
// picture yet.
export function videoPicture(page, selector) {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    if (!v || v.hidden || v.readyState < 2 || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    let sum2 = 0;
    let check = 0;
    for (let i = 0; i < d.length; i += 4) {
      const x = (d[i] + d[i + 1] + d[i + 2]) / 3;
      sum += x;
      sum2 += x * x;
      check = (check * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
    }
    const n = d.length / 4;
    const mean = sum / n;
    const sd = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
    return { time: v.currentTime, duration: v.duration, ended: v.ended, check, sd, width: v.videoWidth, src: v.currentSrc };
  }, selector);
}

// examples/nextjs end to end (issue 12): builds the Next.js example against a real DreamStream
// server (SQLite in a temp dir, the built-in CPU worker), starts it with `next start`, and
// drives Chromium's fake webcam: the streamer signs in on the Next.js page and goes live, and a
// second signed-in user watches /watch/<streamer> on the Next.js app, sees processed frames,
// the viewer count and a comment they post.
//
// Run by ctest as `nextjs` (label `nextjs`). Needs examples/nextjs/node_modules and
// tests/browser/node_modules (scripts/setup.sh --test installs both; this file runs `npm ci`
// in examples/nextjs when its node_modules is missing or older than the lock file).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchBrowser, newPage, startServer, registerUser, withScreenshotOnFailure } from '../browser/lib/server.mjs';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/nextjs');
const nextBin = path.join(appDir, 'node_modules/next/dist/bin/next');
const fixtureJpeg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../integration/fixtures/frame1.jpg');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const phase = (what) => process.stderr.write(`nextjs test: ${what} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

let server;
let next;
let nextUrl;
let nextLog = '';
let browser;

function installIfStale() {
  const modules = path.join(appDir, 'node_modules');
  const lock = path.join(appDir, 'package-lock.json');
  if (existsSync(nextBin) && statSync(modules).mtimeMs >= statSync(lock).mtimeMs) return;
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: appDir, stdio: 'inherit' });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startNext(env, port) {
  const child = spawn(process.execPath, [nextBin, 'start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c) => (nextLog += c));
  child.stderr.on('data', (c) => (nextLog += c));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${nextLog}`);
    try {
      if ((await fetch(`${url}/`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error(`next start did not answer within 30 s:\n${nextLog}`);
}

const register = () => registerUser(server.baseUrl, 'nx');

// The user's stream key, as OBS would hold it: made on DreamStream directly.
async function streamKeyOf(user) {
  const login = await fetch(`${server.baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.baseUrl },
    body: JSON.stringify({ login: user.username, password: user.password }),
  });
  const sid = login.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('ds_session='));
  const res = await fetch(`${server.baseUrl}/api/me/stream-key`, {
    method: 'POST',
    headers: { Cookie: sid, Origin: server.baseUrl, 'Content-Type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 201);
  return (await res.json()).stream_key;
}

// Whether DreamStream still takes a frame with that key.
async function keyWorks(key) {
  const res = await fetch(`${server.baseUrl}/api/ingest/frame`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'image/jpeg' },
    body: readFileSync(fixtureJpeg),
  });
  return res.status === 202;
}

async function signIn(page, user) {
  await page.goto('/');
  await page.getByLabel('Username or e-mail').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('username').filter({ hasText: user.username }).waitFor();
}

// A fingerprint of the canvas: null while it is blank (no size, or a single colour).
const canvasPrint = (page, testId) => page.getByTestId(testId).evaluate((c) => {
  if (!c.width || !c.height) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let hash = 0;
  let min = 255;
  let max = 0;
  for (let i = 0; i < d.length; i += 4 * 7) {
    const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
    min = Math.min(min, v);
    max = Math.max(max, v);
    hash = (hash * 31 + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) >>> 0;
  }
  return max - min > 16 ? hash : null;
});

before(async () => {
  installIfStale();
  phase('node_modules ready');
  // The Next.js app's origin is allowed to use DreamStream's own cookie (the second test).
  const nextPort = await freePort();
  server = await startServer({ extraArgs: ['--allowed-origin', `http://127.0.0.1:${nextPort}`] });
  // NEXT_PUBLIC_ values are compiled in, so the app is built for this server's address.
  const env = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: '1',
    DREAMSTREAM_URL: server.baseUrl,
    NEXT_PUBLIC_DREAMSTREAM_URL: server.baseUrl,
    NEXT_DIST_DIR: '.next-test',
  };
  execFileSync(process.execPath, [nextBin, 'build', '--no-lint'], { cwd: appDir, env, stdio: ['ignore', 'inherit', 'inherit'] });
  phase('next build done');
  ({ child: next, url: nextUrl } = await startNext(env, nextPort));
  browser = await launchBrowser();
  phase('next start and Chromium ready');
});

after(async () => {
  await browser?.close();
  if (next && next.exitCode === null) {
    const done = new Promise((r) => next.once('exit', r));
    next.kill('SIGTERM');
    await done;
  }
  await server?.stop();
});

test('go live on the Next.js page, watch it on the Next.js watch page with viewers and chat', async (t) => {
  const streamer = await register();
  const fan = await register();
  const studio = await newPage(browser, nextUrl);
  const watch = await newPage(browser, nextUrl);
  const obsKey = await streamKeyOf(streamer);
  try {
    await withScreenshotOnFailure(t, studio.page, async () => {
      await signIn(studio.page, streamer);
      await studio.page.getByRole('button', { name: 'Go live' }).click();
      await studio.page.getByTestId('stream-state').filter({ hasText: /^live$/ }).waitFor({ timeout: 20000 });
      // The page went live with a single-use ticket: the key OBS holds was not replaced.
      assert.ok(await keyWorks(obsKey), 'going live on the Next.js page replaced the stream key');
      // The processed picture comes back on the ingest socket.
      for (const deadline = Date.now() + 20000; (await canvasPrint(studio.page, 'output')) === null;) {
        assert.ok(Date.now() < deadline, 'no processed frame on the go-live page');
        await sleep(250);
      }
    });

    await withScreenshotOnFailure(t, watch.page, async () => {
      await signIn(watch.page, fan);
      await watch.page.goto(`/watch/${streamer.username}`);

      // Processed frames arrive: the canvas is not blank, and its picture changes.
      let first = null;
      let changed = false;
      for (const deadline = Date.now() + 30000; Date.now() < deadline && !changed;) {
        const print = await canvasPrint(watch.page, 'picture');
        if (print !== null && first === null) first = print;
        else if (print !== null && print !== first) changed = true;
        await sleep(250);
      }
      assert.ok(first !== null, 'no processed frame drawn on the watch page canvas');
      assert.ok(changed, 'the watch page canvas showed one picture and no new frames');
      // The page's own count of frames drawn rises.
      const shown = async () => Number(await watch.page.getByTestId('frames').textContent());
      const before = await shown();
      await watch.page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid=frames]').textContent) > n, before, { timeout: 15000 });
      assert.ok((await shown()) > before);

      const viewers = Number(await watch.page.getByTestId('viewers').textContent());
      assert.ok(viewers >= 1, `viewer count ${viewers}`);

      const body = `hello from Next.js ${Date.now()}`;
      await watch.page.getByLabel('Comment').fill(body);
      await watch.page.getByRole('button', { name: 'Send' }).click();
      await watch.page.getByTestId('comments').getByText(body).waitFor();
    });

    assert.deepEqual(studio.problems, []);
    assert.deepEqual(watch.problems, []);
    await studio.page.getByRole('button', { name: 'Stop' }).click();
    await studio.page.getByRole('button', { name: 'Go live' }).waitFor();
  } catch (err) {
    err.message += `\n--- next log ---\n${nextLog.slice(-4000)}\n--- dreamstream log ---\n${server.log().slice(-4000)}`;
    throw err;
  } finally {
    await studio.context.close();
    await watch.context.close();
  }
});

// docs/integration.md's other way: no token on the Next.js server; the browser signs in to
// DreamStream itself and uses its ds_session cookie, which `serve --allowed-origin <app origin>`
// accepts from the app's pages (CORS with credentials, and the ingest socket's Origin check).
test('from a Next.js page, the browser signs in to DreamStream itself and goes live with its cookie', async (t) => {
  const user = await register();
  const { context, page } = await newPage(browser, nextUrl);
  try {
    await withScreenshotOnFailure(t, page, async () => {
      await page.goto('/');
      const result = await page.evaluate(async ({ ds, login, password }) => {
        const call = async (method, path, body) => {
          const res = await fetch(ds + path, {
            method,
            credentials: 'include',
            headers: body ? { 'Content-Type': 'application/json' } : {},
            body: body ? JSON.stringify(body) : undefined,
          });
          return { status: res.status, body: await res.json() };
        };
        const signIn = await call('POST', '/api/auth/login', { login, password });
        const me = await call('GET', '/api/me');
        const start = await call('POST', '/api/streams/start', {});
        // The ingest socket takes the cookie too: it answers with the stream's status.
        // Stopped while the socket is open (a 1000 close would end the stream by itself).
        const ws = new WebSocket(`${ds.replace(/^http/, 'ws')}/ws/ingest`);
        const ingest = await new Promise((resolve) => {
          const timer = setTimeout(() => { resolve('no status within 10 s'); }, 10000);
          ws.onmessage = (e) => {
            if (typeof e.data === 'string' && JSON.parse(e.data).type === 'status') {
              clearTimeout(timer);
              resolve('status');
            }
          };
          ws.onclose = (e) => { clearTimeout(timer); resolve(`closed ${e.code} ${e.reason}`); };
        });
        const stop = await call('POST', '/api/streams/stop', {});
        ws.close(1000);
        return { signIn: signIn.status, me: me.body.user?.username, start: start.status, ingest, stop: stop.status };
      }, { ds: server.baseUrl, login: user.username, password: user.password });
      assert.deepEqual(result, { signIn: 200, me: user.username, start: 201, ingest: 'status', stop: 200 });
    });
  } finally {
    await context.close();
  }
});

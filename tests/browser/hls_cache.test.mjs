// deploy/nginx-hls-cache.conf (issue 23, item 2): Debian's nginx runs that very file (the origin,
// the listen port, logs and the cache moved into a temporary folder) in front of an origin this
// test plays, which answers the HLS routes as the server does and counts what reaches it. What
// the file's comments promise: concurrent misses on a segment or on one blocking playlist version
// reach the origin once; _HLS_msn/_HLS_part make their own entries and nothing else in the query
// does; segments stay cached, the plain playlist about a second, an offline channel's 404 too;
// pages pass through uncached. And the real server behind it: two watch pages play its LL-HLS
// through the cache with hls.js while the server sees each media file asked for once.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browserDir, launchBrowser, logIn, newPage, registerUser, startServer, withScreenshotOnFailure } from './lib/server.mjs';

const confPath = path.resolve(browserDir, '../../deploy/nginx-hls-cache.conf');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin;
let nginx;

// The origin: counts each request by path and query; answers media after 300 ms and a blocking
// playlist version after 400 ms, with the server's cache headers.
function startOrigin() {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://origin');
    seen.push(url.pathname + url.search);
    if (url.pathname === '/healthz') return res.end('ok');
    let m = url.pathname.match(/^\/u\/([a-z0-9_]+)\/live\.m3u8$/);
    if (m) {
      if (m[1] === 'offline') {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"error":{"code":"not_found"}}');
      }
      const msn = url.searchParams.get('_HLS_msn');
      if (msn !== null) await sleep(400); // a blocking reload: answered once that part exists
      // The server's headers (docs/api.md#hls): a blocking answer 6 s, the plain playlist 1 s.
      res.writeHead(200, {
        'content-type': 'application/vnd.apple.mpegurl',
        'access-control-allow-origin': '*',
        'cache-control': `public, max-age=${msn !== null ? 6 : 1}`,
      });
      return res.end(`#EXTM3U\n# msn=${msn} part=${url.searchParams.get('_HLS_part')} at=${Date.now()}\n`);
    }
    m = url.pathname.match(/^\/u\/[a-z0-9_]+\/hls\/\d+\/(.+)$/);
    if (m) {
      await sleep(300);
      res.writeHead(200, { 'content-type': 'video/mp4', 'cache-control': 'public, max-age=31536000, immutable' });
      return res.end(`media ${m[1]} ${Date.now()}`);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<!doctype html><title>page</title>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        seen,
        count: (prefix) => seen.filter((s) => s.startsWith(prefix)).length,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The file as written, with only the machine-specific lines moved: the origin, the listen
// address, pid, logs, the cache and temporary paths (Debian's are under /var).
function render(text, { originPort, port, dir }) {
  const sub = (re, to) => {
    const out = text.replace(re, to);
    assert.notEqual(out, text, `deploy/nginx-hls-cache.conf changed shape: ${re}`);
    text = out;
  };
  sub(/^pid\s+[^;]*;\n/m, '');
  sub(/^error_log\s+[^;]*;\n/m, '');
  if (process.getuid() !== 0) sub(/^user\s+[^;]*;\n/m, '');
  sub(/^(\s*)access_log\s+[^;]*;/m, `$1access_log ${dir}/access.log;`);
  sub(/\/var\/cache\/nginx\/dreamstream-hls/, `${dir}/cache`);
  sub(/^(\s*)server\s+127\.0\.0\.1:8080;/m, `$1server 127.0.0.1:${originPort};`);
  sub(/^(\s*)listen\s+80;/m, `$1listen 127.0.0.1:${port};`);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${dir}/${k};\n`).join('');
  sub(/^(http \{\n)/m, `$1${temps}`);
  return text;
}

async function startNginx(originPort, { healthPath = '/healthz' } = {}) {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
  assert.ok(bin, 'nginx is not installed (scripts/setup.sh --test installs it)');
  const dir = await mkdtemp(path.join(tmpdir(), 'ds-hls-nginx-'));
  // Workers run as the file's `user` (www-data) when we are root: they must reach the folder.
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, 'cache'));
  if (process.getuid() === 0) execFileSync('chown', ['www-data', path.join(dir, 'cache')]);
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, render(await readFile(confPath, 'utf8'), { originPort, port, dir }));
  const errorLog = path.join(dir, 'error.log');
  const child = spawn(bin, ['-p', `${dir}/`, '-c', conf, '-e', errorLog, '-g', `daemon off; pid ${dir}/nginx.pid; error_log ${errorLog} warn;`], { stdio: 'ignore' });
  let exited = null;
  child.on('exit', (code) => (exited = code));
  const url = `http://127.0.0.1:${port}`;
  const logs = async () => readFile(errorLog, 'utf8').catch(() => '');
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`nginx exited with ${exited}: ${await logs()}`);
    try {
      if ((await fetch(`${url}${healthPath}`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 150) throw new Error(`nginx did not answer: ${await logs()}`);
    await sleep(100);
  }
  return {
    url,
    logs,
    async stop() {
      if (exited === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

before(async () => {
  origin = await startOrigin();
  nginx = await startNginx(origin.port);
});

after(async () => {
  await nginx?.stop();
  await origin?.close();
});

// n players asking for one URL at once: their bodies and X-Cache-Status.
async function together(n, url) {
  return Promise.all(Array.from({ length: n }, async () => {
    const res = await fetch(url);
    return { status: res.status, cache: res.headers.get('x-cache-status'), body: await res.text(), type: res.headers.get('content-type') };
  }));
}

test('50 players asking for one segment at once reach the origin once; later ones hit the cache', async () => {
  const seg = '/u/alice/hls/7/seg12.m4s';
  const answers = await together(50, `${nginx.url}${seg}`);
  assert.equal(origin.count(seg), 1, JSON.stringify(origin.seen));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  assert.equal(new Set(answers.map((a) => a.body)).size, 1, 'the same bytes for everyone');
  assert.equal(answers.filter((a) => a.cache === 'MISS').length, 1);
  assert.equal(answers[0].type, 'video/mp4');
  // A query does not split it (the path names the bytes).
  const later = await together(5, `${nginx.url}${seg}?cachebust=1`);
  assert.deepEqual([...new Set(later.map((a) => a.cache))], ['HIT']);
  assert.equal(origin.count(seg), 1);
});

test('a blocking playlist version: concurrent requests collapse into one; _HLS_msn/_HLS_part key it, other parameters do not', async () => {
  const base = '/u/alice/live.m3u8';
  const v1 = `${base}?_HLS_msn=12&_HLS_part=2`;
  const answers = await together(40, `${nginx.url}${v1}`);
  assert.equal(origin.count(v1), 1, JSON.stringify(origin.seen));
  assert.equal(new Set(answers.map((a) => a.body)).size, 1);
  assert.match(answers[0].body, /msn=12 part=2/);
  assert.equal(answers[0].type, 'application/vnd.apple.mpegurl');
  // The next part is another version: one more origin request.
  const v2 = await together(10, `${nginx.url}${base}?_HLS_msn=12&_HLS_part=3`);
  assert.match(v2[0].body, /msn=12 part=3/);
  assert.equal(origin.count(`${base}?_HLS_msn=12&_HLS_part=3`), 1);
  // A player's own parameter in front does not make a third.
  const again = await together(5, `${nginx.url}${base}?player=x&_HLS_msn=12&_HLS_part=2`);
  assert.match(again[0].body, /msn=12 part=2/);
  assert.equal(origin.count(`${base}?player=x`), 0, JSON.stringify(origin.seen));
});

test('the plain playlist and an offline channel 404 are cached about a second; pages are not cached', async () => {
  const plain = '/u/bob/live.m3u8';
  await together(20, `${nginx.url}${plain}`);
  assert.equal(origin.count(plain), 1);
  await sleep(1600);
  await together(20, `${nginx.url}${plain}`);
  assert.equal(origin.count(plain), 2, 'fetched again after a second');

  const offline = '/u/offline/live.m3u8';
  const gone = await together(20, `${nginx.url}${offline}`);
  assert.deepEqual([...new Set(gone.map((a) => a.status))], [404]);
  assert.equal(origin.count(offline), 1);
  await sleep(1600);
  await fetch(`${nginx.url}${offline}`);
  assert.equal(origin.count(offline), 2);

  await fetch(`${nginx.url}/u/bob`);
  await fetch(`${nginx.url}/u/bob`);
  assert.equal(origin.seen.filter((s) => s === '/u/bob').length, 2, 'pages pass through');
});

test('the real server behind the cache: two watch pages play its HLS through nginx with hls.js; each media file reaches the server once', async (t) => {
  const server = await startServer({ extraArgs: ['--web-dir', path.resolve(browserDir, '../../web')] });
  t.after(() => server.stop());
  const cache = await startNginx(server.port);
  t.after(() => cache.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());

  const user = await registerUser(server.baseUrl, 'hc');
  const studio = await newPage(browser, server.baseUrl);
  await logIn(studio.page, user, '/studio');
  await studio.page.locator('#fps').fill('8');
  await studio.page.getByRole('button', { name: 'Go live' }).click();
  await studio.page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });

  for (let i = 0; i < 2; i++) {
    const { context, page } = await newPage(browser, cache.url);
    t.after(() => context.close());
    await withScreenshotOnFailure({ name: `${t.name} ${i}` }, page, async () => {
      await page.goto(`/u/${user.username}?playback=hls`);
      await page.locator('[data-stage][data-playback=hls]').waitFor();
      const played = await page.waitForFunction(() => {
        const v = document.querySelector('[data-hls-video]');
        return v && !v.hidden && v.currentTime > 2 && v.currentSrc.startsWith('blob:');
      }, null, { timeout: 40000 }).then(() => true);
      assert.ok(played);
    });
  }
  // What reached the server: media paths (init, segments, parts), each once.
  const media = [...server.log().matchAll(/event=http method=GET path=(\/u\/[^ ]+\/hls\/[^ ?]+)/g)].map((m) => m[1]);
  assert.ok(media.length >= 4, `media went through the cache: ${media.length}`);
  const counts = {};
  for (const m of media) counts[m] = (counts[m] ?? 0) + 1;
  const twice = Object.entries(counts).filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no media file reached the server twice');
});

// The browser half of bench/hls_latency.py: one Chromium page (Debian's chromium through the
// browser tests' playwright-core) plays one live playlist in two <video>s side by side with the
// vendored hls.js: "ll" with lowLatencyMode (parts, blocking playlist reload, as
// web/js/hls_player.js plays it) and "plain" with lowLatencyMode:false (whole segments, a plain
// HLS player's live edge of 3 target durations). For every picture each <video> presents
// (requestVideoFrameCallback) it records
//   delay = presentation time − the picture's capture time, both epoch ms on this machine's clock:
//   presentation time = performance.timeOrigin + the callback's expectedDisplayTime;
//   capture time = hls.playingDate (the segment's EXT-X-PROGRAM-DATE-TIME, i.e. the server's
//   captured_ms of its first picture, plus the media time since it) moved from currentTime to
//   the presented picture's own mediaTime;
// and hls.js's own `latency` estimate beside it. A player keeps the delay it starts at (it plays
// at rate 1), so both players join afresh --joins times at random moments, each time measured
// for --seconds after --warm. Prints one JSON object on stdout: per player, a list of joins.
//
//   node bench/hls_latency.mjs --origin http://127.0.0.1:PORT --path /u/NAME/live.m3u8 \
//        --joins 6 --warm 10 --seconds 20

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumArgs } from '../tests/browser/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(here, '../tests/browser/package.json'))('playwright-core');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const warm = Number(args.warm ?? 15);
const seconds = Number(args.seconds ?? 20);
const joins = Number(args.joins ?? 6);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  headless: true,
  args: [...chromiumArgs, '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage({ baseURL: args.origin });
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // A page of the origin that loads nothing of its own, so that the module import is same-origin.
  await page.goto('/healthz');
  await page.evaluate(async ({ url }) => {
    const { default: Hls } = await import('/static/js/vendor/hls/hls.light.min.mjs');
    window.__players = {};
    // Both players join afresh (a new <video>, a new hls.js): each join is a viewer opening
    // the stream at some moment of a segment and part.
    window.__join = () => {
      for (const [name, lowLatencyMode] of [['ll', true], ['plain', false]]) {
        const old = window.__players[name];
        if (old) {
          old.hls.destroy();
          old.video.remove();
        }
        const video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        video.width = 320;
        document.body.append(video);
        // As web/js/hls_player.js configures it, but for the mode.
        const hls = new Hls({ lowLatencyMode, enableWorker: false, backBufferLength: 10 });
        const out = { samples: [], errors: [], waiting: 0 };
        window.__players[name] = { out, hls, video };
        hls.on(Hls.Events.ERROR, (_, d) => out.errors.push(`${d.details}${d.fatal ? ' (fatal)' : ''}`));
        video.addEventListener('waiting', () => out.waiting++);
        hls.loadSource(url);
        hls.attachMedia(video);
        video.play().catch(() => {});
        const onFrame = (_, meta) => {
          if (window.__players[name]?.hls !== hls) return;
          const playing = hls.playingDate;
          if (playing) {
            const captured = playing.getTime() + (meta.mediaTime - video.currentTime) * 1000;
            const shown = performance.timeOrigin + meta.expectedDisplayTime;
            out.samples.push([Date.now(), shown - captured, hls.latency]);
          }
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      }
    };
  }, { url: args.path });
  const result = { ll: [], plain: [] };
  for (let j = 0; j < joins; j++) {
    // A join at a random moment of the stream's parts and segments.
    await page.waitForTimeout(Math.random() * 2000);
    await page.evaluate(() => window.__join());
    const t0 = Date.now();
    await page.waitForTimeout((warm + seconds) * 1000);
    const got = await page.evaluate(({ from, to }) => {
      const r = {};
      for (const [name, { out, video }] of Object.entries(window.__players)) {
        const q = video.getVideoPlaybackQuality();
        r[name] = {
          samples: out.samples.filter(([t]) => t >= from && t < to),
          errors: out.errors,
          waiting: out.waiting,
          dropped: q.droppedVideoFrames,
          presented: q.totalVideoFrames,
        };
      }
      return r;
    }, { from: t0 + warm * 1000, to: t0 + (warm + seconds) * 1000 });
    for (const name of Object.keys(result)) result[name].push(got[name]);
  }
  result.problems = problems;
  result.userAgent = await page.evaluate(() => navigator.userAgent);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await browser.close();
}

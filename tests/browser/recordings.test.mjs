// Recordings on the pages (issue 23, item 3): the studio's "Record my streams" switch and its
// list of recordings, the channel page's "Past broadcasts", and the replay page
// /u/<name>/sessions/<id> playing the recording through hls.js with seeking and the stream's
// chat replayed in step with the video; hiding a recording (another visitor no longer finds it,
// its replay page says "Not available") and deleting it.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browserDir, launchBrowser, logIn, newPage, registerUser, startServer, until, videoPicture, withScreenshotOnFailure } from './lib/server.mjs';

const webDir = path.resolve(browserDir, '../../web');

let server;
let browser;

before(async () => {
  // The pages under test come from this checkout, whatever copy the binary embeds. Every
  // frame is processed (no skipping of similar ones), so segments come steadily.
  server = await startServer({ extraArgs: ['--web-dir', webDir, '--skip-similar', '0'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// The caller's API answer from inside the page (its cookie, same origin).
function pageFetch(page, url, init = {}) {
  return page.evaluate(async ([u, i]) => {
    const res = await fetch(u, { headers: { 'Content-Type': 'application/json' }, ...i });
    return { status: res.status, body: await res.json().catch(() => null) };
  }, [url, init]);
}

const kReplay = '[data-replay-video]';

// The replay's playback position now, and whether it has ended.
function playback(page) {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    return { time: v.currentTime, ended: v.ended };
  }, kReplay);
}

// Seeks the replay's video to `seconds` and plays on (after the end the element is paused).
function seek(page, seconds) {
  return page.evaluate(([sel, s]) => {
    const v = document.querySelector(sel);
    v.currentTime = s;
    v.play().catch(() => {});
  }, [kReplay, seconds]);
}

const chatCount = (page) => page.locator('[data-testid=chat-replay] .chat-msg').count();

// Failed loads (an anonymous page's 401 from /api/me, a private recording's 404s) are expected.
const serious = (problems) => problems.filter((m) => !/Failed to load resource/.test(m));

test('a recorded stream is listed in the studio and on the channel, replays with seeking and its chat in step, then goes private and is deleted', async (t) => {
  const user = await registerUser(server.baseUrl, 'rec');
  const studio = await newPage(browser, server.baseUrl);
  const visitor = await newPage(browser, server.baseUrl);
  t.after(() => studio.context.close());
  t.after(() => visitor.context.close());
  const { page } = studio;
  const me = `/u/${user.username}`;

  await withScreenshotOnFailure(t, page, async () => {
    // Recording on, before going live; the server keeps the setting.
    await logIn(page, user, '/studio');
    const record = page.getByRole('switch', { name: 'Record my streams' });
    await record.waitFor({ state: 'attached' });
    assert.equal(await record.isChecked(), false, 'off by default');
    await record.check();
    await until('the record setting saved', async () => (await pageFetch(page, '/api/streams/settings')).body?.settings?.record === true, 10000);

    await page.locator('#fps').fill('8');
    await page.getByRole('button', { name: 'Go live' }).click();
    await page.locator('[data-testid=studio-state]', { hasText: 'Live' }).waitFor({ timeout: 20000 });
    await page.locator('[data-output]:not([hidden])').waitFor({ timeout: 30000 });

    // The recording shows up in the studio's list while live, marked as being recorded.
    const mine = page.locator('[data-testid=my-recordings] [data-testid=recording]');
    await mine.first().locator('[data-recording-badge]').waitFor({ timeout: 20000 });
    const sessionId = await mine.first().getAttribute('data-recording-id');
    const recording = async () => (await pageFetch(page, `/api/users/${user.username}/recordings`)).body?.recordings?.[0];

    // A comment a few seconds in, then a few seconds more: it sits inside the recording.
    await until('3 s recorded', async () => (await recording())?.duration_ms >= 3000, 20000);
    const posted = await pageFetch(page, `/api/streams/${user.username}/comments`, { method: 'POST', body: JSON.stringify({ body: 'hello from the middle' }) });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    const commentMs = posted.body.comment.created_ms;
    await until('the comment 3 s behind', async () => {
      const r = await recording();
      return r && r.started_ms + r.duration_ms > commentMs + 3000;
    }, 20000);
    await page.getByRole('button', { name: 'End stream' }).click();

    // Complete once the stream ended: the studio's list drops the badge by itself.
    await mine.first().locator('[data-recording-badge]').waitFor({ state: 'detached', timeout: 20000 });
    const done = await recording();
    assert.equal(String(done.session_id), sessionId);
    assert.equal(done.state, 'complete');
    assert.equal(await mine.count(), 1);
    const row = mine.first();
    assert.match(await row.locator('.item-meta').innerText(), /\d+ s · \d+ (KB|MB) · \d+ peak viewers?/);
    assert.equal(await row.getByRole('link', { name: 'Download' }).getAttribute('href'), `${me}/sessions/${sessionId}/download.mp4`);
    assert.equal(await row.getByRole('link', { name: 'Watch' }).getAttribute('href'), `${me}/sessions/${sessionId}`);

    // An anonymous visitor finds it under the channel's past broadcasts.
    const vp = visitor.page;
    await vp.goto(me);
    await vp.locator('[data-testid=past-broadcasts][data-count="1"]').waitFor({ state: 'attached', timeout: 10000 });
    const past = vp.locator('[data-testid=past-broadcasts] [data-testid=recording]');
    await past.first().waitFor({ timeout: 10000 });
    assert.equal(await past.count(), 1);
    assert.equal(await past.first().locator('[data-private-badge]').count(), 0);
    await past.first().locator('.item-title a').click();
    await vp.waitForURL((u) => u.pathname === `${me}/sessions/${sessionId}`);

    await withScreenshotOnFailure({ name: `${t.name} replay` }, vp, async () => {
      await vp.locator('[data-testid=replay-duration]').waitFor();
      assert.match(await vp.locator('[data-testid=replay-peak]').innerText(), /\d+ peak viewers?/);
      assert.equal(await vp.getByRole('link', { name: 'Download MP4' }).getAttribute('href'), `${me}/sessions/${sessionId}/download.mp4`);
      // Plays through hls.js: the time advances and a decoded picture has detail.
      const first = await until('the replay playing', async () => {
        const s = await videoPicture(vp, kReplay);
        return s && s.time > 0.3 && s.sd > 3 ? s : null;
      });
      assert.match(first.src, /^blob:/, 'Media Source Extensions: hls.js');
      const total = first.duration;
      assert.ok(Math.abs(total - done.duration_ms / 1000) < 2.5, `the video lasts ${total} s, the recording ${done.duration_ms} ms`);

      // Back to the start: the comment is not there yet; it comes when the video reaches it.
      await seek(vp, 0);
      await until('the chat emptied by the seek back', async () => (await chatCount(vp)) === 0, 10000);
      const label = await until('the replay past the comment', async () => {
        if (await chatCount(vp)) return (await vp.locator('[data-testid=chat-replay] .chat-time').first().innerText());
        if ((await playback(vp)).ended) throw new Error('the video ended without showing the comment');
        return null;
      }, 30000);
      const shownAt = (await playback(vp)).time;
      const [mm, ss] = label.split(':').map(Number);
      const at = mm * 60 + ss;
      t.diagnostic(`comment at ${label} of ${total.toFixed(2)} s, shown at ${shownAt.toFixed(2)} s`);
      // Written with 3 s recorded before it and 3 s after (give or take the first keyframe).
      assert.ok(at >= 2 && at <= total - 1.5, `the comment sits where it was written (at ${label} of ${total} s)`);
      assert.ok(shownAt >= at - 0.5 && shownAt <= at + 3, `shown at ${shownAt} s, at its time ${label}`);
      assert.equal(await vp.locator('[data-testid=chat-replay] .chat-body').first().innerText(), 'hello from the middle');

      // Seeking jumps and plays on: back before the comment (gone again), then past it.
      await seek(vp, 0.2);
      await until('the jump back', async () => (await playback(vp)).time < at - 0.5, 10000);
      await until('the chat emptied again', async () => (await chatCount(vp)) === 0, 10000);
      const resumed = await playback(vp);
      await until('playback going on after the seek', async () => (await playback(vp)).time > resumed.time + 0.5, 15000);
      await seek(vp, at + 1.5);
      await until('the comment back after the seek forward', async () => (await chatCount(vp)) === 1, 10000);
      assert.deepEqual(serious(visitor.problems), []);
    });

    // Private: the owner's channel page marks it; the visitor no longer finds it, and its page
    // says it is not available.
    await row.getByRole('switch').uncheck();
    await row.locator('[data-private-badge]').waitFor({ timeout: 10000 });
    assert.equal((await recording()).public, false);
    await page.goto(me);
    await page.locator('[data-testid=past-broadcasts] [data-private-badge]').waitFor({ timeout: 10000 });
    await vp.goto(me);
    await vp.locator('[data-testid=past-broadcasts][data-count="0"]').waitFor({ state: 'attached', timeout: 10000 });
    assert.equal(await vp.locator('[data-past-card]').isHidden(), true);
    const listed = await pageFetch(vp, `/api/users/${user.username}/recordings`);
    assert.deepEqual([listed.status, listed.body.recordings], [200, []]);
    await vp.goto(`${me}/sessions/${sessionId}`);
    await vp.locator('[data-testid=replay-state]', { hasText: 'Not available' }).waitFor({ timeout: 10000 });
    assert.equal(await vp.locator('[data-replay-video]').isHidden(), true);

    // Deleted: confirmed in a dialog, gone from the list and from the server.
    await page.goto('/studio');
    const again = page.locator('[data-testid=my-recordings] [data-testid=recording]');
    await again.first().waitFor({ timeout: 10000 });
    await again.first().getByRole('button', { name: 'Delete' }).click();
    const dialog = page.locator('[data-testid=confirm-dialog]');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await again.count(), 1, 'Cancel keeps it');
    await again.first().getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete recording' }).click();
    await again.first().waitFor({ state: 'detached', timeout: 10000 });
    assert.equal((await pageFetch(page, `/api/users/${user.username}/recordings`)).body.recordings.length, 0);
    await page.goto(`${me}/sessions/${sessionId}`);
    await page.locator('[data-testid=replay-state]', { hasText: 'Not available' }).waitFor({ timeout: 10000 });
    assert.deepEqual(serious(studio.problems), []);
  });
});

test('the replay page of a recording that never was, and of a channel that does not exist, says not available', async (t) => {
  const user = await registerUser(server.baseUrl, 'rec');
  const p = await newPage(browser, server.baseUrl);
  t.after(() => p.context.close());
  await withScreenshotOnFailure(t, p.page, async () => {
    const res = await p.page.goto(`/u/${user.username}/sessions/999999`);
    assert.equal(res.status(), 200);
    await p.page.locator('[data-testid=replay-state]', { hasText: 'Not available' }).waitFor();
    const missing = await p.page.goto('/u/nobody_here_at_all/sessions/1');
    assert.equal(missing.status(), 404, 'no such channel: the page says so with its status');
    await p.page.locator('[data-testid=replay-state]', { hasText: 'Not available' }).waitFor();
    // Not a recording page: a session id with a leading zero or letters.
    assert.equal((await fetch(`${server.baseUrl}/u/${user.username}/sessions/01`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/u/${user.username}/sessions/abc`)).status, 404);
    assert.deepEqual(serious(p.problems), []);
  });
});

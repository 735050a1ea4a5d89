// The streamer's recordings (docs/api.md#recordings): newest first, paged, each with its date,
// length, size and peak viewers, a public/private switch, "Watch" (the replay page), "Download"
// (one MP4) and "Delete" behind a confirmation. The list looks again every few seconds while a
// stream is live or a recording is still being written, so a new one shows up and a finished
// one loses its "Recording" badge without a reload.

import { del, patch } from '../api.js';
import { formatBytes, listRecordings, recordingItem, recordingPath } from '../recordings.js';
import { $, confirmDialog, formatDate, h, humanMessage, toast } from '../ui.js';

const kPage = 10;
const kRefreshMs = 4000;

export function createRecordings(state) {
  const card = $('[data-recordings-card]');
  const box = $('[data-recordings]');
  const pager = $('[data-recordings-pager]');
  let shown = []; // the recordings listed, newest first
  let next = null; // the next page's `before`, null on the last page
  let timer = null;

  const username = () => state.me?.username;

  function publicSwitch(r) {
    const input = h('input', { type: 'checkbox', role: 'switch', 'aria-label': `Public: recording of ${formatDate(r.started_ms)}` });
    input.checked = !!r.public;
    input.addEventListener('change', async () => {
      input.disabled = true;
      try {
        const { recording } = await patch(`/api/me/recordings/${encodeURIComponent(r.session_id)}`, { public: input.checked });
        replace(recording);
        toast(recording.public ? 'The recording is public: it is listed on your channel.' : 'The recording is private: only you can see it.', 'success');
      } catch (err) {
        input.checked = !input.checked;
        input.disabled = false;
        toast(humanMessage(err), 'error');
      }
    });
    return h('label', { class: 'switch', 'data-public-switch': '' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', {}, 'Public'));
  }

  async function remove(r, button) {
    const ok = await confirmDialog({
      title: 'Delete this recording?',
      message: `The recording of ${formatDate(r.started_ms)} and its download are deleted for good. Its chat stays on your channel.`,
      confirmLabel: 'Delete recording',
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await del(`/api/me/recordings/${encodeURIComponent(r.session_id)}`);
      toast('Recording deleted.', 'success');
    } catch (err) {
      button.disabled = false;
      if (err.status !== 404) {
        toast(humanMessage(err), 'error');
        return;
      }
    }
    shown = shown.filter((x) => x.session_id !== r.session_id);
    render();
  }

  function item(r) {
    const name = username();
    const actions = h(
      'div',
      { class: 'item-actions' },
      publicSwitch(r),
      h('a', { class: 'btn btn-sm', href: recordingPath(name, r.session_id) }, 'Watch'),
      // The MP4 is made when the broadcast ends.
      r.state === 'complete'
        ? h('a', { class: 'btn btn-sm', href: r.download_url, download: `${name}-${r.session_id}.mp4` }, 'Download')
        : null,
      h('button', { class: 'btn btn-sm btn-outline-danger', type: 'button', onclick: (e) => remove(r, e.currentTarget) }, 'Delete'),
    );
    const viewers = Number(r.peak_viewers) || 0;
    return recordingItem(r, name, {
      meta: [formatBytes(r.bytes), `${viewers} peak ${viewers === 1 ? 'viewer' : 'viewers'}`],
      actions,
    });
  }

  function render() {
    card.hidden = false;
    pager.hidden = next === null;
    if (!shown.length) {
      box.replaceChildren(h('p', { class: 'muted' }, 'No recordings yet. Turn on “Record my streams” and your next stream is kept here.'));
      return;
    }
    box.replaceChildren(h('ul', { class: 'item-list recording-list', 'data-testid': 'my-recordings' }, shown.map(item)));
  }

  function replace(recording) {
    shown = shown.map((x) => (x.session_id === recording.session_id ? recording : x));
    render();
  }

  // Looks again while something may change: a live stream (a recording may start) or one still written.
  function schedule() {
    clearTimeout(timer);
    const busy = state.live.phase !== 'offline' || shown.some((r) => r.state === 'recording');
    if (busy) timer = setTimeout(() => load(), kRefreshMs);
  }

  // The first page again (after a stream, a change of the setting, or while one is recorded);
  // with `more`, the next older page below what is shown.
  async function load({ more = false } = {}) {
    if (!username()) return;
    let data;
    try {
      data = await listRecordings(username(), { before: more ? next : null, limit: kPage });
    } catch {
      // Recordings are off on this server (no such route) or it is unreachable: keep what is shown.
      schedule();
      return;
    }
    const page = data?.recordings || [];
    if (more) {
      shown = [...shown, ...page.filter((r) => !shown.some((x) => x.session_id === r.session_id))];
      next = data?.next_before ?? null;
    } else {
      // Older pages already shown stay below the fresh first page.
      const older = shown.filter((x) => !page.some((r) => r.session_id === x.session_id) && page.length && x.session_id < page[page.length - 1].session_id);
      shown = [...page, ...older];
      if (!older.length) next = data?.next_before ?? null;
    }
    render();
    schedule();
  }

  $('[data-recordings-more]').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    await load({ more: true });
    button.disabled = false;
  });

  return { load };
}

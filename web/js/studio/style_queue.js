// Style queue moderation: the style playing now, the requests awaiting approval (approve /
// reject), the queue (remove), skip and clear. Drawn from a StyleState (docs/api.md) whether it
// comes from a `styles` event, an action's reply or a reload.

import { get, post } from '../api.js';
import { CurrentStyle, styleItem } from '../chat.js';
import { $, h, humanMessage, toast } from '../ui.js';

function emptyRow(text) {
  return h('li', { class: 'empty-row' }, text);
}

// onEnabled(boolean): the queue says whether style requests are on (audience.js shows it).
// init() once logged in, before the first render.
export function createStyleQueue(state, { onEnabled }) {
  let currentStyle = null;
  let styleState = null;

  function init() {
    currentStyle = new CurrentStyle($('[data-current-style]'));
  }

  const styleApi = (rest) => `/api/streams/${encodeURIComponent(state.me.username)}/styles${rest}`;

  async function action(path, button) {
    if (button) button.disabled = true;
    try {
      render(await post(styleApi(path), {}));
    } catch (err) {
      toast(humanMessage(err), 'error');
      load();
    } finally {
      if (button) button.disabled = false;
    }
  }

  function render(s) {
    if (!s) return;
    styleState = s;
    currentStyle.set(s);
    const pending = s.pending || [];
    const queue = s.queue || [];
    $('[data-style-pending]').replaceChildren(
      ...pending.map((r) =>
        styleItem(r, {
          actions: [
            ['Approve', (e) => action(`/${r.id}/approve`, e.currentTarget), 'btn-primary', `Approve “${r.prompt}”`],
            ['Reject', (e) => action(`/${r.id}/reject`, e.currentTarget), 'btn-outline-danger', `Reject “${r.prompt}”`],
          ],
        }),
      ),
    );
    if (!pending.length) {
      $('[data-style-pending]').append(
        emptyRow(s.policy === 'approve' ? 'Nothing waiting for you.' : 'Requests play automatically; switch to “I approve each” to review them first.'),
      );
    }
    $('[data-style-queue]').replaceChildren(
      ...queue.map((r, i) =>
        styleItem(r, {
          position: i + 1,
          actions: [['Remove', (e) => action(`/${r.id}/reject`, e.currentTarget), 'btn-ghost', `Remove “${r.prompt}” from the queue`]],
        }),
      ),
    );
    if (!queue.length) $('[data-style-queue]').append(emptyRow(`Nothing queued: the base style plays.`));
    $('[data-pending-count]').textContent = String(pending.length);
    $('[data-queue-count]').textContent = String(queue.length);
    $('[data-style-skip]').disabled = s.current?.source !== 'request';
    $('[data-style-clear]').disabled = !pending.length && !queue.length;
    if (typeof s.enabled === 'boolean') onEnabled(s.enabled);
  }

  async function load() {
    if (!state.me) return;
    try {
      render(await get(styleApi('')));
    } catch {
      // keep what is shown
    }
  }

  $('[data-style-skip]').addEventListener('click', (e) => action('/skip', e.currentTarget));
  $('[data-style-clear]').addEventListener('click', (e) => {
    const n = (styleState?.queue?.length || 0) + (styleState?.pending?.length || 0);
    if (n > 1 && !confirm(`Clear all ${n} waiting and queued style requests?`)) return;
    action('/clear', e.currentTarget);
  });

  return { init, render, load };
}

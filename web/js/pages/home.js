// Home: hero and the "Live now" grid (GET /api/streams/live), refreshed while the page is open.

import { get, ApiError } from '../api.js';
import { initNav } from '../nav.js';
import { h, icon, icons, toast } from '../ui.js';

const grid = document.querySelector('[data-live-grid]');
const count = document.querySelector('[data-live-count]');
const kRefreshMs = 15000;

for (const el of document.querySelectorAll('[data-icon]')) el.innerHTML = icons[el.dataset.icon] || '';

function emptyState(user) {
  return h(
    'div',
    { class: 'empty-state', 'data-testid': 'live-empty' },
    h('div', { class: 'empty-icon' }, icon('videoOff')),
    h('h3', {}, 'Nobody is live right now'),
    h('p', {}, 'Be the first: open the studio, allow your camera and go live in a few seconds.'),
    h('a', { class: 'btn btn-primary', href: user ? '/studio' : '/register' }, user ? 'Open the studio' : 'Create an account'),
  );
}

function streamCard(s) {
  const name = s.display_name || s.username;
  const thumb = h('div', { class: 'stream-thumb' });
  if (s.thumbnail_url) {
    // Thumbnails are the stream's latest frame: refresh them along with the list.
    const sep = s.thumbnail_url.includes('?') ? '&' : '?';
    const img = h('img', { src: `${s.thumbnail_url}${sep}t=${Date.now()}`, alt: '', loading: 'lazy' });
    img.addEventListener('error', () => img.remove());
    thumb.append(img);
  }
  const viewers = Number(s.viewers || 0);
  thumb.append(
    h('span', { class: 'badge badge-live' }, 'Live'),
    h('span', { class: 'viewers' }, `${viewers} ${viewers === 1 ? 'viewer' : 'viewers'}`),
  );
  return h(
    'a',
    { class: 'stream-card', href: `/u/${encodeURIComponent(s.username)}`, 'aria-label': `${name}, live with ${viewers} viewers` },
    thumb,
    h(
      'div',
      { class: 'stream-info' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, name.slice(0, 1)),
      h('div', { class: 'grow' }, h('div', { class: 'name' }, name), h('div', { class: 'handle' }, `@${s.username}`)),
    ),
  );
}

async function refresh(user) {
  let streams = [];
  try {
    const data = await get('/api/streams/live');
    streams = Array.isArray(data?.streams) ? data.streams : [];
  } catch (e) {
    // 404: the live directory is not there yet; other errors: show the same calm empty state.
    if (!(e instanceof ApiError)) throw e;
  }
  grid.setAttribute('aria-busy', 'false');
  count.textContent = streams.length ? `${streams.length} live` : '';
  if (!streams.length) {
    grid.replaceChildren(emptyState(user));
    return;
  }
  grid.replaceChildren(h('div', { class: 'stream-grid' }, streams.map(streamCard)));
}

const user = await initNav();
if (new URLSearchParams(location.search).has('deleted')) {
  toast('Your account has been deleted. Thanks for streaming with us.', 'success');
  history.replaceState(null, '', '/');
}
if (user) {
  const cta = document.querySelector('[data-cta]');
  cta.href = '/studio';
  cta.textContent = 'Go live now';
}
await refresh(user);
setInterval(() => {
  if (!document.hidden) refresh(user).catch(() => {});
}, kRefreshMs);

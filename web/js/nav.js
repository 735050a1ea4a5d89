// The site header (logo, links, login state with credits) and footer, shared by every page.
// Pages call initNav() once; it resolves to the logged-in user or null.

import { currentUser, post } from './api.js';
import { h, formatCredits, formatMinutes, isLow, toast } from './ui.js';

const kBrandMark = `<svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true"><defs><linearGradient id="ds-logo-g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#8b5cf6"/><stop offset=".55" stop-color="#ec4899"/><stop offset="1" stop-color="#f97316"/></linearGradient></defs><rect width="32" height="32" rx="9" fill="url(#ds-logo-g)"/><path d="M12 9.5v13l10.5-6.5z" fill="#fff"/><circle cx="24" cy="8.5" r="2.2" fill="#fff" opacity=".85"/><circle cx="8" cy="24.5" r="1.4" fill="#fff" opacity=".6"/></svg>`;

let pill = null;

function brand() {
  return h(
    'a',
    { class: 'brand', href: '/', 'aria-label': 'DreamStream home' },
    h('span', { html: kBrandMark, class: 'row' }),
    h('span', { class: 'brand-name' }, 'Dream', h('span', {}, 'Stream')),
  );
}

function links() {
  const here = location.pathname.replace(/\/$/, '') || '/';
  const items = [
    ['/', 'Live'],
    ['/studio', 'Studio'],
  ];
  return h(
    'nav',
    { 'aria-label': 'Main' },
    h(
      'ul',
      { class: 'nav-links' },
      items.map(([href, label]) =>
        h('li', {}, h('a', { href, 'aria-current': here === href ? 'page' : null }, label)),
      ),
    ),
  );
}

function creditsPill(user) {
  pill = h('a', {
    class: 'credits-pill',
    href: '/profile#credits',
    'data-testid': 'nav-credits',
  });
  updateNavCredits(user);
  return pill;
}

// Updates the header's credits pill, e.g. after a purchase or while streaming.
export function updateNavCredits({ balance_cents, remaining_minutes }) {
  if (!pill) return;
  const low = isLow(remaining_minutes);
  pill.classList.toggle('alert-low', low);
  pill.title = low ? 'Under 10 minutes of streaming left' : 'Your credits';
  pill.setAttribute(
    'aria-label',
    `${formatCredits(balance_cents)} credits, ${formatMinutes(remaining_minutes)} of streaming left`,
  );
  pill.replaceChildren(
    h('span', { class: 'coin', 'aria-hidden': 'true' }, 'C'),
    h('span', { class: 'pill-balance' }, formatCredits(balance_cents)),
    h('span', { class: 'pill-minutes' }, `· ${formatMinutes(remaining_minutes)}`),
  );
}

export async function logout() {
  try {
    await post('/api/auth/logout', {});
  } catch {
    // The session may already be gone; leaving is what matters.
  }
  location.assign('/');
}

function account(user) {
  if (!user) {
    const next = ['/', '/login', '/register'].includes(location.pathname)
      ? ''
      : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    return [
      h('a', { class: 'btn btn-ghost', href: `/login${next}` }, 'Log in'),
      h('a', { class: 'btn btn-primary btn-sm', href: '/register' }, 'Sign up'),
    ];
  }
  const name = user.display_name || user.username;
  return [
    creditsPill(user),
    h(
      'a',
      { class: 'user-chip', href: '/profile', 'data-testid': 'nav-user', title: `Signed in as @${user.username}` },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, name.slice(0, 1)),
      h('span', { class: 'user-name' }, name),
    ),
    h(
      'button',
      { class: 'btn btn-ghost btn-sm', type: 'button', 'data-action': 'logout', onclick: logout },
      'Log out',
    ),
  ];
}

function footer() {
  const year = new Date().getFullYear();
  return h(
    'div',
    { class: 'container' },
    h('span', {}, `© ${year} DreamStream · your camera, re-imagined live`),
    h(
      'span',
      { class: 'row' },
      h('a', { href: '/' }, 'Live'),
      h('a', { href: '/studio' }, 'Studio'),
      h('a', { href: '/profile' }, 'Account'),
    ),
  );
}

export async function initNav() {
  const header = document.querySelector('[data-site-header]');
  const foot = document.querySelector('[data-site-footer]');
  if (foot) foot.replaceChildren(footer());
  const slot = h('div', { class: 'nav-account' });
  if (header) header.replaceChildren(h('div', { class: 'container' }, brand(), links(), slot));
  let user = null;
  try {
    user = await currentUser();
  } catch (e) {
    toast(e.message, 'error');
  }
  slot.replaceChildren(...account(user));
  document.addEventListener('ds:credits', (e) => updateNavCredits(e.detail));
  return user;
}

// Profile: credits and purchase history, account details, password, sessions, stream key,
// API tokens and account deletion. Every section talks to its own endpoint.

import { ApiError, del, get, patch, post } from '../api.js';
import { openBuyDialog } from '../buy.js';
import { initNav, logout, updateNavCredits } from '../nav.js';
import {
  $,
  alertBox,
  checks,
  clearErrors,
  copyText,
  formValues,
  formatCredits,
  formatDate,
  formatEuro,
  h,
  icon,
  isLow,
  liveClear,
  loginUrl,
  setBusy,
  setFieldError,
  showApiError,
  showFormSuccess,
  timeAgo,
  toast,
  validate,
} from '../ui.js';

const kPageSize = 10;
const kKindLabels = {
  signup_bonus: 'Welcome bonus',
  purchase: 'Purchase',
  stream_usage: 'Streaming',
  refund: 'Refund',
  admin_adjustment: 'Adjustment',
};

let me = null;
let centsPerMinute = 20;

// ---------- header ----------

function renderHeader() {
  const name = me.display_name || me.username;
  $('[data-display-name]').textContent = name;
  $('[data-avatar]').textContent = name.slice(0, 1);
  $('[data-username]').textContent = me.username;
  const url = me.stream_url || `/u/${me.username}`;
  const link = $('[data-stream-url]');
  link.href = url;
  link.textContent = `${location.host}${url}`;
  $('[data-confirm-name]').textContent = me.username;
  const hint = $('[data-username-hint]');
  if (hint) hint.value = me.username;
}

// ---------- credits ----------

function renderCredits(c) {
  const minutes = Number(c.remaining_minutes ?? 0);
  $('[data-balance]').textContent = formatCredits(c.balance_cents);
  $('[data-balance-eur]').textContent = `Worth ${formatEuro(c.balance_cents)}`;
  $('[data-minutes]').textContent = String(minutes);
  $('[data-meter]').style.width = `${Math.min(100, (minutes / 60) * 100)}%`;
  const low = isLow(minutes);
  $('[data-minutes-stat]').classList.toggle('alert-low', low);
  $('[data-balance-stat]').classList.toggle('alert-low', low);
  if (c.cents_per_minute) {
    centsPerMinute = Number(c.cents_per_minute);
    const perHour = c.credits_per_hour ?? formatCredits(centsPerMinute * 60);
    $('[data-rate]').textContent = `Streaming costs ${Number(perHour)} credits an hour, billed per started minute.`;
  }
  updateNavCredits({ balance_cents: c.balance_cents, remaining_minutes: minutes });
}

async function loadCredits() {
  try {
    renderCredits(await get('/api/credits'));
  } catch (e) {
    renderCredits(me);
    if (!(e instanceof ApiError && e.status === 404)) toast(e.message, 'error');
  }
}

// ---------- transactions ----------

const history = { cursors: [null], page: 0, next: null };

function amountCell(t) {
  const cents = Number(t.amount_cents || 0);
  const sign = cents > 0 ? '+' : cents < 0 ? '−' : '';
  return h(
    'td',
    { class: `num ${cents > 0 ? 'amount-pos' : 'amount-neg'}` },
    `${sign}${formatCredits(Math.abs(cents))}`,
  );
}

function txRow(t) {
  const label = kKindLabels[t.kind] || String(t.kind || '').replace(/_/g, ' ');
  const isPurchase = t.kind === 'purchase' || t.stripe_checkout_session || t.stripe_payment_intent;
  return h(
    'tr',
    { 'data-kind': t.kind },
    h('td', {}, formatDate(t.created_ms)),
    h('td', {}, h('span', { class: `badge ${t.kind === 'purchase' ? 'badge-accent' : t.kind === 'signup_bonus' ? 'badge-ok' : ''}` }, label)),
    h('td', { class: 'note' }, t.note || ''),
    amountCell(t),
    h('td', { class: 'num' }, formatCredits(t.balance_after_cents)),
    h('td', {}, isPurchase ? h('a', { href: `/receipts/${encodeURIComponent(t.id)}` }, 'Receipt') : h('span', { class: 'faint' }, '—')),
  );
}

async function loadTransactions() {
  const box = $('[data-transactions]');
  const before = history.cursors[history.page];
  const q = new URLSearchParams({ limit: String(kPageSize) });
  if (before !== null && before !== undefined) q.set('before', String(before));
  try {
    const data = await get(`/api/credits/transactions?${q}`);
    const list = data?.transactions || [];
    history.next = data?.next_before ?? null;
    if (!list.length && history.page === 0) {
      box.replaceChildren(h('p', { class: 'muted' }, 'No transactions yet.'));
    } else {
      box.replaceChildren(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table', 'data-testid': 'transactions' },
            h('caption', { class: 'visually-hidden' }, 'Credit transactions, newest first'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Date'),
                h('th', { scope: 'col' }, 'Type'),
                h('th', { scope: 'col' }, 'Details'),
                h('th', { scope: 'col', class: 'num' }, 'Credits'),
                h('th', { scope: 'col', class: 'num' }, 'Balance'),
                h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Receipt')),
              ),
            ),
            h('tbody', {}, list.map(txRow)),
          ),
        ),
      );
    }
  } catch (e) {
    box.replaceChildren(alertBox('error', `Could not load your transactions: ${e.message}`));
    history.next = null;
  }
  $('.pager').hidden = history.page === 0 && history.next === null;
  $('[data-newer]').disabled = history.page === 0;
  $('[data-older]').disabled = history.next === null;
  $('[data-page-label]').textContent = history.page > 0 || history.next !== null ? `Page ${history.page + 1}` : '';
}

function bindHistoryPager() {
  $('[data-older]').addEventListener('click', () => {
    if (history.next === null) return;
    history.cursors[history.page + 1] = history.next;
    history.page += 1;
    loadTransactions();
  });
  $('[data-newer]').addEventListener('click', () => {
    if (history.page === 0) return;
    history.page -= 1;
    loadTransactions();
  });
}

// ---------- account ----------

function bindAccountForm() {
  const form = $('#account-form');
  liveClear(form);
  form.elements.display_name.value = me.display_name || '';
  form.elements.email.value = me.email || '';
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!validate(form, { display_name: checks.required('display name'), email: checks.email })) return;
    const v = formValues(form);
    const body = {};
    if (v.display_name.trim() !== (me.display_name || '')) body.display_name = v.display_name.trim();
    if (v.email.trim() !== (me.email || '')) body.email = v.email.trim();
    if (!Object.keys(body).length) {
      showFormSuccess(form, 'Nothing to change.');
      return;
    }
    const btn = form.querySelector('[type=submit]');
    setBusy(btn, true, 'Saving…');
    try {
      const res = await patch('/api/me', body);
      me = { ...me, ...(res?.user || body) };
      renderHeader();
      showFormSuccess(form, 'Saved.');
    } catch (err) {
      showApiError(form, err);
    } finally {
      setBusy(btn, false);
    }
  });
}

// ---------- password ----------

function bindPasswordForm() {
  const form = $('#password-form');
  liveClear(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const ok = validate(form, {
      current_password: (v, i) => (i.value ? null : 'Enter your current password.'),
      new_password: checks.newPassword,
      confirm_password: (v, i) => (i.value === form.elements.new_password.value ? null : 'The passwords do not match.'),
    });
    if (!ok) return;
    const v = formValues(form);
    const btn = form.querySelector('[type=submit]');
    setBusy(btn, true, 'Changing…');
    try {
      await post('/api/me/password', { current_password: v.current_password, new_password: v.new_password });
      form.reset();
      form.elements.username.value = me.username;
      showFormSuccess(form, 'Password changed. Every other device has been logged out.');
      loadSessions();
    } catch (err) {
      showApiError(form, err, { invalid_password: 'new_password', weak_password: 'new_password' });
    } finally {
      setBusy(btn, false);
    }
  });
}

// ---------- sessions ----------

function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser =
    /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
    : /Firefox\//.test(ua) ? 'Firefox'
    : /HeadlessChrome|Chrome\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari'
    : /python|curl|wget|node|Go-http/i.test(ua) ? ua.split(/[ /]/)[0]
    : 'Browser';
  const os =
    /Windows/.test(ua) ? 'Windows'
    : /Android/.test(ua) ? 'Android'
    : /iPhone|iPad|iOS/.test(ua) ? 'iOS'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
    : /Linux|X11/.test(ua) ? 'Linux'
    : '';
  return os ? `${browser} on ${os}` : browser;
}

async function loadSessions() {
  const box = $('[data-sessions]');
  try {
    const { sessions = [] } = await get('/api/me/sessions');
    sessions.sort((a, b) => Number(b.current) - Number(a.current) || b.last_seen_ms - a.last_seen_ms);
    box.replaceChildren(
      h(
        'ul',
        { class: 'item-list', 'data-testid': 'sessions' },
        sessions.map((s) =>
          h(
            'li',
            { 'data-session-id': s.id },
            h('div', { class: 'item-icon' }, icon('monitor')),
            h(
              'div',
              { class: 'item-main' },
              h(
                'div',
                { class: 'item-title' },
                describeAgent(s.user_agent),
                s.current ? h('span', { class: 'badge badge-ok' }, 'This device') : null,
              ),
              h(
                'div',
                { class: 'item-meta' },
                [s.ip, `signed in ${formatDate(s.created_ms)}`, `active ${timeAgo(s.last_seen_ms)}`]
                  .filter(Boolean)
                  .join(' · '),
              ),
            ),
            s.current
              ? h('button', { class: 'btn btn-sm', type: 'button', onclick: logout }, 'Log out')
              : h(
                  'button',
                  {
                    class: 'btn btn-sm btn-outline-danger',
                    type: 'button',
                    'aria-label': `Revoke session ${describeAgent(s.user_agent)} ${s.ip || ''}`,
                    onclick: async (e) => {
                      setBusy(e.currentTarget, true, 'Revoking…');
                      try {
                        await del(`/api/me/sessions/${encodeURIComponent(s.id)}`);
                        toast('Session revoked.', 'success');
                      } catch (err) {
                        toast(err.message, 'error');
                      }
                      loadSessions();
                    },
                  },
                  'Revoke',
                ),
          ),
        ),
      ),
    );
  } catch (e) {
    box.replaceChildren(alertBox('error', `Could not load your sessions: ${e.message}`));
  }
}

// ---------- secrets shown once ----------

function secretReveal(label, value, hint) {
  const copy = h('button', { class: 'btn btn-sm', type: 'button' }, 'Copy');
  copy.addEventListener('click', () => copyText(value, copy));
  return h(
    'div',
    { class: 'secret', role: 'status' },
    h('strong', {}, label),
    h('div', { class: 'secret-value' }, h('code', { 'data-secret': '' }, value), copy),
    h('p', { class: 'hint' }, hint),
  );
}

function bindStreamKey() {
  const btn = $('[data-rotate-key]');
  const reveal = $('[data-key-reveal]');
  let armed = false;
  btn.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      btn.textContent = 'Yes, replace my stream key';
      btn.classList.add('btn-danger');
      reveal.replaceChildren(
        alertBox('warning', 'Any script or tool using your current key will stop streaming. Click again to confirm.'),
      );
      return;
    }
    armed = false;
    btn.classList.remove('btn-danger');
    setBusy(btn, true, 'Creating…');
    try {
      const { stream_key: key } = await post('/api/me/stream-key', {});
      reveal.replaceChildren(
        secretReveal('Your new stream key', key, 'Copy it now: it will not be shown again. Keep it secret, like a password.'),
      );
    } catch (err) {
      reveal.replaceChildren(alertBox('error', err.message));
    } finally {
      setBusy(btn, false);
      btn.textContent = 'Create a new stream key';
    }
  });
}

// ---------- API tokens ----------

async function loadTokens() {
  const box = $('[data-tokens]');
  try {
    const { tokens = [] } = await get('/api/me/tokens');
    if (!tokens.length) {
      box.replaceChildren(h('p', { class: 'muted small' }, 'No API tokens yet.'));
      return;
    }
    box.replaceChildren(
      h(
        'ul',
        { class: 'item-list', 'data-testid': 'tokens' },
        tokens.map((t) =>
          h(
            'li',
            { 'data-token-id': t.id },
            h('div', { class: 'item-icon' }, icon('key')),
            h(
              'div',
              { class: 'item-main' },
              h('div', { class: 'item-title' }, t.name),
              h(
                'div',
                { class: 'item-meta' },
                `created ${formatDate(t.created_ms)} · ${t.last_used_ms ? `last used ${timeAgo(t.last_used_ms)}` : 'never used'}`,
              ),
              h(
                'div',
                { class: 'item-meta', 'data-token-scopes-of': t.id },
                `may: ${(t.scopes || []).join(', ') || 'nothing'}`,
              ),
            ),
            h(
              'button',
              {
                class: 'btn btn-sm btn-outline-danger',
                type: 'button',
                'aria-label': `Revoke token ${t.name}`,
                onclick: async (e) => {
                  setBusy(e.currentTarget, true, 'Revoking…');
                  try {
                    await del(`/api/me/tokens/${encodeURIComponent(t.id)}`);
                    toast(`Token “${t.name}” revoked.`, 'success');
                  } catch (err) {
                    toast(err.message, 'error');
                  }
                  loadTokens();
                },
              },
              'Revoke',
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    box.replaceChildren(alertBox('error', `Could not load your tokens: ${e.message}`));
  }
}

function bindTokenForm() {
  const form = $('#token-form');
  liveClear(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!validate(form, { name: (v) => (v ? null : 'Give the token a name so you can recognise it later.') })) return;
    // One name per switch: a shared name would make form.elements hand back a list.
    const scopes = [...form.querySelectorAll('input[data-scope]:checked')].map((i) => i.dataset.scope);
    if (!scopes.length) {
      toast('Choose at least one thing the token may do.', 'error');
      return;
    }
    const btn = form.querySelector('[type=submit]');
    setBusy(btn, true, 'Creating…');
    try {
      const res = await post('/api/me/tokens', { name: form.elements.name.value.trim(), scopes });
      $('[data-token-reveal]').replaceChildren(
        secretReveal(`Token “${res.name}”`, res.token, 'Copy it now: it will not be shown again.'),
      );
      form.reset();
      loadTokens();
    } catch (err) {
      showApiError(form, err);
    } finally {
      setBusy(btn, false);
    }
  });
}

// ---------- delete ----------

function bindDelete() {
  const dialog = $('#delete-dialog');
  const form = $('#delete-form');
  liveClear(form);
  $('[data-delete-open]').addEventListener('click', () => {
    form.reset();
    clearErrors(form);
    dialog.showModal();
    form.elements.confirm.focus();
  });
  dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const ok = validate(form, {
      confirm: (v) => (v.toLowerCase() === me.username.toLowerCase() ? null : `Type ${me.username} to confirm.`),
      password: (v, i) => (i.value ? null : 'Enter your password.'),
    });
    if (!ok) return;
    const btn = form.querySelector('[type=submit]');
    setBusy(btn, true, 'Deleting…');
    try {
      await del('/api/me', { password: form.elements.password.value });
      location.assign('/?deleted=1');
    } catch (err) {
      setBusy(btn, false);
      if (err.code === 'wrong_password') setFieldError(form, 'password', 'That password is wrong.');
      else showApiError(form, err, { wrong_password: 'password', invalid_password: 'password' });
    }
  });
}

// ---------- start ----------

me = await initNav();
if (!me) {
  location.replace(loginUrl());
} else {
  renderHeader();
  renderCredits(me);
  $('[data-loading]').hidden = true;
  $('[data-profile]').hidden = false;
  $('[data-logout]').addEventListener('click', logout);
  $('[data-buy]').addEventListener('click', () => openBuyDialog({ centsPerMinute }));
  bindHistoryPager();
  bindAccountForm();
  bindPasswordForm();
  bindStreamKey();
  bindTokenForm();
  bindDelete();
  if (new URLSearchParams(location.search).has('buy')) openBuyDialog({ centsPerMinute });
  await Promise.all([loadCredits(), loadTransactions(), loadSessions(), loadTokens()]);
}

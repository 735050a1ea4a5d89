// Back from Stripe Checkout. /checkout/success?session_id=… confirms the session through
// GET /api/credits/checkout/<id> (the same idempotent fulfilment as the webhook) and shows the
// new balance; /checkout/cancel says nothing was charged.

import { get } from '../api.js';
import { initNav, updateNavCredits } from '../nav.js';
import { formatCredits, formatMinutes, h, icons, loginUrl } from '../ui.js';

const card = document.querySelector('[data-checkout]');
const kPaid = new Set(['complete', 'completed', 'paid', 'fulfilled', 'credited', 'succeeded', 'already_fulfilled']);
const kPending = new Set(['open', 'pending', 'processing', 'unpaid', 'awaiting_payment']);
const kPollMs = 2000;
const kMaxPolls = 15;

function show({ tone, iconName, title, body = [], actions = [] }) {
  card.replaceChildren(
    h('div', { class: `status-icon ${tone}`, html: icons[iconName] || '' }),
    h('h1', {}, title),
    ...body,
    h('div', { class: 'actions' }, ...actions),
  );
}

const profileBtn = (label = 'Back to my account', primary = true) =>
  h('a', { class: `btn ${primary ? 'btn-primary' : ''}`, href: '/profile' }, label);
const studioBtn = () => h('a', { class: 'btn', href: '/studio' }, 'Open the studio');
const buyAgainBtn = () => h('a', { class: 'btn', href: '/profile?buy=1#credits' }, 'Choose another amount');

function cancelled() {
  document.title = 'Checkout cancelled · DreamStream';
  show({
    tone: 'warn',
    iconName: 'x',
    title: 'Checkout cancelled',
    body: [h('p', { class: 'muted', 'data-testid': 'cancel-message' }, 'Nothing was charged. Your balance is unchanged.')],
    actions: [profileBtn(), buyAgainBtn()],
  });
}

function paid(r) {
  document.title = 'Payment received · DreamStream';
  updateNavCredits({ balance_cents: r.balance_cents, remaining_minutes: r.remaining_minutes });
  const credits = Number(r.credits || 0);
  show({
    tone: 'ok',
    iconName: 'check',
    title: 'Payment received',
    body: [
      h('p', { class: 'muted' }, credits ? `${credits} ${credits === 1 ? 'credit was' : 'credits were'} added to your account.` : 'Your credits were added.'),
      h('p', { class: 'big-number', 'data-testid': 'new-balance' }, `${formatCredits(r.balance_cents)} credits`),
      h('p', { class: 'muted' }, `That is ${formatMinutes(r.remaining_minutes)} of streaming.`),
    ],
    actions: [studioBtn(), profileBtn('See my account', false)],
  });
}

function pending() {
  show({
    tone: 'warn',
    iconName: 'clock',
    title: 'Payment is processing',
    body: [h('p', { class: 'muted' }, 'Stripe has not confirmed the payment yet. Your credits appear as soon as it does; you can leave this page.')],
    actions: [profileBtn()],
  });
}

function failed(message) {
  show({
    tone: 'bad',
    iconName: 'alert',
    title: 'We could not confirm this payment',
    body: [h('p', { class: 'muted' }, message)],
    actions: [profileBtn(), buyAgainBtn()],
  });
}

async function confirm(sessionId) {
  for (let i = 0; i < kMaxPolls; i++) {
    let r;
    try {
      r = await get(`/api/credits/checkout/${encodeURIComponent(sessionId)}`);
    } catch (e) {
      if (e.status === 401) return location.replace(loginUrl());
      if (e.status === 404) return failed('We could not find that checkout. If you were charged, your credits will still arrive; check your history.');
      if (e.status === 503) return failed('Payments are not configured on this server.');
      return failed(e.message);
    }
    const status = String(r?.status || '').toLowerCase();
    if (kPaid.has(status)) return paid(r);
    if (status === 'expired' || status === 'canceled' || status === 'cancelled') return cancelled();
    if (status === 'failed') return failed('The payment did not go through, so no credits were added. You can try again.');
    if (!kPending.has(status) && r?.balance_cents !== undefined && r?.credits) return paid(r);
    pending();
    await new Promise((res) => setTimeout(res, kPollMs));
  }
}

await initNav();
if (location.pathname.replace(/\/$/, '') === '/checkout/cancel') {
  cancelled();
} else {
  const sessionId = new URLSearchParams(location.search).get('session_id');
  if (!sessionId) failed('This link is missing its checkout session. Open your account to see your balance.');
  else await confirm(sessionId);
}

// One ledger entry as a printable receipt: GET /api/credits/transactions/<id>
// (plus its "receipt" object from Stripe when the server has one).

import { currentUser, get } from '../api.js';
import { initNav } from '../nav.js';
import { alertBox, formatCredits, formatDate, formatEuro, h, loginUrl } from '../ui.js';

const box = document.querySelector('[data-receipt]');
const printBtn = document.querySelector('[data-print]');
const id = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');

const kKindLabels = {
  signup_bonus: 'Welcome bonus',
  purchase: 'Credit purchase',
  stream_usage: 'Streaming usage',
  refund: 'Refund',
  admin_adjustment: 'Balance adjustment',
};

function humanKey(k) {
  const s = k.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// Known receipt fields with their labels; anything else is shown generically.
const kReceiptFields = {
  amount_eur: ['Amount paid', (v) => formatEuro(Math.round(parseFloat(v) * 100))],
  amount_total: ['Amount paid', (v) => formatEuro(v)],
  currency: ['Currency', (v) => String(v).toUpperCase()],
  credits: ['Credits bought', (v) => String(v)],
};
// Already shown in the details section.
const kSkip = new Set(['date_ms', 'stripe_payment_intent', 'stripe_checkout_session']);

function receiptRows(receipt) {
  return Object.entries(receipt)
    .filter(([k, v]) => !kSkip.has(k) && v !== null && typeof v !== 'object')
    .map(([k, v]) => {
      const known = kReceiptFields[k];
      if (known) return [known[0], known[1](v)];
      if (typeof v === 'boolean') return [humanKey(k), v ? 'yes' : 'no'];
      if (/_ms$/.test(k) && typeof v === 'number') return [humanKey(k), formatDate(v)];
      return [humanKey(k), String(v)];
    });
}

function paidCentsOf(receipt) {
  if (!receipt) return null;
  if (typeof receipt.amount_total === 'number') return receipt.amount_total;
  if (receipt.amount_eur !== undefined && receipt.amount_eur !== null) {
    const n = parseFloat(receipt.amount_eur);
    if (Number.isFinite(n)) return Math.round(n * 100);
  }
  return null;
}

function kv(rows) {
  return h(
    'dl',
    { class: 'kv' },
    rows.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

function render(entry, user) {
  const tx = entry.transaction || entry.entry || entry;
  const receipt = entry.receipt || tx.receipt || null;
  const cents = Number(tx.amount_cents || 0);
  const isPurchase = tx.kind === 'purchase';
  const paidCents = paidCentsOf(receipt) ?? (isPurchase ? cents : null);
  document.title = `Receipt ${tx.id} · DreamStream`;

  const details = [
    ['Type', kKindLabels[tx.kind] || humanKey(String(tx.kind || 'entry'))],
    ['Date', formatDate(tx.created_ms)],
    ['Credits', `${cents > 0 ? '+' : ''}${formatCredits(cents)}`],
    ['Balance after', `${formatCredits(tx.balance_after_cents)} credits`],
    ['Note', tx.note],
    ['Stripe checkout session', tx.stripe_checkout_session],
    ['Stripe payment', tx.stripe_payment_intent],
  ];
  const extra = receipt ? receiptRows(receipt) : [];

  box.replaceChildren(
    h(
      'article',
      { class: 'card receipt', 'data-testid': 'receipt' },
      h(
        'header',
        { class: 'receipt-head' },
        h(
          'div',
          {},
          h('div', { class: 'receipt-brand' }, h('img', { src: '/static/img/logo.svg', alt: '' }), h('span', {}, 'DreamStream')),
          h('p', { class: 'muted small' }, 'Live image-to-image streaming'),
        ),
        h(
          'div',
          { class: 'receipt-title' },
          h('h1', {}, isPurchase ? 'Receipt' : 'Statement'),
          h('div', { class: 'muted' }, `No. DS-${String(tx.id).padStart(6, '0')}`),
          h('div', { class: 'muted small' }, formatDate(tx.created_ms)),
        ),
      ),
      user
        ? h(
            'section',
            { class: 'receipt-section' },
            h('h2', {}, 'Billed to'),
            kv([
              ['Name', user.display_name || user.username],
              ['Account', `@${user.username}`],
              ['E-mail', user.email],
            ]),
          )
        : null,
      h('section', { class: 'receipt-section' }, h('h2', {}, 'Details'), kv(details)),
      extra.length ? h('section', { class: 'receipt-section' }, h('h2', {}, 'Payment'), kv(extra)) : null,
      h(
        'div',
        { class: 'receipt-total' },
        h('span', {}, paidCents !== null ? 'Total paid' : 'Credits'),
        h('strong', { 'data-testid': 'receipt-total' }, paidCents !== null ? formatEuro(paidCents) : formatCredits(cents)),
      ),
      isPurchase ? h('p', { class: 'faint small' }, '1 credit = 1 EUR. Paid through Stripe Checkout.') : null,
    ),
  );
  printBtn.hidden = false;
}

printBtn.addEventListener('click', () => window.print());

await initNav();
const user = await currentUser();
if (!user) {
  location.replace(loginUrl());
} else if (!/^\d+$/.test(id)) {
  box.replaceChildren(alertBox('error', 'That is not a receipt number.'));
} else {
  try {
    render(await get(`/api/credits/transactions/${id}`), user);
  } catch (e) {
    box.replaceChildren(
      alertBox('error', e.status === 404 ? 'We could not find that receipt in your account.' : `Could not load the receipt: ${e.message}`),
    );
  }
}

// The "Buy credits" chooser shared by the profile and studio pages: a whole number of credits
// (12 preselected, bounds from GET /api/config), then POST /api/credits/checkout and off to Stripe.

import { post, siteConfig } from './api.js';
import { alertBox, clearErrors, h, setBusy, setFieldError, showFormError } from './ui.js';

const kChips = [5, 12, 24, 60];
const kCentsPerMinuteDefault = 20;

let dialog = null;
let state = null;

function minutesFor(credits, centsPerMinute) {
  return Math.floor((credits * 100) / centsPerMinute);
}

function describeMinutes(m) {
  if (m >= 60 && m % 60 === 0) return `${m / 60} ${m === 60 ? 'hour' : 'hours'} of streaming`;
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min of streaming`;
  return `${m} minutes of streaming`;
}

function build() {
  const input = h('input', {
    id: 'buy-credits',
    name: 'credits',
    type: 'number',
    inputmode: 'numeric',
    step: '1',
    required: true,
    'aria-describedby': 'buy-credits-hint',
    'data-testid': 'buy-credits-input',
  });
  const bounds = h('p', { class: 'hint', id: 'buy-credits-hint' });
  const minutes = h('span', { class: 'muted' });
  const total = h('strong', {});
  const note = h('div', { 'data-buy-note': '' });
  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Quick amounts' });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit', 'data-testid': 'buy-submit' }, 'Continue to payment');
  const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { class: 'dialog-body form', novalidate: true, id: 'buy-form' },
    h(
      'div',
      {},
      h('h2', { id: 'buy-title' }, 'Buy credits'),
      h('p', { class: 'muted small' }, '1 credit = 1 EUR. 12 credits buy one hour of streaming.'),
    ),
    note,
    chips,
    h('div', { class: 'field' }, h('label', { for: 'buy-credits' }, 'Credits'), input, bounds),
    h('div', { class: 'purchase-summary' }, minutes, total),
    h('div', { class: 'dialog-actions' }, cancel, submit),
  );
  dialog = h('dialog', { id: 'buy-dialog', 'aria-labelledby': 'buy-title' }, form);
  document.body.append(dialog);

  const update = () => {
    const n = Number(input.value);
    const valid = Number.isInteger(n) && n >= state.config.min_credits && n <= state.config.max_credits;
    for (const c of chips.children) c.setAttribute('aria-pressed', String(Number(c.dataset.credits) === n));
    if (!valid) {
      minutes.textContent = `Choose ${state.config.min_credits}–${state.config.max_credits} credits`;
      total.textContent = '—';
      return;
    }
    minutes.textContent = describeMinutes(minutesFor(n, state.centsPerMinute));
    total.textContent = (n).toLocaleString('en', { style: 'currency', currency: 'EUR' });
  };
  input.addEventListener('input', () => {
    clearErrors(form);
    update();
  });
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close(); // backdrop click
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const raw = input.value.trim();
    const n = Number(raw);
    const { min_credits: min, max_credits: max } = state.config;
    if (!raw || !Number.isInteger(n)) {
      setFieldError(form, 'credits', 'Enter a whole number of credits.');
      input.focus();
      return;
    }
    if (n < min || n > max) {
      setFieldError(form, 'credits', `Choose between ${min} and ${max} credits.`);
      input.focus();
      return;
    }
    setBusy(submit, true, 'Opening checkout…');
    try {
      const res = await post('/api/credits/checkout', { credits: n });
      if (!res?.url) throw new Error('The payment page could not be opened.');
      location.assign(res.url);
    } catch (err) {
      setBusy(submit, false);
      if (err.status === 503 || err.code === 'payments_disabled' || err.code === 'payments_not_configured') {
        showFormError(form, 'Payments are not configured on this server, so credits cannot be bought here yet.');
      } else if (err.status === 400 && (err.code === 'invalid_credits' || /credit/i.test(err.message))) {
        setFieldError(form, 'credits', err.message);
      } else {
        showFormError(form, err.message || 'The payment page could not be opened.');
      }
    }
  });

  state.els = { input, bounds, chips, note, update, submit };
}

export async function openBuyDialog({ centsPerMinute } = {}) {
  const config = await siteConfig();
  const min = Math.max(1, Number(config.min_credits) || 1);
  const max = Math.max(min, Number(config.max_credits) || 1000);
  const def = Math.min(max, Math.max(min, Number(config.default_credits) || 12));
  state = { ...(state || {}), config: { ...config, min_credits: min, max_credits: max, default_credits: def } };
  state.centsPerMinute = centsPerMinute || kCentsPerMinuteDefault;
  if (!dialog) build();
  const { input, bounds, chips, note, update, submit } = state.els;
  input.min = String(min);
  input.max = String(max);
  input.value = String(def);
  bounds.textContent = `Whole numbers from ${min} to ${max}.`;
  chips.replaceChildren(
    ...[...new Set([...kChips, def])]
      .filter((c) => c >= min && c <= max)
      .sort((a, b) => a - b)
      .map((c) =>
        h(
          'button',
          {
            class: 'chip',
            type: 'button',
            'data-credits': c,
            'aria-pressed': 'false',
            onclick: () => {
              input.value = String(c);
              input.dispatchEvent(new Event('input'));
            },
          },
          c === 12 ? '12 · 1 hour' : String(c),
        ),
      ),
  );
  clearErrors(dialog.querySelector('form'));
  setBusy(submit, false);
  if (config.payments_enabled === false) {
    note.replaceChildren(alertBox('warning', 'Payments are not configured on this server, so credits cannot be bought here yet.'));
    submit.disabled = true;
  } else {
    note.replaceChildren();
    submit.disabled = false;
  }
  update();
  dialog.showModal();
  input.focus();
  input.select();
}

// Small DOM and formatting helpers shared by the pages. User data only ever goes in as text.

import { ApiError } from './api.js';
import { safeNextPath } from './safe_next.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'html') el.innerHTML = v; // constant markup only (icons)
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// ---------- formatting ----------

export function formatCredits(cents) {
  const n = Number(cents || 0) / 100;
  return n.toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function formatEuro(cents) {
  return (Number(cents || 0) / 100).toLocaleString('en', { style: 'currency', currency: 'EUR' });
}

export function formatMinutes(minutes) {
  const m = Math.max(0, Math.floor(Number(minutes) || 0));
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

const dateFmt = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat('en', { dateStyle: 'long' });

export function formatDate(ms) {
  if (!ms) return '—';
  return dateFmt.format(new Date(Number(ms)));
}

export function formatDay(ms) {
  if (!ms) return '—';
  return dayFmt.format(new Date(Number(ms)));
}

export function timeAgo(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - Number(ms)) / 1000);
  if (s < 45) return 'just now';
  const units = [
    [60, 'minute'],
    [3600, 'hour'],
    [86400, 'day'],
    [2592000, 'month'],
    [31536000, 'year'],
  ];
  let unit = 'minute';
  let size = 60;
  for (const [sz, name] of units) {
    if (s >= sz) {
      unit = name;
      size = sz;
    }
  }
  const n = Math.max(1, Math.round(s / size));
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
}

export const kLowMinutes = 10;

export function isLow(minutes) {
  return Number(minutes) < kLowMinutes;
}

// ---------- forms ----------

// Error codes that belong to one field. Pages can extend or override per form.
export const kFieldForCode = {
  username_taken: 'username',
  invalid_username: 'username',
  email_taken: 'email',
  invalid_email: 'email',
  invalid_password: 'password',
  weak_password: 'password',
  invalid_display_name: 'display_name',
  wrong_password: 'current_password',
  invalid_name: 'name',
  invalid_credits: 'credits',
};

export function fieldErrorEl(form, name) {
  const input = form.elements.namedItem(name);
  if (!input || !input.id) return null;
  let err = form.querySelector(`#${CSS.escape(input.id)}-error`);
  if (!err) {
    err = h('p', { class: 'field-error', id: `${input.id}-error`, role: 'alert' });
    // Right under the input (or its prefix/addon wrapper), above any hint.
    const anchor = input.closest('.input-prefix, .input-group, .range-row, .compose') || input;
    anchor.after(err);
  }
  return err;
}

export function setFieldError(form, name, message) {
  const input = form.elements.namedItem(name);
  const err = fieldErrorEl(form, name);
  if (!input || !err) return false;
  err.textContent = message;
  input.setAttribute('aria-invalid', 'true');
  const described = new Set((input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  described.add(err.id);
  input.setAttribute('aria-describedby', [...described].join(' '));
  return true;
}

export function clearFieldError(form, name) {
  const input = form.elements.namedItem(name);
  if (!input) return;
  input.removeAttribute('aria-invalid');
  const err = input.id && form.querySelector(`#${CSS.escape(input.id)}-error`);
  if (err) err.textContent = '';
}

export function formAlert(form) {
  let el = form.querySelector('.form-alert');
  if (!el) {
    el = h('div', { class: 'form-alert', role: 'alert', 'aria-live': 'assertive' });
    form.prepend(el);
  }
  return el;
}

export function showFormError(form, message) {
  const el = formAlert(form);
  el.replaceChildren(alertBox('error', message));
}

export function showFormSuccess(form, message) {
  const el = formAlert(form);
  el.replaceChildren(alertBox('success', message));
}

export function clearErrors(form) {
  for (const el of form.elements) {
    if (el.name) clearFieldError(form, el.name);
  }
  const alert = form.querySelector('.form-alert');
  if (alert) alert.replaceChildren();
}

// Puts an API error next to the field it concerns, or above the form when it concerns none.
export function showApiError(form, error, fieldMap = {}) {
  const map = { ...kFieldForCode, ...fieldMap };
  const message = error instanceof ApiError || error?.message ? error.message : String(error);
  let field = map[error?.code];
  if (!field && error?.code === 'missing_field') {
    const m = /missing field: (\w+)/.exec(message);
    if (m) field = map[m[1]] || m[1];
  }
  if (field && form.elements.namedItem(field) && setFieldError(form, field, capitalize(message))) {
    form.elements.namedItem(field).focus();
    return;
  }
  showFormError(form, humanMessage(error));
}

export function humanMessage(error) {
  if (!error) return 'Something went wrong.';
  if (error.code === 'rate_limited' || error.status === 429) {
    return 'Too many attempts. Wait a minute and try again.';
  }
  if (error.code === 'network') return error.message;
  return capitalize(error.message || 'Something went wrong.');
}

export function capitalize(s) {
  s = String(s || '');
  const out = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(out) ? out : `${out}.`;
}

// Clears a field's error as soon as the user edits it.
export function liveClear(form) {
  form.addEventListener('input', (e) => {
    if (e.target.name) clearFieldError(form, e.target.name);
  });
}

export function setBusy(button, busy, busyLabel) {
  if (!button) return;
  if (busy) {
    button.dataset.label = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), busyLabel || button.dataset.label);
  } else {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    if (button.dataset.label) button.textContent = button.dataset.label;
  }
}

export function alertBox(kind, message, extra) {
  const icons = { error: '!', success: '✓', warning: '!', info: 'i' };
  return h(
    'div',
    { class: `alert alert-${kind}` },
    h('span', { class: 'alert-icon', 'aria-hidden': 'true' }, icons[kind] || 'i'),
    h('div', { class: 'grow' }, h('p', {}, message), extra || null),
  );
}

// ---------- toasts, clipboard, navigation ----------

export function toast(message, kind = 'info') {
  let region = $('.toast-region');
  if (!region) {
    region = h('div', { class: 'toast-region', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const t = h('div', { class: `toast toast-${kind}` }, message);
  region.append(t);
  setTimeout(() => t.remove(), 4500);
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API needs a secure context; fall back to a selection copy.
    const ta = h('textarea', { class: 'visually-hidden' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = label), 1600);
  }
}

// A same-site path to go to after logging in, from ?next=; anything else becomes the fallback.
export function safeNext(fallback = '/profile') {
  const next = new URLSearchParams(location.search).get('next');
  return safeNextPath(next, location.origin) ?? fallback;
}

export function loginUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

// ---------- icons (constant SVG markup) ----------

const svg = (body) =>
  `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`;

export const icons = {
  monitor: svg('<rect x="2" y="4" width="20" height="13" rx="2"/><path d="M8 21h8M12 17v4"/>'),
  key: svg('<circle cx="7.5" cy="15.5" r="4.5"/><path d="m10.7 12.3 9.3-9.3M16 7l3 3M14 9l2 2"/>'),
  video: svg('<rect x="2" y="6" width="14" height="12" rx="2"/><path d="m16 10 6-3v10l-6-3z"/>'),
  videoOff: svg('<path d="M2 2l20 20M16 16v1a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.7 0H14a2 2 0 0 1 2 2v3.3l1 1 5-3v10"/>'),
  bolt: svg('<path d="M13 2 3 14h9l-1 8 10-12h-9z"/>'),
  sparkles: svg('<path d="M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z"/><path d="M19 15l.8 2.2L22 18l-2.2.8L19 21l-.8-2.2L16 18l2.2-.8z"/>'),
  coins: svg('<circle cx="9" cy="9" r="6"/><path d="M15.5 9.3A6 6 0 1 1 9.3 15.5"/>'),
  check: svg('<path d="M20 6 9 17l-5-5"/>'),
  x: svg('<path d="M18 6 6 18M6 6l12 12"/>'),
  clock: svg('<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>'),
  alert: svg('<path d="M12 9v4M12 17h.01"/><path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"/>'),
  users: svg('<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/><circle cx="9" cy="7" r="4"/><path d="M23 21v-2a4 4 0 0 0-3-3.9M16 3.1a4 4 0 0 1 0 7.8"/>'),
  broadcast: svg('<circle cx="12" cy="12" r="2"/><path d="M16.2 7.8a6 6 0 0 1 0 8.4M7.8 16.2a6 6 0 0 1 0-8.4M19.1 4.9a10 10 0 0 1 0 14.2M4.9 19.1a10 10 0 0 1 0-14.2"/>'),
};

export function icon(name, cls = '') {
  return h('span', { class: cls, 'aria-hidden': 'true', html: icons[name] || '' });
}

// "Show"/"Hide" buttons next to password inputs (data-toggle-password="<input id>").
export function bindPasswordToggles(root = document) {
  for (const btn of root.querySelectorAll('[data-toggle-password]')) {
    btn.addEventListener('click', () => {
      const input = document.getElementById(btn.dataset.togglePassword);
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      btn.textContent = show ? 'Hide' : 'Show';
      btn.setAttribute('aria-pressed', String(show));
      btn.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
    });
  }
}

// Runs per-field checks (name → value → message|null); shows every failure, focuses the first.
export function validate(form, rules) {
  let first = null;
  for (const [name, rule] of Object.entries(rules)) {
    const input = form.elements.namedItem(name);
    if (!input) continue;
    const message = rule(input.value.trim(), input);
    if (message) {
      setFieldError(form, name, message);
      first = first || input;
    }
  }
  if (first) first.focus();
  return !first;
}

export const checks = {
  required: (label) => (v) => (v ? null : `Enter your ${label}.`),
  username: (v) => {
    if (!v) return 'Choose a username.';
    if (v.length < 3 || v.length > 30) return 'Usernames are 3–30 characters long.';
    if (!/^[A-Za-z0-9_-]+$/.test(v)) return 'Use only letters, digits, _ and -.';
    return null;
  },
  email: (v) => {
    if (!v) return 'Enter your e-mail address.';
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) return 'Enter a valid e-mail address.';
    return null;
  },
  newPassword: (v, input) => {
    const raw = input.value;
    if (!raw) return 'Choose a password.';
    if ([...raw].length < 10) return 'Use at least 10 characters.';
    return null;
  },
};

export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) out[k] = typeof v === 'string' ? v : v.name;
  return out;
}

// ---------- confirmation ----------

// A modal question before something that cannot be undone; resolves true when confirmed, false
// on Cancel, Escape or a click on the backdrop.
export function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = true }) {
  return new Promise((resolve) => {
    const cancel = h('button', { class: 'btn btn-ghost', type: 'button', value: 'cancel' }, 'Cancel');
    const ok = h('button', { class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, type: 'submit', value: 'ok' }, confirmLabel);
    const form = h(
      'form',
      { class: 'dialog-body form', method: 'dialog' },
      h('div', {}, h('h2', { id: 'confirm-title' }, title), h('p', { class: 'muted' }, message)),
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title', 'data-testid': 'confirm-dialog' }, form);
    cancel.addEventListener('click', () => dialog.close('cancel'));
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) dialog.close('cancel'); // backdrop click
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok');
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

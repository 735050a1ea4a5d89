// Log in with username or e-mail: POST /api/auth/login, then back to where the user came from.

import { post } from '../api.js';
import { initNav } from '../nav.js';
import {
  bindPasswordToggles,
  checks,
  clearErrors,
  formValues,
  liveClear,
  safeNext,
  setBusy,
  showApiError,
  showFormError,
  validate,
} from '../ui.js';

const form = document.getElementById('login-form');
const submit = form.querySelector('[type=submit]');
bindPasswordToggles(form);
liveClear(form);

const user = await initNav();
if (user) location.replace(safeNext('/profile'));

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  clearErrors(form);
  const ok = validate(form, {
    login: checks.required('username or e-mail'),
    password: (v, input) => (input.value ? null : 'Enter your password.'),
  });
  if (!ok) return;
  const v = formValues(form);
  setBusy(submit, true, 'Logging in…');
  try {
    await post('/api/auth/login', { login: v.login.trim(), password: v.password });
    location.assign(safeNext('/profile'));
  } catch (err) {
    setBusy(submit, false);
    if (err.code === 'invalid_credentials' || err.status === 401) {
      showFormError(form, 'Wrong username, e-mail or password.');
      for (const name of ['login', 'password']) form.elements[name].setAttribute('aria-invalid', 'true');
      form.elements.password.select();
      form.elements.password.focus();
    } else if (err.code === 'rate_limited' || err.status === 429) {
      showFormError(form, 'Too many failed attempts. Wait a minute before trying again.');
    } else {
      showApiError(form, err, { login: 'login' });
    }
  }
});

// Register: POST /api/auth/register, then the profile. Server errors land next to their field.

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
  validate,
} from '../ui.js';

const form = document.getElementById('register-form');
const submit = form.querySelector('[type=submit]');
bindPasswordToggles(form);
liveClear(form);

const user = await initNav();
if (user) location.replace(safeNext('/profile'));

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  clearErrors(form);
  const ok = validate(form, { username: checks.username, email: checks.email, password: checks.newPassword });
  if (!ok) return;
  const v = formValues(form);
  const body = { username: v.username.trim(), email: v.email.trim(), password: v.password };
  if (v.display_name.trim()) body.display_name = v.display_name.trim();
  setBusy(submit, true, 'Creating account…');
  try {
    await post('/api/auth/register', body);
    location.assign(safeNext('/profile'));
  } catch (err) {
    setBusy(submit, false);
    showApiError(form, err);
  }
});

// The look card: the stream's base style and strength (PATCH /api/streams/settings), applied
// from the next frame while live or kept for the next stream.

import { get, patch } from '../api.js';
import { $, clearErrors, liveClear, setBusy, showApiError, showFormSuccess } from '../ui.js';

export async function loadLook(state) {
  const form = $('#look-form');
  let settingsNow;
  try {
    ({ settings: settingsNow } = await get('/api/streams/settings'));
  } catch {
    return; // not available on this server: keep the card hidden
  }
  $('[data-look-card]').hidden = false;
  const strengthOut = $('[data-strength-out]');
  form.elements.base_style.value = settingsNow?.base_style || '';
  form.elements.strength.value = String(Math.round((settingsNow?.strength ?? 0.6) * 100));
  strengthOut.textContent = `${form.elements.strength.value}%`;
  form.elements.strength.addEventListener('input', () => {
    strengthOut.textContent = `${form.elements.strength.value}%`;
  });
  liveClear(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const btn = form.querySelector('[type=submit]');
    setBusy(btn, true, 'Applying…');
    try {
      await patch('/api/streams/settings', {
        base_style: form.elements.base_style.value.trim(),
        strength: Number(form.elements.strength.value) / 100,
      });
      showFormSuccess(form, state.live.phase === 'live' ? 'Applied: viewers see the new look from the next frame.' : 'Saved for your next stream.');
    } catch (err) {
      showApiError(form, err, { invalid_style: 'base_style', invalid_strength: 'strength' });
    } finally {
      setBusy(btn, false);
    }
  });
}

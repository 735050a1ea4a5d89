// The viewer settings card: comments on/off, style requests on/off, recording on/off, the
// approval policy and the slot length. Each change is saved at once; `settings` events (from this or another tab) and
// the style queue's `enabled` flag keep the controls and the "off" notes current.

import { get, patch } from '../api.js';
import { $, clearFieldError, humanMessage, setFieldError, toast } from '../ui.js';

const kAudienceSaved = {
  comments_enabled: (v) => (v ? 'Comments are on.' : 'Comments are off: viewers no longer see the comment box.'),
  styles_enabled: (v) => (v ? 'Style requests are on.' : 'Style requests are off.'),
  style_policy: (v) => (v === 'approve' ? 'New requests now wait for your approval.' : 'New requests now play automatically.'),
  style_slot_seconds: (v) => `Each requested style now plays for ${v} seconds.`,
  record: (v) => (v ? 'Your streams are now recorded, this one too if you are live.' : 'Recording is off. What was recorded stays.'),
};

// onSaved(field, value): after the server took a change (the studio refreshes its recordings
// when `record` changes).
export function createAudience({ onSaved = () => {} } = {}) {
  const form = $('[data-audience-form]');
  let audience = null; // the settings as the server last told them

  function renderFeatureNotes() {
    const commentsOff = audience && audience.comments_enabled === false;
    const stylesOff = audience && audience.styles_enabled === false;
    $('[data-chat-off]').hidden = !commentsOff;
    $('[data-styles-off]').hidden = !stylesOff;
  }

  function fill(s) {
    if (!s) return;
    audience = { ...audience, ...s };
    const f = form.elements;
    f.comments_enabled.checked = !!audience.comments_enabled;
    f.styles_enabled.checked = !!audience.styles_enabled;
    f.record.checked = !!audience.record;
    for (const r of form.querySelectorAll('[name=style_policy]')) r.checked = r.value === audience.style_policy;
    if (document.activeElement !== f.style_slot_seconds) f.style_slot_seconds.value = String(audience.style_slot_seconds ?? 30);
    renderFeatureNotes();
  }

  // The style queue says whether requests are on without a full settings object.
  function setStylesEnabled(enabled) {
    audience = { ...audience, styles_enabled: enabled };
    renderFeatureNotes();
  }

  async function save(field, value, control) {
    // Only the slot input shows errors in place (the radios are a RadioNodeList, not one input).
    clearFieldError(form, 'style_slot_seconds');
    control.disabled = true;
    try {
      const r = await patch('/api/streams/settings', { [field]: value });
      fill(r?.settings || { [field]: value });
      toast(kAudienceSaved[field](value), 'success');
      onSaved(field, value);
    } catch (err) {
      fill(audience); // put the control back to what the server has
      if (!setFieldError(form, field, humanMessage(err))) toast(humanMessage(err), 'error');
    } finally {
      control.disabled = false;
    }
  }

  async function load() {
    try {
      const { settings: s } = await get('/api/streams/settings');
      fill(s);
      $('[data-audience-card]').hidden = false;
    } catch {
      // not available on this server: keep the card hidden
    }
  }

  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('change', (e) => {
    const el = e.target;
    if (el.name === 'comments_enabled' || el.name === 'styles_enabled' || el.name === 'record') save(el.name, el.checked, el);
    else if (el.name === 'style_policy' && el.checked) save('style_policy', el.value, el);
    else if (el.name === 'style_slot_seconds') {
      const v = Number(el.value);
      if (!Number.isInteger(v) || v < 5 || v > 600) {
        setFieldError(form, el.name, 'Choose a whole number of seconds from 5 to 600.');
        return;
      }
      save(el.name, v, el);
    }
  });

  return { fill, setStylesEnabled, load };
}

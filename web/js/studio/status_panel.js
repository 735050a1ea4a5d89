// What the studio says about the stream: the phase badge and the start / stop buttons, the
// alert slot, the credits box (and the header's credits), and the live metrics drawn from the
// server's once-a-second status messages plus this tab's own send counters.

import { get } from '../api.js';
import { openBuyDialog } from '../buy.js';
import { updateNavCredits } from '../nav.js';
import { $, alertBox, formatCredits, formatMinutes, h, isLow } from '../ui.js';

const kPhaseBadge = {
  live: ['badge badge-live', 'Live'],
  starting: ['badge badge-warn', 'Starting'],
  stopping: ['badge badge-warn', 'Stopping'],
  offline: ['badge badge-offline', 'Offline'],
};

function metric(label, value, key) {
  return h('div', { class: 'metric', 'data-metric': key }, h('div', { class: 'stat-label' }, label), h('div', { class: 'metric-value' }, value));
}

export function createStatusPanel(state, { preview }) {
  const { live } = state;
  const startBtn = $('[data-start]');
  const stopBtn = $('[data-stop]');
  const badge = $('[data-state-badge]');
  const stateText = $('[data-state-text]');
  const alertSlot = $('[data-studio-alert]');

  function setPhase(phase, text) {
    live.phase = phase;
    const on = phase === 'live';
    [badge.className, badge.textContent] = kPhaseBadge[phase] || kPhaseBadge.offline;
    stateText.textContent = text || (on ? 'You are live.' : 'You are not streaming.');
    startBtn.hidden = on || phase === 'stopping';
    stopBtn.hidden = !(on || phase === 'stopping');
    startBtn.disabled = !state.me || phase !== 'offline';
    stopBtn.disabled = phase === 'stopping';
    if (!on) preview.showOffline();
  }

  function showAlert(kind, message, extra) {
    alertSlot.replaceChildren(alertBox(kind, message, extra));
  }

  function clearAlert() {
    alertSlot.replaceChildren();
  }

  function noCreditsAlert(message = 'No credits left: your stream has ended. Buy credits to go live again.') {
    const buy = h('button', { class: 'btn btn-primary btn-sm', type: 'button', onclick: () => openBuyDialog({ centsPerMinute: state.centsPerMinute }) }, 'Buy credits');
    showAlert('error', message, h('div', { class: 'row' }, buy));
    alertSlot.querySelector('.alert').dataset.testid = 'no-credits';
  }

  function renderCredits(balanceCents, minutes) {
    $('[data-minutes]').textContent = String(minutes);
    $('[data-balance]').textContent = `${formatCredits(balanceCents)} credits · ${formatMinutes(minutes)}`;
    $('[data-minutes-stat]').classList.toggle('alert-low', isLow(minutes));
    updateNavCredits({ balance_cents: balanceCents, remaining_minutes: minutes });
  }

  async function refreshCredits() {
    const { me } = state;
    if (!me) return;
    try {
      const c = await get('/api/credits');
      if (c.cents_per_minute) state.centsPerMinute = Number(c.cents_per_minute);
      renderCredits(c.balance_cents, c.remaining_minutes);
    } catch {
      renderCredits(me.balance_cents, me.remaining_minutes);
    }
  }

  // A {type:"status"} message from the ingest socket.
  function onStatus(msg) {
    live.status = msg;
    if (msg.balance_cents !== undefined && msg.remaining_minutes !== undefined) {
      renderCredits(msg.balance_cents, msg.remaining_minutes);
    }
    renderMetrics();
  }

  function renderMetrics() {
    const s = live.status || {};
    const now = performance.now();
    live.sentTimes = live.sentTimes.filter((t) => now - t < 3000);
    const sentFps = live.sentTimes.length / 3;
    const ws = live.ingest;
    const conn = !ws ? 'closed' : ws.readyState === WebSocket.OPEN ? 'connected' : ws.readyState === WebSocket.CONNECTING ? 'connecting' : 'closed';
    const fmt = (v, unit = '', digits = 0) => (v === undefined || v === null ? '—' : `${Number(v).toFixed(digits)}${unit}`);
    const workers = s.workers ? `${s.workers.busy ?? 0}/${s.workers.total ?? 0}` : '—';
    $('[data-metrics]').replaceChildren(
      metric('Connection', conn, 'connection'),
      metric('Sent fps', sentFps.toFixed(1), 'sent-fps'),
      metric('Processed fps', fmt(s.fps_out, '', 1), 'fps-out'),
      metric('Model time', fmt(s.model_ms, ' ms'), 'model-ms'),
      metric('Frame age', fmt(s.frame_age_ms, ' ms'), 'frame-age'),
      metric('Viewers', fmt(s.viewers), 'viewers'),
      metric('Dropped', String((s.frames_dropped ?? 0) + live.droppedLocal), 'dropped'),
      // Unchanged since the last processed frame: the model was spared (serve --skip-similar).
      metric('Unchanged', fmt(s.frames_skipped), 'skipped'),
      metric('Workers busy', workers, 'workers'),
    );
  }

  return { setPhase, showAlert, clearAlert, noCreditsAlert, renderCredits, refreshCredits, onStatus, renderMetrics };
}

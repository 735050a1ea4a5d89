// Studio: go live from the webcam. Camera → canvas → JPEG → /ws/ingest (binary), dropping frames
// locally while the socket is backed up; the processed picture comes back through /ws/watch/<me>.
// Live figures come from the server's once-a-second status messages (docs/protocol.md).

import { get, patch, post } from '../api.js';
import { openBuyDialog } from '../buy.js';
import { initNav, updateNavCredits } from '../nav.js';
import {
  alertBox,
  clearErrors,
  formatCredits,
  formatDate,
  formatMinutes,
  h,
  isLow,
  liveClear,
  loginUrl,
  setBusy,
  showApiError,
  showFormSuccess,
  toast,
} from '../ui.js';

const $ = (sel) => document.querySelector(sel);

const startBtn = $('[data-start]');
const stopBtn = $('[data-stop]');
const badge = $('[data-state-badge]');
const stateText = $('[data-state-text]');
const alertSlot = $('[data-studio-alert]');
const video = $('[data-preview]');
const output = $('[data-output]');
const controls = $('[data-controls]');

const kReconnectTries = 4;
const kMinBufferedBytes = 256 * 1024;
const kBadFrameToastMs = 5000;

let me = null;
let centsPerMinute = 20;

const live = {
  phase: 'offline', // offline | starting | live | stopping
  camera: null,
  ingest: null,
  watch: null,
  timer: null,
  encoding: false,
  lastSize: 0,
  sent: 0,
  droppedLocal: 0,
  sentTimes: [],
  status: null,
  reconnects: 0,
  ended: false,
  lastBadFrameToast: 0,
};

// ---------- settings ----------

function settings() {
  const [w, hgt] = controls.elements.resolution.value.split('x').map(Number);
  return {
    fps: Number(controls.elements.fps.value),
    width: w,
    height: hgt,
    quality: Number(controls.elements.quality.value) / 100,
  };
}

controls.addEventListener('input', () => {
  const s = settings();
  $('[data-fps-out]').textContent = String(s.fps);
  $('[data-quality-out]').textContent = `${Math.round(s.quality * 100)}%`;
  if (live.timer) scheduleCapture();
});
controls.addEventListener('submit', (e) => e.preventDefault());

// ---------- state display ----------

function setPhase(phase, text) {
  live.phase = phase;
  const on = phase === 'live';
  badge.className = on ? 'badge badge-live' : phase === 'starting' || phase === 'stopping' ? 'badge badge-warn' : 'badge badge-offline';
  badge.textContent = on ? 'Live' : phase === 'starting' ? 'Starting' : phase === 'stopping' ? 'Stopping' : 'Offline';
  stateText.textContent = text || (on ? 'You are live.' : 'You are not streaming.');
  startBtn.hidden = on || phase === 'stopping';
  stopBtn.hidden = !(on || phase === 'stopping');
  startBtn.disabled = !me || phase !== 'offline';
  stopBtn.disabled = phase === 'stopping';
  if (!on) {
    $('[data-out-title]').textContent = 'Offline';
    $('[data-out-text]').textContent = 'The re-imagined picture appears here once you are live.';
    $('[data-out-overlay]').hidden = false;
    output.hidden = true;
  }
}

function showAlert(kind, message, extra) {
  alertSlot.replaceChildren(alertBox(kind, message, extra));
}

function noCreditsAlert() {
  const buy = h('button', { class: 'btn btn-primary btn-sm', type: 'button', onclick: () => openBuyDialog({ centsPerMinute }) }, 'Buy credits');
  showAlert('error', 'No credits left: your stream has ended. Buy credits to go live again.', h('div', { class: 'row' }, buy));
  alertSlot.querySelector('.alert').dataset.testid = 'no-credits';
}

function renderCredits(balanceCents, minutes) {
  $('[data-minutes]').textContent = String(minutes);
  $('[data-balance]').textContent = `${formatCredits(balanceCents)} credits · ${formatMinutes(minutes)}`;
  $('[data-minutes-stat]').classList.toggle('alert-low', isLow(minutes));
  updateNavCredits({ balance_cents: balanceCents, remaining_minutes: minutes });
}

function metric(label, value, key) {
  return h('div', { class: 'metric', 'data-metric': key }, h('div', { class: 'stat-label' }, label), h('div', { class: 'metric-value' }, value));
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
    metric('Workers busy', workers, 'workers'),
  );
}

// ---------- camera + capture ----------

async function openCamera() {
  const s = settings();
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: s.width }, height: { ideal: s.height }, frameRate: { ideal: 30 } },
    audio: false,
  });
  live.camera = stream;
  video.srcObject = stream;
  await video.play().catch(() => {});
  $('[data-cam-overlay]').hidden = true;
  const track = stream.getVideoTracks()[0];
  const ts = track?.getSettings?.() || {};
  $('[data-cam-info]').textContent = ts.width ? `${ts.width}×${ts.height}` : '';
}

function closeCamera() {
  if (live.camera) for (const t of live.camera.getTracks()) t.stop();
  live.camera = null;
  video.srcObject = null;
  $('[data-cam-overlay]').hidden = false;
  $('[data-cam-info]').textContent = '';
}

const canvas = document.createElement('canvas');
const ctx = canvas.getContext('2d');

function captureFrame() {
  const ws = live.ingest;
  if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  // Latest frame wins on our side too: never queue behind a slow uplink.
  if (live.encoding || ws.bufferedAmount > Math.max(kMinBufferedBytes, live.lastSize * 1.5)) {
    live.droppedLocal += 1;
    return;
  }
  const s = settings();
  // Keep the camera's aspect ratio inside the chosen box.
  const scale = Math.min(s.width / video.videoWidth, s.height / video.videoHeight, 1);
  canvas.width = Math.max(16, Math.round(video.videoWidth * scale));
  canvas.height = Math.max(16, Math.round(video.videoHeight * scale));
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  live.encoding = true;
  canvas.toBlob(
    (blob) => {
      live.encoding = false;
      if (!blob || ws.readyState !== WebSocket.OPEN) return;
      live.lastSize = blob.size;
      ws.send(blob);
      live.sent += 1;
      live.sentTimes.push(performance.now());
    },
    'image/jpeg',
    s.quality,
  );
}

function scheduleCapture() {
  clearInterval(live.timer);
  live.timer = setInterval(captureFrame, Math.round(1000 / settings().fps));
}

// ---------- sockets ----------

function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

function openIngest() {
  const ws = new WebSocket(wsUrl('/ws/ingest'));
  ws.binaryType = 'arraybuffer';
  live.ingest = ws;
  ws.addEventListener('open', () => {
    live.reconnects = 0;
    setPhase('live', 'You are live. Viewers see the re-imagined picture.');
    scheduleCapture();
    renderMetrics();
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === 'status') {
      live.status = msg;
      if (msg.balance_cents !== undefined && msg.remaining_minutes !== undefined) {
        renderCredits(msg.balance_cents, msg.remaining_minutes);
      }
      renderMetrics();
    } else if (msg.type === 'error') {
      if (Date.now() - live.lastBadFrameToast > kBadFrameToastMs) {
        live.lastBadFrameToast = Date.now();
        toast(msg.message || 'The server rejected a frame.', 'error');
      }
    } else if (msg.type === 'ended') {
      live.ended = true;
      onEnded(msg.reason, msg.message);
    }
  });
  ws.addEventListener('close', (ev) => {
    if (live.ingest !== ws) return;
    clearInterval(live.timer);
    live.timer = null;
    if (live.ended || live.phase === 'stopping' || live.phase === 'offline') return;
    if (ev.code === 4402) return onEnded('no_credits');
    if (ev.code === 4001) return onEnded('replaced');
    if (ev.code === 4002) return onEnded('stopped');
    if (ev.code === 4401) return fail('Your session has expired. Log in again to stream.');
    if (ev.code === 4403) return fail('The server refused this page’s origin.');
    if (live.reconnects < kReconnectTries) {
      live.reconnects += 1;
      setPhase('starting', `Connection lost; reconnecting (try ${live.reconnects} of ${kReconnectTries})…`);
      setTimeout(() => {
        if (live.phase === 'starting') openIngest();
      }, 500 * 2 ** live.reconnects);
    } else {
      fail('The connection to the server was lost.');
    }
    renderMetrics();
  });
}

function openWatch() {
  const ws = new WebSocket(wsUrl(`/ws/watch/${encodeURIComponent(me.username)}`));
  ws.binaryType = 'blob';
  live.watch = ws;
  let url = null;
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data === 'string') {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === 'state' && msg.state === 'waiting' && live.phase === 'live') {
        $('[data-out-title]').textContent = 'Waiting for the model…';
        $('[data-out-text]').textContent = 'The first re-imagined frame is on its way.';
        $('[data-out-overlay]').hidden = false;
      }
      return;
    }
    const previous = url;
    url = URL.createObjectURL(ev.data);
    output.onload = () => previous && URL.revokeObjectURL(previous);
    output.src = url;
    output.hidden = false;
    $('[data-out-overlay]').hidden = true;
  });
  ws.addEventListener('close', () => {
    if (live.watch === ws && live.phase === 'live') setTimeout(() => live.phase === 'live' && openWatch(), 1000);
  });
}

function closeSockets() {
  clearInterval(live.timer);
  live.timer = null;
  const { ingest, watch } = live;
  live.ingest = null;
  live.watch = null;
  if (ingest && ingest.readyState <= WebSocket.OPEN) ingest.close(1000, 'stopped');
  if (watch && watch.readyState <= WebSocket.OPEN) watch.close(1000, 'stopped');
}

// ---------- start / stop ----------

function fail(message) {
  closeSockets();
  closeCamera();
  setPhase('offline');
  showAlert('error', message);
  renderMetrics();
}

function onEnded(reason, message) {
  closeSockets();
  closeCamera();
  setPhase('offline', 'Your stream has ended.');
  if (reason === 'no_credits') noCreditsAlert();
  else if (reason === 'replaced') showAlert('warning', 'Your stream continued from another tab or device, so this one stopped sending.');
  else if (reason === 'server_shutdown') showAlert('warning', 'The server is restarting; your stream was ended and billed up to the last frame.');
  else if (reason !== 'stopped') showAlert('info', message || 'Your stream has ended.');
  refreshCredits();
  loadHistory();
  renderMetrics();
}

async function start() {
  alertSlot.replaceChildren();
  live.ended = false;
  live.droppedLocal = 0;
  live.status = null;
  live.reconnects = 0;
  setPhase('starting', 'Turning on your camera…');
  try {
    await openCamera();
  } catch (e) {
    const denied = e?.name === 'NotAllowedError' || e?.name === 'SecurityError';
    return fail(
      denied
        ? 'Camera access was blocked. Allow the camera for this site in your browser, then try again.'
        : 'No camera could be opened. Check that one is connected and not used by another app.',
    );
  }
  setPhase('starting', 'Starting your stream…');
  try {
    await post('/api/streams/start', {});
  } catch (e) {
    if (e.status === 402) {
      closeCamera();
      setPhase('offline');
      noCreditsAlert();
      alertSlot.querySelector('.alert p').textContent = 'No credits left: you need at least 1 credit to go live.';
      return;
    }
    if (e.status !== 409) return fail(e.status === 404 ? 'Streaming is not available on this server yet.' : e.message);
    // 409: a stream is already active for this account; this tab takes it over.
  }
  setPhase('starting', 'Connecting…');
  openIngest();
  openWatch();
}

async function stop() {
  setPhase('stopping', 'Ending your stream…');
  try {
    await post('/api/streams/stop', {});
  } catch (e) {
    if (e.status !== 404 && e.status !== 409) toast(e.message, 'error');
  }
  closeSockets();
  closeCamera();
  setPhase('offline', 'Stream ended.');
  refreshCredits();
  loadHistory();
  renderMetrics();
}

async function refreshCredits() {
  if (!me) return;
  try {
    const c = await get('/api/credits');
    if (c.cents_per_minute) centsPerMinute = Number(c.cents_per_minute);
    renderCredits(c.balance_cents, c.remaining_minutes);
  } catch {
    renderCredits(me.balance_cents, me.remaining_minutes);
  }
}

// ---------- look (base style, strength) ----------

async function loadLook() {
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
      showFormSuccess(form, live.phase === 'live' ? 'Applied: viewers see the new look from the next frame.' : 'Saved for your next stream.');
    } catch (err) {
      showApiError(form, err, { invalid_style: 'base_style', invalid_strength: 'strength' });
    } finally {
      setBusy(btn, false);
    }
  });
}

// ---------- past streams ----------

const kEndLabels = { completed: 'Completed', ended_no_credits: 'Out of credits', interrupted: 'Interrupted', live: 'Live', created: 'Starting' };

async function loadHistory() {
  let sessions;
  try {
    ({ sessions = [] } = await get('/api/streams/sessions?limit=5'));
  } catch {
    return;
  }
  $('[data-history-card]').hidden = false;
  const box = $('[data-history]');
  if (!sessions.length) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No streams yet. Your first one will show up here.'));
    return;
  }
  box.replaceChildren(
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', 'data-testid': 'stream-history' },
        h('caption', { class: 'visually-hidden' }, 'Your recent streams'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Started'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col', class: 'num' }, 'Minutes'),
            h('th', { scope: 'col', class: 'num' }, 'Cost'),
            h('th', { scope: 'col', class: 'num' }, 'Peak viewers'),
          ),
        ),
        h(
          'tbody',
          {},
          sessions.map((s) =>
            h(
              'tr',
              {},
              h('td', {}, formatDate(s.first_frame_ms || s.created_ms)),
              h('td', {}, h('span', { class: `badge ${s.status === 'completed' ? 'badge-ok' : s.status === 'live' ? 'badge-live' : s.status === 'ended_no_credits' ? 'badge-danger' : ''}` }, kEndLabels[s.status] || s.status)),
              h('td', { class: 'num' }, String(s.duration_minutes ?? 0)),
              h('td', { class: 'num' }, s.cost ?? formatCredits(s.cost_cents)),
              h('td', { class: 'num' }, String(s.max_viewers ?? 0)),
            ),
          ),
        ),
      ),
    ),
  );
}

startBtn.addEventListener('click', start);
stopBtn.addEventListener('click', stop);
$('[data-buy]').addEventListener('click', () => {
  if (!me) location.assign(loginUrl());
  else openBuyDialog({ centsPerMinute });
});
window.addEventListener('pagehide', () => {
  if (live.phase === 'live') navigator.sendBeacon?.('/api/streams/stop');
});

renderMetrics();
me = await initNav();
if (!me) {
  setPhase('offline', 'Log in to go live.');
  showAlert(
    'info',
    'Log in or create an account to stream. New accounts get 12 free credits: one hour of streaming.',
    h('div', { class: 'row' }, h('a', { class: 'btn btn-primary btn-sm', href: loginUrl() }, 'Log in'), h('a', { class: 'btn btn-sm', href: '/register' }, 'Create account')),
  );
  $('[data-minutes]').textContent = '0';
} else {
  const link = $('[data-watch-link]');
  link.href = `/u/${encodeURIComponent(me.username)}`;
  link.hidden = false;
  setPhase('offline');
  renderCredits(me.balance_cents, me.remaining_minutes);
  refreshCredits();
  loadLook();
  loadHistory();
  if (!navigator.mediaDevices?.getUserMedia) {
    showAlert('warning', 'This browser cannot share a camera here. Use a current browser over https or localhost, or stream with a script and your stream key.');
    startBtn.disabled = true;
  }
}

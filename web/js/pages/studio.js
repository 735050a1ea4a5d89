// Studio: go live from the webcam. Camera → canvas → JPEG → /ws/ingest (binary), dropping frames
// locally while the socket is backed up; the processed picture comes back through /ws/watch/<me>.
// Live figures come from the server's once-a-second status messages (docs/protocol.md); chat and
// style-request events arrive on the same ingest socket. The cockpit also holds the viewer
// settings (comments, styles, policy, slot length), the style queue, chat moderation and the
// history of past streams with a viewers-over-time chart each.

import { del, get, patch, post } from '../api.js';
import { openBuyDialog } from '../buy.js';
import { viewersChart } from '../chart.js';
import { CommentList, CurrentStyle, styleItem } from '../chat.js';
import { initNav, updateNavCredits } from '../nav.js';
import {
  alertBox,
  clearErrors,
  clearFieldError,
  formatCredits,
  formatDate,
  formatMinutes,
  h,
  isLow,
  humanMessage,
  liveClear,
  loginUrl,
  setBusy,
  setFieldError,
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
    // A new session (or a reconnect): catch up on what the events would have said.
    loadComments();
    loadStyles();
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
    } else if (msg.type === 'comment' && msg.comment) {
      comments?.add(msg.comment);
    } else if (msg.type === 'comment_deleted') {
      comments?.remove(msg.id);
    } else if (msg.type === 'styles' && msg.styles) {
      renderStyles(msg.styles);
    } else if (msg.type === 'settings' && msg.settings) {
      fillAudience(msg.settings);
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
  loadStyles();
  // Nothing is live any more: show dashes rather than the last stream's figures.
  live.status = null;
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
  loadStyles();
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

// ---------- viewer settings: comments, styles, policy, slot ----------

const audienceForm = $('[data-audience-form]');
let audience = null;

function fillAudience(s) {
  if (!s) return;
  audience = { ...audience, ...s };
  const f = audienceForm.elements;
  f.comments_enabled.checked = !!audience.comments_enabled;
  f.styles_enabled.checked = !!audience.styles_enabled;
  for (const r of audienceForm.querySelectorAll('[name=style_policy]')) r.checked = r.value === audience.style_policy;
  if (document.activeElement !== f.style_slot_seconds) f.style_slot_seconds.value = String(audience.style_slot_seconds ?? 30);
  renderFeatureNotes();
}

function renderFeatureNotes() {
  const commentsOff = audience && audience.comments_enabled === false;
  const stylesOff = audience && audience.styles_enabled === false;
  $('[data-chat-off]').hidden = !commentsOff;
  $('[data-styles-off]').hidden = !stylesOff;
}

const kAudienceSaved = {
  comments_enabled: (v) => (v ? 'Comments are on.' : 'Comments are off: viewers no longer see the comment box.'),
  styles_enabled: (v) => (v ? 'Style requests are on.' : 'Style requests are off.'),
  style_policy: (v) => (v === 'approve' ? 'New requests now wait for your approval.' : 'New requests now play automatically.'),
  style_slot_seconds: (v) => `Each requested style now plays for ${v} seconds.`,
};

async function saveAudience(field, value, control) {
  // Only the slot input shows errors in place (the radios are a RadioNodeList, not one input).
  clearFieldError(audienceForm, 'style_slot_seconds');
  control.disabled = true;
  try {
    const r = await patch('/api/streams/settings', { [field]: value });
    fillAudience(r?.settings || { [field]: value });
    toast(kAudienceSaved[field](value), 'success');
  } catch (err) {
    fillAudience(audience); // put the control back to what the server has
    if (!setFieldError(audienceForm, field, humanMessage(err))) toast(humanMessage(err), 'error');
  } finally {
    control.disabled = false;
  }
}

audienceForm.addEventListener('submit', (e) => e.preventDefault());
audienceForm.addEventListener('change', (e) => {
  const el = e.target;
  if (el.name === 'comments_enabled' || el.name === 'styles_enabled') saveAudience(el.name, el.checked, el);
  else if (el.name === 'style_policy' && el.checked) saveAudience('style_policy', el.value, el);
  else if (el.name === 'style_slot_seconds') {
    const v = Number(el.value);
    if (!Number.isInteger(v) || v < 5 || v > 600) {
      setFieldError(audienceForm, el.name, 'Choose a whole number of seconds from 5 to 600.');
      return;
    }
    saveAudience(el.name, v, el);
  }
});

async function loadAudience() {
  try {
    const { settings: s } = await get('/api/streams/settings');
    fillAudience(s);
    $('[data-audience-card]').hidden = false;
  } catch {
    // not available on this server: keep the card hidden
  }
}

// ---------- style queue ----------

let currentStyle = null;
let styleState = null;

const styleApi = (rest) => `/api/streams/${encodeURIComponent(me.username)}/styles${rest}`;

async function styleAction(path, button) {
  if (button) button.disabled = true;
  try {
    renderStyles(await post(styleApi(path), {}));
  } catch (err) {
    toast(humanMessage(err), 'error');
    loadStyles();
  } finally {
    if (button) button.disabled = false;
  }
}

function emptyRow(text) {
  return h('li', { class: 'empty-row' }, text);
}

function renderStyles(s) {
  if (!s) return;
  styleState = s;
  currentStyle.set(s);
  const pending = s.pending || [];
  const queue = s.queue || [];
  $('[data-style-pending]').replaceChildren(
    ...pending.map((r) =>
      styleItem(r, {
        actions: [
          ['Approve', (e) => styleAction(`/${r.id}/approve`, e.currentTarget), 'btn-primary', `Approve “${r.prompt}”`],
          ['Reject', (e) => styleAction(`/${r.id}/reject`, e.currentTarget), 'btn-outline-danger', `Reject “${r.prompt}”`],
        ],
      }),
    ),
  );
  if (!pending.length) {
    $('[data-style-pending]').append(
      emptyRow(s.policy === 'approve' ? 'Nothing waiting for you.' : 'Requests play automatically; switch to “I approve each” to review them first.'),
    );
  }
  $('[data-style-queue]').replaceChildren(
    ...queue.map((r, i) =>
      styleItem(r, {
        position: i + 1,
        actions: [['Remove', (e) => styleAction(`/${r.id}/reject`, e.currentTarget), 'btn-ghost', `Remove “${r.prompt}” from the queue`]],
      }),
    ),
  );
  if (!queue.length) $('[data-style-queue]').append(emptyRow(`Nothing queued: the base style plays.`));
  $('[data-pending-count]').textContent = String(pending.length);
  $('[data-queue-count]').textContent = String(queue.length);
  $('[data-style-skip]').disabled = s.current?.source !== 'request';
  $('[data-style-clear]').disabled = !pending.length && !queue.length;
  if (typeof s.enabled === 'boolean') {
    audience = { ...audience, styles_enabled: s.enabled };
    renderFeatureNotes();
  }
}

async function loadStyles() {
  if (!me) return;
  try {
    renderStyles(await get(styleApi('')));
  } catch {
    // keep what is shown
  }
}

$('[data-style-skip]').addEventListener('click', (e) => styleAction('/skip', e.currentTarget));
$('[data-style-clear]').addEventListener('click', (e) => {
  const n = (styleState?.queue?.length || 0) + (styleState?.pending?.length || 0);
  if (n > 1 && !confirm(`Clear all ${n} waiting and queued style requests?`)) return;
  styleAction('/clear', e.currentTarget);
});

// ---------- chat moderation ----------

let comments = null;
let nextBefore = null;

const commentsApi = (rest = '') => `/api/streams/${encodeURIComponent(me.username)}/comments${rest}`;

async function deleteComment(comment, button) {
  button.disabled = true;
  try {
    await del(commentsApi(`/${encodeURIComponent(comment.id)}`));
    comments.remove(comment.id);
  } catch (err) {
    button.disabled = false;
    if (err.status === 404) comments.remove(comment.id);
    else toast(humanMessage(err), 'error');
  }
}

function showOlder(d) {
  nextBefore = d?.next_before ?? null;
  $('[data-older]').hidden = nextBefore === null;
}

async function loadComments() {
  if (!me) return;
  try {
    const d = await get(commentsApi('?limit=50'));
    comments.setAll(d?.comments || []);
    showOlder(d);
  } catch {
    // keep what is shown
  }
}

$('[data-older]').addEventListener('click', async (e) => {
  if (nextBefore === null) return;
  e.currentTarget.disabled = true;
  try {
    const d = await get(commentsApi(`?limit=50&before=${encodeURIComponent(nextBefore)}`));
    comments.prependOlder(d?.comments || []);
    showOlder(d);
  } catch (err) {
    toast(humanMessage(err), 'error');
  } finally {
    e.currentTarget.disabled = false;
  }
});

function initCockpit() {
  $('[data-cockpit]').hidden = false;
  currentStyle = new CurrentStyle($('[data-current-style]'));
  comments = new CommentList($('[data-chat-list]'), {
    me,
    streamer: me.username,
    emptyText: 'No comments yet. They appear here live while you stream.',
    canDelete: () => true,
    onDelete: deleteComment,
  });
  loadAudience();
  loadStyles();
  loadComments();
  setInterval(pollElsewhere, kPollMs);
}

// Streaming from a script (stream key) while moderating here: no ingest socket in this tab
// carries the events, so look for news every few seconds while that stream is live.
const kPollMs = 5000;

async function pollElsewhere() {
  if (live.phase !== 'offline' || document.hidden) return;
  try {
    const info = await get(`/api/streams/${encodeURIComponent(me.username)}`);
    if (!info?.live) return;
    if (info.styles) renderStyles(info.styles);
    if (info.settings) fillAudience(info.settings);
    const d = await get(commentsApi('?limit=50'));
    const latest = d?.comments || [];
    const ids = new Set(latest.map((c) => c.id));
    const oldest = latest.length ? Math.min(...ids) : Infinity;
    for (const c of latest.reverse()) comments.add(c);
    for (const id of [...comments.items.keys()]) if (id >= oldest && !ids.has(id)) comments.remove(id);
  } catch {
    // try again on the next round
  }
}

// ---------- past streams ----------

const kEndLabels = { completed: 'Completed', ended_no_credits: 'Out of credits', interrupted: 'Interrupted', live: 'Live', created: 'Starting' };
const kHistoryPage = 5;
const history = { next: null, rows: 0 };

function durationText(s) {
  const first = Number(s.first_frame_ms) || 0;
  const end = Number(s.ended_ms) || (s.status === 'live' ? Date.now() : 0);
  if (first && end > first) {
    const secs = Math.round((end - first) / 1000);
    if (secs < 60) return `${secs} s`;
    return formatMinutes(Math.round(secs / 60));
  }
  return formatMinutes(s.duration_minutes ?? 0);
}

function chartCell(session) {
  const cell = h('td', { class: 'chart-cell' }, h('span', { class: 'faint small' }, '…'));
  get(`/api/streams/sessions/${encodeURIComponent(session.id)}/viewers`).then(
    (d) => cell.replaceChildren(viewersChart(d?.samples || [], { label: `Viewers over time, stream of ${formatDate(session.first_frame_ms || session.created_ms)}` })),
    () => cell.replaceChildren(h('span', { class: 'faint small' }, '—')),
  );
  return cell;
}

const kHistoryColumns = ['Started', 'Status', 'Duration', 'Cost', 'Peak viewers', 'Comments', 'Styles', 'Viewers over time'];

function historyRow(s) {
  const badgeClass = s.status === 'completed' ? 'badge-ok' : s.status === 'live' ? 'badge-live' : s.status === 'ended_no_credits' ? 'badge-danger' : '';
  const cells = [
    h('td', {}, formatDate(s.first_frame_ms || s.created_ms)),
    h('td', {}, h('span', { class: `badge ${badgeClass}` }, kEndLabels[s.status] || s.status)),
    h('td', { class: 'num' }, durationText(s)),
    h('td', { class: 'num' }, s.cost ?? formatCredits(s.cost_cents)),
    h('td', { class: 'num' }, String(s.max_viewers ?? 0)),
    h('td', { class: 'num' }, String(s.comment_count ?? 0)),
    h('td', { class: 'num' }, String(s.style_request_count ?? 0)),
    chartCell(s),
  ];
  // Phones show each row as a card; the label comes from the column.
  cells.forEach((td, i) => (td.dataset.label = kHistoryColumns[i]));
  return h('tr', { 'data-session-id': s.id }, cells);
}

async function loadHistory({ more = false } = {}) {
  let data;
  const before = more && history.next !== null ? `&before=${encodeURIComponent(history.next)}` : '';
  try {
    data = await get(`/api/streams/sessions?limit=${kHistoryPage}${before}`);
  } catch {
    return;
  }
  const sessions = data?.sessions || [];
  history.next = data?.next_before ?? null;
  $('[data-history-card]').hidden = false;
  $('[data-history-pager]').hidden = history.next === null;
  const box = $('[data-history]');
  if (!more && !sessions.length) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No streams yet. Your first one will show up here.'));
    return;
  }
  let body = box.querySelector('tbody');
  if (!more || !body) {
    body = h('tbody', {});
    box.replaceChildren(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-stack', 'data-testid': 'stream-history' },
          h('caption', { class: 'visually-hidden' }, 'Your recent streams'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              kHistoryColumns.map((label, i) => h('th', { scope: 'col', class: i >= 2 && i <= 6 ? 'num' : null }, label)),
            ),
          ),
          body,
        ),
      ),
    );
  }
  body.append(...sessions.map(historyRow));
}

$('[data-history-more]').addEventListener('click', async (e) => {
  e.currentTarget.disabled = true;
  await loadHistory({ more: true });
  e.currentTarget.disabled = false;
});

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
  initCockpit();
  loadHistory();
  if (!navigator.mediaDevices?.getUserMedia) {
    showAlert('warning', 'This browser cannot share a camera here. Use a current browser over https or localhost, or stream with a script and your stream key.');
    startBtn.disabled = true;
  }
}

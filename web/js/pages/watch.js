// Watch page /u/<name>: processed JPEG frames from /ws/watch/<name> into an <img> through blob
// URLs, the live viewer count and a state overlay (offline / live / waiting / ended).

import { get } from '../api.js';
import { initNav } from '../nav.js';
import { icons } from '../ui.js';

const $ = (sel) => document.querySelector(sel);
const username = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '').toLowerCase();

const img = $('[data-frame]');
const overlay = $('[data-overlay]');
const badge = $('[data-state-badge]');
const title = $('[data-state-title]');
const text = $('[data-state-text]');
const viewersBadge = $('[data-viewers]');
const viewersTag = $('[data-viewers-tag]');

let channelName = username;
let state = 'offline';
let haveFrame = false;
let currentUrl = null;
let exists = true;

const kStates = {
  offline: { title: 'Offline', text: () => `${channelName} is not live right now. This page starts playing by itself when they go live.`, icon: 'videoOff' },
  waiting: { title: 'Waiting for the model…', text: () => 'The stream is live; the next re-imagined frame is on its way.', icon: 'sparkles' },
  ended: { title: 'Stream ended', text: () => `${channelName} has ended the stream. Thanks for watching!`, icon: 'videoOff' },
  connecting: { title: 'Offline', text: () => 'Connecting…', icon: 'broadcast' },
};

function render() {
  const live = state === 'live' || state === 'waiting';
  badge.className = live ? 'badge badge-live' : 'badge badge-offline';
  badge.textContent = live ? 'Live' : 'Offline';
  img.hidden = !haveFrame || !live;
  let shown = state;
  if (state === 'live' && !haveFrame) shown = 'waiting';
  if (!exists) {
    overlay.hidden = false;
    overlay.className = 'stage-overlay state-offline';
    title.textContent = 'Offline';
    text.textContent = `There is no channel called “${username}”.`;
    return;
  }
  if (shown === 'live') {
    overlay.hidden = true;
    return;
  }
  const s = kStates[shown] || kStates.offline;
  overlay.hidden = false;
  overlay.className = `stage-overlay state-${shown}`;
  $('[data-overlay-icon]').innerHTML = icons[s.icon] || '';
  title.textContent = s.title;
  text.textContent = s.text();
}

function setViewers(n) {
  const count = Math.max(0, Number(n) || 0);
  viewersBadge.textContent = `${count} watching`;
  viewersTag.textContent = `${count} ${count === 1 ? 'viewer' : 'viewers'}`;
  viewersTag.hidden = !(state === 'live' || state === 'waiting');
}

function showFrame(blob) {
  const url = URL.createObjectURL(blob);
  const previous = currentUrl;
  currentUrl = url;
  img.onload = () => {
    if (previous) URL.revokeObjectURL(previous);
  };
  img.onerror = () => {
    if (previous) URL.revokeObjectURL(previous);
  };
  img.src = url;
  if (!haveFrame) {
    haveFrame = true;
    if (state === 'offline' || state === 'waiting') state = 'live';
  }
  render();
}

function setChannel(info) {
  const display = info?.display_name || info?.user?.display_name || username;
  channelName = display;
  document.title = `${display} · DreamStream`;
  $('[data-channel-name]').textContent = display;
  $('[data-channel-handle]').textContent = `@${username}`;
  $('[data-avatar]').textContent = display.slice(0, 1);
  const style = info?.current_style || info?.style || info?.settings?.base_style;
  setStyle(typeof style === 'string' ? style : style?.prompt);
}

function setStyle(styleText) {
  const dl = $('[data-style-info]');
  dl.replaceChildren();
  if (styleText) {
    const dt = document.createElement('dt');
    dt.textContent = 'Current style';
    const dd = document.createElement('dd');
    dd.textContent = styleText;
    dl.append(dt, dd);
  }
}

async function loadInfo() {
  try {
    const info = await get(`/api/streams/${encodeURIComponent(username)}`);
    setChannel(info);
    if (info?.viewers !== undefined) setViewers(info.viewers);
    if (!haveFrame && typeof info?.state === 'string' && info.state in kStates) state = info.state;
    else if (!haveFrame && info?.live) state = 'waiting';
  } catch (e) {
    setChannel(null);
    if (e.status === 404 && /user|channel|account/i.test(`${e.code} ${e.message}`) && !/endpoint/i.test(e.message)) {
      exists = false;
    }
  }
  render();
}

let backoff = 1000;

function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  let ws;
  try {
    ws = new WebSocket(`${proto}://${location.host}/ws/watch/${encodeURIComponent(username)}`);
  } catch {
    return;
  }
  ws.binaryType = 'blob';
  ws.addEventListener('open', () => {
    backoff = 1000;
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') {
      showFrame(ev.data);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === 'state') {
      state = msg.state;
      if (state === 'offline' || state === 'ended') haveFrame = false;
      render();
      setViewers(viewersBadge.textContent.split(' ')[0]);
    } else if (msg.type === 'settings' && msg.settings) {
      setStyle(msg.settings.base_style);
    } else if (msg.type === 'viewers') {
      setViewers(msg.count);
    }
  });
  ws.addEventListener('close', () => {
    if (state === 'live' || state === 'waiting') state = 'offline';
    haveFrame = false;
    render();
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}

setChannel(null);
render();
await initNav();
await loadInfo();
if (exists) connect();

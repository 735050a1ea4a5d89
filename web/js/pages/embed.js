// Embed page /u/<name>/embed: the processed picture alone, filling the frame, for OBS's Browser
// Source and <iframe>s on other sites (the server lets any site frame this page, and no other;
// docs/integration.md). Read-only: no login, no cookies, no buttons. Options in the query:
//   transparent=1  a transparent page (OBS overlays); nothing shows while the stream is offline
//   chat=1         the latest comments over the picture, each fading out after a few seconds
//   fit=cover      fill the frame and crop, instead of letterboxing (contain)
// Frames and comments come from the same /ws/watch socket as the watch page (protocol.js,
// live_events.js).

import { authorName } from '../chat.js';
import { channelEvents } from '../live_events.js';
import { CloseCode, openLiveSocket } from '../protocol.js';
import { $, h } from '../ui.js';

const kChatShown = 5; // comments on screen at once
const kChatMs = 12000; // how long one stays before fading out
const kFadeMs = 600;

const username = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '').toLowerCase();
const query = new URLSearchParams(location.search);
const flag = (name) => ['1', 'true', 'yes', 'on'].includes((query.get(name) || '').toLowerCase());
const options = { transparent: flag('transparent'), chat: flag('chat'), cover: query.get('fit') === 'cover' };

const root = document.documentElement;
root.classList.toggle('embed-transparent', options.transparent);
root.classList.toggle('embed-cover', options.cover);
document.title = `${username} · DreamStream`;

const img = $('[data-frame]');
const label = $('[data-state]');
const chat = $('[data-chat]');

let state = 'connecting';
let haveFrame = false;
let exists = true;
let currentUrl = null;
let commentsOn = true;

// A small word in a corner, never a panel over the picture.
function render() {
  const live = state === 'live' || state === 'waiting';
  img.hidden = !(haveFrame && live);
  let text = '';
  if (!exists) text = `No channel “${username}”`;
  else if (!img.hidden) text = '';
  else if (live) text = 'Starting…';
  else if (state === 'offline' || state === 'ended') text = 'Offline';
  label.textContent = text;
  label.hidden = !text;
  document.body.dataset.state = exists ? state : 'not_found';
  chat.hidden = !options.chat || !commentsOn;
}

function showFrame(blob, header) {
  const url = URL.createObjectURL(blob);
  const previous = currentUrl;
  currentUrl = url;
  const done = () => {
    if (previous) URL.revokeObjectURL(previous);
  };
  img.onload = done;
  img.onerror = done;
  img.src = url;
  if (header?.seq !== undefined) img.dataset.seq = String(header.seq);
  if (!haveFrame) {
    haveFrame = true;
    if (state !== 'live' && state !== 'waiting') state = 'live';
    render();
  }
}

// ---------- chat overlay: read-only, newest at the bottom, each line fades out ----------

function removeComment(li) {
  clearTimeout(li.timer);
  li.classList.add('leaving');
  setTimeout(() => li.remove(), kFadeMs);
}

function addComment(c) {
  if (!options.chat || !commentsOn || !c || chat.querySelector(`[data-comment-id="${CSS.escape(String(c.id))}"]`)) return;
  const li = h('li', { class: 'embed-comment', dataset: { commentId: String(c.id) } },
    h('strong', {}, authorName(c.author)), ' ', c.body);
  li.timer = setTimeout(() => removeComment(li), kChatMs);
  chat.append(li);
  const shown = [...chat.children].filter((el) => !el.classList.contains('leaving'));
  for (const old of shown.slice(0, Math.max(0, shown.length - kChatShown))) removeComment(old);
}

function deleteComment(id) {
  const li = chat.querySelector(`[data-comment-id="${CSS.escape(String(id))}"]`);
  if (li) removeComment(li);
}

function applySettings(s) {
  if (typeof s.comments_enabled !== 'boolean') return;
  commentsOn = s.comments_enabled;
  if (!commentsOn) chat.replaceChildren();
  render();
}

// ---------- the socket, reconnecting like the watch page ----------

let backoff = 1000;

function connect() {
  try {
    openLiveSocket(`/ws/watch/${encodeURIComponent(username)}`, {
      events: {
        ...channelEvents({
          onComment: addComment,
          onCommentDeleted: deleteComment,
          onStyles: () => {},
          onSettings: applySettings,
        }),
        state: (msg) => {
          state = msg.state;
          if (state === 'offline' || state === 'ended') haveFrame = false;
          render();
        },
      },
      frames: 'inline',
      onFrame: showFrame,
      onOpen: () => {
        backoff = 1000;
      },
      onClose: ({ code }) => {
        haveFrame = false;
        if (code === CloseCode.not_found) {
          exists = false;
          render();
          return;
        }
        if (state === 'live' || state === 'waiting') state = 'offline';
        render();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      },
    });
  } catch {
    // The browser refused the URL: nothing to reconnect to.
  }
}

render();
connect();

// Embed page /u/<name>/embed: the processed picture alone, filling the frame, for OBS's Browser
// Source and <iframe>s on other sites (the server lets any site frame this page, and no other;
// docs/integration.md). Read-only: no login, no cookies, no buttons. Options in the query:
//   transparent=1  a transparent page (OBS overlays); nothing shows while the stream is offline
//   chat=1         the latest comments over the picture, each fading out after a few seconds
//   fit=cover      fill the frame and crop, instead of letterboxing (contain)
//   playback=hls   the picture from the HLS playlist in a <video> (as when the socket cannot connect)
// Frames and comments come from the same /ws/watch socket as the watch page (protocol.js,
// live_events.js): H.264 decoded with WebCodecs where the browser can, else JPEG frames, or HLS
// when the socket cannot connect (picture.js; the path in use is in body[data-playback] and the
// picture's tooltip).

import { authorName } from '../chat.js';
import { channelEvents } from '../live_events.js';
import { LivePicture, initialPath, kSocketTriesBeforeHls } from '../picture.js';
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

const picture = new LivePicture({
  img: $('[data-frame]'),
  canvas: $('[data-video-frame]'),
  video: $('[data-hls-video]'),
  indicator: document.body,
  onShown: pictureShown,
  onVideoFailed: () => restartWithoutVideo(),
});
const label = $('[data-state]');
const chat = $('[data-chat]');

let state = 'connecting';
let haveFrame = false;
let exists = true;
let commentsOn = true;

// A small word in a corner, never a panel over the picture.
function render() {
  const live = state === 'live' || state === 'waiting';
  const shown = haveFrame && live;
  picture.setVisible(shown);
  let text = '';
  if (!exists) text = `No channel “${username}”`;
  else if (shown) text = '';
  else if (live) text = 'Starting…';
  else if (state === 'offline' || state === 'ended') text = 'Offline';
  label.textContent = text;
  label.hidden = !text;
  document.body.dataset.state = exists ? state : 'not_found';
  chat.hidden = !options.chat || !commentsOn;
}

// A picture is up (a JPEG, or a decoded video picture).
function pictureShown() {
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
let socket = null;
let socketOpen = false;
let socketEverOpened = false;
let socketFailures = 0; // sockets that closed without opening, while none ever opened
let switching = false; // closing the socket to reconnect at once without video

// The picture from HLS (picture.js), as on the watch page.
function useHls() {
  picture.startHls({
    username,
    onLive: () => {
      if (!socketOpen && state !== 'live') {
        state = 'waiting';
        render();
      }
    },
    onEnded: () => {
      state = 'ended';
      haveFrame = false;
      render();
    },
    onOffline: () => {
      haveFrame = false;
      if (!socketOpen && state !== 'ended') state = 'offline';
      render();
    },
  });
}

// The video could not be decoded: the same socket again, without ?video=h264.
function restartWithoutVideo() {
  if (!socket) return;
  switching = true;
  socket.close(1000, 'video off');
}

async function connect() {
  const video = await picture.wantVideo();
  try {
    socket = openLiveSocket(`/ws/watch/${encodeURIComponent(username)}`, {
      events: {
        ...channelEvents({
          onComment: addComment,
          onCommentDeleted: deleteComment,
          onStyles: () => {},
          onSettings: applySettings,
        }),
        state: (msg) => {
          state = msg.state;
          if (state === 'offline' || state === 'ended') {
            haveFrame = false;
            picture.hls?.restart();
          } else if (state === 'live') {
            picture.hls?.poke();
          }
          render();
        },
      },
      // HLS draws the picture: the socket brings only the events.
      frames: picture.hls ? 'none' : 'inline',
      video,
      onFrame: (blob, header) => picture.showJpeg(blob, header),
      onVideo: (header, bytes) => picture.pushVideo(header, bytes),
      onOpen: () => {
        socketOpen = socketEverOpened = true;
        backoff = 1000;
      },
      onClose: ({ code }) => {
        socket = null;
        socketOpen = false;
        picture.reset();
        if (switching) {
          switching = false;
          connect();
          return;
        }
        if (code === CloseCode.not_found) {
          picture.hls?.stop();
          haveFrame = false;
          exists = false;
          render();
          return;
        }
        // A socket that never once opened (a proxy that blocks WebSockets): the picture goes to
        // HLS, and the socket keeps trying for the comments.
        if (!socketEverOpened && ++socketFailures >= kSocketTriesBeforeHls && !picture.hls) useHls();
        if (!picture.hls) {
          haveFrame = false;
          if (state === 'live' || state === 'waiting') state = 'offline';
        }
        render();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      },
    });
  } catch {
    // The browser refused the URL: nothing to reconnect to; the picture can still come as HLS.
    if (!picture.hls) useHls();
  }
}

render();
if ((await initialPath({ video: $('[data-hls-video]') })) === 'hls') useHls();
connect();

// Watch page /u/<name>: the processed stream from /ws/watch/<name>, as H.264 decoded with
// WebCodecs into a <canvas> where the browser can, else as JPEG frames into an <img> through blob
// URLs, or as HLS in a <video> when the socket cannot connect or `?playback=hls` asks for it
// (picture.js; the path in use is in the stage's data-playback and the picture's tooltip),
// the live viewer count and a state overlay (offline / live / waiting / ended), the live
// chat and style requests, "Open in a player" with the stream's .m3u8 URL, and the channel's
// past broadcasts (its recordings, past_broadcasts.js). The same socket
// carries comment, comment_deleted, styles and settings events (docs/protocol.md); the
// streamer's settings show or hide the inputs at once.

import { del, get, post } from '../api.js';
import { CommentList, CurrentStyle, styleItem } from '../chat.js';
import { channelEvents } from '../live_events.js';
import { initNav } from '../nav.js';
import { hlsUrl } from '../hls_player.js';
import { PastBroadcasts } from '../past_broadcasts.js';
import { LivePicture, initialPath, kSocketTriesBeforeHls } from '../picture.js';
import { openLiveSocket } from '../protocol.js';
import { $, alertBox, capitalize, clearErrors, copyText, h, humanMessage, icons, liveClear, loginUrl, setFieldError, toast } from '../ui.js';

const username = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '').toLowerCase();

const picture = new LivePicture({
  img: $('[data-frame]'),
  canvas: $('[data-video-frame]'),
  video: $('[data-hls-video]'),
  indicator: $('[data-stage]'),
  onShown: pictureShown,
  onPath: (path, label) => {
    viewersBadge.title = `Viewers watching now · ${label}`;
  },
  onVideoFailed: () => restartWithoutVideo(),
});
const pastBroadcasts = new PastBroadcasts({
  card: $('[data-past-card]'),
  list: $('[data-past-list]'),
  pager: $('[data-past-pager]'),
  more: $('[data-past-more]'),
  count: $('[data-past-count]'),
  username,
});
const overlay = $('[data-overlay]');
const badge = $('[data-state-badge]');
const title = $('[data-state-title]');
const text = $('[data-state-text]');
const viewersBadge = $('[data-viewers]');
const viewersTag = $('[data-viewers-tag]');

let channelName = username;
let state = 'offline';
let haveFrame = false;
let exists = true;
let me = null;

const api = (rest = '') => `/api/streams/${encodeURIComponent(username)}${rest}`;
const isLive = () => state === 'live' || state === 'waiting';

// What the streamer allows right now: from the public info, then live `settings` / `styles` events.
const features = { comments: true, styles: true, policy: 'auto', slotSeconds: 30 };
let styleState = null;
let nextBefore = null;

const chatForm = $('[data-chat-form]');
const styleForm = $('[data-style-form]');
const olderBtn = $('[data-older]');
const currentStyle = new CurrentStyle($('[data-current-style]'));
const comments = new CommentList($('[data-chat-list]'), {
  streamer: username,
  emptyText: 'No comments yet. Say hello!',
  canDelete: (c) => !!me && (me.username === username || c.author?.username === me.username),
  onDelete: deleteComment,
});

const kStates = {
  offline: { title: 'Offline', text: () => `${channelName} is not live right now. This page starts playing by itself when they go live.`, icon: 'videoOff' },
  waiting: { title: 'Waiting for the model…', text: () => 'The stream is live; the next re-imagined frame is on its way.', icon: 'sparkles' },
  ended: { title: 'Stream ended', text: () => `${channelName} has ended the stream. Thanks for watching!`, icon: 'videoOff' },
  connecting: { title: 'Offline', text: () => 'Connecting…', icon: 'broadcast' },
};

function render() {
  renderInputs();
  const live = isLive();
  badge.className = live ? 'badge badge-live' : 'badge badge-offline';
  badge.textContent = live ? 'Live' : 'Offline';
  picture.setVisible(haveFrame && live);
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

// A picture is up (a JPEG, or a decoded video picture).
function pictureShown() {
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
  if (info?.settings) applySettings(info.settings);
  if (info?.styles) applyStyles(info.styles);
  else if (info) applyStyles({ current: { prompt: info.current_style || info.settings?.base_style || '', source: 'base' }, queue: [], pending: [] });
}

// ---------- chat and style requests ----------

function note(slot, kind, message, testid, extra) {
  if (!message) {
    slot.replaceChildren();
    return;
  }
  const box = alertBox(kind, message, extra);
  box.dataset.testid = testid;
  slot.replaceChildren(box);
}

const loginLink = (what) => h('a', { class: 'btn btn-primary btn-sm note-action', href: loginUrl() }, `Log in to ${what}`);

// Shows the comment and style inputs only when they can be used, and says why otherwise.
function renderInputs() {
  const chatNote = $('[data-chat-note]');
  const styleNote = $('[data-style-note]');
  if (!exists) {
    chatForm.hidden = styleForm.hidden = true;
    note(chatNote);
    note(styleNote);
    return;
  }
  let chat = null;
  if (!features.comments) chat = ['warning', `${channelName} has turned comments off.`, 'comments-off'];
  else if (!me) chat = ['info', 'Anyone can read along; chatting needs an account.', 'chat-login', loginLink('chat')];
  else if (!isLive()) chat = ['info', `Chat opens when ${channelName} goes live.`, 'chat-offline'];
  chatForm.hidden = !!chat;
  note(chatNote, ...(chat || []));

  let style = null;
  if (!features.styles) style = ['warning', `${channelName} has turned style requests off.`, 'styles-off'];
  else if (!me) style = ['info', 'Viewers with an account can ask the model for a look.', 'styles-login', loginLink('request a style')];
  else if (!isLive()) style = ['info', `Style requests open when ${channelName} goes live.`, 'styles-offline'];
  styleForm.hidden = !!style;
  note(styleNote, ...(style || []));
  const slot = `${features.slotSeconds} s`;
  $('[data-style-hint]').textContent =
    features.policy === 'approve'
      ? `${channelName} approves each request; approved styles play for ${slot} each, in order.`
      : `Requests play in order, ${slot} each. Up to 200 characters.`;
}

function applySettings(s) {
  if (typeof s.comments_enabled === 'boolean') features.comments = s.comments_enabled;
  if (typeof s.styles_enabled === 'boolean') features.styles = s.styles_enabled;
  if (s.style_policy) features.policy = s.style_policy;
  if (s.style_slot_seconds) features.slotSeconds = Number(s.style_slot_seconds);
  renderInputs();
}

function applyStyles(s) {
  if (!s) return;
  styleState = s;
  if (typeof s.enabled === 'boolean') features.styles = s.enabled;
  if (s.policy) features.policy = s.policy;
  if (s.slot_seconds) features.slotSeconds = Number(s.slot_seconds);
  currentStyle.set(s);
  const queue = s.queue || [];
  const mine = me ? (s.pending || []).filter((r) => r.author?.username === me.username) : [];
  const list = $('[data-style-queue]');
  list.replaceChildren(
    ...queue.map((r, i) => styleItem(r, { position: i + 1, me })),
    ...mine.map((r) => styleItem(r, { me, note: 'awaiting approval' })),
  );
  if (!list.children.length) list.append(h('li', { class: 'empty-row' }, 'Nothing queued.'));
  $('[data-queue-count]').textContent = String(queue.length);
  const pending = (s.pending || []).length;
  const pendingNote = $('[data-pending-note]');
  pendingNote.hidden = !pending;
  pendingNote.textContent = `${pending} ${pending === 1 ? 'request awaits' : 'requests await'} ${channelName}’s approval.`;
  renderInputs();
}

async function loadComments() {
  try {
    const d = await get(api('/comments?limit=50'));
    comments.setAll(d?.comments || []);
    nextBefore = d?.next_before ?? null;
    olderBtn.hidden = nextBefore === null;
  } catch {
    // Chat not available (no such channel, or an older server): the log stays empty.
  }
}

async function loadOlder() {
  if (nextBefore === null) return;
  olderBtn.disabled = true;
  try {
    const d = await get(api(`/comments?limit=50&before=${encodeURIComponent(nextBefore)}`));
    comments.prependOlder(d?.comments || []);
    nextBefore = d?.next_before ?? null;
    olderBtn.hidden = nextBefore === null;
  } catch (e) {
    toast(humanMessage(e), 'error');
  } finally {
    olderBtn.disabled = false;
  }
}

async function loadStyles() {
  try {
    applyStyles(await get(api('/styles')));
  } catch {
    // Keep what the public info said.
  }
}

async function deleteComment(comment, button) {
  button.disabled = true;
  try {
    await del(api(`/comments/${encodeURIComponent(comment.id)}`));
    comments.remove(comment.id);
  } catch (e) {
    button.disabled = false;
    if (e.status === 404) comments.remove(comment.id);
    else toast(humanMessage(e), 'error');
  }
}

// The reasons a comment or a style request is refused, put where the user looks.
function showRefusal(form, field, err, feature) {
  if (err.status === 401) {
    me = null;
    renderInputs();
    return;
  }
  if (err.status === 403 && /disabled/.test(err.code || '')) {
    features[feature] = false;
    renderInputs();
    return;
  }
  let message = capitalize(err.message || 'That did not work.');
  if (err.status === 429) message = 'You are sending these too fast. Wait a few seconds and try again.';
  else if (err.code === 'stream_offline') message = `${channelName} is not live right now.`;
  else if (err.status !== 400 && err.status !== 409) message = humanMessage(err);
  setFieldError(form, field, message);
}

async function submit(form, field, emptyMessage, send) {
  clearErrors(form);
  const input = form.elements.namedItem(field);
  const text = input.value.trim();
  if (!text) {
    setFieldError(form, field, emptyMessage);
    input.focus();
    return;
  }
  const button = form.querySelector('[type=submit]');
  button.disabled = true;
  // Cleared at once, as chats do; put back if the server refuses it.
  input.value = '';
  try {
    await send(text);
  } catch (err) {
    if (!input.value) input.value = text;
    showRefusal(form, field, err, field === 'body' ? 'comments' : 'styles');
  } finally {
    button.disabled = false;
    if (!form.hidden) input.focus();
  }
}

chatForm.addEventListener('submit', (e) => {
  e.preventDefault();
  submit(chatForm, 'body', 'Write something first.', async (body) => {
    const r = await post(api('/comments'), { body });
    comments.add(r?.comment);
    comments.scrollToEnd();
  });
});

styleForm.addEventListener('submit', (e) => {
  e.preventDefault();
  submit(styleForm, 'prompt', 'Describe the style you want.', async (prompt) => {
    const r = await post(api('/styles'), { prompt });
    if (r?.styles) applyStyles(r.styles);
    const pending = r?.request?.status === 'pending';
    toast(pending ? 'Requested: it plays once the streamer approves it.' : 'Requested: your style is in the queue.', 'success');
  });
});

liveClear(chatForm);
liveClear(styleForm);
olderBtn.addEventListener('click', loadOlder);

async function loadInfo() {
  try {
    const info = await get(`/api/streams/${encodeURIComponent(username)}`);
    setChannel(info);
    if (!info?.styles) loadStyles();
    if (info?.viewers !== undefined) setViewers(info.viewers);
    if (!haveFrame && typeof info?.state === 'string' && info.state in kStates) state = info.state;
    else if (!haveFrame && info?.live) state = 'waiting';
  } catch (e) {
    setChannel(null);
    if (e.status === 404 && /user|channel|account|streamer/i.test(`${e.code} ${e.message}`) && !/endpoint/i.test(e.message)) {
      exists = false;
      // No channel: no style box, chat or viewer count to show either.
      for (const el of document.querySelectorAll('[data-styles-card], .chat-card')) el.hidden = true;
    }
  }
  render();
}

let backoff = 1000;
let reconnected = false;
let socket = null;
let socketOpen = false;
let socketEverOpened = false;
let socketFailures = 0; // sockets that closed without opening, while none ever opened
let switching = false; // closing the socket to reconnect at once without video

// The picture from HLS (picture.js). Where the socket is open its `state` events lead; where it
// cannot connect the playlist says live, offline or ended.
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
      if (!socketOpen && (state === 'live' || state === 'waiting')) state = 'offline';
      render();
    },
  });
}

// "Open in a player": the absolute playlist URL, for VLC, ffplay, OBS's Media Source.
function showPlayerLink() {
  const url = new URL(hlsUrl(username), location.origin).href;
  $('[data-hls-url]').textContent = url;
  $('[data-copy-hls]').addEventListener('click', (e) => copyText(url, e.currentTarget));
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
          onComment: (c) => comments.add(c),
          onCommentDeleted: (id) => comments.remove(id),
          onStyles: applyStyles,
          onSettings: applySettings,
        }),
        state: (msg) => {
          state = msg.state;
          if (state === 'offline' || state === 'ended') {
            haveFrame = false;
            picture.hls?.restart();
            loadStyles(); // the stream's requests ended with it
            pastBroadcasts.load(); // and may have been recorded
          } else if (state === 'live') {
            picture.hls?.poke();
          }
          render();
          setViewers(viewersBadge.textContent.split(' ')[0]);
        },
        viewers: (msg) => setViewers(msg.count),
      },
      // HLS draws the picture: the socket brings only the events.
      frames: picture.hls ? 'none' : 'inline',
      video,
      onFrame: (blob, header) => picture.showJpeg(blob, header),
      onVideo: (header, bytes) => picture.pushVideo(header, bytes),
      onOpen: () => {
        // After a drop, fetch what was said in the meantime.
        if (reconnected) {
          loadComments();
          loadStyles();
        }
        reconnected = true;
        socketOpen = socketEverOpened = true;
        backoff = 1000;
      },
      onClose: () => {
        socket = null;
        socketOpen = false;
        picture.reset();
        if (switching) {
          switching = false;
          connect();
          return;
        }
        // A socket that never once opened (a proxy that blocks WebSockets): the picture goes to
        // HLS, and the socket keeps trying for the chat.
        if (!socketEverOpened && ++socketFailures >= kSocketTriesBeforeHls && !picture.hls) useHls();
        if (!picture.hls) {
          if (state === 'live' || state === 'waiting') state = 'offline';
          haveFrame = false;
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

setChannel(null);
render();
me = await initNav();
comments.setUser(me);
await loadInfo();
if (exists) {
  showPlayerLink();
  loadComments();
  pastBroadcasts.load();
  if ((await initialPath({ video: $('[data-hls-video]') })) === 'hls') useHls();
  connect();
} else {
  $('[data-player-link]').hidden = true;
}

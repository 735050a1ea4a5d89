// Replay page /u/<name>/sessions/<id>: one recording of a past stream (docs/api.md#recordings).
// Its VOD playlist plays in a <video> with the browser's controls (seeking included): natively
// where the browser's own player does HLS (Safari, iOS), else through hls.js (hls_player.js).
// Beside it the chat of that stream session (GET /api/streams/<name>/comments?session=<id>) is
// replayed in step with the video: a comment shows once the playback position passes the moment
// it was written (replay_timeline.js maps positions to wall-clock time through the playlist's
// #EXT-X-PROGRAM-DATE-TIME), and seeking back takes later ones away again.
//
// A private recording (to anyone but its owner), a deleted one or one that never was is the same
// 404 to this page: it says "not available".

import { get } from '../api.js';
import { CommentList } from '../chat.js';
import { loadHlsJs, nativeHls } from '../hls_player.js';
import { initNav } from '../nav.js';
import { findRecording, formatClock, formatLength, recordingBadges } from '../recordings.js';
import { parseTimeline } from '../replay_timeline.js';
import { $, formatDate, icons } from '../ui.js';

const [, rawName = '', , sessionId = ''] = location.pathname.split('/').filter(Boolean);
const username = decodeURIComponent(rawName).toLowerCase();

const video = $('[data-replay-video]');
const overlay = $('[data-overlay]');
const kMaxCommentPages = 50; // 5000 comments: more than any replay shows at once
const kCommentPage = 100;

let timeline = parseTimeline('', 0);
let comments = []; // the session's comments, oldest first
let shown = 0; // how many of them the log shows (a prefix of `comments`)
let hls = null;

const chat = new CommentList($('[data-chat-list]'), {
  streamer: username,
  emptyText: 'Loading the chat…',
  timeText: (c) => formatClock(timeline.positionOf(Number(c.created_ms))),
});

function showState(title, text, icon = 'videoOff') {
  overlay.hidden = false;
  overlay.dataset.state = title;
  $('[data-overlay-icon]').innerHTML = icons[icon] || '';
  $('[data-state-title]').textContent = title;
  $('[data-state-text]').textContent = text;
}

function notAvailable() {
  hls?.destroy();
  hls = null;
  video.hidden = true;
  video.removeAttribute('src');
  $('[data-stats]').hidden = true;
  $('[data-chat-card]').hidden = true;
  document.title = 'Recording not available · DreamStream';
  $('[data-title]').textContent = 'Recording not available';
  showState(
    'Not available',
    'This recording does not exist, was deleted, or its streamer made it private.',
  );
  $('[data-stage]').dataset.replay = 'unavailable';
}

function cannotPlay(why) {
  showState('This recording cannot be played here', `${why} The MP4 download still works.`, 'alert');
  $('[data-stage]').dataset.replay = 'failed';
}

// ---------- the chat, in step with the video ----------

// The log shows the comments written up to the moment on screen: more as it plays, fewer after
// a seek back. The end of the video shows them all (some may come after the last segment).
function syncChat() {
  const wall = video.ended ? Infinity : timeline.wallAt(video.currentTime);
  let n = 0;
  while (n < comments.length && Number(comments[n].created_ms) <= wall) n++;
  if (n < shown) chat.setAll(comments.slice(0, n).reverse());
  else for (let i = shown; i < n; i++) chat.add(comments[i]);
  shown = n;
  $('[data-chat-count]').textContent = comments.length ? `${n} of ${comments.length}` : '';
}

async function loadComments(rec) {
  const all = [];
  let before = null;
  for (let page = 0; page < kMaxCommentPages; page++) {
    const after = before === null ? '' : `&before=${encodeURIComponent(before)}`;
    const d = await get(`/api/streams/${encodeURIComponent(username)}/comments?session=${encodeURIComponent(rec.session_id)}&limit=${kCommentPage}${after}`);
    all.push(...(d?.comments || []));
    before = d?.next_before ?? null;
    if (before === null) break;
  }
  // Only this session's (a server without ?session= would answer every session's).
  return all
    .filter((c) => String(c.session_id) === String(rec.session_id))
    .sort((a, b) => Number(a.created_ms) - Number(b.created_ms) || Number(a.id) - Number(b.id));
}

// ---------- playback ----------

async function play(rec) {
  video.hidden = false;
  $('[data-stage]').dataset.replay = 'loading';
  showState('Loading…', 'Fetching the recording.', 'video');
  video.addEventListener('loadeddata', () => {
    overlay.hidden = true;
    $('[data-stage]').dataset.replay = 'playing';
  }, { once: true });
  if (nativeHls(video)) {
    video.addEventListener('error', () => cannotPlay('The browser could not play it.'), { once: true });
    video.src = rec.playlist_url;
  } else {
    let Hls;
    try {
      Hls = await loadHlsJs();
    } catch {
      cannotPlay('The player could not be loaded.');
      return;
    }
    if (!Hls.isSupported()) {
      cannotPlay('This browser has no Media Source Extensions.');
      return;
    }
    // From the start even while still recorded (an EVENT playlist would start at its end).
    hls = new Hls({ enableWorker: false, startPosition: 0 });
    let recovered = false;
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data?.fatal) return;
      if (data.response?.code === 404) return notAvailable(); // hidden or deleted meanwhile
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        hls.recoverMediaError();
        return;
      }
      cannotPlay('Its video could not be loaded.');
    });
    hls.loadSource(rec.playlist_url);
    hls.attachMedia(video);
  }
  video.play().catch(() => {
    // Autoplay refused (it is muted, so rarely): the controls' play button starts it.
  });
}

function showRecording(rec, displayName) {
  const when = formatDate(rec.started_ms);
  document.title = `${displayName} · ${when} · DreamStream`;
  $('[data-title]').textContent = `${displayName}’s broadcast`;
  $('[data-when]').textContent = `· ${when}`;
  $('[data-badges]').replaceChildren(...recordingBadges(rec).filter(Boolean));
  $('[data-duration]').textContent = formatLength(rec.duration_ms);
  const peak = Number(rec.peak_viewers) || 0;
  $('[data-peak]').textContent = `${peak} peak ${peak === 1 ? 'viewer' : 'viewers'}`;
  // The MP4 is made when the broadcast ends (the server answers 409 until then).
  $('[data-download]').hidden = rec.state !== 'complete';
  $('[data-download]').href = rec.download_url;
  $('[data-download]').setAttribute('download', `${username}-${rec.session_id}.mp4`);
  $('[data-stats]').hidden = false;
  $('[data-chat-card]').hidden = false;
}

async function start() {
  const channel = $('[data-channel-link]');
  channel.href = `/u/${encodeURIComponent(username)}`;
  channel.textContent = `@${username}`;
  $('[data-avatar]').textContent = username.slice(0, 1);
  await initNav();
  let rec;
  let info = null;
  try {
    [rec, info] = await Promise.all([
      findRecording(username, sessionId),
      get(`/api/streams/${encodeURIComponent(username)}`).catch(() => null),
    ]);
  } catch (err) {
    if (err.status === 404) notAvailable();
    else showState('Could not load the recording', err.message, 'alert');
    return;
  }
  if (!rec) {
    notAvailable();
    return;
  }
  const displayName = info?.display_name || username;
  $('[data-avatar]').textContent = displayName.slice(0, 1);
  showRecording(rec, displayName);

  // The playlist's dates and the comments, then the chat follows the video.
  const [playlist, list] = await Promise.all([
    fetch(rec.playlist_url, { credentials: 'same-origin' }).then((r) => (r.ok ? r.text() : r.status), () => ''),
    loadComments(rec).catch(() => null),
  ]);
  if (playlist === 404) {
    notAvailable(); // hidden or deleted since it was listed
    return;
  }
  timeline = parseTimeline(typeof playlist === 'string' ? playlist : '', rec.started_ms);
  if (list === null) {
    chat.emptyText = 'The chat could not be loaded.';
  } else {
    comments = list;
    chat.emptyText = comments.length ? 'No comments yet at this point of the stream.' : 'Nobody wrote in the chat during this stream.';
  }
  chat.setAll([]);
  for (const type of ['timeupdate', 'seeking', 'seeked', 'ended', 'play']) video.addEventListener(type, syncChat);
  syncChat();
  await play(rec);
}

start();

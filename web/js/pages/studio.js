// Studio: go live from the webcam. Camera → canvas → JPEG → /ws/ingest (binary), dropping frames
// locally while the socket is backed up; the processed picture comes back through /ws/watch/<me>.
// Live figures come from the server's once-a-second status messages (docs/protocol.md); chat and
// style-request events arrive on the same ingest socket. The cockpit also holds the viewer
// settings (comments, styles, recording, policy, slot length), the style queue, chat moderation,
// the history of past streams with a viewers-over-time chart each, and the recordings.
//
// This file is the page's composition root: each section is a module under web/js/studio/,
// they share one explicit state object (studio/state.js), and here they are wired together.

import { openBuyDialog } from '../buy.js';
import { channelEvents } from '../live_events.js';
import { initNav } from '../nav.js';
import { createAudience } from '../studio/audience.js';
import { createCapture } from '../studio/capture.js';
import { createHistory } from '../studio/history.js';
import { loadLook } from '../studio/look.js';
import { createModeration } from '../studio/moderation.js';
import { createPreview } from '../studio/preview.js';
import { createRecordings } from '../studio/recordings.js';
import { watchRemoteStream } from '../studio/remote_stream.js';
import { createSession } from '../studio/session.js';
import { createStudioState } from '../studio/state.js';
import { createStatusPanel } from '../studio/status_panel.js';
import { createStyleQueue } from '../studio/style_queue.js';
import { $, h, loginUrl } from '../ui.js';

const state = createStudioState();

const capture = createCapture(state);
const preview = createPreview(state);
const panel = createStatusPanel(state, { preview });
const recordings = createRecordings(state);
// Switched on while live, a recording starts with the next keyframe: the list looks again.
const audience = createAudience({ onSaved: (field) => field === 'record' && recordings.load() });
const styles = createStyleQueue(state, { onEnabled: audience.setStylesEnabled });
const moderation = createModeration(state);
const history = createHistory();

const session = createSession(state, {
  panel,
  capture,
  preview,
  channelEvents: channelEvents({
    onComment: moderation.add,
    onCommentDeleted: moderation.remove,
    onStyles: styles.render,
    onSettings: audience.fill,
  }),
  onConnected: () => {
    moderation.load();
    styles.load();
    recordings.load();
  },
  afterStream: () => {
    panel.refreshCredits();
    history.load();
    styles.load();
    recordings.load();
  },
});

function initCockpit() {
  $('[data-cockpit]').hidden = false;
  styles.init();
  moderation.init();
  audience.load();
  styles.load();
  moderation.load();
  watchRemoteStream(state, { styles, audience, moderation });
}

$('[data-start]').addEventListener('click', session.start);
$('[data-stop]').addEventListener('click', session.stop);
$('[data-buy]').addEventListener('click', () => {
  if (!state.me) location.assign(loginUrl());
  else openBuyDialog({ centsPerMinute: state.centsPerMinute });
});
window.addEventListener('pagehide', () => {
  if (state.live.phase === 'live') navigator.sendBeacon?.('/api/streams/stop');
});

panel.renderMetrics();
state.me = await initNav();
const { me } = state;
if (!me) {
  panel.setPhase('offline', 'Log in to go live.');
  panel.showAlert(
    'info',
    'Log in or create an account to stream. New accounts get 12 free credits: one hour of streaming.',
    h('div', { class: 'row' }, h('a', { class: 'btn btn-primary btn-sm', href: loginUrl() }, 'Log in'), h('a', { class: 'btn btn-sm', href: '/register' }, 'Create account')),
  );
  $('[data-minutes]').textContent = '0';
} else {
  const link = $('[data-watch-link]');
  link.href = `/u/${encodeURIComponent(me.username)}`;
  link.hidden = false;
  panel.setPhase('offline');
  panel.renderCredits(me.balance_cents, me.remaining_minutes);
  panel.refreshCredits();
  loadLook(state);
  initCockpit();
  history.load();
  recordings.load();
  if (!navigator.mediaDevices?.getUserMedia) {
    panel.showAlert('warning', 'This browser cannot share a camera here. Use a current browser over https or localhost, or stream with a script and your stream key.');
    $('[data-start]').disabled = true;
  }
}

// The ingest socket (/ws/ingest): the camera's JPEGs go up (capture.js sends them), the
// server's status, errors, end of stream and the channel's events come down. A dropped
// connection is retried a few times; a close code that means the stream is over ends it.

import { CloseCode, openLiveSocket } from '../protocol.js';
import { toast } from '../ui.js';

const kReconnectTries = 4;
const kBadFrameToastMs = 5000;

// deps: panel (status_panel.js), capture (capture.js), channelEvents (live_events.js handlers
// for comment / styles / settings), onConnected() to catch up on what the events would have
// said, onEnded(reason, message) and fail(message) from session.js.
export function createIngest(state, { panel, capture, channelEvents, onConnected, onEnded, fail }) {
  const { live } = state;

  function onClose(ws, { code }) {
    if (live.ingest !== ws) return;
    capture.stopSending();
    if (live.ended || live.phase === 'stopping' || live.phase === 'offline') return;
    if (code === CloseCode.no_credits) return onEnded('no_credits');
    if (code === CloseCode.replaced) return onEnded('replaced');
    if (code === CloseCode.ended) return onEnded('stopped');
    if (code === CloseCode.unauthorized) return fail('Your session has expired. Log in again to stream.');
    if (code === CloseCode.forbidden) return fail('The server refused this page’s origin.');
    if (live.reconnects < kReconnectTries) {
      live.reconnects += 1;
      panel.setPhase('starting', `Connection lost; reconnecting (try ${live.reconnects} of ${kReconnectTries})…`);
      setTimeout(() => {
        if (live.phase === 'starting') open();
      }, 500 * 2 ** live.reconnects);
    } else {
      fail('The connection to the server was lost.');
    }
    panel.renderMetrics();
  }

  function open() {
    const ws = openLiveSocket('/ws/ingest', {
      binaryType: 'arraybuffer',
      frames: 'inline', // output frames come back here too; one message each
      events: {
        ...channelEvents,
        status: panel.onStatus,
        error: (msg) => {
          if (Date.now() - live.lastBadFrameToast > kBadFrameToastMs) {
            live.lastBadFrameToast = Date.now();
            toast(msg.message || 'The server rejected a frame.', 'error');
          }
        },
        ended: (msg) => {
          live.ended = true;
          onEnded(msg.reason, msg.message);
        },
      },
      onOpen: () => {
        live.reconnects = 0;
        panel.setPhase('live', 'You are live. Viewers see the re-imagined picture.');
        capture.startSending();
        panel.renderMetrics();
        // A new session (or a reconnect): catch up on what the events would have said.
        onConnected();
      },
      onClose: (close) => onClose(ws, close),
    });
    live.ingest = ws;
  }

  function close() {
    const ws = live.ingest;
    live.ingest = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CloseCode.normal, 'stopped');
  }

  return { open, close };
}

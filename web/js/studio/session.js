// Going live and ending: the camera, POST /api/streams/start and /stop, the ingest socket and the
// preview socket, and what the studio says when a stream ends for any reason (stopped here,
// out of credits, taken over by another tab, the server restarting, a lost connection).

import { post } from '../api.js';
import { toast } from '../ui.js';
import { createIngest } from './ingest.js';

// deps: panel, capture, preview (the studio modules of those names), channelEvents and
// onConnected for the ingest socket (see ingest.js), afterStream() to reload what a finished
// stream changed (credits, history, the style queue).
export function createSession(state, { panel, capture, preview, channelEvents, onConnected, afterStream }) {
  const { live } = state;
  const ingest = createIngest(state, { panel, capture, channelEvents, onConnected, onEnded, fail });

  function closeSockets() {
    capture.stopSending();
    ingest.close();
    preview.close();
  }

  function fail(message) {
    closeSockets();
    capture.closeCamera();
    panel.setPhase('offline');
    panel.showAlert('error', message);
    panel.renderMetrics();
  }

  function onEnded(reason, message) {
    closeSockets();
    capture.closeCamera();
    panel.setPhase('offline', 'Your stream has ended.');
    if (reason === 'no_credits') panel.noCreditsAlert();
    else if (reason === 'replaced') panel.showAlert('warning', 'Your stream continued from another tab or device, so this one stopped sending.');
    else if (reason === 'server_shutdown') panel.showAlert('warning', 'The server is restarting; your stream was ended and billed up to the last frame.');
    else if (reason !== 'stopped') panel.showAlert('info', message || 'Your stream has ended.');
    afterStream();
    // Nothing is live any more: show dashes rather than the last stream's figures.
    live.status = null;
    panel.renderMetrics();
  }

  async function start() {
    panel.clearAlert();
    live.ended = false;
    live.droppedLocal = 0;
    live.status = null;
    live.reconnects = 0;
    panel.setPhase('starting', 'Turning on your camera…');
    try {
      await capture.openCamera();
    } catch (e) {
      const denied = e?.name === 'NotAllowedError' || e?.name === 'SecurityError';
      return fail(
        denied
          ? 'Camera access was blocked. Allow the camera for this site in your browser, then try again.'
          : 'No camera could be opened. Check that one is connected and not used by another app.',
      );
    }
    panel.setPhase('starting', 'Starting your stream…');
    try {
      await post('/api/streams/start', {});
    } catch (e) {
      if (e.status === 402) {
        capture.closeCamera();
        panel.setPhase('offline');
        panel.noCreditsAlert('No credits left: you need at least 1 credit to go live.');
        return;
      }
      if (e.status !== 409) return fail(e.status === 404 ? 'Streaming is not available on this server yet.' : e.message);
      // 409: a stream is already active for this account; this tab takes it over.
    }
    panel.setPhase('starting', 'Connecting…');
    ingest.open();
    preview.open();
  }

  async function stop() {
    panel.setPhase('stopping', 'Ending your stream…');
    try {
      await post('/api/streams/stop', {});
    } catch (e) {
      if (e.status !== 404 && e.status !== 409) toast(e.message, 'error');
    }
    closeSockets();
    capture.closeCamera();
    panel.setPhase('offline', 'Stream ended.');
    afterStream();
    panel.renderMetrics();
  }

  return { start, stop };
}

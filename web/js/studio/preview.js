// The processed picture beside the camera: the studio watches its own stream on
// /ws/watch/<me>, like a viewer, and shows each JPEG through a blob URL.

import { CloseCode, openLiveSocket } from '../protocol.js';
import { $ } from '../ui.js';

export function createPreview(state) {
  const { live } = state;
  const output = $('[data-output]');

  function showOverlay(title, text) {
    $('[data-out-title]').textContent = title;
    $('[data-out-text]').textContent = text;
    $('[data-out-overlay]').hidden = false;
  }

  function showOffline() {
    showOverlay('Offline', 'The re-imagined picture appears here once you are live.');
    output.hidden = true;
  }

  function open() {
    let url = null;
    const ws = openLiveSocket(`/ws/watch/${encodeURIComponent(state.me.username)}`, {
      events: {
        state: (msg) => {
          if (msg.state === 'waiting' && live.phase === 'live') {
            showOverlay('Waiting for the model…', 'The first re-imagined frame is on its way.');
          }
        },
      },
      frames: 'inline',
      onFrame: (blob) => {
        const previous = url;
        url = URL.createObjectURL(blob);
        output.onload = () => previous && URL.revokeObjectURL(previous);
        output.src = url;
        output.hidden = false;
        $('[data-out-overlay]').hidden = true;
      },
      onClose: () => {
        if (live.watch === ws && live.phase === 'live') setTimeout(() => live.phase === 'live' && open(), 1000);
      },
    });
    live.watch = ws;
  }

  function close() {
    const ws = live.watch;
    live.watch = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CloseCode.normal, 'stopped');
  }

  return { open, close, showOffline };
}

// Streaming from a script (stream key) while moderating here: no ingest socket in this tab
// carries the channel events, so while that stream is live the cockpit looks for news every
// few seconds (styles, settings, comments).

import { get } from '../api.js';

const kPollMs = 5000;

// styles, audience, moderation: the studio modules of those names.
export function watchRemoteStream(state, { styles, audience, moderation }) {
  async function poll() {
    if (state.live.phase !== 'offline' || document.hidden) return;
    try {
      const info = await get(`/api/streams/${encodeURIComponent(state.me.username)}`);
      if (!info?.live) return;
      if (info.styles) styles.render(info.styles);
      if (info.settings) audience.fill(info.settings);
      await moderation.syncLatest();
    } catch {
      // try again on the next round
    }
  }
  setInterval(poll, kPollMs);
}

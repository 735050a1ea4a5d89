// Where a recording's video was in wall-clock time, from its VOD playlist: each segment's
// #EXT-X-PROGRAM-DATE-TIME and #EXTINF. The replay page shows a comment once the playback
// position has passed the moment it was written. A playlist may have gaps (recording switched
// off and on again, #EXT-X-DISCONTINUITY): a comment written in a gap shows at the next segment.
//
//   const tl = parseTimeline(playlistText, startedMs);
//   tl.wallAt(12.5)        // ms since the epoch shown at 12.5 s into the video
//   tl.positionOf(wallMs)  // seconds into the video where wallMs is (or would be) shown

export function parseTimeline(text, startedMs) {
  const segments = []; // {start (s into the video), duration (s), pdt (ms)}
  let start = 0;
  let duration = null;
  let pdt = null;
  for (const raw of String(text || '').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) {
      duration = Number.parseFloat(line.slice(8));
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const t = Date.parse(line.slice(25));
      pdt = Number.isFinite(t) ? t : null;
    } else if (line && !line.startsWith('#') && duration !== null && Number.isFinite(duration)) {
      // A segment without its own date follows the one before it (or the session's start).
      const prev = segments[segments.length - 1];
      const at = pdt ?? (prev ? prev.pdt + prev.duration * 1000 : Number(startedMs) || 0);
      segments.push({ start, duration, pdt: at });
      start += duration;
      duration = null;
      pdt = null;
    }
  }
  return new Timeline(segments, Number(startedMs) || 0);
}

class Timeline {
  constructor(segments, startedMs) {
    this.segments = segments;
    this.startedMs = startedMs;
    this.duration = segments.reduce((sum, s) => sum + s.duration, 0);
  }

  wallAt(seconds) {
    const t = Math.max(0, Number(seconds) || 0);
    let seg = null;
    for (const s of this.segments) {
      if (s.start > t) break;
      seg = s;
    }
    if (!seg) return this.startedMs + t * 1000;
    return seg.pdt + (t - seg.start) * 1000;
  }

  positionOf(wallMs) {
    for (const s of this.segments) {
      if (wallMs < s.pdt + s.duration * 1000) return s.start + Math.max(0, wallMs - s.pdt) / 1000;
    }
    return this.segments.length ? this.duration : Math.max(0, (wallMs - this.startedMs) / 1000);
  }
}

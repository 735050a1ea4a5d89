// Recordings of past streams (docs/api.md#recordings), shared by the studio's list, the channel
// page's "Past broadcasts" and the replay page: fetching them, and one list row each.
//
//   Recording = {session_id, started_ms, ended_ms|null, duration_ms, bytes, peak_viewers, public,
//                state: "recording"|"complete", playlist_url, download_url}

import { get } from './api.js';
import { formatDate, formatMinutes, h, icon } from './ui.js';

// The replay page of one recording.
export function recordingPath(username, sessionId) {
  return `/u/${encodeURIComponent(username)}/sessions/${encodeURIComponent(sessionId)}`;
}

// A page of a channel's recordings, newest first: public ones, and private ones for the owner.
export function listRecordings(username, { before = null, limit = 10 } = {}) {
  const after = before === null ? '' : `&before=${encodeURIComponent(before)}`;
  return get(`/api/users/${encodeURIComponent(username)}/recordings?limit=${limit}${after}`);
}

// One recording, or null where the caller may not see it (private, deleted, never recorded):
// the list's page that starts just above its id. Ids may pass 2^53, hence BigInt.
export async function findRecording(username, sessionId) {
  if (!/^[1-9][0-9]{0,17}$/.test(sessionId)) return null;
  const before = (BigInt(sessionId) + 1n).toString();
  const { recordings = [] } = await listRecordings(username, { before, limit: 1 });
  const r = recordings[0];
  return r && String(r.session_id) === sessionId ? r : null;
}

// "42 s", "12 min", "1 h 5 min".
export function formatLength(ms) {
  const secs = Math.round(Math.max(0, Number(ms) || 0) / 1000);
  return secs < 60 ? `${secs} s` : formatMinutes(Math.round(secs / 60));
}

// A position in a recording: "0:42", "12:05", "1:02:09".
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const hours = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function formatBytes(n) {
  const bytes = Math.max(0, Number(n) || 0);
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

// The badges a recording's title carries: still being recorded, and (seen by its owner) private.
export function recordingBadges(r) {
  return [
    r.state === 'recording' ? h('span', { class: 'badge badge-live', 'data-recording-badge': '' }, 'Recording') : null,
    r.public ? null : h('span', { class: 'badge badge-warn', 'data-private-badge': '' }, 'Private'),
  ];
}

// One <li> of an .item-list: the date linking to the replay page, what it holds, and `actions`
// (the studio's controls) on the right.
export function recordingItem(r, username, { meta = [], actions = null } = {}) {
  const when = formatDate(r.started_ms);
  return h(
    'li',
    { 'data-recording-id': r.session_id, 'data-testid': 'recording' },
    h('div', { class: 'item-icon' }, icon('video')),
    h(
      'div',
      { class: 'item-main' },
      h('div', { class: 'item-title' }, h('a', { href: recordingPath(username, r.session_id) }, when), ...recordingBadges(r)),
      h('div', { class: 'item-meta' }, [formatLength(r.duration_ms), ...meta].filter(Boolean).join(' · ')),
    ),
    actions,
  );
}

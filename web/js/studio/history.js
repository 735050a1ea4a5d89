// Past streams: a table of the streamer's sessions (newest first, paged) with duration, cost,
// peak viewers, comment and style counts and a viewers-over-time chart each.

import { get } from '../api.js';
import { viewersChart } from '../chart.js';
import { $, formatCredits, formatDate, formatMinutes, h } from '../ui.js';

const kEndLabels = { completed: 'Completed', ended_no_credits: 'Out of credits', interrupted: 'Interrupted', live: 'Live', created: 'Starting' };
const kHistoryPage = 5;
const kHistoryColumns = ['Started', 'Status', 'Duration', 'Cost', 'Peak viewers', 'Comments', 'Styles', 'Viewers over time'];

function durationText(s) {
  const first = Number(s.first_frame_ms) || 0;
  const end = Number(s.ended_ms) || (s.status === 'live' ? Date.now() : 0);
  if (first && end > first) {
    const secs = Math.round((end - first) / 1000);
    if (secs < 60) return `${secs} s`;
    return formatMinutes(Math.round(secs / 60));
  }
  return formatMinutes(s.duration_minutes ?? 0);
}

function chartCell(session) {
  const cell = h('td', { class: 'chart-cell' }, h('span', { class: 'faint small' }, '…'));
  get(`/api/streams/sessions/${encodeURIComponent(session.id)}/viewers`).then(
    (d) => cell.replaceChildren(viewersChart(d?.samples || [], { label: `Viewers over time, stream of ${formatDate(session.first_frame_ms || session.created_ms)}` })),
    () => cell.replaceChildren(h('span', { class: 'faint small' }, '—')),
  );
  return cell;
}

function historyRow(s) {
  const badgeClass = s.status === 'completed' ? 'badge-ok' : s.status === 'live' ? 'badge-live' : s.status === 'ended_no_credits' ? 'badge-danger' : '';
  const cells = [
    h('td', {}, formatDate(s.first_frame_ms || s.created_ms)),
    h('td', {}, h('span', { class: `badge ${badgeClass}` }, kEndLabels[s.status] || s.status)),
    h('td', { class: 'num' }, durationText(s)),
    h('td', { class: 'num' }, s.cost ?? formatCredits(s.cost_cents)),
    h('td', { class: 'num' }, String(s.max_viewers ?? 0)),
    h('td', { class: 'num' }, String(s.comment_count ?? 0)),
    h('td', { class: 'num' }, String(s.style_request_count ?? 0)),
    chartCell(s),
  ];
  // Phones show each row as a card; the label comes from the column.
  cells.forEach((td, i) => (td.dataset.label = kHistoryColumns[i]));
  return h('tr', { 'data-session-id': s.id }, cells);
}

function historyTable(body) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-stack', 'data-testid': 'stream-history' },
      h('caption', { class: 'visually-hidden' }, 'Your recent streams'),
      h('thead', {}, h('tr', {}, kHistoryColumns.map((label, i) => h('th', { scope: 'col', class: i >= 2 && i <= 6 ? 'num' : null }, label)))),
      body,
    ),
  );
}

export function createHistory() {
  let next = null; // the next page's `before`, null on the last page

  async function load({ more = false } = {}) {
    let data;
    const before = more && next !== null ? `&before=${encodeURIComponent(next)}` : '';
    try {
      data = await get(`/api/streams/sessions?limit=${kHistoryPage}${before}`);
    } catch {
      return;
    }
    const sessions = data?.sessions || [];
    next = data?.next_before ?? null;
    $('[data-history-card]').hidden = false;
    $('[data-history-pager]').hidden = next === null;
    const box = $('[data-history]');
    if (!more && !sessions.length) {
      box.replaceChildren(h('p', { class: 'muted' }, 'No streams yet. Your first one will show up here.'));
      return;
    }
    let body = box.querySelector('tbody');
    if (!more || !body) {
      body = h('tbody', {});
      box.replaceChildren(historyTable(body));
    }
    body.append(...sessions.map(historyRow));
  }

  $('[data-history-more]').addEventListener('click', async (e) => {
    const button = e.currentTarget; // null once the event is dispatched, so kept
    button.disabled = true;
    await load({ more: true });
    button.disabled = false;
  });

  return { load };
}

// Live chat and style requests, shared by the watch page and the studio: the comment log, the
// style-request lists and the current style with the time left in its slot. Everything a user
// typed goes into the DOM as text (textContent / text nodes), never as markup.

import { h } from './ui.js';

const timeFmt = new Intl.DateTimeFormat('en', { hour: '2-digit', minute: '2-digit' });
const kMaxComments = 200;

export function authorName(author) {
  return author?.display_name || author?.username || 'someone';
}

function authorBadge(author, { streamer, me }) {
  const name = author?.username;
  if (name && name === streamer) return h('span', { class: 'badge badge-accent' }, 'Streamer');
  if (name && me && name === me.username) return h('span', { class: 'badge' }, 'You');
  return null;
}

// The chat log: oldest at the top, newest at the bottom, one <li> per comment keyed by id, so a
// comment that arrives both as the POST reply and as the live event shows once.
export class CommentList {
  // timeText(comment): the time shown next to it (the replay page shows the position in the
  // recording); the time of day when absent.
  constructor(list, { me = null, streamer = '', canDelete = () => false, onDelete = null, emptyText = 'No comments yet.', timeText = null } = {}) {
    this.list = list;
    this.timeText = timeText;
    this.me = me;
    this.streamer = streamer;
    this.canDelete = canDelete;
    this.onDelete = onDelete;
    this.emptyText = emptyText;
    this.items = new Map();
    this.renderEmpty();
  }

  setUser(me) {
    this.me = me;
    const all = [...this.items.values()].map((li) => li.comment);
    this.setAll(all.reverse());
  }

  // Comments newest first, as GET .../comments lists them.
  setAll(comments) {
    this.items.clear();
    this.list.replaceChildren();
    for (const c of [...comments].reverse()) this.append(c);
    this.renderEmpty();
    this.scrollToEnd();
  }

  // An older page (newest first) goes above what is shown, keeping the reader's place.
  prependOlder(comments) {
    const before = this.list.scrollHeight;
    for (const c of comments) {
      if (this.items.has(c.id)) continue;
      const li = this.item(c);
      this.items.set(c.id, li);
      this.list.prepend(li);
    }
    this.list.scrollTop += this.list.scrollHeight - before;
    this.renderEmpty();
  }

  add(comment) {
    if (!comment || this.items.has(comment.id)) return;
    const stick = this.nearEnd();
    this.append(comment);
    while (this.items.size > kMaxComments) this.remove(this.list.querySelector('.chat-msg').comment.id);
    this.renderEmpty();
    if (stick) this.scrollToEnd();
  }

  remove(id) {
    const li = this.items.get(id) ?? this.items.get(Number(id));
    if (!li) return;
    this.items.delete(li.comment.id);
    li.remove();
    this.renderEmpty();
  }

  append(comment) {
    const li = this.item(comment);
    this.items.set(comment.id, li);
    // Live events can overtake each other; keep the log in id order.
    const next = [...this.list.children].find((el) => el.comment && el.comment.id > comment.id);
    this.list.insertBefore(li, next || null);
  }

  item(comment) {
    const name = authorName(comment.author);
    const when = Number(comment.created_ms) || Date.now();
    const del =
      this.onDelete && this.canDelete(comment)
        ? h(
            'button',
            {
              class: 'btn btn-ghost btn-sm chat-delete',
              type: 'button',
              'aria-label': `Delete comment by ${name}`,
              title: 'Delete comment',
              onclick: (e) => this.onDelete(comment, e.currentTarget),
            },
            'Delete',
          )
        : null;
    const li = h(
      'li',
      { class: 'chat-msg', 'data-comment-id': comment.id },
      h(
        'div',
        { class: 'chat-meta' },
        h('span', { class: 'chat-author', title: comment.author?.username ? `@${comment.author.username}` : null }, name),
        authorBadge(comment.author, { streamer: this.streamer, me: this.me }),
        h(
          'time',
          { class: 'chat-time', datetime: new Date(when).toISOString(), title: this.timeText ? timeFmt.format(new Date(when)) : null },
          this.timeText ? this.timeText(comment) : timeFmt.format(new Date(when)),
        ),
        del,
      ),
      h('p', { class: 'chat-body' }, comment.body ?? ''),
    );
    li.comment = comment;
    return li;
  }

  renderEmpty() {
    let empty = this.list.querySelector('.chat-empty');
    if (this.items.size) {
      empty?.remove();
      return;
    }
    if (!empty) {
      empty = h('li', { class: 'chat-empty' }, this.emptyText);
      this.list.append(empty);
    }
  }

  nearEnd() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 60;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}

// ---------- style requests ----------

export const kStyleStatus = {
  pending: 'Awaiting approval',
  queued: 'Queued',
  active: 'Playing now',
  done: 'Played',
  rejected: 'Rejected',
  skipped: 'Skipped',
  cleared: 'Cleared',
};

// One style request as a list row; actions are [label, handler, className] triples.
export function styleItem(request, { position, actions = [], me = null, note = '' } = {}) {
  const mine = me && request.author?.username === me.username;
  const meta = [`by ${authorName(request.author)}`];
  if (position) meta.unshift(`#${position}`);
  if (note) meta.push(note);
  return h(
    'li',
    { class: 'style-item', 'data-style-id': request.id, 'data-status': request.status },
    h(
      'div',
      { class: 'item-main' },
      h('div', { class: 'style-prompt' }, request.prompt ?? ''),
      h('div', { class: 'item-meta' }, meta.join(' · '), mine ? h('span', { class: 'badge' }, 'You') : null),
    ),
    actions.length
      ? h(
          'div',
          { class: 'style-actions' },
          actions.map(([label, onclick, cls, aria]) =>
            h('button', { class: `btn btn-sm ${cls || ''}`.trim(), type: 'button', onclick, 'aria-label': aria || null }, label),
          ),
        )
      : null,
  );
}

// Seconds left in the current slot (null for the base style or an unknown end). The server's
// clock sets ends_ms; clamping to the slot length bounds the error of a skewed client clock.
export function slotSecondsLeft(styles, now = Date.now()) {
  const cur = styles?.current;
  if (!cur || cur.source !== 'request' || !cur.ends_ms) return null;
  const slot = Number(styles.slot_seconds) || 0;
  let left = Math.ceil((Number(cur.ends_ms) - now) / 1000);
  if (slot > 0) left = Math.min(left, slot);
  return Math.max(0, left);
}

export function formatSeconds(total) {
  const s = Math.max(0, Math.round(Number(total) || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// The "now playing" block: prompt, who asked for it, a countdown and a progress bar.
export class CurrentStyle {
  constructor(root) {
    this.root = root;
    this.styles = null;
    this.prompt = h('div', { class: 'style-now-prompt', 'data-testid': 'current-style', 'aria-live': 'polite' });
    this.meta = h('div', { class: 'item-meta', 'data-style-meta': '' });
    this.fill = h('div', { class: 'meter-fill' });
    this.meter = h('div', { class: 'meter', 'aria-hidden': 'true' }, this.fill);
    root.replaceChildren(h('div', { class: 'stat-label' }, 'Current style'), this.prompt, this.meta, this.meter);
    this.timer = setInterval(() => this.tick(), 1000);
  }

  set(styles) {
    this.styles = styles;
    const cur = styles?.current;
    const prompt = cur?.prompt || '';
    this.prompt.textContent = prompt || 'The model’s own look';
    this.prompt.classList.toggle('faint', !prompt);
    this.tick();
  }

  tick() {
    const cur = this.styles?.current;
    const left = slotSecondsLeft(this.styles);
    if (cur?.source === 'request') {
      const by = `Requested by ${authorName(cur.request?.author)}`;
      this.meta.textContent = left === null ? by : `${by} · ${formatSeconds(left)} left`;
      const slot = Number(this.styles.slot_seconds) || 0;
      this.meter.hidden = left === null || !slot;
      if (slot && left !== null) this.fill.style.width = `${Math.min(100, (100 * left) / slot)}%`;
    } else {
      this.meta.textContent = cur ? 'Base style: plays while no request is queued' : '';
      this.meter.hidden = true;
    }
  }
}

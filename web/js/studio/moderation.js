// Chat moderation: the stream's comments, live from the channel events, with earlier ones on
// request and a delete button on each.

import { del, get } from '../api.js';
import { CommentList } from '../chat.js';
import { $, humanMessage, toast } from '../ui.js';

// init() once logged in, before comments are shown.
export function createModeration(state) {
  let comments = null; // the CommentList
  let nextBefore = null;

  const commentsApi = (rest = '') => `/api/streams/${encodeURIComponent(state.me.username)}/comments${rest}`;

  async function deleteComment(comment, button) {
    button.disabled = true;
    try {
      await del(commentsApi(`/${encodeURIComponent(comment.id)}`));
      comments.remove(comment.id);
    } catch (err) {
      button.disabled = false;
      if (err.status === 404) comments.remove(comment.id);
      else toast(humanMessage(err), 'error');
    }
  }

  function init() {
    comments = new CommentList($('[data-chat-list]'), {
      me: state.me,
      streamer: state.me.username,
      emptyText: 'No comments yet. They appear here live while you stream.',
      canDelete: () => true,
      onDelete: deleteComment,
    });
  }

  function showOlder(d) {
    nextBefore = d?.next_before ?? null;
    $('[data-older]').hidden = nextBefore === null;
  }

  async function load() {
    if (!state.me) return;
    try {
      const d = await get(commentsApi('?limit=50'));
      comments.setAll(d?.comments || []);
      showOlder(d);
    } catch {
      // keep what is shown
    }
  }

  // Brings the list in line with the newest page of comments, for when no socket in this tab
  // carries the events. Throws when the server cannot be reached.
  async function syncLatest() {
    const d = await get(commentsApi('?limit=50'));
    const latest = d?.comments || [];
    const ids = new Set(latest.map((c) => c.id));
    const oldest = latest.length ? Math.min(...ids) : Infinity;
    for (const c of [...latest].reverse()) comments.add(c);
    for (const id of [...comments.items.keys()]) if (id >= oldest && !ids.has(id)) comments.remove(id);
  }

  $('[data-older]').addEventListener('click', async (e) => {
    if (nextBefore === null) return;
    const button = e.currentTarget; // null once the event is dispatched, so kept
    button.disabled = true;
    try {
      const d = await get(commentsApi(`?limit=50&before=${encodeURIComponent(nextBefore)}`));
      comments.prependOlder(d?.comments || []);
      showOlder(d);
    } catch (err) {
      toast(humanMessage(err), 'error');
    } finally {
      button.disabled = false;
    }
  });

  return {
    init,
    load,
    syncLatest,
    add: (comment) => comments?.add(comment),
    remove: (id) => comments?.remove(id),
  };
}

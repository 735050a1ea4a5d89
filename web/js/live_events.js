// The channel events that both the viewers' /ws/watch socket and the streamer's /ws/ingest socket
// carry (docs/protocol.md): a new comment, a deleted comment, the style queue, the stream's
// settings. The watch page and the studio handle them alike; this turns the page's callbacks
// into `events` handlers for openLiveSocket (protocol.js).

export function channelEvents({ onComment, onCommentDeleted, onStyles, onSettings }) {
  return {
    comment: (msg) => msg.comment && onComment(msg.comment),
    comment_deleted: (msg) => onCommentDeleted(msg.id),
    styles: (msg) => msg.styles && onStyles(msg.styles),
    settings: (msg) => msg.settings && onSettings(msg.settings),
  };
}

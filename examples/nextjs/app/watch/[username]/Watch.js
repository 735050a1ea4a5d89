"use client";

import { useEffect, useRef, useState } from "react";
import { PUBLIC_DREAMSTREAM_URL } from "@/lib/config";
import { renderViewer, Viewer } from "dreamstream";

const STATE_TEXT = { offline: "offline", live: "live", waiting: "waiting for the model", ended: "ended" };

export default function Watch({ username, initialComments, initialViewers, signedIn }) {
  const canvas = useRef(null);
  const [state, setState] = useState("connecting");
  const [viewers, setViewers] = useState(initialViewers);
  const [comments, setComments] = useState(initialComments);  // newest first
  const [shown, setShown] = useState(0);

  useEffect(() => {
    let closed = false;
    const viewer = new Viewer(PUBLIC_DREAMSTREAM_URL, username, {
      onEvent: (e) => {
        if (e.type === "state") setState(e.state);
        else if (e.type === "viewers") setViewers(e.count);
        else if (e.type === "comment") {
          setComments((cs) => (cs.some((c) => c.id === e.comment.id) ? cs : [e.comment, ...cs]));
        } else if (e.type === "comment_deleted") setComments((cs) => cs.filter((c) => c.id !== e.id));
      },
      onClose: () => { if (!closed) setState("disconnected"); },
    });
    // Latest wins: a frame that arrives while the previous one is still being drawn replaces it.
    const render = renderViewer(viewer, canvas.current);
    viewer.connect().catch(() => setState("disconnected"));
    const tick = setInterval(() => setShown(render.stats.rendered), 1000);
    return () => {
      closed = true;
      clearInterval(tick);
      render.stop();
      viewer.close();
    };
  }, [username]);

  return (
    <div className="screens">
      <div>
        <canvas ref={canvas} className="screen" data-testid="picture" />
        <p>
          <span data-testid="state">{STATE_TEXT[state] ?? state}</span> ·{" "}
          <span data-testid="viewers">{viewers}</span> watching ·{" "}
          <span data-testid="frames">{shown}</span> frames shown
        </p>
      </div>
      <Chat username={username} comments={comments} signedIn={signedIn} />
    </div>
  );
}

function Chat({ username, comments, signedIn }) {
  const [error, setError] = useState(null);

  async function post(e) {
    e.preventDefault();
    const form = e.currentTarget;
    const body = new FormData(form).get("body");
    setError(null);
    const res = await fetch(`/api/streams/${encodeURIComponent(username)}/comments`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ body }),
    });
    if (res.ok) form.reset();  // the comment comes back through the viewer socket
    else setError((await res.json()).error?.message || "could not post");
  }

  return (
    <section>
      <h2>Chat</h2>
      {signedIn ? (
        <form onSubmit={post}>
          <label>Comment<input name="body" maxLength={500} required /></label>
          <button>Send</button>
        </form>
      ) : (
        <p><a href="/">Sign in</a> to chat.</p>
      )}
      {error && <p className="error" role="alert">{error}</p>}
      <ul className="comments" data-testid="comments">
        {comments.map((c) => (
          <li key={c.id}><b>{c.author.display_name || c.author.username}</b>{c.body}</li>
        ))}
      </ul>
    </section>
  );
}

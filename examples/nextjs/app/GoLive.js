"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { PUBLIC_DREAMSTREAM_URL } from "@/lib/config";
import { closeMeaning, renderViewer, Streamer, streamCamera } from "dreamstream";

// Webcam -> JPEG frames -> DreamStream's ingest socket, with the streamer's live status and the
// processed picture (the ingest socket carries it back: renderViewer draws a Streamer's output
// as it does a Viewer's, so no second socket is needed).
export default function GoLive({ user }) {
  const router = useRouter();
  const [live, setLive] = useState(false);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const camera = useRef(null);
  const output = useRef(null);
  const running = useRef(null);  // {media, streamer, capture, render}

  function teardown() {
    const r = running.current;
    running.current = null;
    if (!r) return;
    r.capture?.stop();
    r.render?.stop();
    r.media.getTracks().forEach((t) => t.stop());
    r.streamer?.close();
  }

  useEffect(() => teardown, []);

  async function goLive() {
    setBusy(true);
    setError(null);
    try {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      running.current = { media };
      camera.current.srcObject = media;
      // A single-use ticket from our route handler; connecting with it starts the stream.
      const res = await fetch("/api/stream", { method: "POST" });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error?.message || "could not get an ingest ticket");
      const streamer = new Streamer(PUBLIC_DREAMSTREAM_URL, {
        ticket: body.ticket,
        onStatus: setStatus,
        onEvent: (e) => { if (e.type === "ended") setError(e.message || `stream ended: ${e.reason}`); },
        onClose: ({ code }) => {
          if (code !== 1000 && code !== 1005) setError((e) => e || `disconnected: ${closeMeaning(code)}`);
          teardown();
          setLive(false);
        },
      });
      running.current.streamer = streamer;
      running.current.render = renderViewer(streamer, output.current);
      await streamer.connect();
      // Frames are dropped (not queued) while the socket is backed up, so lag never builds up.
      running.current.capture = streamCamera(streamer, media, { fps: 10, width: 640, height: 480, quality: 0.7 });
      setLive(true);
    } catch (err) {
      teardown();
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }

  async function stop() {
    setBusy(true);
    teardown();
    setLive(false);
    // Closing the socket alone would leave the stream open for its reconnect grace period.
    await fetch("/api/stream", { method: "DELETE" }).catch(() => {});
    setBusy(false);
  }

  async function signOut() {
    teardown();
    await fetch("/api/session", { method: "DELETE" });
    router.refresh();
  }

  return (
    <>
      <p>
        Signed in as <b data-testid="username">{user.username}</b> ({user.remaining_minutes} minutes of
        credit). Viewers watch at <Link href={`/watch/${user.username}`}>/watch/{user.username}</Link>.{" "}
        <button onClick={signOut}>Sign out</button>
      </p>
      <p>
        {live
          ? <button onClick={stop} disabled={busy}>Stop</button>
          : <button onClick={goLive} disabled={busy}>Go live</button>}
      </p>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="screens">
        <figure>
          <video ref={camera} className="screen" autoPlay muted playsInline />
          <figcaption>Camera</figcaption>
        </figure>
        <figure>
          <canvas ref={output} className="screen" data-testid="output" />
          <figcaption>What viewers see</figcaption>
        </figure>
      </div>
      <StreamerStatus live={live} status={status} />
    </>
  );
}

function StreamerStatus({ live, status }) {
  if (!live || !status) return <p data-testid="stream-state">{live ? "connecting…" : "offline"}</p>;
  return (
    <dl className="stats">
      <dt>State</dt><dd data-testid="stream-state">{status.state}</dd>
      <dt>Viewers</dt><dd>{status.viewers}</dd>
      <dt>Frames in / out</dt><dd>{status.fps_in?.toFixed(1)} / {status.fps_out?.toFixed(1)} fps</dd>
      <dt>Model time</dt><dd>{status.model_ms} ms</dd>
      <dt>Frame age</dt><dd>{status.frame_age_ms} ms</dd>
      <dt>Workers busy</dt><dd>{status.workers?.busy} of {status.workers?.total}</dd>
      <dt>Credit left</dt><dd>{status.remaining_minutes} minutes</dd>
    </dl>
  );
}

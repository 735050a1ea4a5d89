// Browser rendering: shows the processed frames a Viewer (or a Streamer's ingest socket) receives
// in an <img> or a <canvas>, latest wins: while one frame is being decoded and drawn, newer ones
// replace each other and only the newest is drawn next, so a slow page never falls behind.
//
//   import { Viewer, canDecodeVideo, renderViewer } from "dreamstream";
//   const video = (await canDecodeVideo()) ? "h264" : null;
//   const viewer = await new Viewer(url, "alice", { video }).connect();
//   const view = renderViewer(viewer, document.querySelector("canvas"));
//   ... view.path ("h264" or "jpeg"), view.stats.rendered, view.stats.skipped; view.stop();
//
// A Viewer with the video option hands H.264 access units to a VideoPlayer (video.js, WebCodecs)
// that draws into the same target; JPEG frames the socket carries meanwhile (before the first
// keyframe) are drawn too, unless a video picture was drawn in the last two seconds. When the
// video cannot be decoded (no WebCodecs or no H.264 on this page, checked at once, or a decoder
// error), the viewer reconnects without it (Viewer.dropVideo) and the frames go on as JPEG.
//
// Importing this module is harmless in Node; calling it needs a DOM.

import { VideoPlayer, canDecodeVideo } from "./video.js";

// A JPEG frame is not drawn over video pictures younger than this.
const kVideoFreshMs = 2000;

function isImage(target) {
  return typeof HTMLImageElement !== "undefined" && target instanceof HTMLImageElement;
}

function isCanvas(target) {
  return (typeof HTMLCanvasElement !== "undefined" && target instanceof HTMLCanvasElement) ||
         (typeof OffscreenCanvas !== "undefined" && target instanceof OffscreenCanvas);
}

// An <img>: each frame becomes an object URL; the previous one is revoked once the new one has
// loaded (and the last one on stop()).
function imagePainter(img) {
  let shown = null;
  return {
    async paint(jpeg) {
      const url = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
      img.src = url;
      try {
        if (typeof img.decode === "function") await img.decode();
        else await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; });
      } catch (err) {
        URL.revokeObjectURL(url);
        throw err;
      }
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
    },
    close() {
      if (shown) URL.revokeObjectURL(shown);
      shown = null;
    },
  };
}

// A <canvas>: createImageBitmap + drawImage. resize (default) sets the canvas to each frame's
// size; with resize: false the frame is scaled to the canvas.
function canvasPainter(canvas, resize) {
  const ctx = canvas.getContext("2d");
  return {
    async paint(jpeg) {
      const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
      try {
        if (resize && (canvas.width !== bitmap.width || canvas.height !== bitmap.height)) {
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
        }
        ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      } finally {
        bitmap.close();
      }
    },
    close() {},
  };
}

// Draws each frame `source` receives into `target` (an HTMLCanvasElement, an OffscreenCanvas or
// an HTMLImageElement). `source` is a Viewer (its onFrame, and onVideo when it asked for video)
// or a Streamer (its onOutput: the processed frames of one's own stream); a callback already set
// there is still called. stats.rendered counts pictures drawn (JPEG frames and video pictures),
// stats.skipped JPEG frames replaced by a newer one before they could be drawn (and frames that
// failed to decode, reported to onError); stats.video is the VideoPlayer's counters once video
// came. onRender(frame) is called after each picture is drawn ({jpeg, seq, captured_ms,
// processed_ms, info}; a video picture has an empty jpeg and its unit's header as info). path is
// "h264" or "jpeg" after the first picture (onPath(path) on each change). stop() unhooks from
// the source; an <img>'s object URL is revoked.
export function renderViewer(source, target, { resize = true, onRender, onError, onPath } = {}) {
  if (!source || typeof source !== "object") throw new TypeError("renderViewer needs a Viewer or a Streamer");
  let painter;
  if (isImage(target)) painter = imagePainter(target);
  else if (isCanvas(target)) painter = canvasPainter(target, resize);
  else throw new TypeError("renderViewer draws into an HTMLCanvasElement, an OffscreenCanvas or an HTMLImageElement");

  const stats = { rendered: 0, skipped: 0, video: null };
  let pending = null;  // the newest frame not drawn yet
  let drawing = false;
  let stopped = false;
  let path = null;
  let player = null;
  let videoFailed = false;
  let lastVideoDraw = -Infinity;

  const setPath = (p) => {
    if (path === p) return;
    path = p;
    onPath?.(p);
  };

  async function drain() {
    drawing = true;
    while (pending && !stopped) {
      const frame = pending;
      pending = null;
      try {
        await painter.paint(frame.jpeg);
        if (stopped) break;
        stats.rendered++;
        setPath("jpeg");
        onRender?.(frame);
      } catch (err) {
        stats.skipped++;
        if (onError) onError(err);
        else console.error("dreamstream renderViewer:", err);
      }
    }
    drawing = false;
    if (stopped) painter.close();  // a frame that finished after stop() leaves no object URL
  }

  const take = (frame) => {
    if (stopped) return;
    if (performance.now() - lastVideoDraw < kVideoFreshMs) {
      stats.skipped++;
      return;
    }
    if (pending) stats.skipped++;
    pending = frame;
    if (!drawing) drain();
  };

  const fallBack = (err) => {
    if (videoFailed || stopped) return;
    videoFailed = true;
    player = null;
    lastVideoDraw = -Infinity;
    if (onError) onError(err);
    else console.warn("dreamstream renderViewer: video failed, going back to JPEG:", err?.message ?? err);
    const dropped = source.dropVideo?.();
    dropped?.catch?.(() => { /* the viewer's onClose tells */ });
  };

  const takeVideo = (unit) => {
    if (stopped || videoFailed) return;
    if (!player) {
      try {
        player = new VideoPlayer(target, {
          resize,
          onDraw: (header) => {
            lastVideoDraw = performance.now();
            stats.rendered++;
            setPath("h264");
            onRender?.({ jpeg: new Uint8Array(0), seq: header.seq, captured_ms: header.captured_ms,
                         processed_ms: header.processed_ms, info: header });
          },
          onError: fallBack,
        });
        stats.video = player.stats;
      } catch (err) {
        fallBack(err);
        return;
      }
    }
    player.push(unit.info ?? unit, unit.data);
  };

  // Viewer: onFrame(frame) and onVideo(unit); Streamer: onOutput(jpeg, header).
  const key = "onFrame" in source || !("onOutput" in source) ? "onFrame" : "onOutput";
  const before = source[key];
  const hook = key === "onFrame"
    ? (frame) => { before?.call(source, frame); take(frame); }
    : (jpeg, header) => {
        before?.call(source, jpeg, header);
        const h = header ?? {};
        take({ jpeg, seq: h.seq, captured_ms: h.captured_ms, processed_ms: h.processed_ms, info: h });
      };
  source[key] = hook;
  const videoBefore = key === "onFrame" ? source.onVideo : undefined;
  const videoHook = (unit) => { videoBefore?.call(source, unit); takeVideo(unit); };
  if (key === "onFrame") source.onVideo = videoHook;
  // A Viewer that asked for video on a page that cannot decode it goes back to JPEG at once.
  if (key === "onFrame" && source.video && typeof source.dropVideo === "function") {
    canDecodeVideo().then((ok) => {
      if (!ok) fallBack(new Error("this page cannot decode H.264 with WebCodecs (VideoDecoder missing, or not a secure context)"));
    });
  }

  return {
    stats,
    get path() { return path; },
    stop() {
      if (stopped) return;
      stopped = true;
      pending = null;
      if (source[key] === hook) source[key] = before;
      if (key === "onFrame" && source.onVideo === videoHook) source.onVideo = videoBefore;
      player?.close();
      painter.close();
    },
  };
}

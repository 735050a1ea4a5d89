// Browser rendering: shows the processed frames a Viewer (or a Streamer's ingest socket) receives
// in an <img> or a <canvas>, latest wins: while one frame is being decoded and drawn, newer ones
// replace each other and only the newest is drawn next, so a slow page never falls behind.
//
//   import { Viewer, renderViewer } from "dreamstream";
//   const viewer = await new Viewer(url, "alice").connect();
//   const view = renderViewer(viewer, document.querySelector("canvas"));
//   ... view.stats.rendered, view.stats.skipped; view.stop();
//
// Importing this module is harmless in Node; calling it needs a DOM.

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
// an HTMLImageElement). `source` is a Viewer (its onFrame) or a Streamer (its onOutput: the
// processed frames of one's own stream); a callback already set there is still called.
// stats.rendered counts frames drawn, stats.skipped frames replaced by a newer one before they
// could be drawn (and frames that failed to decode, reported to onError). onRender(frame) is
// called after each frame is drawn ({jpeg, seq, captured_ms, processed_ms, info}).
// stop() unhooks from the source; an <img>'s object URL is revoked.
export function renderViewer(source, target, { resize = true, onRender, onError } = {}) {
  if (!source || typeof source !== "object") throw new TypeError("renderViewer needs a Viewer or a Streamer");
  let painter;
  if (isImage(target)) painter = imagePainter(target);
  else if (isCanvas(target)) painter = canvasPainter(target, resize);
  else throw new TypeError("renderViewer draws into an HTMLCanvasElement, an OffscreenCanvas or an HTMLImageElement");

  const stats = { rendered: 0, skipped: 0 };
  let pending = null;  // the newest frame not drawn yet
  let drawing = false;
  let stopped = false;

  async function drain() {
    drawing = true;
    while (pending && !stopped) {
      const frame = pending;
      pending = null;
      try {
        await painter.paint(frame.jpeg);
        if (stopped) break;
        stats.rendered++;
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
    if (pending) stats.skipped++;
    pending = frame;
    if (!drawing) drain();
  };

  // Viewer: onFrame(frame); Streamer: onOutput(jpeg, header).
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

  return {
    stats,
    stop() {
      if (stopped) return;
      stopped = true;
      pending = null;
      if (source[key] === hook) source[key] = before;
      painter.close();
    },
  };
}

// Browser capture: a MediaStream (a webcam, a screen share, a canvas stream) turned into JPEG
// frames at a chosen rate and size, never building a backlog: a tick is dropped while the
// previous frame is still being encoded or handed on. streamCamera() wires that to a Streamer
// with the studio page's rule for a backed-up socket.
//
//   import { Streamer, streamCamera } from "dreamstream";
//   const camera = await navigator.mediaDevices.getUserMedia({ video: true });
//   const streamer = await new Streamer(url, { key }).connect();
//   const capture = streamCamera(streamer, camera, { fps: 10, width: 640, height: 480 });
//   ... capture.stats.captured, capture.stats.dropped; capture.stop();
//
// Importing this module is harmless in Node; calling it needs a DOM (or an OffscreenCanvas
// and a video element).

// The studio's rule: a socket with more queued than this (or 1.5 frames) is backed up.
const kMinBufferedBytes = 256 * 1024;

function positive(name, value, max = Infinity) {
  const v = Number(value);
  if (!Number.isFinite(v) || v <= 0 || v > max) throw new RangeError(`${name} must be a number in (0, ${max}]`);
  return v;
}

// A playing <video> for the stream, or the caller's own element.
function videoFor(source) {
  if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement) return { video: source, owned: false };
  if (typeof document === "undefined") throw new Error("captureFrames needs a browser (document)");
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  video.srcObject = source;
  video.play().catch(() => { /* autoplay of a muted element is allowed; a frame check follows */ });
  return { video, owned: true };
}

function makeCanvas(width, height) {
  if (typeof OffscreenCanvas !== "undefined") {
    const canvas = new OffscreenCanvas(width, height);
    if (typeof canvas.convertToBlob === "function") return canvas;
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function encodeJpeg(canvas, quality) {
  if (typeof canvas.convertToBlob === "function") return canvas.convertToBlob({ type: "image/jpeg", quality });
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas gave no JPEG"))), "image/jpeg", quality);
  });
}

// Captures `source` (a MediaStream, or an HTMLVideoElement already showing one) as JPEG frames.
// Every 1000/fps ms the newest picture is drawn into a canvas that fits inside width×height
// (keeping the source's aspect ratio, never enlarging it), encoded at `quality` (0–1), and passed
// to onFrame(jpeg: Uint8Array, {width, height, index}).
//
// Latest wins: a tick is dropped (stats.dropped) while the previous frame is still encoding,
// while the promise onFrame returned for it is pending, or when `ready()` says false (checked
// before drawing, so nothing is encoded for nothing). A frame onFrame refuses — it returns or
// resolves to `false`, or throws (reported to onError) — counts as dropped too; every other
// frame counts in stats.captured. Ticks before the video has a picture count in neither.
//
// stop() ends the timer and detaches the video element this created; the tracks of the stream
// are the caller's to stop.
export function captureFrames(source, { fps = 10, width = 640, height = 480, quality = 0.8, onFrame, ready,
                                        onError } = {}) {
  if (typeof onFrame !== "function") throw new TypeError("captureFrames needs onFrame(jpeg)");
  const period = 1000 / positive("fps", fps, 60);
  positive("width", width);
  positive("height", height);
  positive("quality", quality, 1);
  const { video, owned } = videoFor(source);
  let canvas = null;
  let ctx = null;
  let busy = false;
  let stopped = false;
  let index = 0;
  const stats = { captured: 0, dropped: 0 };

  const fail = (err) => {
    stats.dropped++;
    if (onError) onError(err);
    else console.error("dreamstream captureFrames:", err);
  };

  async function tick() {
    if (stopped || !video.videoWidth || !video.videoHeight) return;
    if (busy || (ready && !ready())) {
      stats.dropped++;
      return;
    }
    busy = true;
    try {
      const scale = Math.min(width / video.videoWidth, height / video.videoHeight, 1);
      const w = Math.max(16, Math.round(video.videoWidth * scale));
      const h = Math.max(16, Math.round(video.videoHeight * scale));
      if (!canvas) {
        canvas = makeCanvas(w, h);
        ctx = canvas.getContext("2d");
      }
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      ctx.drawImage(video, 0, 0, w, h);
      const blob = await encodeJpeg(canvas, quality);
      if (stopped) return;
      const jpeg = new Uint8Array(await blob.arrayBuffer());
      if (stopped) return;
      const accepted = await onFrame(jpeg, { width: w, height: h, index: index++ });
      if (accepted === false) stats.dropped++;
      else stats.captured++;
    } catch (err) {
      if (!stopped) fail(err);
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(tick, Math.max(1, Math.round(period)));
  return {
    stats,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (owned) {
        video.pause();
        video.srcObject = null;
      }
    },
  };
}

// Streams `source` to a connected Streamer: captureFrames() whose frames go through
// streamer.sendJpeg(). A tick is dropped before anything is drawn while the socket is backed up:
// more than `maxBufferedBytes` queued in it (default: the studio page's rule, the larger of
// 256 KiB and 1.5 times the last frame). stats.captured counts frames handed to the socket.
// Capture stops by itself when the streamer's socket closes. Other options as captureFrames;
// onFrame(jpeg, info), if given, sees each frame before it is sent and may return false to skip it.
export function streamCamera(streamer, source, { maxBufferedBytes, onFrame, ...opts } = {}) {
  if (!streamer || typeof streamer.sendJpeg !== "function") throw new TypeError("streamCamera needs a Streamer");
  let lastSize = 0;
  const limit = () => maxBufferedBytes ?? Math.max(kMinBufferedBytes, lastSize * 1.5);
  const handle = captureFrames(source, {
    ...opts,
    ready: () => streamer.isOpen && streamer.ws.bufferedAmount <= limit() && (!opts.ready || opts.ready()),
    onFrame: async (jpeg, info) => {
      if (onFrame && (await onFrame(jpeg, info)) === false) return false;
      lastSize = jpeg.byteLength;
      return streamer.sendJpeg(jpeg, { maxBufferedBytes: limit() });
    },
  });
  streamer.closed?.then(() => handle.stop());
  return handle;
}

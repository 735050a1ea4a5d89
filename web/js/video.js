// H.264 video from the viewer socket (`/ws/watch/<name>?video=h264`, docs/protocol.md, "Video"),
// decoded with WebCodecs and drawn into a <canvas> (or an <img>). No I/O: whoever reads the
// socket (a Viewer, or a page's own socket) hands each access unit to push(header, bytes).
//
//   if (await canDecodeVideo()) { ...connect with ?video=h264... }
//   const player = new VideoPlayer(canvas, { onError: () => reconnectWithoutVideo() });
//   player.push(header, bytes);   // for each {"type":"video",…} inline message
//
// The decoder runs in Annex-B mode (no `description`): SPS and PPS come in every keyframe, whose
// header carries the codec string and size. Nothing is decoded before the first keyframe; units
// marked decode_only (the GOP a joining viewer gets up to the current picture) are decoded and
// not drawn; every VideoFrame is closed. When the decoder falls behind, units are dropped up to
// the next keyframe instead of queueing. A decoder error (an unsupported configuration included)
// ends the player: `failed` holds the error and onError is called once, and the caller goes back
// to JPEG frames. WebCodecs exists only in secure contexts (HTTPS, localhost, 127.0.0.1).
//
// This file is the same in clients/js/video.js (the SDK) and web/js/video.js (the site's pages,
// which serve web/ only); tests/browser/video.test.mjs checks that the two stay identical.

// Constrained baseline, level 3.0: what is asked of the browser before any keyframe has named
// the stream's own codec string.
export const VIDEO_PROBE_CODEC = "avc1.42E01E";

// Whether this page can decode the video option: WebCodecs present and the codec supported.
export async function canDecodeVideo({ codec = VIDEO_PROBE_CODEC } = {}) {
  const Decoder = globalThis.VideoDecoder;
  if (typeof Decoder !== "function" || typeof Decoder.isConfigSupported !== "function") return false;
  if (typeof globalThis.EncodedVideoChunk !== "function") return false;
  try {
    return (await Decoder.isConfigSupported({ codec })).supported === true;
  } catch {
    return false;
  }
}

// What the page says about its playback path (a tooltip, a data attribute).
export function videoPathLabel(path) {
  if (path === "h264") return "H.264 (WebCodecs)";
  if (path === "jpeg") return "JPEG";
  return "";
}

function isCanvasTarget(target) {
  return (typeof HTMLCanvasElement !== "undefined" && target instanceof HTMLCanvasElement) ||
         (typeof OffscreenCanvas !== "undefined" && target instanceof OffscreenCanvas);
}

function isImageTarget(target) {
  return typeof HTMLImageElement !== "undefined" && target instanceof HTMLImageElement;
}

// A canvas: each picture is drawn at once (resize: the canvas takes the picture's size).
function canvasSink(canvas, resize) {
  const ctx = canvas.getContext("2d");
  return {
    draw(frame) {
      try {
        if (resize && (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight)) {
          canvas.width = frame.displayWidth;
          canvas.height = frame.displayHeight;
        }
        ctx.drawImage(frame, 0, 0, canvas.width, canvas.height);
      } finally {
        frame.close();
      }
      return true;
    },
    close() {},
  };
}

// An <img>: the picture goes through an OffscreenCanvas and an object URL, latest wins (a
// picture that arrives while the previous one is still being turned into an image replaces the
// one waiting). The previous URL is revoked once the new one is shown.
function imageSink(img) {
  let waiting = null;
  let busy = false;
  let shown = null;
  let closed = false;
  async function drain() {
    busy = true;
    while (waiting && !closed) {
      const frame = waiting;
      waiting = null;
      let blob;
      try {
        const c = new OffscreenCanvas(frame.displayWidth, frame.displayHeight);
        c.getContext("2d").drawImage(frame, 0, 0);
        frame.close();
        blob = await c.convertToBlob({ type: "image/jpeg", quality: 0.95 });
      } catch {
        frame.close();
        continue;
      }
      if (closed) break;
      const url = URL.createObjectURL(blob);
      img.src = url;
      try {
        await img.decode();
      } catch {
        // a newer picture replaced it
      }
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
    }
    busy = false;
  }
  return {
    draw(frame) {
      if (waiting) waiting.close();
      waiting = frame;
      if (!busy) drain();
      return true;
    },
    close() {
      closed = true;
      if (waiting) waiting.close();
      waiting = null;
      if (shown) URL.revokeObjectURL(shown);
      shown = null;
    },
  };
}

// Decodes the units of one video socket into `target`. Options:
//   resize    a canvas takes each picture's size (default true)
//   maxQueue  units waiting in the decoder past which deltas are dropped up to the next keyframe
//             (decode_only units, the catch-up burst a joiner gets, are never dropped)
//   onDraw(header)  after each picture is drawn, with its unit's header (seq, ts_ms, captured_ms…)
//   onError(err)    once, when decoding failed; the player is closed then
// stats: units (pushed), decoded (pictures out of the decoder), drawn, hidden (decode_only
// pictures), dropped (units not decoded: before the first keyframe, or skipped to a keyframe).
export class VideoPlayer {
  constructor(target, { resize = true, maxQueue = 16, onDraw, onError } = {}) {
    if (isCanvasTarget(target)) this._sink = canvasSink(target, resize);
    else if (isImageTarget(target)) this._sink = imageSink(target);
    else throw new TypeError("VideoPlayer draws into an HTMLCanvasElement, an OffscreenCanvas or an HTMLImageElement");
    if (typeof globalThis.VideoDecoder !== "function") throw new Error("this page has no WebCodecs VideoDecoder");
    this.maxQueue = maxQueue;
    this.onDraw = onDraw;
    this.onError = onError;
    this.stats = { units: 0, decoded: 0, drawn: 0, hidden: 0, dropped: 0 };
    this.failed = null;
    this.closed = false;
    this.config = null;  // {codec, codedWidth, codedHeight} the decoder was last configured with
    this._decoder = null;
    this._needKey = true;
    this._headers = new Map();  // chunk timestamp (µs) -> the unit's header, until its picture comes out
    this._catchUp = 0;  // decode_only units given to the decoder whose pictures have not come out
  }

  // One access unit: header {type:"video", key, decode_only, ts_ms, codec?, width?, height?, …}
  // and its Annex-B bytes (Uint8Array, ArrayBuffer or a view).
  push(header, data) {
    if (this.closed) return;
    this.stats.units++;
    const key = header?.key === true;
    try {
      if (key && typeof header.codec === "string") this._configure(header);
      if (!this._decoder || this._decoder.state !== "configured") {
        this.stats.dropped++;
        return;
      }
      // Behind (or not started): the next keyframe starts again; nothing queues. A joiner's
      // catch-up units (decode_only) come all at once by design and are never counted as behind.
      const behind = !header.decode_only && this._decoder.decodeQueueSize - this._catchUp > this.maxQueue;
      if (!key && (this._needKey || behind)) {
        this._needKey = true;
        this.stats.dropped++;
        return;
      }
      this._needKey = false;
      if (header.decode_only) this._catchUp++;
      const timestamp = Math.round(Number(header.ts_ms) * 1000) || 0;
      this._headers.set(timestamp, header);
      if (this._headers.size > 64) this._headers.delete(this._headers.keys().next().value);
      this._decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp, data }));
    } catch (err) {
      this._fail(err);
    }
  }

  _configure(header) {
    const config = { codec: header.codec, optimizeForLatency: true };
    if (header.width > 0 && header.height > 0) {
      config.codedWidth = header.width;
      config.codedHeight = header.height;
    }
    const same = this.config && this.config.codec === config.codec &&
                 this.config.codedWidth === config.codedWidth && this.config.codedHeight === config.codedHeight;
    if (same && this._decoder?.state === "configured") return;
    if (!this._decoder || this._decoder.state === "closed") {
      this._decoder = new VideoDecoder({
        output: (frame) => this._output(frame),
        error: (err) => this._fail(err),
      });
    }
    // An unsupported configuration is reported through the error callback.
    this._decoder.configure(config);
    this.config = config;
  }

  _output(frame) {
    if (this.closed) {
      frame.close();
      return;
    }
    this.stats.decoded++;
    const header = this._headers.get(frame.timestamp);
    this._headers.delete(frame.timestamp);
    if (header?.decode_only) {
      this._catchUp = Math.max(0, this._catchUp - 1);
      this.stats.hidden++;
      frame.close();
      return;
    }
    try {
      this._sink.draw(frame);
    } catch (err) {
      this._fail(err);
      return;
    }
    this.stats.drawn++;
    this.onDraw?.(header ?? {});
  }

  _fail(err) {
    if (this.failed || this.closed) return;
    this.failed = err instanceof Error ? err : new Error(String(err?.message ?? err));
    this.close();
    this.onError?.(this.failed);
  }

  // Stops decoding; frames still in the decoder are closed. The last picture stays on a canvas.
  close() {
    if (this.closed) return;
    this.closed = true;
    this._headers.clear();
    try {
      if (this._decoder && this._decoder.state !== "closed") this._decoder.close();
    } catch {
      // already closed
    }
    this._sink.close();
  }
}

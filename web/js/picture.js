// The live picture of the watch and embed pages. With WebCodecs (secure contexts: HTTPS,
// localhost, 127.0.0.1) the page asks its /ws/watch socket for H.264 (`?video=h264`) and draws
// the decoded pictures into a <canvas>; the JPEG frames that socket may still carry (before the
// first keyframe) and every frame of a socket without video go to an <img> through blob URLs.
// Whichever drew last is shown; a JPEG does not replace video pictures younger than 2 s. When
// the video cannot be decoded (a decoder error, an unsupported configuration) onVideoFailed is
// called once and wantVideo() says no from then on: the page reconnects without video.
// The path in use is written where it stays out of the way: `data-playback` ("h264" / "jpeg") on
// the indicator element and a tooltip on the picture.

import { VideoPlayer, canDecodeVideo, videoPathLabel } from './video.js';

const kVideoFreshMs = 2000;

export class LivePicture {
  constructor({ img, canvas, indicator, onShown, onPath, onVideoFailed }) {
    Object.assign(this, { img, canvas, indicator, onShown, onPath, onVideoFailed });
    this.path = null; // 'h264' or 'jpeg': what drew the last picture
    this.videoFailed = false;
    this.player = null;
    this.visible = false;
    this._can = null;
    this._url = null;
    this._lastVideo = -Infinity;
  }

  // Whether the next socket should ask for video: WebCodecs and the codec, and no failure yet.
  async wantVideo() {
    if (this.videoFailed) return false;
    this._can ??= canDecodeVideo();
    return this._can;
  }

  // A JPEG frame (a Blob) and its `frame` header.
  showJpeg(blob, header) {
    if (performance.now() - this._lastVideo < kVideoFreshMs) return;
    const url = URL.createObjectURL(blob);
    const previous = this._url;
    this._url = url;
    const done = () => {
      if (previous) URL.revokeObjectURL(previous);
    };
    this.img.onload = done;
    this.img.onerror = done;
    this.img.src = url;
    this._shown('jpeg', header);
  }

  // One H.264 access unit: its `video` header and Annex-B bytes.
  pushVideo(header, bytes) {
    if (this.videoFailed) return;
    if (!this.player) {
      try {
        this.player = new VideoPlayer(this.canvas, {
          onDraw: (h) => {
            this._lastVideo = performance.now();
            this._shown('h264', h);
          },
          onError: (err) => this._fail(err),
        });
      } catch (err) {
        this._fail(err);
        return;
      }
    }
    this.player.push(header, bytes);
  }

  // The socket is gone: its decoder goes with it (a new socket starts at a keyframe).
  reset() {
    this.player?.close();
    this.player = null;
    this._lastVideo = -Infinity;
  }

  setVisible(visible) {
    this.visible = visible;
    this.img.hidden = !(visible && this.path === 'jpeg');
    this.canvas.hidden = !(visible && this.path === 'h264');
  }

  _shown(path, header) {
    if (header?.seq !== undefined) {
      this.img.dataset.seq = String(header.seq);
      this.canvas.dataset.seq = String(header.seq);
    }
    if (this.path !== path) {
      this.path = path;
      const label = videoPathLabel(path);
      if (this.indicator) this.indicator.dataset.playback = path;
      this.img.title = this.canvas.title = `Playback: ${label}`;
      this.setVisible(this.visible);
      this.onPath?.(path, label);
    }
    this.onShown?.(header);
  }

  _fail(err) {
    if (this.videoFailed) return;
    this.videoFailed = true;
    this.player?.close();
    this.player = null;
    this._lastVideo = -Infinity;
    console.warn(`DreamStream: H.264 playback failed (${err?.message ?? err}); going back to JPEG frames`);
    this.onVideoFailed?.(err);
  }
}

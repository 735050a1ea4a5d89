// The live picture of the watch and embed pages. With WebCodecs (secure contexts: HTTPS,
// localhost, 127.0.0.1) the page asks its /ws/watch socket for H.264 (`?video=h264`) and draws
// the decoded pictures into a <canvas>; the JPEG frames that socket may still carry (before the
// first keyframe) and every frame of a socket without video go to an <img> through blob URLs.
// Whichever drew last is shown; a JPEG does not replace video pictures younger than 2 s. When
// the video cannot be decoded (a decoder error, an unsupported configuration) onVideoFailed is
// called once and wantVideo() says no from then on: the page reconnects without video.
// The third path is HLS in a <video> (hls_player.js): startHls() switches the picture to it for
// good (the socket's frames are ignored from then on); the pages take it when the socket cannot
// connect (kSocketTriesBeforeHls tries that never opened: a proxy that blocks WebSockets), when
// the page says `?playback=hls`, or when WebCodecs is missing and the browser plays HLS itself
// (Safari, iOS); without WebCodecs elsewhere the socket's JPEG frames stay the path.
// The path in use is written where it stays out of the way: `data-playback` ("h264" / "jpeg" /
// "hls") on the indicator element and a tooltip on the picture.

import { HlsPlayback, hlsUrl, nativeHls } from './hls_player.js';
import { VideoPlayer, canDecodeVideo, videoPathLabel } from './video.js';

const kVideoFreshMs = 2000;
// Sockets that closed without ever opening, on a page whose socket never opened, before the
// picture goes to HLS.
export const kSocketTriesBeforeHls = 2;

// What the pages' tooltip says about a path.
function pathLabel(path, engine) {
  if (path === 'hls') return engine === 'native' ? 'HLS (native)' : 'HLS (hls.js)';
  return videoPathLabel(path);
}

// Which path the page starts with: 'hls' when the query says `playback=hls`, or when WebCodecs is
// missing and the browser plays HLS natively; else 'socket' (H.264 or JPEG over /ws/watch).
export async function initialPath({ video, query = new URLSearchParams(location.search) } = {}) {
  if (query.get('playback') === 'hls' && video) return 'hls';
  if (video && nativeHls(video) && !(await canDecodeVideo())) return 'hls';
  return 'socket';
}

export class LivePicture {
  constructor({ img, canvas, video, indicator, onShown, onPath, onVideoFailed }) {
    Object.assign(this, { img, canvas, video, indicator, onShown, onPath, onVideoFailed });
    this.path = null; // 'h264', 'jpeg' or 'hls': what drew the last picture
    this.hls = null; // the HlsPlayback once the picture went to HLS
    this.videoFailed = false;
    this.player = null;
    this.visible = false;
    this._can = null;
    this._url = null;
    this._lastVideo = -Infinity;
  }

  // The picture from HLS from now on (hls_player.js): the socket's frames are ignored, and the
  // socket should ask for no video. Callbacks: onEnded (the stream ended), onOffline (no live
  // playlist), onLive (playing starts). Pictures call onShown as the socket's do.
  startHls({ username, onLive, onEnded, onOffline } = {}) {
    if (this.hls || !this.video) return this.hls;
    this.reset();
    this.hls = new HlsPlayback(this.video, hlsUrl(username), {
      onPicture: (h) => this._shown('hls', h),
      onLive,
      onEnded,
      onOffline,
    });
    this._setPath('hls');
    this.hls.start();
    return this.hls;
  }

  // Whether the next socket should ask for video: WebCodecs and the codec, and no failure yet.
  async wantVideo() {
    if (this.videoFailed || this.hls) return false;
    this._can ??= canDecodeVideo();
    return this._can;
  }

  // A JPEG frame (a Blob) and its `frame` header.
  showJpeg(blob, header) {
    if (this.hls) return;
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
    if (this.videoFailed || this.hls) return;
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
    if (this.video) this.video.hidden = !(visible && this.path === 'hls');
  }

  _shown(path, header) {
    if (header?.seq !== undefined && path !== 'hls') {
      this.img.dataset.seq = String(header.seq);
      this.canvas.dataset.seq = String(header.seq);
    }
    this._setPath(path);
    this.onShown?.(header);
  }

  _setPath(path) {
    if (this.path === path) return;
    this.path = path;
    const label = pathLabel(path, this.hls?.engine);
    if (this.indicator) this.indicator.dataset.playback = path;
    this.img.title = this.canvas.title = `Playback: ${label}`;
    if (this.video) this.video.title = `Playback: ${label}`;
    this.setVisible(this.visible);
    this.onPath?.(path, label);
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

// The live stream as HLS in a <video>: the watch and embed pages' third path (picture.js), for
// where the viewer socket cannot carry the picture (a proxy that blocks WebSockets) or the page
// asks for it (`?playback=hls`). The server's playlist is `/u/<name>/live.m3u8` (LL-HLS: fMP4
// segments and parts, blocking playlist reload; 404 while the channel is offline,
// `#EXT-X-ENDLIST` once the stream has ended).
//
// Played by the browser itself where Apple's media stack is there (Safari, iOS: its native
// player does low-latency HLS), else by hls.js over Media Source Extensions with its
// low-latency mode. Chromium also says "maybe" to canPlayType('application/vnd.apple.mpegurl')
// nowadays, but its own player knows no LL-HLS parts: there hls.js plays. hls.js is vendored
// from npm by scripts/vendor_web.sh (web/js/vendor/hls/, licence next to it) and loaded only
// when this path is taken.
//
//   const hls = new HlsPlayback(video, hlsUrl('alice'), { onPicture, onEnded, onOffline });
//   hls.start();   // polls the playlist while offline, plays while live, polls again after
//   hls.stop();

const kHlsModule = '/static/js/vendor/hls/hls.light.min.mjs';
export const kHlsPollMs = 3000; // how often an offline channel's playlist is asked for again
const kEndGraceMs = 8000; // longest wait for the buffered tail after #EXT-X-ENDLIST

// hls.js's Hls class, loaded on first use (the replay page plays recordings with it too).
export async function loadHlsJs() {
  const { default: Hls } = await import(kHlsModule);
  return Hls;
}

export function hlsUrl(username) {
  return `/u/${encodeURIComponent(username)}/live.m3u8`;
}

// Whether the browser's own player should play HLS here: it says it can, and either there is no
// Media Source Extensions for hls.js (iOS before 17.1) or it is Apple's (AirPlay is WebKit's).
export function nativeHls(video) {
  if (!video?.canPlayType || !video.canPlayType('application/vnd.apple.mpegurl')) return false;
  const mse = globalThis.MediaSource || globalThis.ManagedMediaSource;
  return !mse || 'webkitShowPlaybackTargetPicker' in HTMLVideoElement.prototype;
}

export class HlsPlayback {
  // Callbacks: onPicture({seq, time}) for each picture shown (seq counts them), onLive() when the
  // playlist is there and playing starts, onEnded() after the stream ended (the playlist said
  // #EXT-X-ENDLIST and the tail has played), onOffline() when there is no live playlist (404, a
  // network error, a fatal player error).
  constructor(video, url, { onPicture, onLive, onEnded, onOffline } = {}) {
    Object.assign(this, { video, url, onPicture, onLive, onEnded, onOffline });
    this.engine = nativeHls(video) ? 'native' : 'hls.js';
    this.playing = false;
    this._stopped = true;
    this._hls = null;
    this._timer = null;
    this._endTimer = null;
    this._seq = 0;
    this._generation = 0; // bumped by every teardown: callbacks of an older player do nothing
    this._listeners = [];
  }

  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._check();
  }

  stop() {
    this._stopped = true;
    clearTimeout(this._timer);
    this._teardown();
  }

  // Look for a live playlist now (the socket said the stream went live) instead of at the next poll.
  poke() {
    if (this._stopped || this.playing) return;
    clearTimeout(this._timer);
    this._check();
  }

  // The socket says the stream is over: stop playing, look again later.
  restart() {
    if (this._stopped) return;
    clearTimeout(this._timer);
    this._teardown();
    this._schedule();
  }

  _schedule() {
    clearTimeout(this._timer);
    if (!this._stopped) this._timer = setTimeout(() => this._check(), kHlsPollMs);
  }

  // One plain GET of the playlist (no _HLS_ parameters: it answers at once): live, or not yet.
  async _check() {
    if (this._stopped || this.playing) return;
    const generation = this._generation;
    let live = false;
    try {
      const res = await fetch(this.url, { cache: 'no-store' });
      live = res.ok && !(await res.text()).includes('#EXT-X-ENDLIST');
    } catch {
      live = false;
    }
    if (this._stopped || generation !== this._generation || this.playing) return;
    if (!live) {
      this.onOffline?.();
      this._schedule();
      return;
    }
    try {
      await this._play();
    } catch (err) {
      console.warn(`DreamStream: HLS playback could not start (${err?.message ?? err})`);
      this._lost();
    }
  }

  async _play() {
    const generation = this._generation;
    const video = this.video;
    video.muted = true; // autoplay without a click; the stream has no sound
    video.playsInline = true;
    this._on(video, 'ended', () => this._ended());
    if (this.engine === 'native') {
      this._on(video, 'error', () => this._lost());
      video.src = this.url;
    } else {
      const Hls = await loadHlsJs();
      if (this._stopped || generation !== this._generation) return;
      if (!Hls.isSupported()) throw new Error('this browser has no Media Source Extensions');
      const hls = new Hls({
        lowLatencyMode: true, // LL-HLS parts and blocking playlist reload: about 2 s behind live
        enableWorker: false, // the pages' CSP allows no blob: workers; fMP4 needs no transmuxing
        backBufferLength: 10,
      });
      this._hls = hls;
      hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
        if (generation === this._generation && data?.details && !data.details.live) this._ending();
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (generation === this._generation && data?.fatal) this._lost();
      });
      hls.loadSource(this.url);
      hls.attachMedia(video);
    }
    this.playing = true;
    this._watchPictures(generation);
    this.onLive?.();
    video.play().catch(() => {
      // Refused until the media is there; hls.js and the native player start it themselves
      // through autoplay below.
    });
    video.autoplay = true;
  }

  // Each picture shown: requestVideoFrameCallback where the browser has it, else timeupdate.
  _watchPictures(generation) {
    const video = this.video;
    const shown = () => {
      this._seq++;
      this.video.dataset.seq = String(this._seq);
      this.onPicture?.({ seq: this._seq, time: video.currentTime });
    };
    if (typeof video.requestVideoFrameCallback === 'function') {
      const next = () => {
        if (generation !== this._generation) return;
        shown();
        video.requestVideoFrameCallback(next);
      };
      video.requestVideoFrameCallback(next);
    } else {
      this._on(video, 'timeupdate', () => {
        if (generation === this._generation && !video.paused) shown();
      });
    }
  }

  // #EXT-X-ENDLIST: the tail still buffered plays, then the stream has ended ('ended' fires when
  // hls.js ends the media source; the timer covers a tail that never completes).
  _ending() {
    if (this._endTimer) return;
    const video = this.video;
    const b = video.buffered;
    const left = b.length ? Math.max(0, b.end(b.length - 1) - video.currentTime) : 0;
    this._endTimer = setTimeout(() => this._ended(), Math.min(kEndGraceMs, left * 1000 + 1500));
  }

  _ended() {
    if (!this.playing) return;
    this._teardown();
    this.onEnded?.();
    this._schedule();
  }

  _lost() {
    this._teardown();
    this.onOffline?.();
    this._schedule();
  }

  _on(target, type, fn) {
    target.addEventListener(type, fn);
    this._listeners.push([target, type, fn]);
  }

  _teardown() {
    this._generation++;
    this.playing = false;
    clearTimeout(this._endTimer);
    this._endTimer = null;
    for (const [target, type, fn] of this._listeners) target.removeEventListener(type, fn);
    this._listeners = [];
    if (this._hls) {
      this._hls.destroy();
      this._hls = null;
    }
    const video = this.video;
    video.autoplay = false;
    if (video.getAttribute('src') !== null || video.currentSrc) {
      video.removeAttribute('src');
      video.load();
    }
  }
}

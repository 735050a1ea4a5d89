// Type declarations for capture.js: a MediaStream into JPEG frames (browsers).

import type { Streamer } from "./dreamstream.js";

/** What a capture loop is given: a MediaStream, or a <video> element already showing one. */
export type CaptureSource = MediaStream | HTMLVideoElement;

export interface FrameInfo {
  /** The frame's size: inside width×height, the source's aspect ratio, never enlarged. */
  width: number;
  height: number;
  /** 0, 1, 2, … for each frame encoded. */
  index: number;
}

export interface CaptureOptions {
  /** Frames a second, at most 60 (default 10). */
  fps?: number;
  /** The box the frame fits in (default 640×480). */
  width?: number;
  height?: number;
  /** JPEG quality, 0–1 (default 0.8). */
  quality?: number;
  /** Checked before each frame is drawn: false drops the tick (counted in stats.dropped). */
  ready?: () => boolean;
  /** Called when encoding or onFrame fails (the frame counts as dropped); console.error by default. */
  onError?: (error: unknown) => void;
}

/** A frame consumer: returning (or resolving to) false refuses the frame (counted as dropped);
 * while a returned promise is pending, new ticks are dropped. */
export type FrameConsumer = (jpeg: Uint8Array, info: FrameInfo) => boolean | void | Promise<boolean | void>;

export interface CaptureStats {
  /** Frames encoded and accepted by onFrame (for streamCamera: handed to the socket). */
  captured: number;
  /** Ticks dropped while busy or not ready, and frames refused or failed. */
  dropped: number;
}

export interface CaptureHandle {
  /** Live counters (updated in place). */
  readonly stats: CaptureStats;
  /** Stops the timer; the stream's tracks stay the caller's to stop. */
  stop(): void;
}

/** Captures `source` at `fps` into JPEGs given to onFrame, latest wins (never a backlog). */
export function captureFrames(source: CaptureSource, opts: CaptureOptions & { onFrame: FrameConsumer }): CaptureHandle;

export interface StreamCameraOptions extends CaptureOptions {
  /** Bytes queued in the socket above which ticks are dropped (default: the larger of 256 KiB
   * and 1.5 times the last frame, the studio page's rule). */
  maxBufferedBytes?: number;
  /** Sees each frame before it is sent; false skips it. */
  onFrame?: FrameConsumer;
}

/** captureFrames() into a connected Streamer's sendJpeg(); stops when its socket closes. */
export function streamCamera(streamer: Streamer, source: CaptureSource, opts?: StreamCameraOptions): CaptureHandle;

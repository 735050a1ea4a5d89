// Type declarations for render.js: processed frames (JPEG, or H.264 through WebCodecs) into a
// <canvas> or <img> (browsers).

import type { Frame, Streamer, Viewer } from "./dreamstream.js";
import type { VideoStats } from "./video.js";

export type RenderTarget = HTMLCanvasElement | OffscreenCanvas | HTMLImageElement;

export interface RenderOptions {
  /** A canvas takes each frame's size (default true); false scales frames to the canvas. */
  resize?: boolean;
  /** After each picture is drawn (a video picture's jpeg is empty and info is its unit's header). */
  onRender?: (frame: Frame) => void;
  /** A frame that failed to decode or draw (counted as skipped), or the video failing; console by default. */
  onError?: (error: unknown) => void;
  /** The path changed: "h264" (WebCodecs) or "jpeg". */
  onPath?: (path: "h264" | "jpeg") => void;
}

export interface RenderStats {
  /** Frames drawn. */
  rendered: number;
  /** Frames replaced by a newer one before they could be drawn, or that failed. */
  skipped: number;
  /** The video player's counters, once video units came. */
  video: VideoStats | null;
}

export interface RenderHandle {
  /** Live counters (updated in place). */
  readonly stats: RenderStats;
  /** "h264" or "jpeg": what drew the last picture; null before the first. */
  readonly path: "h264" | "jpeg" | null;
  /** Unhooks from the source (restoring its callback); an <img>'s object URL is revoked. */
  stop(): void;
}

/**
 * Draws the frames (and video) a Viewer (or a Streamer's processed output) receives, latest wins.
 * A Viewer with `video: "h264"` on a page that cannot decode it, or whose video fails to decode,
 * is switched back to JPEG (`viewer.dropVideo()`).
 */
export function renderViewer(source: Viewer | Streamer, target: RenderTarget, opts?: RenderOptions): RenderHandle;

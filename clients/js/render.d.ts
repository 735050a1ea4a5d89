// Type declarations for render.js: processed frames into a <canvas> or <img> (browsers).

import type { Frame, Streamer, Viewer } from "./dreamstream.js";

export type RenderTarget = HTMLCanvasElement | OffscreenCanvas | HTMLImageElement;

export interface RenderOptions {
  /** A canvas takes each frame's size (default true); false scales frames to the canvas. */
  resize?: boolean;
  /** After each frame is drawn. */
  onRender?: (frame: Frame) => void;
  /** A frame that failed to decode or draw (counted as skipped); console.error by default. */
  onError?: (error: unknown) => void;
}

export interface RenderStats {
  /** Frames drawn. */
  rendered: number;
  /** Frames replaced by a newer one before they could be drawn, or that failed. */
  skipped: number;
}

export interface RenderHandle {
  /** Live counters (updated in place). */
  readonly stats: RenderStats;
  /** Unhooks from the source (restoring its callback); an <img>'s object URL is revoked. */
  stop(): void;
}

/** Draws the frames a Viewer (or a Streamer's processed output) receives, latest wins. */
export function renderViewer(source: Viewer | Streamer, target: RenderTarget, opts?: RenderOptions): RenderHandle;

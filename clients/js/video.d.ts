// Type declarations for video.js: the H.264 video option (`?video=h264`) decoded with WebCodecs.

/** The header of one access unit on a video socket (docs/protocol.md, "Video"). */
export interface VideoHeader {
  type: "video";
  seq?: number;
  /** A keyframe (IDR, with SPS and PPS in front). */
  key: boolean;
  /** Decode, do not show: the GOP a joining viewer gets up to the current picture. */
  decode_only?: boolean;
  /** The picture's time in ms (the decoder's timestamp is ts_ms * 1000 µs). */
  ts_ms: number;
  captured_ms?: number;
  processed_ms?: number;
  /** On keyframes: the codec string ("avc1.42c01f") and the coded size. */
  codec?: string;
  width?: number;
  height?: number;
  [field: string]: any;
}

export interface VideoPlayerOptions {
  /** A canvas takes each picture's size (default true). */
  resize?: boolean;
  /** Units waiting in the decoder past which deltas are dropped up to the next keyframe (default 16). */
  maxQueue?: number;
  /** After each picture is drawn, with its unit's header. */
  onDraw?: (header: VideoHeader) => void;
  /** Once, when decoding failed (the player is closed then): go back to JPEG frames. */
  onError?: (error: Error) => void;
}

export interface VideoStats {
  units: number;
  decoded: number;
  drawn: number;
  /** decode_only pictures, decoded and not drawn. */
  hidden: number;
  /** Units not decoded: before the first keyframe, or skipped up to a keyframe. */
  dropped: number;
}

/** The codec asked of the browser before a keyframe names the stream's own ("avc1.42E01E"). */
export const VIDEO_PROBE_CODEC: string;

/** True when this page has WebCodecs and can decode the codec (a secure context is needed). */
export function canDecodeVideo(opts?: { codec?: string }): Promise<boolean>;

/** "H.264 (WebCodecs)" for "h264", "JPEG" for "jpeg", "" otherwise. */
export function videoPathLabel(path: "h264" | "jpeg" | null | undefined): string;

/** Decodes the access units of one video socket into a canvas or an img, closing every VideoFrame. */
export class VideoPlayer {
  constructor(target: HTMLCanvasElement | OffscreenCanvas | HTMLImageElement, opts?: VideoPlayerOptions);
  readonly stats: VideoStats;
  /** The error that ended the player, null while it works. */
  readonly failed: Error | null;
  readonly closed: boolean;
  /** The last configuration given to the decoder. */
  readonly config: { codec: string; codedWidth?: number; codedHeight?: number } | null;
  maxQueue: number;
  onDraw: ((header: VideoHeader) => void) | undefined;
  onError: ((error: Error) => void) | undefined;
  /** One access unit and its Annex-B bytes. */
  push(header: VideoHeader, data: Uint8Array | ArrayBuffer | ArrayBufferView): void;
  /** Stops decoding; the last picture stays on a canvas. */
  close(): void;
}

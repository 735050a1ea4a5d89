// Type declarations for the dreamstream package (index.js).

export * from "./dreamstream.js";
export { captureFrames, streamCamera } from "./capture.js";
export type {
  CaptureSource, FrameInfo, CaptureOptions, FrameConsumer, CaptureStats, CaptureHandle, StreamCameraOptions,
} from "./capture.js";
export { renderViewer } from "./render.js";
export type { RenderTarget, RenderOptions, RenderStats, RenderHandle } from "./render.js";
export { VideoPlayer, canDecodeVideo } from "./video.js";
export type { VideoHeader, VideoPlayerOptions, VideoStats } from "./video.js";

// The dreamstream package: the protocol client (dreamstream.js, browsers and Node >= 20) and the
// browser helpers for web apps (capture.js: webcam to JPEG frames; render.js: frames into a
// <canvas> or <img>; video.js: the H.264 video option decoded with WebCodecs). Importing any of
// it is harmless in Node.

export {
  AuthenticationError, CLOSE_CODES, CloseCode, DreamStreamError, Streamer, Viewer, closeMeaning, createApi,
  isJpeg, postFrame, runWorker, splitInlineFrame, splitInlineMessage,
} from "./dreamstream.js";
export { captureFrames, streamCamera } from "./capture.js";
export { renderViewer } from "./render.js";
export { VideoPlayer, canDecodeVideo } from "./video.js";

// Browser side of the SDK. TEMPORARY: captureFrames / streamCamera / renderViewer stand in for
// the helpers the dreamstream package is getting (same names and arguments).
export { Streamer, Viewer, closeMeaning } from "dreamstream";

export function captureFrames(mediaStream, { fps = 10, width = 640, height = 480, quality = 0.7, onFrame }) {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = mediaStream;
  video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const stats = { captured: 0, skipped: 0 };
  let busy = false;
  const timer = setInterval(() => {
    if (busy || video.readyState < 2) { stats.skipped++; return; }
    busy = true;
    ctx.drawImage(video, 0, 0, width, height);
    canvas.toBlob((blob) => {
      busy = false;
      if (!blob) return;
      stats.captured++;
      onFrame?.(blob);
    }, "image/jpeg", quality);
  }, 1000 / fps);
  return { stop: () => { clearInterval(timer); video.srcObject = null; }, stats };
}

export function streamCamera(streamer, mediaStream, opts = {}) {
  const stats = { sent: 0, dropped: 0 };
  const capture = captureFrames(mediaStream, {
    ...opts,
    onFrame: (blob) => { if (streamer.sendJpeg(blob)) stats.sent++; else stats.dropped++; },
  });
  return { stop: capture.stop, stats };
}

export function renderViewer(viewer, target) {
  const stats = { frames: 0, drawn: 0 };
  let pending = null;
  let drawing = false;
  let stopped = false;
  async function draw() {
    while (pending && !stopped) {
      const jpeg = pending;
      pending = null;
      const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
      if (target.width !== bitmap.width) target.width = bitmap.width;
      if (target.height !== bitmap.height) target.height = bitmap.height;
      target.getContext("2d").drawImage(bitmap, 0, 0);
      bitmap.close();
      stats.drawn++;
    }
    drawing = false;
  }
  viewer.onFrame = (frame) => {
    stats.frames++;
    pending = frame.jpeg;
    if (!drawing) { drawing = true; draw().catch(() => { drawing = false; }); }
  };
  return { stop: () => { stopped = true; viewer.onFrame = null; }, stats };
}

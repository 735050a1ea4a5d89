// Camera and capture: the capture settings form (fps, size, JPEG quality), the webcam, and the
// timer that draws the camera into a canvas and sends it as a JPEG on the ingest socket,
// dropping frames locally while the socket is backed up.

import { $ } from '../ui.js';

const kMinBufferedBytes = 256 * 1024;

export function createCapture(state) {
  const { live } = state;
  const controls = $('[data-controls]');
  const video = $('[data-preview]');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');

  function settings() {
    const [w, hgt] = controls.elements.resolution.value.split('x').map(Number);
    return {
      fps: Number(controls.elements.fps.value),
      width: w,
      height: hgt,
      quality: Number(controls.elements.quality.value) / 100,
    };
  }

  async function openCamera() {
    const s = settings();
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: s.width }, height: { ideal: s.height }, frameRate: { ideal: 30 } },
      audio: false,
    });
    live.camera = stream;
    video.srcObject = stream;
    await video.play().catch(() => {});
    $('[data-cam-overlay]').hidden = true;
    const track = stream.getVideoTracks()[0];
    const ts = track?.getSettings?.() || {};
    $('[data-cam-info]').textContent = ts.width ? `${ts.width}×${ts.height}` : '';
  }

  function closeCamera() {
    if (live.camera) for (const t of live.camera.getTracks()) t.stop();
    live.camera = null;
    video.srcObject = null;
    $('[data-cam-overlay]').hidden = false;
    $('[data-cam-info]').textContent = '';
  }

  function captureFrame() {
    const ws = live.ingest;
    if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
    // Latest frame wins on our side too: never queue behind a slow uplink.
    if (live.encoding || ws.bufferedAmount > Math.max(kMinBufferedBytes, live.lastSize * 1.5)) {
      live.droppedLocal += 1;
      return;
    }
    const s = settings();
    // Keep the camera's aspect ratio inside the chosen box.
    const scale = Math.min(s.width / video.videoWidth, s.height / video.videoHeight, 1);
    canvas.width = Math.max(16, Math.round(video.videoWidth * scale));
    canvas.height = Math.max(16, Math.round(video.videoHeight * scale));
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    live.encoding = true;
    canvas.toBlob(
      (blob) => {
        live.encoding = false;
        if (!blob || ws.readyState !== WebSocket.OPEN) return;
        live.lastSize = blob.size;
        ws.send(blob);
        live.sent += 1;
        live.sentTimes.push(performance.now());
      },
      'image/jpeg',
      s.quality,
    );
  }

  function startSending() {
    clearInterval(live.timer);
    live.timer = setInterval(captureFrame, Math.round(1000 / settings().fps));
  }

  function stopSending() {
    clearInterval(live.timer);
    live.timer = null;
  }

  controls.addEventListener('input', () => {
    const s = settings();
    $('[data-fps-out]').textContent = String(s.fps);
    $('[data-quality-out]').textContent = `${Math.round(s.quality * 100)}%`;
    if (live.timer) startSending();
  });
  controls.addEventListener('submit', (e) => e.preventDefault());

  return { openCamera, closeCamera, startSending, stopSending };
}

// Uses every export of the dreamstream package under `tsc --noEmit --strict` (never run).
// test/package.test.mjs compiles it against the packed and installed package, so the types
// resolve through package.json `exports`; `npm run check-types` compiles it against this checkout.

import {
  AuthenticationError, CLOSE_CODES, CloseCode, DreamStreamError, Streamer, VideoPlayer, Viewer, canDecodeVideo,
  captureFrames, closeMeaning, createApi, isJpeg, postFrame, renderViewer, runWorker, splitInlineFrame,
  splitInlineMessage, streamCamera,
} from "dreamstream";
import type {
  Api, ApiToken, CaptureHandle, CaptureStats, Comment, CreatedToken, Frame, FrameInfo, IngestTicket, RenderHandle,
  RenderStats, StreamSettings, StyleState, TokenScope, VideoHeader, VideoStats, VideoUnit, ViewerItem,
} from "dreamstream";
import { captureFrames as captureSub } from "dreamstream/capture";
import { renderViewer as renderSub } from "dreamstream/render";
import { VIDEO_PROBE_CODEC, videoPathLabel } from "dreamstream/video";
import { Streamer as StreamerSub } from "dreamstream/client";

declare const jpeg: Uint8Array;
declare function show(bytes: Uint8Array): void;

export async function http(): Promise<void> {
  const api: Api = createApi("http://127.0.0.1:8080", { token: "dst_x" });
  const cookieApi = createApi(undefined);
  const crossOriginApi = createApi("https://stream.example.com", { credentials: "include" });
  const started = await api.startStream();
  const url: string = started.url;
  const info = await api.streamInfo("alice");
  const live: boolean = info.live;
  const styles: StyleState = info.styles;
  const settings: StreamSettings = await api.updateSettings({ style_policy: "approve", strength: 0.5 });
  const comment: Comment = await api.postComment("alice", "hi");
  const page = await api.comments("alice", { limit: 20 });
  const first: string | undefined = page.comments[0]?.body;
  await api.deleteComment("alice", comment.id);
  const { request } = await api.requestStyle("alice", "neon city");
  await api.approveStyle("alice", request.id);
  await api.rejectStyle("alice", request.id);
  await api.skipStyle("alice");
  await api.clearStyles("alice");
  const key: string = await api.rotateStreamKey();
  const scopes: TokenScope[] = ["stream", "chat"];
  const made: CreatedToken = await api.createToken("next-app", { scopes });
  const all: ApiToken[] = await api.tokens();
  await api.revokeToken(made.id);
  void [made.token, all[0]?.scopes];
  const { ticket, expires_in_ms }: IngestTicket = await api.createIngestTicket();
  await new Streamer("http://127.0.0.1:8080", { ticket }).connect();
  void expires_in_ms;
  const latest: Uint8Array = await api.latestJpeg("alice");
  const names: string[] = (await api.liveStreams()).map((s) => s.username);
  const balance: number = (await cookieApi.me()).user.balance_cents;
  await crossOriginApi.postComment("alice", "from another origin");
  const { accepted, seq } = await postFrame("http://127.0.0.1:8080", key, jpeg);
  void [url, live, styles, settings, first, latest, names, balance, accepted, seq];
  try {
    await api.stopStream();
  } catch (e) {
    if (e instanceof DreamStreamError) {
      const code: string = e.code;
      const status: number = e.status;
      void [code, status];
    }
  }
}

export async function sockets(): Promise<void> {
  const s = await new Streamer("http://127.0.0.1:8080", {
    key: "dsk_x",
    maxBufferedBytes: 0,
    onStatus: (m) => console.log(m.type),
    onOutput: (bytes, header) => console.log(bytes.length, header?.seq),
    onClose: ({ code }) => console.log(closeMeaning(code)),
  }).connect();
  const sent: boolean = s.sendJpeg(jpeg);
  s.sendJpeg(jpeg.buffer as ArrayBuffer, { maxBufferedBytes: 1 << 20 });
  const counts: number = s.sent + s.dropped;
  void [sent, counts];

  const v = await new Viewer("http://127.0.0.1:8080", "alice", { frames: "inline", maxQueue: 8 }).connect();
  for await (const item of v) {
    const it: ViewerItem = item;
    if (it.kind === "frame") show(it.frame.jpeg);
    else console.log(it.event.type);
    break;
  }
  const next = await v.next(1000);
  if (!next.done && next.value.kind === "frame") {
    const f: Frame = next.value.frame;
    console.log(f.seq, f.captured_ms, f.processed_ms);
  }
  const ev = await v.waitEvent("comment", (e) => e.comment?.body !== "", 5000);
  console.log(ev.type, v.viewers, v.state, v.styles?.policy, v.settings?.base_style);
  v.close();
  const closed = await s.close();
  console.log(closed.code, closed.reason);

  const split = splitInlineFrame(jpeg);
  if (split) console.log(split.header.seq, isJpeg(split.jpeg));
  const any = splitInlineMessage(jpeg);
  if (any?.meta?.type === "video") console.log(any.payload.length);
  const noCredits: 4402 = CloseCode.no_credits;
  console.log(noCredits, CLOSE_CODES[4001]?.name);
}

export async function worker(): Promise<void> {
  const stop = new AbortController();
  await runWorker("http://127.0.0.1:8080", "dsw_x", async (bytes, params) => {
    console.log(params.prompt);
    return { jpeg: bytes, timings: { infer_ms: 1 } };
  }, { name: "n1", signal: stop.signal, slots: 2, maxBatch: 4,
       processBatch: async (items) => items.map((it) => (it.jpeg.length ? it.jpeg : new Error("empty"))) });
  try {
    await runWorker("http://127.0.0.1:8080", "dsw_x", (bytes) => bytes);
  } catch (e) {
    if (e instanceof AuthenticationError) console.log(e.message);
  }
}

export async function browser(video: HTMLVideoElement, canvas: HTMLCanvasElement, img: HTMLImageElement): Promise<void> {
  const camera: MediaStream = await navigator.mediaDevices.getUserMedia({ video: true });
  const raw: CaptureHandle = captureFrames(camera, {
    fps: 10, width: 640, height: 480, quality: 0.8,
    onFrame: (bytes: Uint8Array, info: FrameInfo) => { console.log(bytes.length, info.width, info.index); },
  });
  const slow = captureSub(video, { onFrame: async () => false, ready: () => true, onError: console.error });
  const stats: CaptureStats = raw.stats;
  console.log(stats.captured, stats.dropped);
  raw.stop();
  slow.stop();

  const streamer = await new StreamerSub(undefined).connect();
  const capture = streamCamera(streamer, camera, { fps: 8, maxBufferedBytes: 512 * 1024 });
  const viewer = await new Viewer(undefined, "alice").connect();
  const onCanvas: RenderHandle = renderViewer(viewer, canvas, { resize: false, onRender: (f) => console.log(f.seq) });
  const onImg = renderSub(viewer, img);
  const own = renderViewer(streamer, new OffscreenCanvas(64, 64));
  const r: RenderStats = onCanvas.stats;
  console.log(r.rendered, r.skipped, onImg.stats.rendered, own.stats.skipped, capture.stats.captured);
  for (const h of [onCanvas, onImg, own, capture]) h.stop();

  // The video option: H.264 through WebCodecs where the page can decode it, JPEG otherwise.
  const h264 = await canDecodeVideo({ codec: VIDEO_PROBE_CODEC });
  const watcher = await new Viewer(undefined, "alice", { video: h264 ? "h264" : null }).connect();
  const view = renderViewer(watcher, canvas, { onPath: (p) => console.log(videoPathLabel(p)) });
  const vs: VideoStats | null = view.stats.video;
  console.log(view.path, vs?.drawn, watcher.video);
  await watcher.dropVideo();
  view.stop();
  const player = new VideoPlayer(canvas, { onDraw: (h: VideoHeader) => console.log(h.seq), onError: console.error });
  const units = await new Viewer(undefined, "alice", { video: "h264", onVideo: (u: VideoUnit) => player.push(u.info, u.data) }).connect();
  units.onVideo = (u) => console.log(u.key, u.codec, u.decode_only, u.ts_ms);
  console.log(player.stats.drawn, player.failed?.message);
  player.close();
}

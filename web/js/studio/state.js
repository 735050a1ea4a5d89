// The studio's shared state: who is logged in, the price of a minute, and the live session
// (sockets, capture counters, the latest server status). The page makes one and hands it to
// each studio module that reads or changes it, so what is shared shows at the call site; what
// only one module needs stays inside that module.

export function createStudioState() {
  return {
    me: null, // the logged-in user (GET /api/me), null when logged out
    centsPerMinute: 20,
    live: {
      phase: 'offline', // offline | starting | live | stopping
      camera: null, // the MediaStream
      ingest: null, // the /ws/ingest socket
      watch: null, // the /ws/watch/<me> socket showing the processed output
      timer: null, // the capture interval
      encoding: false,
      lastSize: 0,
      sent: 0,
      droppedLocal: 0,
      sentTimes: [],
      status: null, // the latest {type:"status"} message
      reconnects: 0,
      ended: false,
      lastBadFrameToast: 0,
    },
  };
}

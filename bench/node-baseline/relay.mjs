// Baseline relay on Node's `ws` (the original prototype's stack): one publisher on /pub, every
// message it sends (text or binary) is broadcast as-is to all subscribers on /sub; sockets on any
// other path are held idle (for the memory-per-idle-viewer figure). Usage: node relay.mjs PORT_FILE
import { writeFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
const subscribers = new Set();
wss.on('connection', (socket, req) => {
  if (req.url === '/pub') {
    socket.on('message', (data, isBinary) => {
      for (const s of subscribers) s.send(data, { binary: isBinary });
    });
  } else if (req.url === '/sub') {
    subscribers.add(socket);
    socket.on('close', () => subscribers.delete(socket));
  }
  socket.on('error', () => {});
});
wss.on('listening', () => writeFileSync(process.argv[2], String(wss.address().port)));

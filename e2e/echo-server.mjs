// A WebSocket server built on the Node "ws" library, for checking
// pistoke's client against an independent implementation.
//
// Usage: node echo-server.mjs
//
// It listens on a free loopback port, prints "listening <port>" on one
// line and serves until it is killed:
//
//   /echo        echoes every message with its type
//   /sub         sends the chosen subprotocol as text, then echoes
//   /close       closes at once with 4001 "peer says bye"
//   /ping        pings with "are you there", reports "pong:<payload>"
//   /fragmented  sends "frag-ment-ed" as three fragments, closes with 1000
//   /big         sends 1 MiB of binary (byte i is i % 251), closes with 1000
//   /reject      refuses the handshake with 403

import http from 'node:http';
import { WebSocketServer } from 'ws';

// In the server's order of preference.
const SUBPROTOCOLS = ['chat.v2', 'chat.v1'];

const PING_PAYLOAD = 'are you there';
const BIG_SIZE = 1 << 20;

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

const handlers = {
  '/echo': echo,
  '/sub': (ws) => {
    ws.send(ws.protocol);
    echo(ws);
  },
  '/close': (ws) => ws.close(4001, 'peer says bye'),
  '/ping': (ws) => {
    ws.once('pong', (data) => ws.send('pong:' + data.toString('utf8')));
    ws.ping(PING_PAYLOAD);
    echo(ws);
  },
  '/fragmented': (ws) => {
    ws.send('frag-', { fin: false });
    ws.send('ment-', { fin: false });
    ws.send('ed', { fin: true });
    ws.close(1000);
  },
  '/big': (ws) => {
    const big = Buffer.alloc(BIG_SIZE);
    for (let i = 0; i < BIG_SIZE; i++) big[i] = i % 251;
    ws.send(big, { binary: true });
    ws.close(1000);
  },
};

function pathOf(req) {
  return new URL(req.url, 'http://localhost').pathname;
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  // The server's preference decides, not the client's order.
  handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  verifyClient: ({ req }, done) => {
    const path = pathOf(req);
    if (path === '/reject') done(false, 403, 'Forbidden');
    else if (!(path in handlers)) done(false, 404, 'Not Found');
    else done(true);
  },
});

const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only\n');
});

server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => handlers[pathOf(req)](ws));
});

server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

// Check a running seedcases server with the Node "ws" library.
//
// Usage: node seedcases-client.mjs ws://127.0.0.1:PORT [case ...]
//
// Runs every case of the seedcases contract that a client can observe and
// prints one line per case, "ok <name>" or "FAIL <name>: <why>". Exits 1 if
// any case failed.

import { WebSocket } from 'ws';

const CASE_TIMEOUT_MS = 10_000; // a case that hangs fails instead

let BASE = ''; // ws://host:port
let HTTP_BASE = ''; // http://host:port

class Failure extends Error {}

function expect(cond, why) {
  if (!cond) throw new Failure(why);
}

// Refused is the error of a handshake the server answered with a status
// other than 101.
class Refused extends Error {
  constructor(status) {
    super(`handshake refused with HTTP ${status}`);
    this.status = status;
  }
}

// Conn turns a socket's events into a queue that cases read in order:
// each next() gives a {type: 'message', data, binary} or, from the close
// on, {type: 'close', code, reason}.
class Conn {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    ws.on('message', (data, binary) => {
      this.push({ type: 'message', binary, data: binary ? Buffer.from(data) : data.toString('utf8') });
    });
    ws.on('close', (code, reason) => {
      this.closed = { type: 'close', code, reason: reason.toString('utf8') };
      this.push(this.closed);
    });
  }

  get protocol() {
    return this.ws.protocol;
  }

  push(ev) {
    const w = this.waiters.shift();
    if (w) w(ev);
    else this.queue.push(ev);
  }

  next() {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  send(data, options = {}) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, options, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(code = 1000) {
    this.ws.close(code);
    for (;;) {
      const ev = await this.next();
      if (ev.type === 'close') return ev;
    }
  }
}

// Sockets opened by the running case, ended when it finishes.
let openSockets = [];

function connect(path, { protocols = [], headers = {}, origin } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(BASE + path, protocols, {
      headers,
      origin,
      handshakeTimeout: CASE_TIMEOUT_MS,
      followRedirects: false,
    });
    openSockets.push(ws);
    const conn = new Conn(ws);
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      reject(new Refused(res.statusCode));
    });
    // After the handshake errors surface as close events; before it they
    // fail the connect.
    ws.on('error', (err) => reject(err));
  });
}

async function expectRefused(path, status, options) {
  let conn;
  try {
    conn = await connect(path, options);
  } catch (err) {
    expect(err instanceof Refused, `handshake to ${path}: ${err}; want HTTP ${status}`);
    expect(err.status === status, `handshake to ${path}: got HTTP ${err.status}; want HTTP ${status}`);
    return;
  }
  conn.ws.terminate();
  throw new Failure(`handshake to ${path} succeeded; want HTTP ${status}`);
}

function show(v) {
  const s = Buffer.isBuffer(v) ? `<${v.length} bytes ${v.subarray(0, 16).toString('hex')}>` : String(JSON.stringify(v));
  return s.length > 80 ? s.slice(0, 80) + '…' : s;
}

async function expectMessage(conn, want, what = 'reply') {
  const ev = await conn.next();
  expect(ev.type === 'message', `${what}: connection closed (${ev.code} ${show(ev.reason)}); want ${show(want)}`);
  const wantBinary = Buffer.isBuffer(want);
  expect(ev.binary === wantBinary, `${what}: got ${ev.binary ? 'binary' : 'text'} ${show(ev.data)}; want ${wantBinary ? 'binary' : 'text'}`);
  const same = wantBinary ? want.equals(ev.data) : want === ev.data;
  expect(same, `${what}: got ${show(ev.data)}; want ${show(want)}`);
}

async function expectClose(conn, code, reason) {
  const ev = await conn.next();
  expect(ev.type === 'close', `got message ${show(ev.data)}; want close ${code}`);
  expect(ev.code === code, `close code ${ev.code} (${show(ev.reason)}); want ${code}`);
  if (reason !== undefined) expect(ev.reason === reason, `close reason ${show(ev.reason)}; want ${show(reason)}`);
}

async function echoRound(conn, what) {
  await conn.send('hyvää päivää ✓');
  await expectMessage(conn, 'hyvää päivää ✓', `${what} text echo`);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await conn.send(all);
  await expectMessage(conn, all, `${what} binary echo`);
}

async function echoThorough(conn, what) {
  await echoRound(conn, what);
  // Every payload length encoding: 7-bit, 16-bit and 64-bit.
  for (const n of [0, 125, 126, 65535, 65536, 200_000]) {
    await conn.send('x'.repeat(n));
    await expectMessage(conn, 'x'.repeat(n), `${what} text of ${n} bytes`);
  }
  // A message sent in fragments comes back whole.
  await conn.send('frag', { fin: false });
  await conn.send('ment', { fin: false });
  await conn.send('ed ✓', { fin: true });
  await expectMessage(conn, 'fragmented ✓', `${what} fragmented text`);
  await conn.send(Buffer.from([0, 1]), { binary: true, fin: false });
  await conn.send(Buffer.from([2]), { binary: true, fin: true });
  await expectMessage(conn, Buffer.from([0, 1, 2]), `${what} fragmented binary`);
  // Pings are answered with the same payload.
  const pong = new Promise((resolve) => conn.ws.once('pong', resolve));
  conn.ws.ping(Buffer.from('tuut'));
  const payload = await pong;
  expect(payload.toString() === 'tuut', `pong payload ${show(payload)}; want "tuut"`);
}

async function csrfToken() {
  const res = await fetch(HTTP_BASE + '/csrf/');
  expect(res.status === 200, `GET /csrf/: status ${res.status}`);
  const { token } = await res.json();
  expect(typeof token === 'string' && token !== '', `GET /csrf/: bad token ${show(token)}`);
  const cookie = res.headers
    .getSetCookie()
    .map((line) => line.split(';')[0].trim())
    .find((pair) => pair.startsWith('csrftoken='));
  expect(cookie, `GET /csrf/: no csrftoken cookie in ${show(res.headers.getSetCookie())}`);
  return { token, cookie };
}

const CASES = [];

function testCase(name, fn) {
  CASES.push({ name, fn });
}

testCase('http-get-echo', async () => {
  const res = await fetch(HTTP_BASE + '/echo/');
  const body = await res.text();
  expect(res.status === 200 && body === 'GET', `GET /echo/: ${res.status} ${show(body)}; want 200 "GET"`);
});

testCase('http-get-class', async () => {
  const res = await fetch(HTTP_BASE + '/class/');
  await res.arrayBuffer();
  const ctype = res.headers.get('content-type') ?? '';
  expect(res.status === 200 && ctype.startsWith('text/html'), `GET /class/: ${res.status} ${show(ctype)}; want 200 text/html`);
});

testCase('echo', async () => {
  const conn = await connect('/echo/');
  await echoThorough(conn, '/echo/');
  const ev = await conn.close(1000);
  expect(ev.code === 1000, `close code after client close: ${ev.code}`);
});

testCase('echo-iter', async () => {
  const conn = await connect('/echo-iter/');
  await echoThorough(conn, '/echo-iter/');
  await conn.close();
});

testCase('raw-text', async () => {
  const conn = await connect('/raw/');
  await conn.send('raakaa');
  await expectMessage(conn, 'raakaa');
  await expectClose(conn, 1000);
});

testCase('raw-binary', async () => {
  const conn = await connect('/raw/');
  await conn.send(Buffer.from('\xffraw', 'latin1'));
  await expectMessage(conn, Buffer.from('\xffraw', 'latin1'));
  await expectClose(conn, 1000);
});

testCase('empty', async () => {
  const conn = await connect('/empty/');
  await expectClose(conn, 1000);
});

testCase('sub-client-order', async () => {
  const conn = await connect('/sub/', { protocols: ['yhtasuuri', 'yhta-pienempi', 'yhta-suurempi'] });
  expect(conn.protocol === 'yhta-pienempi', `chosen subprotocol ${show(conn.protocol)}`);
  await conn.send('42');
  await expectMessage(conn, '41');
  await conn.send('-7');
  await expectMessage(conn, '-8');
  await conn.close();
});

testCase('sub-greater', async () => {
  const conn = await connect('/sub/', { protocols: ['yhta-suurempi'] });
  expect(conn.protocol === 'yhta-suurempi', `chosen subprotocol ${show(conn.protocol)}`);
  await conn.send('42');
  await expectMessage(conn, '43');
  await conn.close();
});

testCase('sub-none-offered', async () => {
  await expectRefused('/sub/', 403);
});

testCase('sub-none-compatible', async () => {
  await expectRefused('/sub/', 403, { protocols: ['yhtasuuri'] });
});

testCase('private-outer-denied', async () => {
  await expectRefused('/private-outer/', 403);
  await expectRefused('/private-outer/', 403, { headers: { Cookie: 'role=user' } });
});

testCase('private-outer-allowed', async () => {
  const conn = await connect('/private-outer/', { headers: { Cookie: 'role=admin' } });
  await echoRound(conn, '/private-outer/');
  await conn.close();
});

testCase('private-inner-denied', async () => {
  const conn = await connect('/private-inner/');
  await expectClose(conn, 4403, 'Forbidden');
});

testCase('private-inner-allowed', async () => {
  const conn = await connect('/private-inner/', { headers: { Cookie: 'role=admin' } });
  await echoRound(conn, '/private-inner/');
  await conn.close();
});

testCase('origin-hostile', async () => {
  await expectRefused('/echo/', 403, { origin: 'http://evil.example' });
});

testCase('origin-exempt', async () => {
  const conn = await connect('/origin-exempt/', { origin: 'http://evil.example' });
  await echoRound(conn, '/origin-exempt/');
  await conn.close();
});

testCase('origin-allowed-host', async () => {
  const conn = await connect('/echo/', { origin: 'http://testserver' });
  await echoRound(conn, '/echo/ from an allowed host');
  await conn.close();
});

testCase('origin-same-host', async () => {
  const conn = await connect('/echo/', { origin: HTTP_BASE });
  await echoRound(conn, '/echo/ from its own host');
  await conn.close();
});

testCase('csrf-valid', async () => {
  const { token, cookie } = await csrfToken();
  const conn = await connect('/csrf/', { headers: { Cookie: cookie } });
  await conn.send(token);
  await expectMessage(conn, 'ok', 'reply to a valid token');
  await echoRound(conn, '/csrf/');
  await conn.close();
});

testCase('csrf-invalid', async () => {
  const { cookie } = await csrfToken();
  const conn = await connect('/csrf/', { headers: { Cookie: cookie } });
  await conn.send('not-the-token');
  await expectMessage(conn, 'CSRF token missing or invalid', 'reply to a wrong token');
  await expectClose(conn, 1000);
});

async function arith(subprotocol, pairs) {
  const { token, cookie } = await csrfToken();
  const conn = await connect('/arith/', { protocols: [subprotocol], headers: { Cookie: cookie } });
  expect(conn.protocol === subprotocol, `chosen subprotocol ${show(conn.protocol)}`);
  await conn.send(JSON.stringify({ csrfmiddlewaretoken: token }));
  for (const [a, b, want] of pairs) {
    await conn.send(a);
    await conn.send(b);
    await expectMessage(conn, want, `${subprotocol} of ${a} and ${b}`);
  }
  await conn.close();
}

testCase('arith-summa', async () => {
  await arith('summa', [['0.1', '0.2', '0.3'], ['10.5', '0.25', '10.75']]);
});

testCase('arith-erotus', async () => {
  await arith('erotus', [['1', '0.3', '0.7'], ['0.3', '0.1', '0.2']]);
});

testCase('arith-bad-token', async () => {
  const { cookie } = await csrfToken();
  const conn = await connect('/arith/', { protocols: ['summa'], headers: { Cookie: cookie } });
  await conn.send(JSON.stringify({ csrfmiddlewaretoken: 'wrong' }));
  const ev = await conn.next();
  expect(ev.type === 'message' && !ev.binary, `got ${ev.type} ${show(ev.data ?? ev.code)}; want a text error reply`);
  const reply = JSON.parse(ev.data);
  expect(
    reply !== null && typeof reply === 'object' && Object.keys(reply).join() === 'virhe' && typeof reply.virhe === 'string',
    `error reply ${show(ev.data)}; want {"virhe": "..."}`,
  );
  await expectClose(conn, 1000);
});

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

testCase('json-echo', async () => {
  const conn = await connect('/json/');
  for (const value of [{ a: [1, 2.5, null, true] }, 'teksti ✓', 42, [], null]) {
    await conn.send(JSON.stringify(value));
    const ev = await conn.next();
    expect(ev.type === 'message', `closed (${ev.code}) instead of echoing ${show(value)}`);
    let reply;
    try {
      reply = JSON.parse(ev.data);
    } catch {
      throw new Failure(`reply is not JSON: ${show(ev.data)}`);
    }
    expect(deepEqual(reply, { echo: value }), `reply ${show(ev.data)}; want {"echo": ${show(value)}}`);
  }
  await conn.close();
});

testCase('json-invalid', async () => {
  const conn = await connect('/json/');
  await conn.send('{not json');
  await expectClose(conn, 1007);
});

testCase('fail', async () => {
  const conn = await connect('/fail/');
  await conn.send('go');
  await expectClose(conn, 1011);
});

testCase('panic', async () => {
  const conn = await connect('/panic/');
  await conn.send('go');
  await expectClose(conn, 1011);
  const again = await connect('/echo/');
  await echoRound(again, '/echo/ after a panic');
  await again.close();
});

testCase('class-text', async () => {
  const conn = await connect('/class/');
  await conn.send('moi');
  await expectMessage(conn, 'You wrote "moi".');
  await conn.close();
});

testCase('class-binary', async () => {
  const conn = await connect('/class/');
  await conn.send(Buffer.from('moi'));
  await expectMessage(conn, Buffer.from('You wrote "moi".'));
  await conn.close();
});

testCase('get-only', async () => {
  await expectRefused('/get-only/', 405);
});

testCase('redirect', async () => {
  await expectRefused('/redirect/', 403);
});

testCase('nested', async () => {
  await expectRefused('/nested/', 500);
});

testCase('unknown-path', async () => {
  await expectRefused('/no-such-path/', 404);
});

async function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const [base, ...only] = process.argv.slice(2);
  if (!base || !base.startsWith('ws://')) {
    console.error('usage: node seedcases-client.mjs ws://HOST:PORT [case ...]');
    process.exit(2);
  }
  BASE = base.replace(/\/+$/, '');
  HTTP_BASE = 'http://' + BASE.slice('ws://'.length);

  let failed = 0;
  for (const { name, fn } of CASES) {
    if (only.length > 0 && !only.includes(name)) continue;
    openSockets = [];
    try {
      await withTimeout(fn(), CASE_TIMEOUT_MS);
      console.log(`ok ${name}`);
    } catch (err) {
      failed++;
      const why = err instanceof Failure ? err.message : `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
      console.log(`FAIL ${name}: ${why}`);
      if (!(err instanceof Failure)) console.error(err); // a bug here or in ws: show where
    } finally {
      for (const ws of openSockets) {
        ws.on('error', () => {});
        ws.terminate();
      }
    }
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();

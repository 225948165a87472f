// Opens a page of a pistoke server in headless Chromium and checks that
// the browser's own WebSocket negotiates permessage-deflate with the
// server and that compressed messages of every size, text and binary,
// come back intact.
//
//   node browser-compression.mjs http://127.0.0.1:8000
//
// Prints one JSON line with the negotiated extensions and the results, and
// exits non-zero when a check fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node browser-compression.mjs http://HOST:PORT');
  process.exit(2);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'pistoke-chromium-'));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  await page.goto(base + '/');
  const result = await page.evaluate(async (wsBase) => {
    const ws = new WebSocket(wsBase + '/echo/');
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('socket error'));
    });
    const queue = [];
    let waiter = null;
    ws.onmessage = (ev) => {
      if (waiter) { const w = waiter; waiter = null; w(ev.data); } else { queue.push(ev.data); }
    };
    const next = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; });
    const checks = [];
    for (const n of [0, 10, 127, 128, 1000, 65536, 300000]) {
      const text = 'pistoke ✓ '.repeat(Math.ceil(n / 10)).slice(0, n);
      ws.send(text);
      const got = await next();
      checks.push({ kind: 'text', n, ok: got === text });
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 7) % 13;
      ws.send(bytes);
      const back = new Uint8Array(await next());
      checks.push({ kind: 'binary', n, ok: back.length === n && back.every((b, i) => b === bytes[i]) });
    }
    const extensions = ws.extensions;
    ws.close(1000);
    return { extensions, checks };
  }, base.replace(/^http/, 'ws'));
  console.log(JSON.stringify(result));
  failed = !result.extensions.includes('permessage-deflate') || result.checks.some((c) => !c.ok);
} finally {
  await browser.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

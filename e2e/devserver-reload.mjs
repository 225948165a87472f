// Drives Chromium for the reload test of "pistoke run -reload"
// (cmd/pistoke/reload_test.go). The Go test edits files; this script
// watches the page. It reads one JSON command per line on standard input
// and answers each with one JSON line on standard output:
//
//	{"cmd":"open","url":"http://127.0.0.1:8000/"}              → {"ok":true}
//	{"cmd":"text","selector":"#greeting","contains":"Hello"}    → {"ok":true,"text":"…","loads":1}
//	{"cmd":"style","selector":"h1","property":"color","value":"rgb(1, 2, 3)"}
//	{"cmd":"gone","selector":"#__pistoke_error"}
//	{"cmd":"quit"}
//
// "text", "style" and "gone" wait (up to "timeout" ms, default 90 s) until
// the page satisfies them, across the page's own reloads; "loads" counts
// the page loads so far, so the test can tell that the page reloaded by
// itself. A failed command answers {"ok":false,"error":"…"}.
//
//	node devserver-reload.mjs        (Chromium at /usr/bin/chromium, or $CHROMIUM)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pistoke-chromium-"));

const context = await chromium.launchPersistentContext(userDataDir, {
	executablePath,
	headless: true,
	args: [
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
	],
});
const page = context.pages()[0] ?? (await context.newPage());
let loads = 0;
page.on("load", () => { loads++; });
const consoleLines = [];
page.on("console", (m) => {
	consoleLines.push(m.text());
	if (consoleLines.length > 50) consoleLines.shift();
});

// until polls check in the page until it returns a value that is not
// undefined, through reloads (which destroy the evaluation context).
async function until(check, arg, timeout) {
	const deadline = Date.now() + timeout;
	let last;
	for (;;) {
		try {
			const handle = await page.waitForFunction(check, arg, { timeout: Math.max(1, deadline - Date.now()), polling: 100 });
			return await handle.jsonValue();
		} catch (e) {
			last = e;
			if (Date.now() >= deadline) break;
			// A reload in the middle: wait for the new document and try again.
			await page.waitForLoadState("domcontentloaded", { timeout: Math.max(1, deadline - Date.now()) }).catch(() => {});
		}
	}
	throw new Error(`${last?.message ?? "timed out"}; page text: ${await pageText()}`);
}

async function pageText() {
	try {
		return JSON.stringify((await page.evaluate(() => document.body?.innerText ?? "")).slice(0, 2000));
	} catch (e) {
		return `(unavailable: ${e.message})`;
	}
}

async function run(c) {
	const timeout = c.timeout ?? 90000;
	switch (c.cmd) {
	case "open":
		await page.goto(c.url, { timeout });
		return {};
	case "text": {
		const text = await until(({ selector, contains }) => {
			const el = document.querySelector(selector);
			return el && el.textContent.includes(contains) ? el.textContent : undefined;
		}, { selector: c.selector, contains: c.contains }, timeout);
		return { text };
	}
	case "style": {
		const value = await until(({ selector, property, value }) => {
			const el = document.querySelector(selector);
			const v = el && getComputedStyle(el).getPropertyValue(property);
			return v === value ? v : undefined;
		}, { selector: c.selector, property: c.property, value: c.value }, timeout);
		return { value };
	}
	case "gone":
		await until((selector) => document.querySelector(selector) === null ? true : undefined, c.selector, timeout);
		return {};
	}
	throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
	if (!line.trim()) continue;
	const c = JSON.parse(line);
	if (c.cmd === "quit") break;
	let answer;
	try {
		answer = { ok: true, ...(await run(c)), loads };
	} catch (e) {
		answer = { ok: false, error: String(e.message ?? e), loads, console: consoleLines.slice(-10) };
	}
	process.stdout.write(JSON.stringify(answer) + "\n");
}
await context.close();
fs.rmSync(userDataDir, { recursive: true, force: true });

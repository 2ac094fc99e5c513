// Chromium as an interop client: Debian's /usr/bin/chromium (or WSPROTO_CHROMIUM), headless,
// driven by playwright-core; every scenario runs in a page with the browser's own WebSocket.
//
//   node browser.mjs BASE [chat CHAT_PAGE_URL] [example-NAME URL]...
//
// Prints one line per scenario: "PASS name", "FAIL name: why" or "NA name: why" (what the
// browser's WebSocket API cannot express).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const SCENARIOS = [
  "handshake-subprotocol", "text-small", "text-empty", "text-utf8", "text-fragmented-send",
  "text-fragmented-receive", "binary-1mib", "binary-16mib", "burst-1000", "ping-from-client",
  "ping-from-server", "deflate", "deflate-declined", "close-from-client", "close-from-server",
  "violation-utf8", "violation-opcode",
];
const NOT_IN_THE_API = {
  "text-fragmented-send": "the browser's WebSocket sends whole messages",
  "ping-from-client": "the browser's WebSocket cannot send a ping",
  "violation-utf8": "the browser's WebSocket cannot break the protocol",
  "violation-opcode": "the browser's WebSocket cannot break the protocol",
};

// Runs in the page: one scenario with `new WebSocket(...)`; resolves, or throws why.
async function inPage({ scenario, url }) {
  const PROTOCOLS = ["x.unknown", "interop.v1", "interop.v2"];
  const UTF8 = "é ñ ß € ✓ ☃ 😀 𝄞";
  const WAIT_MS = 20000;
  const CLOSE_WITHIN_MS = 3000;
  const check = (what, got, want) => {
    if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  const timeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms))]);
  const open = async (u) => {
    const ws = new WebSocket(u, PROTOCOLS);
    ws.binaryType = "arraybuffer";
    const queue = [];
    const waiters = [];
    ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else queue.push(e.data); };
    ws.closed = new Promise((r) => { ws.onclose = (e) => r({ code: e.code, reason: e.reason, clean: e.wasClean, at: Date.now() }); });
    ws.next = () => (queue.length ? Promise.resolve(queue.shift()) : timeout(new Promise((r) => waiters.push(r)), WAIT_MS, "message"));
    await timeout(new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("connection failed")); }), WAIT_MS, "open");
    return ws;
  };
  const closeNormally = async (ws) => { ws.close(1000); const c = await timeout(ws.closed, 5000, "close"); check("clean", c.clean, true); };
  const pattern = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) % 251; return b; };
  const echoBinary = async (ws, data) => {
    ws.send(data);
    const got = await ws.next();
    if (!(got instanceof ArrayBuffer)) throw new Error("not binary");
    const g = new Uint8Array(got);
    check("length", g.length, data.length);
    for (let i = 0; i < g.length; i++) if (g[i] !== data[i]) throw new Error(`differs at byte ${i}`);
  };
  const echoText = async (ws, text) => { ws.send(text); check("echo", await ws.next(), text); };
  const target = `${url}/${scenario}`;
  switch (scenario) {
    case "handshake-subprotocol": {
      const ws = await open(target);
      check("protocol", ws.protocol, "interop.v2");
      return closeNormally(ws);
    }
    case "text-small": case "text-empty": case "text-utf8": {
      const ws = await open(target);
      await echoText(ws, { "text-small": "hello", "text-empty": "", "text-utf8": UTF8 }[scenario]);
      return closeNormally(ws);
    }
    case "text-fragmented-receive": {
      const ws = await open(target);
      check("message", await ws.next(), "a€😀b");
      return closeNormally(ws);
    }
    case "binary-1mib": case "binary-16mib": {
      const ws = await open(target);
      await echoBinary(ws, pattern((scenario === "binary-1mib" ? 1 : 16) << 20));
      return closeNormally(ws);
    }
    case "burst-1000": {
      const ws = await open(target);
      for (let i = 0; i < 1000; i++) ws.send(`burst ${i}`);
      for (let i = 0; i < 1000; i++) check("burst", await ws.next(), `burst ${i}`);
      return closeNormally(ws);
    }
    case "ping-from-server": {
      const ws = await open(target);
      check("verdict", await ws.next(), "pong ok");
      return closeNormally(ws);
    }
    case "deflate": case "deflate-declined": {
      // Chromium always offers permessage-deflate.
      const ws = await open(target);
      const want = scenario === "deflate";
      check("extensions", ws.extensions.startsWith("permessage-deflate"), want);
      await echoText(ws, "wsproto interop ".repeat(4096));
      if (want) {
        await echoBinary(ws, new Uint8Array(1 << 20));
        await echoText(ws, UTF8.repeat(2000));
      }
      return closeNormally(ws);
    }
    case "close-from-client": {
      const ws = await open(target);
      const started = Date.now();
      ws.close(4001, "client bye ✓");
      const c = await timeout(ws.closed, CLOSE_WITHIN_MS + 1000, "close");
      check("clean", c.clean, true);
      if (c.at - started > CLOSE_WITHIN_MS) throw new Error(`the close took ${c.at - started} ms`);
      return;
    }
    case "close-from-server": {
      const ws = await open(target);
      const opened = Date.now();
      const c = await timeout(ws.closed, WAIT_MS, "close");
      check("code", c.code, 4002);
      check("reason", c.reason, "server bye ✓");
      check("clean", c.clean, true);
      if (c.at - opened > CLOSE_WITHIN_MS) throw new Error(`the close took ${c.at - opened} ms`);
      return;
    }
    case "example": {
      const ws = await open(url);
      // An echo example selects the client's first choice.
      check("protocol", ws.protocol, PROTOCOLS[0]);
      await echoText(ws, "hello ✓");
      return closeNormally(ws);
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

// The chat example's page in two pages: each sees what the other sent.
async function chat(context, pageUrl) {
  const [a, b] = [await context.newPage(), await context.newPage()];
  for (const p of [a, b]) {
    await p.goto(pageUrl, { timeout: 10000 });
    await p.waitForFunction(() => document.getElementById("status")?.textContent === "connected", null, { timeout: 10000 });
  }
  const say = async (from, to, text) => {
    await from.fill("#text", text);
    await from.press("#text", "Enter");
    await to.waitForFunction((t) => document.getElementById("log").textContent.includes(t), text, { timeout: 10000 });
  };
  await say(a, b, "hello from page A ✓");
  await say(b, a, "hello from page B 😀");
  await a.close();
  await b.close();
}

async function main() {
  const [base, ...rest] = process.argv.slice(2);
  let chatUrl = null;
  const examples = [];
  for (let i = 0; i + 1 < rest.length; i += 2) {
    if (rest[i] === "chat") chatUrl = rest[i + 1];
    else examples.push([rest[i], rest[i + 1]]);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "wsproto-chromium-"));
  // Our own deadline, before the harness's: close the browser rather than be killed.
  const watchdog = setTimeout(() => { console.log("FAIL watchdog: the browser run took over 150 s"); process.exit(1); }, 150000);
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.WSPROTO_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
      timeout: 30000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const run = async (name, f) => {
      try {
        await f();
        console.log(`PASS ${name}`);
      } catch (e) {
        console.log(`FAIL ${name}: ${String(e.message).split("\n")[0]}`);
      }
    };
    for (const scenario of SCENARIOS) {
      if (NOT_IN_THE_API[scenario]) {
        console.log(`NA ${scenario}: ${NOT_IN_THE_API[scenario]}`);
        continue;
      }
      await run(scenario, () => page.evaluate(inPage, { scenario, url: base }));
    }
    for (const [name, url] of examples) await run(name, () => page.evaluate(inPage, { scenario: "example", url }));
    if (chatUrl) await run("chat-two-pages", () => chat(context, chatUrl));
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.log(`FAIL browser: ${e.message.split("\n")[0]}`); process.exit(1); });

// Node `ws` as an interop peer (see README.md beside this file).
//
//   node peer.mjs client BASE [example-NAME URL]...   runs every client scenario against BASE
//   node peer.mjs server                              prints "READY <port>", serves until stdin ends
//
// Prints one line per scenario: "PASS name", "FAIL name: why" or "NA name: why".
import http from "node:http";
import { WebSocket, WebSocketServer } from "ws";

const PROTOCOLS = ["x.unknown", "interop.v1", "interop.v2"];
const SUPPORTED = ["interop.v2", "interop.v1"];
const EXPECTED_PROTOCOL = "interop.v2";
const FRAGMENTED = "a€😀b";
const FRAGMENTS = [Buffer.from([0x61, 0xe2, 0x82]), Buffer.from([0xac, 0xf0, 0x9f]), Buffer.from([0x98, 0x80, 0x62])];
const UTF8 = "é ñ ß € ✓ ☃ 😀 𝄞";
const PING = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe]);
const CLIENT_CLOSE = [4001, "client bye ✓"];
const SERVER_CLOSE = [4002, "server bye ✓"];
const CLOSE_WITHIN_MS = 3000;
const WAIT_MS = 20000;
const MAX = 64 << 20;

const SCENARIOS = [
  "handshake-subprotocol", "text-small", "text-empty", "text-utf8", "text-fragmented-send",
  "text-fragmented-receive", "binary-1mib", "binary-16mib", "burst-1000", "ping-from-client",
  "ping-from-server", "deflate", "deflate-declined", "close-from-client", "close-from-server",
  "violation-utf8", "violation-opcode",
];

function pattern(len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + 7) % 251;
  return b;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function check(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// A client connection whose messages queue up for `next()`.
class Client {
  constructor(url, options = {}) {
    this.ws = new WebSocket(url, PROTOCOLS, { maxPayload: MAX, perMessageDeflate: false, ...options });
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
    });
    this.ws.on("message", (data, isBinary) => this.push({ data, isBinary }));
    this.ws.on("close", () => this.push(null));
    this.ws.on("error", () => {});
  }
  open() {
    return withTimeout(new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_, res) => reject(new Error(`status ${res.statusCode}`)));
    }), WAIT_MS, "open");
  }
  push(m) {
    const w = this.waiters.shift();
    if (w) w(m); else this.queue.push(m);
  }
  async next() {
    const m = this.queue.length ? this.queue.shift() : await withTimeout(new Promise((r) => this.waiters.push(r)), WAIT_MS, "message");
    if (m === null) throw new Error("closed while waiting for a message");
    return m;
  }
  async nextText() {
    const m = await this.next();
    if (m.isBinary) throw new Error("got binary, want text");
    return m.data.toString();
  }
  async closeNormally() {
    this.ws.close(1000);
    await withTimeout(this.closed, 5000, "close");
  }
}

async function connect(url, options) {
  const c = new Client(url, options);
  await c.open();
  return c;
}

async function echoText(c, text) {
  c.ws.send(text);
  check("echo", await c.nextText(), text);
}

async function echoBinary(c, data) {
  c.ws.send(data);
  const m = await c.next();
  check("binary", m.isBinary, true);
  if (!Buffer.from(m.data).equals(data)) throw new Error(`binary echo differs (${m.data.length} bytes)`);
}

// A masked frame written on the socket under ws (so that ws cannot refuse it).
function rawMasked(firstByte, payload) {
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([Buffer.from([firstByte, 0x80 | payload.length]), mask, masked]);
}

async function clientScenario(base, scenario) {
  const url = `${base}/${scenario}`;
  switch (scenario) {
    case "handshake-subprotocol": {
      const c = await connect(url);
      check("subprotocol", c.ws.protocol, EXPECTED_PROTOCOL);
      return c.closeNormally();
    }
    case "text-small":
    case "text-empty":
    case "text-utf8": {
      const c = await connect(url);
      await echoText(c, { "text-small": "hello", "text-empty": "", "text-utf8": UTF8 }[scenario]);
      return c.closeNormally();
    }
    case "text-fragmented-send": {
      const c = await connect(url);
      c.ws.send(FRAGMENTS[0], { binary: false, fin: false });
      c.ws.send(FRAGMENTS[1], { fin: false });
      c.ws.send(FRAGMENTS[2], { fin: true });
      check("echo", await c.nextText(), FRAGMENTED);
      return c.closeNormally();
    }
    case "text-fragmented-receive": {
      const c = await connect(url);
      check("message", await c.nextText(), FRAGMENTED);
      return c.closeNormally();
    }
    case "binary-1mib":
    case "binary-16mib": {
      const c = await connect(url);
      await echoBinary(c, pattern((scenario === "binary-1mib" ? 1 : 16) << 20));
      return c.closeNormally();
    }
    case "burst-1000": {
      const c = await connect(url);
      for (let i = 0; i < 1000; i++) c.ws.send(`burst ${i}`);
      for (let i = 0; i < 1000; i++) check("burst", await c.nextText(), `burst ${i}`);
      return c.closeNormally();
    }
    case "ping-from-client": {
      const c = await connect(url);
      const pong = withTimeout(new Promise((r) => c.ws.once("pong", r)), WAIT_MS, "pong");
      c.ws.ping(PING);
      const payload = await pong;
      if (!Buffer.from(payload).equals(PING)) throw new Error(`pong payload ${payload.toString("hex")}`);
      return c.closeNormally();
    }
    case "ping-from-server": {
      const c = await connect(url);
      check("verdict", await c.nextText(), "pong ok");
      return c.closeNormally();
    }
    case "deflate":
    case "deflate-declined": {
      const c = await connect(url, { perMessageDeflate: true });
      const want = scenario === "deflate";
      check("permessage-deflate negotiated", "permessage-deflate" in c.ws._extensions, want);
      check("extensions", c.ws.extensions.startsWith("permessage-deflate"), want);
      await echoText(c, "wsproto interop ".repeat(4096));
      if (want) {
        await echoBinary(c, Buffer.alloc(1 << 20));
        await echoText(c, UTF8.repeat(2000));
      }
      return c.closeNormally();
    }
    case "close-from-client": {
      const c = await connect(url);
      const started = Date.now();
      c.ws.close(...CLIENT_CLOSE);
      const closed = await withTimeout(c.closed, CLOSE_WITHIN_MS, "close");
      // ws reports the code of the server's reply.
      if (!(closed.code >= 1000 && closed.code < 5000)) throw new Error(`reply code ${closed.code}`);
      if (closed.at - started > CLOSE_WITHIN_MS) throw new Error("the close took too long");
      return;
    }
    case "close-from-server": {
      const c = await connect(url);
      const opened = Date.now();
      const closed = await withTimeout(c.closed, WAIT_MS, "close");
      check("code", closed.code, SERVER_CLOSE[0]);
      check("reason", closed.reason, SERVER_CLOSE[1]);
      // The server closes right after the handshake: TCP must be done soon after.
      if (closed.at - opened > CLOSE_WITHIN_MS) throw new Error("the close took too long");
      return;
    }
    case "violation-utf8":
    case "violation-opcode": {
      const c = await connect(url);
      const [frame, want] = scenario === "violation-utf8"
        ? [rawMasked(0x81, [0xc3, 0x28]), 1007]
        : [rawMasked(0x83, [0x78]), 1002];
      c.ws._socket.write(frame);
      const closed = await withTimeout(c.closed, WAIT_MS, "close");
      check("close code received", closed.code, want);
      return;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

async function exampleScenario(url) {
  const c = await connect(url);
  // An echo example selects the client's first choice.
  check("subprotocol", c.ws.protocol, PROTOCOLS[0]);
  await echoText(c, "hello ✓");
  return c.closeNormally();
}

async function runClient(base, examples) {
  const run = async (name, f) => {
    try {
      await f();
      console.log(`PASS ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message}`);
    }
  };
  for (const s of SCENARIOS) await run(s, () => clientScenario(base, s));
  for (let i = 0; i + 1 < examples.length; i += 2) await run(examples[i], () => exampleScenario(examples[i + 1]));
}

// ---------------------------------------------------------------------------------------------

function runServer() {
  const report = (scenario, ok, why) =>
    console.log(ok ? `PASS ${scenario} [node server saw]` : `FAIL ${scenario} [node server saw]: ${why}`);
  const handleProtocols = (offered) => SUPPORTED.find((p) => offered.has(p)) ?? false;
  const withDeflate = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: MAX, handleProtocols });
  const plain = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX, handleProtocols });
  const server = http.createServer((_, res) => { res.writeHead(404); res.end(); });
  server.on("upgrade", (req, socket, head) => {
    const scenario = new URL(req.url, "http://x").pathname.split("/").pop();
    const noDeflate = ["deflate-declined", "text-fragmented-send", "text-fragmented-receive"].includes(scenario);
    const wss = noDeflate ? plain : withDeflate;
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, scenario, report));
  });
  server.listen(0, "127.0.0.1", () => console.log(`READY ${server.address().port}`));
  process.stdin.resume();
  process.stdin.on("end", () => setTimeout(() => process.exit(0), 200));
}

function serve(ws, scenario, report) {
  ws.on("error", () => {});
  const echo = () => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  switch (scenario) {
    case "text-fragmented-receive":
      ws.send(FRAGMENTS[0], { binary: false, fin: false });
      ws.send(FRAGMENTS[1], { fin: false });
      ws.send(FRAGMENTS[2], { fin: true });
      return echo();
    case "ping-from-server": {
      const timer = setTimeout(() => ws.send("pong timeout"), 5000);
      ws.once("pong", (payload) => {
        clearTimeout(timer);
        ws.send(Buffer.from(payload).equals(PING) ? "pong ok" : `pong bad: ${payload.toString("hex")}`);
        echo();
      });
      return ws.ping(PING);
    }
    case "close-from-client":
      echo();
      return ws.on("close", (code, reason) => {
        if (code !== CLIENT_CLOSE[0]) return report(scenario, false, `code ${code}`);
        if (reason.toString() !== CLIENT_CLOSE[1]) return report(scenario, false, `reason ${reason}`);
        report(scenario, true);
      });
    case "close-from-server": {
      const started = Date.now();
      ws.close(...SERVER_CLOSE);
      const timer = setTimeout(() => report(scenario, false, "not closed in time"), CLOSE_WITHIN_MS);
      // "close" comes once the reply arrived and TCP is closed.
      return ws.on("close", (code) => {
        clearTimeout(timer);
        if (Date.now() - started > CLOSE_WITHIN_MS) return;
        if (code === 1005 || code === 1006) return report(scenario, false, `reply code ${code}`);
        report(scenario, true);
      });
    }
    case "violation-utf8":
    case "violation-opcode": {
      const [frame, want] = scenario === "violation-utf8"
        ? [Buffer.from([0x81, 0x02, 0xc3, 0x28]), 1007]
        : [Buffer.from([0x83, 0x01, 0x78]), 1002];
      ws._socket.write(frame);
      return ws.on("close", (code) => report(scenario, code === want, `close code ${code}, want ${want}`));
    }
    default:
      return echo();
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "client") {
  runClient(args[0], args.slice(1)).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else if (mode === "server") {
  runServer();
} else {
  console.error("usage: node peer.mjs client BASE [example-NAME URL]... | server");
  process.exit(2);
}

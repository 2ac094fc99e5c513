// Node `ws` over TLS (wss://) against wsproto, for tests/wss_interop.rs.
//
//   node wss.mjs client URL CA.pem          one session against our server; prints "DONE"
//   node wss.mjs server CERT.pem KEY.pem    prints "READY <port>", serves one session, then
//                                           prints "PINGS <hex,...>" and exits
//
// The session: a UTF-8 text echo, a 1 MiB binary echo, a ping each way, a close with code 4002
// and reason "server bye ✓" from the server. A failure prints "FAIL why" and exits with 1.
import fs from "node:fs";
import https from "node:https";
import { WebSocket, WebSocketServer } from "ws";

const TEXT = "wss ✓ é ñ € 😀";
const WAIT_MS = 20000;

function big() {
  const b = Buffer.alloc(1 << 20);
  for (let i = 0; i < b.length; i++) b[i] = i % 251;
  return b;
}

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

// Waits for the next event of `kind` on `ws`.
function next(ws, kind, what) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`${what}: nothing within ${WAIT_MS} ms`), WAIT_MS);
    ws.once(kind, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function client(url, caPath) {
  const ws = new WebSocket(url, { ca: fs.readFileSync(caPath), perMessageDeflate: false });
  ws.on("error", (e) => fail(`client error: ${e.message}`));
  await next(ws, "open", "TLS and WebSocket handshake");

  ws.send(TEXT);
  let [data, isBinary] = await next(ws, "message", "text echo");
  if (isBinary || data.toString() !== TEXT) fail(`text came back as ${data}`);

  ws.send(big());
  [data, isBinary] = await next(ws, "message", "1 MiB echo");
  if (!isBinary || !big().equals(data)) fail("the 1 MiB message came back changed");

  ws.ping("from client");
  let [payload] = await next(ws, "pong", "pong");
  if (payload.toString() !== "from client") fail(`pong carried ${payload}`);

  ws.send("ping me");
  [payload] = await next(ws, "ping", "server ping");
  if (payload.toString() !== "from server") fail(`server ping carried ${payload}`);

  ws.send("close");
  const [code, reason] = await next(ws, "close", "server close");
  if (code !== 4002 || reason.toString() !== "server bye ✓") fail(`closed with ${code} ${reason}`);
  console.log("DONE");
}

function server(certPath, keyPath) {
  const tls = https.createServer({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) });
  const wss = new WebSocketServer({ server: tls, perMessageDeflate: false });
  const pings = [];
  wss.on("connection", (ws) => {
    ws.on("error", (e) => fail(`server error: ${e.message}`));
    ws.on("ping", (payload) => pings.push(payload.toString("hex")));
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      if (text === "ping me") ws.ping("from server");
      else if (text === "close") ws.close(4002, "server bye ✓");
      else ws.send(data, { binary: isBinary });
    });
    ws.on("close", () => {
      console.log(`PINGS ${pings.join(",")}`);
      tls.close();
      setTimeout(() => process.exit(0), 100);
    });
  });
  tls.listen(0, "127.0.0.1", () => console.log(`READY ${tls.address().port}`));
  setTimeout(() => fail(`server: no session ended within ${2 * WAIT_MS} ms`), 2 * WAIT_MS);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "client") {
  client(args[0], args[1]).then(() => process.exit(0), (e) => fail(String(e)));
} else if (mode === "server") {
  server(args[0], args[1]);
} else {
  console.error("usage: node wss.mjs client URL CA.pem | server CERT.pem KEY.pem");
  process.exit(2);
}

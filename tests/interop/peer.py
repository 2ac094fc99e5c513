"""Python `websockets` as an interop peer (see README.md beside this file).

    python peer.py client BASE [example-NAME URL]...   runs every client scenario against BASE
    python peer.py server                              prints "READY <port>", serves until stdin ends

Prints one line per scenario: "PASS name", "FAIL name: why" or "NA name: why".
"""

import asyncio
import sys
import time

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

PROTOCOLS = ["x.unknown", "interop.v1", "interop.v2"]
SUPPORTED = ["interop.v2", "interop.v1"]
EXPECTED_PROTOCOL = "interop.v2"
FRAGMENTED = "a€😀b"
FRAGMENTS = [b"a\xe2\x82", b"\xac\xf0\x9f", b"\x98\x80b"]
UTF8 = "é ñ ß € ✓ ☃ 😀 𝄞"
PING = bytes([0x00, 0xFF, 0x80, 0x7F, 0x01, 0xFE])
CLIENT_CLOSE = (4001, "client bye ✓")
SERVER_CLOSE = (4002, "server bye ✓")
CLOSE_WITHIN = 3.0
WAIT = 20.0

SCENARIOS = [
    "handshake-subprotocol", "text-small", "text-empty", "text-utf8", "text-fragmented-send",
    "text-fragmented-receive", "binary-1mib", "binary-16mib", "burst-1000", "ping-from-client",
    "ping-from-server", "deflate", "deflate-declined", "close-from-client", "close-from-server",
    "violation-utf8", "violation-opcode",
]
NO_DEFLATE = ("deflate-declined", "text-fragmented-send", "text-fragmented-receive")


def pattern(n):
    return bytes((i * 31 + 7) % 251 for i in range(n))


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r:.80}, want {want!r:.80}")


def connect(url, compression=None):
    return ws_connect(
        url,
        subprotocols=PROTOCOLS,
        compression=compression,
        max_size=None,
        open_timeout=WAIT,
        close_timeout=5,
        ping_interval=None,
    )


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WAIT)


async def echo(ws, message):
    await ws.send(message)
    got = await recv(ws)
    if got != message:
        raise AssertionError(f"echo differs: {type(got).__name__} of {len(got)}")


def raw_masked(first_byte, payload):
    mask = bytes([0x37, 0xFA, 0x21, 0x3D])
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first_byte, 0x80 | len(payload)]) + mask + masked


async def client_scenario(base, scenario):
    url = f"{base}/{scenario}"
    if scenario == "handshake-subprotocol":
        async with connect(url) as ws:
            check("subprotocol", ws.subprotocol, EXPECTED_PROTOCOL)
    elif scenario in ("text-small", "text-empty", "text-utf8"):
        payload = {"text-small": "hello", "text-empty": "", "text-utf8": UTF8}[scenario]
        async with connect(url) as ws:
            await echo(ws, payload)
    elif scenario == "text-fragmented-send":
        async with connect(url) as ws:
            # Fragments given as UTF-8 bytes, sent as text: the code points split across them.
            await ws.send(FRAGMENTS, text=True)
            check("echo", await recv(ws), FRAGMENTED)
    elif scenario == "text-fragmented-receive":
        async with connect(url) as ws:
            check("message", await recv(ws), FRAGMENTED)
    elif scenario in ("binary-1mib", "binary-16mib"):
        async with connect(url) as ws:
            await echo(ws, pattern((1 if scenario == "binary-1mib" else 16) << 20))
    elif scenario == "burst-1000":
        async with connect(url) as ws:
            for i in range(1000):
                await ws.send(f"burst {i}")
            for i in range(1000):
                check("burst", await recv(ws), f"burst {i}")
    elif scenario == "ping-from-client":
        async with connect(url) as ws:
            # The waiter completes when the pong with this payload arrives.
            waiter = await ws.ping(PING)
            await asyncio.wait_for(waiter, WAIT)
    elif scenario == "ping-from-server":
        async with connect(url) as ws:
            check("verdict", await recv(ws), "pong ok")
    elif scenario in ("deflate", "deflate-declined"):
        async with connect(url, compression="deflate") as ws:
            want = scenario == "deflate"
            names = [e.name for e in ws.protocol.extensions]
            check("extensions", names, ["permessage-deflate"] if want else [])
            await echo(ws, "wsproto interop " * 4096)
            if want:
                await echo(ws, bytes(1 << 20))
                await echo(ws, UTF8 * 2000)
    elif scenario == "close-from-client":
        async with connect(url) as ws:
            started = time.monotonic()
            await asyncio.wait_for(ws.close(*CLIENT_CLOSE), CLOSE_WITHIN)
            if ws.protocol.close_rcvd is None:
                raise AssertionError("no close reply")
            await asyncio.wait_for(ws.wait_closed(), CLOSE_WITHIN)
            if time.monotonic() - started > CLOSE_WITHIN:
                raise AssertionError("the close took too long")
    elif scenario == "close-from-server":
        async with connect(url) as ws:
            try:
                await recv(ws)
                raise AssertionError("a message instead of the close")
            except ConnectionClosed as e:
                if e.rcvd is None:
                    raise AssertionError("no close frame received")
                check("code", e.rcvd.code, SERVER_CLOSE[0])
                check("reason", e.rcvd.reason, SERVER_CLOSE[1])
            started = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), CLOSE_WITHIN)
            if time.monotonic() - started > CLOSE_WITHIN:
                raise AssertionError("the close took too long")
    elif scenario in ("violation-utf8", "violation-opcode"):
        frame, want = (
            (raw_masked(0x81, [0xC3, 0x28]), 1007)
            if scenario == "violation-utf8"
            else (raw_masked(0x83, [0x78]), 1002)
        )
        async with connect(url) as ws:
            # Written under the library, which would not send this.
            ws.transport.write(frame)
            try:
                await recv(ws)
                raise AssertionError("a message instead of the close")
            except ConnectionClosed as e:
                check("close code received", e.rcvd.code if e.rcvd else None, want)
    else:
        raise AssertionError(f"unknown scenario {scenario}")


async def example_scenario(url):
    async with connect(url) as ws:
        # An echo example selects the client's first choice.
        check("subprotocol", ws.subprotocol, PROTOCOLS[0])
        await echo(ws, "hello ✓")


async def run_client(base, examples):
    async def run(name, coro):
        try:
            await asyncio.wait_for(coro, 60)
            print(f"PASS {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a row
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)

    for s in SCENARIOS:
        await run(s, client_scenario(base, s))
    for name, url in zip(examples[::2], examples[1::2]):
        await run(name, example_scenario(url))


# ------------------------------------------------------------------------------------------------


def report(scenario, ok, why=""):
    if ok:
        print(f"PASS {scenario} [python server saw]", flush=True)
    else:
        print(f"FAIL {scenario} [python server saw]: {why}", flush=True)


def select_subprotocol(connection, offered):
    return next((p for p in SUPPORTED if p in offered), None)


def process_request(connection, request):
    # websockets negotiates permessage-deflate for every connection of a server; declining one
    # offer means removing it from the request before the negotiation.
    if request.path.rsplit("/", 1)[-1] in NO_DEFLATE and "Sec-WebSocket-Extensions" in request.headers:
        del request.headers["Sec-WebSocket-Extensions"]
    return None


async def handler(ws):
    scenario = ws.request.path.split("?")[0].rsplit("/", 1)[-1]
    if scenario == "text-fragmented-receive":
        await ws.send(FRAGMENTS, text=True)
    elif scenario == "ping-from-server":
        try:
            await asyncio.wait_for(await ws.ping(PING), 5)
            await ws.send("pong ok")
        except asyncio.TimeoutError:
            await ws.send("pong timeout")
    elif scenario == "close-from-server":
        started = time.monotonic()
        await ws.close(*SERVER_CLOSE)
        await ws.wait_closed()
        elapsed = time.monotonic() - started
        if ws.protocol.close_rcvd is None:
            report(scenario, False, "no close reply")
        else:
            report(scenario, elapsed <= CLOSE_WITHIN, f"the close took {elapsed:.1f} s")
        return
    elif scenario in ("violation-utf8", "violation-opcode"):
        frame, want = (
            (bytes([0x81, 0x02, 0xC3, 0x28]), 1007)
            if scenario == "violation-utf8"
            else (bytes([0x83, 0x01, 0x78]), 1002)
        )
        ws.transport.write(frame)
        await ws.wait_closed()
        got = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
        report(scenario, got == want, f"close code {got}, want {want}")
        return
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass
    if scenario == "close-from-client":
        rcvd = ws.protocol.close_rcvd
        if rcvd is None:
            report(scenario, False, "no close frame")
        else:
            ok = (rcvd.code, rcvd.reason) == CLIENT_CLOSE
            report(scenario, ok, f"got {rcvd.code} {rcvd.reason!r}")


async def run_server():
    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=SUPPORTED,
        select_subprotocol=select_subprotocol,
        process_request=process_request,
        compression="deflate",
        max_size=None,
        ping_interval=None,
        close_timeout=5,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        # Serve until stdin ends (the harness closes it, or dies).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        await asyncio.sleep(0.2)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        asyncio.run(run_client(sys.argv[2], sys.argv[3:]))
    elif len(sys.argv) == 2 and sys.argv[1] == "server":
        asyncio.run(run_server())
    else:
        sys.exit("usage: peer.py client BASE [example-NAME URL]... | server")


if __name__ == "__main__":
    main()

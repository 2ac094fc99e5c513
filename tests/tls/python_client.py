"""An independent wss:// client (Python `websockets`) against our servers, run by .ci/tls.sh.

    python python_client.py echo wss://localhost:PORT/ CA.pem
    python python_client.py chat https://localhost:PORT/ CA.pem

`echo`: text, binary, a 16 MiB message, a ping and the close handshake with a code and reason
against echo_server_tokio --tls, with permessage-deflate and ALPN http/1.1 checked, and a client
that does not trust the test CA refused. `chat`: the page over https and a wss:// chat session
against chat --tls. Exits non-zero on any mismatch.

It uses the asyncio client: the threaded `websockets.sync` client over TLS can fail its own
closing handshake with "The read operation timed out" (it changes the socket timeout while its
reading thread is inside an SSL read), against any server, Python's own included.
"""

import asyncio
import os
import ssl
import sys
import urllib.request

from websockets.asyncio.client import connect


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def check(what, ok):
    if not ok:
        sys.exit(f"python_client: {what}: FAILED")
    print(f"python_client: {what}: ok")


async def recv(ws, seconds=20):
    return await asyncio.wait_for(ws.recv(), seconds)


async def echo(url, ca):
    async with connect(url, ssl=context(ca), max_size=None, open_timeout=20, close_timeout=20) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        check("TLS version " + tls.version(), tls.version() in ("TLSv1.2", "TLSv1.3"))
        check("ALPN http/1.1", tls.selected_alpn_protocol() == "http/1.1")
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        check("permessage-deflate negotiated", "permessage-deflate" in extensions)

        await ws.send("hello from python over wss")
        check("text echo", await recv(ws) == "hello from python over wss")
        blob = os.urandom(100_000)
        await ws.send(blob)
        check("binary echo", await recv(ws) == blob)
        big = os.urandom(16 << 20)
        await ws.send(big)
        check("16 MiB echo", await recv(ws, 120) == big)
        pong = await ws.ping(b"python ping")
        await asyncio.wait_for(pong, 20)
        check("ping answered", True)

        await ws.close(code=4000, reason="python bye")
        rcvd = ws.protocol.close_rcvd
        check(f"close reply ({rcvd})", rcvd is not None and rcvd.code == 4000)

    # Without the test CA, the certificate must be refused.
    try:
        async with connect(url, ssl=ssl.create_default_context(), open_timeout=20):
            pass
        check("unknown CA refused", False)
    except ssl.SSLCertVerificationError as e:
        check(f"unknown CA refused ({e.verify_message})", True)


async def chat(url, ca):
    ctx = context(ca)
    with urllib.request.urlopen(url, context=ctx, timeout=20) as page:
        check("chat page over https", b"new WebSocket" in page.read())
    ws_url = url.replace("https://", "wss://", 1).rstrip("/") + "/ws"
    async with connect(ws_url, ssl=ctx, open_timeout=20, close_timeout=20) as ws:
        check("chat greeting over wss", "you are guest" in await recv(ws))
        await ws.send("hi from python")
        said = [await recv(ws) for _ in range(2)]
        check("chat line broadcast back", any("hi from python" in line for line in said))
        await ws.close()
        check("chat closed cleanly", ws.protocol.close_rcvd is not None)


if __name__ == "__main__":
    mode, url, ca = sys.argv[1:4]
    asyncio.run({"echo": echo, "chat": chat}[mode](url, ca))

"""A WebSocket server built on the websockets library, for checking
pistoke's client against an independent implementation.

It listens on a free loopback port, prints "listening <port>" on one line
and serves until it is killed:

  /echo        echoes every message with its type
  /sub         sends the chosen subprotocol as text, then echoes
  /close       closes at once with 4001 "peer says bye"
  /ping        pings with "are you there", reports "pong:<payload>"
  /fragmented  sends "frag-ment-ed" as three fragments, closes with 1000
  /big         sends 1 MiB of binary (byte i is i % 251), closes with 1000
  /reject      refuses the handshake with 403
"""

import asyncio
import http
import sys

import websockets

# In the server's order of preference.
SUBPROTOCOLS = ["chat.v2", "chat.v1"]

PING_PAYLOAD = b"are you there"
BIG_SIZE = 1 << 20
BIG = bytes(i % 251 for i in range(BIG_SIZE))
PATHS = {"/echo", "/sub", "/close", "/ping", "/fragmented", "/big"}


def select_subprotocol(client, server):
    # The server's preference decides, not the client's order.
    for name in server:
        if name in client:
            return name
    return None


async def process_request(path, headers):
    path = path.split("?", 1)[0]
    if path == "/reject":
        return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"forbidden\n"
    if path not in PATHS:
        return http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"no such path\n"
    return None


async def echo(ws):
    async for message in ws:
        await ws.send(message)  # str stays text, bytes stay binary


async def handle(ws):
    path = ws.path.split("?", 1)[0]
    if path == "/echo":
        await echo(ws)
    elif path == "/sub":
        await ws.send(ws.subprotocol or "")
        await echo(ws)
    elif path == "/close":
        await ws.close(4001, "peer says bye")
    elif path == "/ping":
        waiter = await ws.ping(PING_PAYLOAD)
        # websockets completes the waiter only when a pong carries the
        # payload of this ping (the only one sent), so the payload is known.
        await waiter
        await ws.send("pong:" + PING_PAYLOAD.decode())
        await echo(ws)
    elif path == "/fragmented":
        # An iterable makes websockets send one fragment per item.
        await ws.send(["frag-", "ment-", "ed"])
        await ws.close(1000)
    elif path == "/big":
        try:
            await ws.send(BIG)
            await ws.close(1000)
        except websockets.ConnectionClosed:
            # A client whose read limit BIG exceeds fails the connection,
            # possibly before our closing handshake can complete.
            pass


async def main():
    async with websockets.serve(
        handle,
        "127.0.0.1",
        0,
        process_request=process_request,
        subprotocols=SUBPROTOCOLS,
        select_subprotocol=select_subprotocol,
        ping_interval=None,  # no pings but the one /ping sends
        max_size=4 << 20,
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

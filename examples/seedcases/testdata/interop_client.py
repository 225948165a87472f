"""Check a running seedcases server with the Python websockets library.

Usage: interop_client.py ws://127.0.0.1:PORT

Runs every case of the seedcases contract that a client can observe and
prints one line per case, "ok <name>" or "FAIL <name>: <why>". Exits 1 if
any case failed. Written for websockets 10.x and later.
"""

import asyncio
import http.cookies
import json
import sys
import urllib.error
import urllib.request

import websockets
import websockets.exceptions as wsexc

CASE_TIMEOUT = 10  # seconds; a case that hangs fails instead

BASE = ""  # ws://host:port
HTTP_BASE = ""  # http://host:port


class Failure(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Failure(why)


def handshake_status(exc):
    """The HTTP status of a refused handshake, or None."""
    # websockets 10 raises InvalidStatusCode; later versions InvalidStatus.
    invalid_status_code = getattr(wsexc, "InvalidStatusCode", None)
    if invalid_status_code is not None and isinstance(exc, invalid_status_code):
        return exc.status_code
    invalid_status = getattr(wsexc, "InvalidStatus", None)
    if invalid_status is not None and isinstance(exc, invalid_status):
        return exc.response.status_code
    return None


def connect(path, subprotocols=None, headers=None, origin=None):
    return websockets.connect(
        BASE + path,
        subprotocols=subprotocols,
        extra_headers=headers or {},
        origin=origin,
        open_timeout=CASE_TIMEOUT,
        close_timeout=CASE_TIMEOUT,
    )


async def expect_refused(path, status, **kw):
    try:
        async with connect(path, **kw):
            pass
    except wsexc.InvalidHandshake as e:
        got = handshake_status(e)
        expect(got is not None, f"handshake to {path}: {e}; want HTTP {status}")
        expect(got == status, f"handshake to {path}: got HTTP {got}; want HTTP {status}")
        return
    raise Failure(f"handshake to {path} succeeded; want HTTP {status}")


async def expect_message(ws, want, what="reply"):
    try:
        got = await ws.recv()
    except wsexc.ConnectionClosed as e:
        raise Failure(f"{what}: connection closed ({e}); want {want!r}")
    expect(type(got) is type(want), f"{what}: got {type(got).__name__} {got!r:.80}, want {type(want).__name__}")
    expect(got == want, f"{what}: got {got!r:.80}, want {want!r:.80}")


async def expect_close(ws, code, reason=None):
    try:
        msg = await ws.recv()
    except wsexc.ConnectionClosed as e:
        rcvd = e.rcvd
        expect(rcvd is not None, f"connection ended without a close frame; want close {code}")
        expect(rcvd.code == code, f"close code {rcvd.code} ({rcvd.reason!r}); want {code}")
        if reason is not None:
            expect(rcvd.reason == reason, f"close reason {rcvd.reason!r}; want {reason!r}")
        return
    raise Failure(f"got message {msg!r:.80}; want close {code}")


async def echo_round(ws, what):
    """A text and a binary message come back unchanged and with their type."""
    await ws.send("hyvää päivää ✓")
    await expect_message(ws, "hyvää päivää ✓", f"{what} text echo")
    await ws.send(bytes(range(256)))
    await expect_message(ws, bytes(range(256)), f"{what} binary echo")


async def echo_thorough(ws, what):
    await echo_round(ws, what)
    # Every payload length encoding: 7-bit, 16-bit and 64-bit.
    for n in (0, 125, 126, 65535, 65536, 200_000):
        await ws.send("x" * n)
        await expect_message(ws, "x" * n, f"{what} text of {n} bytes")
    # A message sent in fragments comes back whole.
    await ws.send(["frag", "ment", "ed ✓"])
    await expect_message(ws, "fragmented ✓", f"{what} fragmented text")
    await ws.send([b"\x00\x01", b"\x02"])
    await expect_message(ws, b"\x00\x01\x02", f"{what} fragmented binary")
    # Pings are answered.
    pong = await ws.ping(b"tuut")
    await asyncio.wait_for(pong, CASE_TIMEOUT)


async def fetch(path):
    """GET path over HTTP; returns (status, headers, body)."""

    def get():
        try:
            with urllib.request.urlopen(HTTP_BASE + path, timeout=CASE_TIMEOUT) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    return await asyncio.to_thread(get)


async def csrf_token():
    """GET /csrf/; returns (token, Cookie header value)."""
    status, headers, body = await fetch("/csrf/")
    expect(status == 200, f"GET /csrf/: status {status}")
    token = json.loads(body)["token"]
    expect(isinstance(token, str) and token, f"GET /csrf/: bad token {token!r}")
    jar = http.cookies.SimpleCookie()
    for line in headers.get_all("Set-Cookie") or []:
        jar.load(line)
    expect("csrftoken" in jar, f"GET /csrf/: no csrftoken cookie in {headers.get_all('Set-Cookie')}")
    return token, "csrftoken=" + jar["csrftoken"].value


CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn

    return register


@case("http-get-echo")
async def _():
    status, _, body = await fetch("/echo/")
    expect(status == 200 and body == b"GET", f"GET /echo/: {status} {body!r:.80}; want 200 'GET'")


@case("http-get-class")
async def _():
    status, headers, _ = await fetch("/class/")
    ctype = headers.get("Content-Type", "")
    expect(status == 200 and ctype.startswith("text/html"), f"GET /class/: {status} {ctype!r}; want 200 text/html")


@case("echo")
async def _():
    async with connect("/echo/") as ws:
        await echo_thorough(ws, "/echo/")
        await ws.close()
        expect(ws.close_code == 1000, f"close code after client close: {ws.close_code}")


@case("echo-iter")
async def _():
    async with connect("/echo-iter/") as ws:
        await echo_thorough(ws, "/echo-iter/")


@case("raw-text")
async def _():
    async with connect("/raw/") as ws:
        await ws.send("raakaa")
        await expect_message(ws, "raakaa")
        await expect_close(ws, 1000)


@case("raw-binary")
async def _():
    async with connect("/raw/") as ws:
        await ws.send(b"\xffraw")
        await expect_message(ws, b"\xffraw")
        await expect_close(ws, 1000)


@case("empty")
async def _():
    async with connect("/empty/") as ws:
        await expect_close(ws, 1000)


@case("sub-client-order")
async def _():
    async with connect("/sub/", subprotocols=["yhtasuuri", "yhta-pienempi", "yhta-suurempi"]) as ws:
        expect(ws.subprotocol == "yhta-pienempi", f"chosen subprotocol {ws.subprotocol!r}")
        await ws.send("42")
        await expect_message(ws, "41")
        await ws.send("-7")
        await expect_message(ws, "-8")


@case("sub-greater")
async def _():
    async with connect("/sub/", subprotocols=["yhta-suurempi"]) as ws:
        expect(ws.subprotocol == "yhta-suurempi", f"chosen subprotocol {ws.subprotocol!r}")
        await ws.send("42")
        await expect_message(ws, "43")


@case("sub-none-offered")
async def _():
    await expect_refused("/sub/", 403)


@case("sub-none-compatible")
async def _():
    await expect_refused("/sub/", 403, subprotocols=["yhtasuuri"])


@case("private-outer-denied")
async def _():
    await expect_refused("/private-outer/", 403)
    await expect_refused("/private-outer/", 403, headers={"Cookie": "role=user"})


@case("private-outer-allowed")
async def _():
    async with connect("/private-outer/", headers={"Cookie": "role=admin"}) as ws:
        await echo_round(ws, "/private-outer/")


@case("private-inner-denied")
async def _():
    async with connect("/private-inner/") as ws:
        await expect_close(ws, 4403, "Forbidden")


@case("private-inner-allowed")
async def _():
    async with connect("/private-inner/", headers={"Cookie": "role=admin"}) as ws:
        await echo_round(ws, "/private-inner/")


@case("origin-hostile")
async def _():
    await expect_refused("/echo/", 403, origin="http://evil.example")


@case("origin-exempt")
async def _():
    async with connect("/origin-exempt/", origin="http://evil.example") as ws:
        await echo_round(ws, "/origin-exempt/")


@case("origin-allowed-host")
async def _():
    async with connect("/echo/", origin="http://testserver") as ws:
        await echo_round(ws, "/echo/ from an allowed host")


@case("origin-same-host")
async def _():
    async with connect("/echo/", origin=HTTP_BASE) as ws:
        await echo_round(ws, "/echo/ from its own host")


@case("csrf-valid")
async def _():
    token, cookie = await csrf_token()
    async with connect("/csrf/", headers={"Cookie": cookie}) as ws:
        await ws.send(token)
        await expect_message(ws, "ok", "reply to a valid token")
        await echo_round(ws, "/csrf/")


@case("csrf-invalid")
async def _():
    _, cookie = await csrf_token()
    async with connect("/csrf/", headers={"Cookie": cookie}) as ws:
        await ws.send("not-the-token")
        await expect_message(ws, "CSRF token missing or invalid", "reply to a wrong token")
        await expect_close(ws, 1000)


async def arith(subprotocol, pairs):
    token, cookie = await csrf_token()
    async with connect("/arith/", subprotocols=[subprotocol], headers={"Cookie": cookie}) as ws:
        expect(ws.subprotocol == subprotocol, f"chosen subprotocol {ws.subprotocol!r}")
        await ws.send(json.dumps({"csrfmiddlewaretoken": token}))
        for a, b, want in pairs:
            await ws.send(a)
            await ws.send(b)
            await expect_message(ws, want, f"{subprotocol} of {a} and {b}")


@case("arith-summa")
async def _():
    await arith("summa", [("0.1", "0.2", "0.3"), ("10.5", "0.25", "10.75")])


@case("arith-erotus")
async def _():
    await arith("erotus", [("1", "0.3", "0.7"), ("0.3", "0.1", "0.2")])


@case("arith-bad-token")
async def _():
    _, cookie = await csrf_token()
    async with connect("/arith/", subprotocols=["summa"], headers={"Cookie": cookie}) as ws:
        await ws.send(json.dumps({"csrfmiddlewaretoken": "wrong"}))
        try:
            reply = json.loads(await ws.recv())
        except wsexc.ConnectionClosed as e:
            raise Failure(f"closed ({e}) before the error reply")
        expect(
            isinstance(reply, dict) and list(reply) == ["virhe"] and isinstance(reply["virhe"], str),
            f"error reply {reply!r}; want {{\"virhe\": \"...\"}}",
        )
        await expect_close(ws, 1000)


@case("json-echo")
async def _():
    async with connect("/json/") as ws:
        for value in [{"a": [1, 2.5, None, True]}, "teksti ✓", 42, [], None]:
            await ws.send(json.dumps(value))
            try:
                reply = json.loads(await ws.recv())
            except wsexc.ConnectionClosed as e:
                raise Failure(f"closed ({e}) instead of echoing {value!r}")
            expect(reply == {"echo": value}, f"reply {reply!r}; want {{'echo': {value!r}}}")


@case("json-invalid")
async def _():
    async with connect("/json/") as ws:
        await ws.send("{not json")
        await expect_close(ws, 1007)


@case("fail")
async def _():
    async with connect("/fail/") as ws:
        await ws.send("go")
        await expect_close(ws, 1011)


@case("panic")
async def _():
    async with connect("/panic/") as ws:
        await ws.send("go")
        await expect_close(ws, 1011)
    async with connect("/echo/") as ws:
        await echo_round(ws, "/echo/ after a panic")


@case("class-text")
async def _():
    async with connect("/class/") as ws:
        await ws.send("moi")
        await expect_message(ws, 'You wrote "moi".')


@case("class-binary")
async def _():
    async with connect("/class/") as ws:
        await ws.send(b"moi")
        await expect_message(ws, b'You wrote "moi".')


@case("get-only")
async def _():
    await expect_refused("/get-only/", 405)


@case("redirect")
async def _():
    await expect_refused("/redirect/", 403)


@case("nested")
async def _():
    await expect_refused("/nested/", 500)


@case("unknown-path")
async def _():
    await expect_refused("/no-such-path/", 404)


async def run(only):
    failed = 0
    for name, fn in CASES:
        if only and name not in only:
            continue
        try:
            await asyncio.wait_for(fn(), CASE_TIMEOUT)
            print(f"ok {name}", flush=True)
        except Failure as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except asyncio.TimeoutError:
            failed += 1
            print(f"FAIL {name}: timed out after {CASE_TIMEOUT}s", flush=True)
        except Exception as e:  # any other error is a failure of that case
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    return failed


def main():
    global BASE, HTTP_BASE
    if len(sys.argv) < 2 or not sys.argv[1].startswith("ws://"):
        print("usage: interop_client.py ws://HOST:PORT [case ...]", file=sys.stderr)
        sys.exit(2)
    BASE = sys.argv[1].rstrip("/")
    HTTP_BASE = "http://" + BASE[len("ws://"):]
    failed = asyncio.run(run(set(sys.argv[2:])))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

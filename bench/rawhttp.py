"""HTTP/1.1 over kept-alive asyncio streams, for the load generators (live.py, surge.py,
soak.py).

A request costs the generator a few tens of microseconds, a fraction of an HTTP library's, so
that on a small machine shared with the service it is the service that limits the figures.
It speaks only what the service and gunicorn answer: a status line, headers, and a body of
Content-Length bytes or in chunks.
"""

import asyncio
import json
import resource
import time
from dataclasses import dataclass

from bench.common import LOOPBACK

# Errors a request can end with: the connection refused, reset or closed, or an answer that is
# not HTTP as expected. (A timeout, from asyncio.timeout around the call, is TimeoutError.)
FAILURES = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


def raise_file_limit() -> None:
    """Allow as many open files as the hard limit: thousands of viewers are thousands of
    sockets, here and in the gunicorn processes, which inherit the limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def request_bytes(path: str, cookie: str | None = None) -> bytes:
    """A GET of ``path`` on a kept-alive connection."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {LOOPBACK}", "Accept: application/json"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_json_bytes(path: str, body: dict) -> bytes:
    """A POST of ``body`` as JSON to ``path`` on a kept-alive connection."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass(frozen=True)
class Answer:
    """An answer with its headers (names in lower case), for a client that reads them."""

    status: int
    headers: dict[str, str]
    body: bytes


def _headers(head: bytes) -> dict[str, str]:
    """The header fields of an answer's head (after its status line), names in lower case."""
    fields = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


class Connection:
    """One kept-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        # time.perf_counter() of the last answer (for a pool's choice of idle connections).
        self.last_used = 0.0

    async def get(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; the status and body of the answer. A kept-alive connection that
        the server closed while idle (gunicorn's keepalive is 2 s) is reopened and the request
        sent again, as a browser does."""
        if self.writer is not None:
            try:
                return await self._send(request)
            except (OSError, asyncio.IncompleteReadError):
                pass  # closed while idle: once more on a new connection
        self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        return await self._send(request)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` exactly once (never again on a failure: it may have been acted on);
        the status and body of the answer. Opens the connection if it is not open."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        return await self._send(request)

    async def send_answer(self, request: bytes) -> Answer:
        """As send(), with the answer's headers (parsed only here: the load generators that
        call send() never pay for it)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        status, head, body = await self._exchange(request)
        return Answer(status, _headers(head), body)

    async def _send(self, request: bytes) -> tuple[int, bytes]:
        status, _head, body = await self._exchange(request)
        return status, body

    async def _exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lowered = head.lower()
            if b"transfer-encoding: chunked" in lowered:
                body = await self._chunks()
            else:
                at = lowered.find(b"content-length:")
                length = int(lowered[at + 15 : lowered.find(b"\r\n", at)]) if at >= 0 else 0
                body = await self.reader.readexactly(length)
            if b"connection: close" in lowered:
                self.close()
            self.last_used = time.perf_counter()
            return status, head, body
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise

    async def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers are sent: the last CRLF
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size + 2))
            parts[-1] = parts[-1][:-2]

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Pool:
    """Kept-alive connections shared by many clients that each send a request now and then
    (members signing): a client takes an idle connection, or a new one when none is idle, and
    gives it back after the answer. A connection idle for longer than ``max_idle`` seconds is
    closed rather than reused, before the server's keepalive (2 s) can close it under a request
    that must not be sent twice."""

    def __init__(self, port: int, max_idle: float = 1.0):
        self.port = port
        self.max_idle = max_idle
        self.idle: list[Connection] = []
        self.opened = 0

    def take(self) -> Connection:
        """A connection to send one request on (give it back afterwards)."""
        now = time.perf_counter()
        while self.idle:
            connection = self.idle.pop()
            if now - connection.last_used < self.max_idle:
                return connection
            connection.close()
        self.opened += 1
        return Connection(self.port)

    def give(self, connection: Connection) -> None:
        """Return a connection after its answer; a closed one is dropped."""
        if connection.writer is not None:
            self.idle.append(connection)

    def close(self) -> None:
        """Close every idle connection."""
        for connection in self.idle:
            connection.close()
        self.idle = []

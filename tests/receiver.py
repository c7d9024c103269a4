"""A ballot system on a loopback port: it verifies every request's Standard Webhooks signature,
records what arrived, and answers as each test scripts it."""

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BALLOT_URL = "https://ballot.example.org/ballots/42"
OK = json.dumps({"ballot_url": BALLOT_URL})


@dataclass(frozen=True)
class Answer:
    """How to answer one request: after ``delay`` seconds, or once released when ``hold``."""

    status: int = 200
    body: str = OK
    delay: float = 0.0
    hold: bool = False
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and whether its signature checked out."""

    webhook_id: str | None
    timestamp: str | None
    signature: str | None
    body: str
    path: str
    verified: bool
    error: str | None
    arrived: float
    host: str | None = None


def free_port() -> int:
    """A loopback port that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        answer = self.server.receiver._arrived(self.path, dict(self.headers.items()), body)
        if answer.hold:
            self.server.receiver.released.wait(60)
        elif answer.delay:
            self.server.receiver.released.wait(answer.delay)
        payload = answer.body.encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the sender gave up (a timeout) or died: nothing to answer

    def log_message(self, *_args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: "Receiver"

    def handle_error(self, request, client_address) -> None:
        pass  # a connection dropped by the sender is part of what is tested


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that takes webhooks signed with ``secret``.

    ``answers`` are used in order, one per request; after them every request gets ``default``.
    """

    def __init__(
        self,
        secret: str,
        answers: Iterable[Answer] = (),
        default: Answer | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ):
        self.secret = secret
        self.answers = list(answers)
        self.default = default or Answer()
        self.received: list[Received] = []
        self.released = threading.Event()
        self._changed = threading.Condition()
        self._server = _Server((host, port), _Handler)
        self._server.receiver = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The address to send webhooks to."""
        return f"http://{self._server.server_address[0]}:{self.port}/hook"

    def _arrived(self, path: str, headers: dict[str, str], body: str) -> Answer:
        try:
            Webhook(self.secret).verify(body, headers)
            verified, error = True, None
        except WebhookVerificationError as exc:
            verified, error = False, str(exc)
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._changed:
            self.received.append(
                Received(
                    webhook_id=lowered.get("webhook-id"),
                    timestamp=lowered.get("webhook-timestamp"),
                    signature=lowered.get("webhook-signature"),
                    body=body,
                    path=path,
                    verified=verified,
                    error=error,
                    arrived=time.time(),
                    host=lowered.get("host"),
                )
            )
            answer = self.answers.pop(0) if self.answers else self.default
            self._changed.notify_all()
        return answer

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until ``count`` requests have arrived; False if they did not in time."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout)

    def stop(self) -> None:
        """Answer whatever is held and stop listening."""
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

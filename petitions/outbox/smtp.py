"""Sending over SMTP on a connection kept open from one message to the next.

Opening a connection (TCP, often TLS, often a login) costs many times what one message does, so
each thread keeps one open per SMTP_URL and sends every message of every batch over it. A
server may drop the connection at any time, or answer a message with a temporary (4xx) refusal:
the message is then tried once more on a fresh connection. A permanent (5xx) answer about one
message concerns that message only; it is raised as Refused, with the server's words, and the
connection goes on serving the others (README, "Jobs and the outbox").
"""

import functools
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

SMTP_TIMEOUT = 30
# A connection unused for longer is opened afresh: servers close idle connections after a few
# minutes, and finding that out by failing a message costs a try.
IDLE_SECONDS = 60.0
_local = threading.local()


class Refused(Exception):
    """The server refused this message for good (a 5xx answer); its words are the message."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Made once per process: loading the CA bundle costs far more than sending a message.
    return ssl.create_default_context()


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _text(words: bytes | str) -> str:
    return words.decode(errors="replace") if isinstance(words, bytes) else str(words)


def _refusal(exc: smtplib.SMTPException) -> tuple[int, str] | None:
    """The code and words of a refusal of the message, if ``exc`` is one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, words = next(iter(exc.recipients.values()))
        return code, _text(words)
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
        exc, smtplib.SMTPAuthenticationError
    ):
        return exc.smtp_code, _text(exc.smtp_error)
    return None


class Connection:
    """One SMTP_URL's connection, opened when first needed and again whenever it was lost."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        starttls = parse_qs(parts.query).get("starttls", ["0"])[0]
        self.starttls = parts.scheme == "smtp" and starttls in ("1", "true", "yes")
        self.client: smtplib.SMTP | None = None
        self.last_used = 0.0
        self.opened = 0

    def _open(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=SMTP_TIMEOUT, context=_tls_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        try:
            if self.starttls:
                client.starttls(context=_tls_context())
            if self.username:
                client.login(self.username, self.password)
        except BaseException:
            client.close()
            raise
        self.opened += 1
        return client

    def close(self) -> None:
        """Say goodbye to the server, if it is still there, and forget the connection."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def _send_once(self, message: EmailMessage) -> None:
        if self.client is not None and time.monotonic() - self.last_used > IDLE_SECONDS:
            self.close()
        if self.client is None:
            self.client = self._open()
        self.client.send_message(message)
        self.last_used = time.monotonic()

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; raises Refused on a permanent refusal of it, and anything else
        (the server unreachable, a second temporary refusal) when it could not be sent now."""
        for last_try in (False, True):
            try:
                self._send_once(message)
                return
            except smtplib.SMTPAuthenticationError:
                self.close()
                raise
            except (smtplib.SMTPException, OSError) as exc:
                refusal = _refusal(exc) if isinstance(exc, smtplib.SMTPException) else None
                if refusal and _permanent(refusal[0]):
                    # smtplib has reset the transaction: the connection serves the next message.
                    raise Refused(f"{refusal[0]} {refusal[1]}") from exc
                self.close()
                if last_try:
                    raise


def connection(url: str) -> Connection:
    """This thread's connection for ``url`` (threads never share one: SMTP is a conversation)."""
    connections = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    if url not in connections:
        connections[url] = Connection(url)
    return connections[url]


def close_all() -> None:
    """Close this thread's connections (a worker that stops, a test that ends)."""
    for kept in getattr(_local, "connections", {}).values():
        kept.close()
    _local.connections = {}

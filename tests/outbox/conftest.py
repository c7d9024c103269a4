"""An SMTP server on loopback (aiosmtpd) for the mail tests: it keeps what it is given, says
which connection brought each message, and refuses recipients as a test tells it to."""

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from petitions.outbox import smtp


class Inbox:
    """An aiosmtpd handler that keeps every message it is given.

    ``answers[address]`` lists the replies to give, one per RCPT TO of that address, before it
    is accepted ("451 ..." a temporary refusal, "550 ..." a permanent one).
    """

    def __init__(self):
        self.messages: list[dict] = []
        self.logins: list[tuple] = []
        self.answers: dict[str, list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        waiting = self.answers.get(address)
        if waiting:
            return waiting.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message": message_from_bytes(envelope.original_content, policy=policy.default),
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
                "connection": id(session),
            }
        )
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        """Accept the login petitions / p@ss:word only; record every attempt."""
        self.logins.append((mechanism, auth_data.login, auth_data.password))
        ok = auth_data.login == b"petitions" and auth_data.password == b"p@ss:word"
        # handled=False: aiosmtpd answers a refusal with 535 itself.
        return AuthResult(success=ok, handled=False)

    @property
    def connections(self) -> int:
        """How many connections brought messages."""
        return len({received["connection"] for received in self.messages})


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Start an SMTP server on loopback: ``smtp_server(port=None, **aiosmtpd options)``; the
    returned inbox's ``stop()`` stops it early."""
    controllers = []

    def start(port: int | None = None, **options) -> Inbox:
        inbox = Inbox()
        if options.pop("login", False):
            options["authenticator"] = inbox.authenticator
        controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **options)
        controller.start()
        controllers.append(controller)
        inbox.port = controller.port

        def stop():
            controllers.remove(controller)
            controller.stop()

        inbox.stop = stop
        return inbox

    yield start
    # The service keeps its connections open: close them while the server still answers.
    smtp.close_all()
    for controller in controllers:
        controller.stop()

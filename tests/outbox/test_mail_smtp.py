"""Sending mail through a real SMTP server (aiosmtpd, on a free loopback port): plain, with a
login, with STARTTLS and over SSL, and again after the server was down."""

import datetime as dt
import ipaddress
import ssl
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import update
from sqlmodel import Session, select

from petitions.db import flask_db
from petitions.db.models import Mail
from petitions.outbox import smtp
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    petition,
    sent_mail,
    token_of,
)
from tests.outbox.conftest import free_port

MAIL_FROM = "petitions@example.org"
BASE_URL = "http://127.0.0.1:5000"


# --- a certificate authority and a server certificate for 127.0.0.1 ----------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, issuer_key=None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer_key or signing_key).public_key()
            ),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """PEM files: a test CA, and a certificate for 127.0.0.1 that it signed, with its key."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("petitions test CA")
    ca_cert = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(
        _name("127.0.0.1"), ca_name, server_key.public_key(), ca_key, ca=False
    )
    paths = types.SimpleNamespace(
        ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server-key.pem"
    )
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def server_tls(tls_files):
    """The SMTP server's TLS context."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    return context


@pytest.fixture
def trust_test_ca(monkeypatch, tls_files):
    """Make the service's SMTP client trust the test CA, as an operator would with a private CA;
    verification (chain and host name) stays on."""
    real = ssl.create_default_context

    def create_default_context(*args, **kwargs):
        context = real(*args, **kwargs)
        context.load_verify_locations(cafile=str(tls_files.ca))
        return context

    monkeypatch.setattr(
        smtp, "ssl", types.SimpleNamespace(create_default_context=create_default_context)
    )
    # The service makes its TLS context once per process; this test's must not outlive it.
    smtp._tls_context.cache_clear()
    yield
    smtp._tls_context.cache_clear()


# --- the SMTP server ----------------------------------------------------------------------------


@pytest.fixture
def ann(app):
    """One member, an open petition, and mail sent from MAIL_FROM."""
    add_members(app, ("M1", "ann@example.org", "active", "North"))
    open_petition(app)
    configure(app, mail_from=MAIL_FROM)


def ask_to_sign(client, worker, email="Ann@Example.org"):
    response = client.post("/p/vote/sign", data={"email": email})
    assert response.status_code == 303
    worker.run_pending()


def the_mail(app) -> Mail:
    (row,) = sent_mail(app)
    return row


def parts_of(message):
    """The text/plain and text/html parts of a message."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    # Lines end in CRLF on the wire; a reader splits lines on either.
    return "\n".join(text.get_content().splitlines()), html.get_content()


# --- the tests ----------------------------------------------------------------------------------


def test_the_whole_flow_through_smtp(app, client, worker, smtp_server, ann):
    inbox = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}")

    ask_to_sign(client, worker)

    (received,) = inbox.messages
    assert received["mail_from"] == MAIL_FROM
    assert received["rcpt_tos"] == ["ann@example.org"]  # the roll's address, as typed there
    assert received["authenticated"] is False
    message = received["message"]
    assert message["From"] == f"Member petitions <{MAIL_FROM}>"
    assert message["To"] == "ann@example.org"
    assert message["Subject"] == "Confirm your signature: Petition vote"
    assert message["Message-ID"]
    assert message["Date"]
    text, html = parts_of(message)
    link = link_in(text)
    assert link.startswith(f"{BASE_URL}/p/vote/confirm?token=")
    assert f'href="{link}"' in html

    row = the_mail(app)
    assert row.done_at is not None
    assert row.transport == "smtp"
    assert row.last_error is None
    assert row.attempts == 1

    page = client.post("/p/vote/confirm", data={"token": token_of(link)})
    assert page.status_code == 200
    assert "Thank you: your signature is counted" in page.get_data(as_text=True)
    assert petition(app).signature_count == 1

    worker.run_pending()
    assert len(inbox.messages) == 1


def test_the_login_in_the_url_reaches_the_server(app, client, worker, smtp_server, ann):
    inbox = smtp_server(login=True, auth_require_tls=False)
    configure(app, smtp_url=f"smtp://petitions:p%40ss%3Aword@127.0.0.1:{inbox.port}")

    ask_to_sign(client, worker)

    assert [(login, password) for _, login, password in inbox.logins] == [
        (b"petitions", b"p@ss:word")
    ]
    (received,) = inbox.messages
    assert received["authenticated"] is True
    assert the_mail(app).done_at is not None


def test_a_refused_login_leaves_the_mail_to_be_retried(app, client, worker, smtp_server, ann):
    inbox = smtp_server(login=True, auth_require_tls=False)
    configure(app, smtp_url=f"smtp://petitions:wrong@127.0.0.1:{inbox.port}")

    ask_to_sign(client, worker)

    assert inbox.logins
    assert inbox.messages == []
    row = the_mail(app)
    assert row.done_at is None
    assert "SMTPAuthenticationError" in row.last_error


def test_starttls_with_login(app, client, worker, smtp_server, server_tls, trust_test_ca, ann):
    inbox = smtp_server(login=True, tls_context=server_tls, require_starttls=True)
    configure(app, smtp_url=f"smtp://petitions:p%40ss%3Aword@127.0.0.1:{inbox.port}?starttls=1")

    ask_to_sign(client, worker)

    (received,) = inbox.messages
    assert received["tls"] is True
    assert received["authenticated"] is True
    assert link_in(parts_of(received["message"])[0])
    assert the_mail(app).done_at is not None


def test_smtps(app, client, worker, smtp_server, server_tls, trust_test_ca, ann):
    inbox = smtp_server(ssl_context=server_tls)
    configure(app, smtp_url=f"smtps://127.0.0.1:{inbox.port}")

    ask_to_sign(client, worker)

    (received,) = inbox.messages
    assert received["rcpt_tos"] == ["ann@example.org"]  # the roll's address, as typed there
    assert link_in(parts_of(received["message"])[0])
    row = the_mail(app)
    assert row.done_at is not None
    assert row.transport == "smtp"


def test_an_untrusted_certificate_is_refused(app, client, worker, smtp_server, server_tls, ann):
    inbox = smtp_server(ssl_context=server_tls)
    configure(app, smtp_url=f"smtps://127.0.0.1:{inbox.port}")

    ask_to_sign(client, worker)

    assert inbox.messages == []
    row = the_mail(app)
    assert row.done_at is None
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error


def test_mail_waits_for_a_server_that_is_down_and_goes_once(app, client, worker, smtp_server, ann):
    port = free_port()
    configure(app, smtp_url=f"smtp://127.0.0.1:{port}")

    ask_to_sign(client, worker)

    row = the_mail(app)
    assert row.done_at is None
    assert row.transport is None
    assert row.attempts == 1
    assert row.leased_until is None
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > dt.datetime.now(dt.UTC)
    assert worker.run_pending() == 0  # not due yet

    inbox = smtp_server(port=port)
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(
            update(Mail).values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    worker.run_pending()
    worker.run_pending()

    (received,) = inbox.messages
    assert received["rcpt_tos"] == ["ann@example.org"]  # the roll's address, as typed there
    with Session(flask_db.engine_of(app)) as session:
        (row,) = session.exec(select(Mail)).all()
    assert row.done_at is not None
    assert row.transport == "smtp"
    assert row.last_error is None
    assert row.attempts == 2
    link = link_in(parts_of(received["message"])[0])
    confirmed = client.post("/api/v1/signatures/confirm", json={"token": token_of(link)})
    assert confirmed.get_json()["status"] == "confirmed"

"""Where a petition's own webhook goes: checked when an organiser saves it (form and command
line) and again on every try, after resolving its name, to the very address checked; never
along a redirect; the deployment's BALLOT_WEBHOOK_URL trusted as it is; answers kept bounded
and shown escaped.

The test ballot systems listen on loopback, which no webhook may reach unless
WEBHOOK_ALLOWED_NETWORKS names it: each test allows exactly what it needs.
"""

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from petitions.db.engine import utcnow
from petitions.outbox import webhooks
from tests.helpers import configure, sign_in
from tests.outbox.test_webhooks import SECRET, attempts, the_delivery, time_passes, trigger
from tests.receiver import OK, Answer, Receiver, free_port

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)
PUBLIC = "93.184.215.14"


def test_a_name_that_resolves_inside_by_the_time_of_the_try_is_refused(app, client, worker, dns):
    with Receiver(SECRET) as inside:
        dns["ballot.example.org"] = [PUBLIC]
        url = f"http://ballot.example.org:{inside.port}/hook"
        trigger(app, client, webhook_url=url)
        # Rebinding: the name now answers with this machine's address.
        dns["ballot.example.org"] = ["127.0.0.1"]
        worker.run_pending()

    assert inside.received == []
    delivery = the_delivery(app)
    assert delivery.done_at is None
    assert delivery.next_attempt_at > utcnow()
    [attempt] = attempts(app, delivery.id)
    assert attempt.status_code is None
    assert attempt.error == (
        "refused: the webhook URL may not reach 127.0.0.1 (ballot.example.org resolves to it), "
        "a loopback address (this machine): only public addresses, or those the deployment "
        "allows in WEBHOOK_ALLOWED_NETWORKS, are allowed"
    )


def test_a_refused_address_is_retried_and_delivered_once_the_network_is_allowed(
    app, client, worker, dns
):
    with Receiver(SECRET) as ballot:
        dns["ballot.example.org"] = [PUBLIC]
        trigger(app, client, webhook_url=f"http://ballot.example.org:{ballot.port}/hook")
        dns["ballot.example.org"] = ["127.0.0.1"]
        worker.run_pending()
        assert ballot.received == []
        configure(app, webhook_allowed_networks=LOOPBACK_ONLY)
        time_passes(app)
        worker.run_pending()

    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert [a.error is None for a in attempts(app, delivery.id)] == [False, True]
    assert len(ballot.received) == 1


def test_the_connection_goes_to_the_checked_address_and_names_the_host(
    app, client, worker, dns, monkeypatch
):
    configure(app, webhook_allowed_networks=LOOPBACK_ONLY)
    with Receiver(SECRET) as ballot:
        dns["ballot.test"] = ["127.0.0.1"]
        url = f"http://ballot.test:{ballot.port}/hook?ballot=42"
        trigger(app, client, webhook_url=url, webhook_allowed=LOOPBACK_ONLY)
        # Any lookup of the name by the HTTP client itself would fail here: it must connect
        # to the address the check resolved, not resolve the name again.
        looked_up = []
        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            looked_up.append(host)
            if host == "ballot.test":
                raise socket.gaierror("looked up again")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        worker.run_pending()

    assert "ballot.test" not in looked_up
    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert ballot.received[0].host == f"ballot.test:{ballot.port}"
    assert ballot.received[0].path == "/hook?ballot=42"


def test_a_name_that_no_longer_resolves_is_tried_again_later(app, client, worker, dns):
    dns["ballot.example.org"] = [PUBLIC]
    trigger(app, client, webhook_url="https://ballot.example.org/hook")
    del dns["ballot.example.org"]
    worker.run_pending()
    delivery = the_delivery(app)
    assert delivery.done_at is None
    [attempt] = attempts(app, delivery.id)
    assert attempt.error == "not sent: the host name ballot.example.org does not resolve"


def test_a_redirect_is_never_followed_to_an_address_not_allowed(app, client, worker, dns):
    configure(app, webhook_allowed_networks=LOOPBACK_ONLY)
    # 127.0.0.2 is this machine too, but not in the allowed network.
    with Receiver(SECRET, host="127.0.0.2") as elsewhere:
        location = f"http://127.0.0.2:{elsewhere.port}/hook"
        redirect = Answer(302, "", headers=(("Location", location),))
        with Receiver(SECRET, default=redirect) as ballot:
            dns["ballot.test"] = ["127.0.0.1"]
            trigger(
                app,
                client,
                webhook_url=f"http://ballot.test:{ballot.port}/hook",
                webhook_allowed=LOOPBACK_ONLY,
            )
            worker.run_pending()

    assert len(ballot.received) == 1
    assert elsewhere.received == []
    delivery = the_delivery(app)
    assert delivery.done_at is None
    [attempt] = attempts(app, delivery.id)
    assert attempt.status_code == 302
    assert attempt.error == f"HTTP 302: redirect to {location} not followed"


def test_a_redirect_from_the_deployments_own_url_is_not_followed_either(app, client, worker):
    metadata = "http://169.254.169.254/latest/meta-data/"
    with Receiver(SECRET, default=Answer(307, "", headers=(("Location", metadata),))) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
    [attempt] = attempts(app, the_delivery(app).id)
    assert attempt.error == f"HTTP 307: redirect to {metadata} not followed"


def test_the_deployments_own_url_is_trusted_on_loopback_without_any_exception(app, client, worker):
    assert app.extensions["petitions.settings"].webhook_allowed_networks == ()
    with Receiver(SECRET) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
    assert the_delivery(app).outcome == "delivered"
    assert len(ballot.received) == 1


def test_an_answer_is_kept_bounded_and_shown_escaped(app, client, worker):
    hostile = "<script>alert('ballot')</script>" + "x" * 5000
    with Receiver(SECRET, default=Answer(200, hostile)) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()

    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    kept = delivery.response_body
    assert kept.startswith("<script>alert('ballot')</script>xxx")
    assert kept.endswith("\n[cut: only the first 2,048 bytes of the answer are kept]")
    assert len(kept.split("\n[cut:")[0].encode()) == webhooks.RESPONSE_KEPT

    scrutineer = app.test_client()
    sign_in(app, scrutineer, "sue@example.org", "scrutineer")
    page = scrutineer.get("/scrutiny/p/vote").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;ballot&#39;)&lt;/script&gt;xxx" in page
    assert "<script>alert" not in page
    assert "[cut: only the first 2,048 bytes of the answer are kept]" in page


def test_a_short_answer_is_kept_whole(app, client, worker):
    with Receiver(SECRET, default=Answer(200, OK)) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
    assert the_delivery(app).response_body == OK


# --- when the URL is saved ------------------------------------------------------------------


@pytest.fixture
def organiser(app, client):
    sign_in(app, client)
    return client


def petition_form(**fields) -> dict:
    form = {
        "title": "Fair pay",
        "slug": "fair-pay",
        "body": "",
        "threshold_kind": "absolute",
        "threshold": "100",
        "threshold_percent": "",
        "closes_at": "",
        "webhook_url": "",
    }
    form.update(fields)
    return form


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local address"),
        ("http://localhost:8080/hook", "this machine (loopback)"),
        ("http://[::ffff:10.0.0.1]/hook", "private address"),
        ("https://admin:pw@ballot.example.org/hook", "user name or password"),
        ("http://inside.example.org/hook", "10.9.8.7 (inside.example.org resolves to it)"),
    ],
)
def test_the_form_refuses_an_inside_webhook_url_and_says_why(app, organiser, dns, url, words):
    dns["inside.example.org"] = ["10.9.8.7"]
    response = organiser.post("/organiser/petitions/new", data=petition_form(webhook_url=url))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert words in html
    assert organiser.get("/organiser/p/fair-pay/settings").status_code == 404


def test_the_form_accepts_an_address_in_an_allowed_network(app, organiser, dns):
    configure(app, webhook_allowed_networks=(ipaddress.ip_network("10.9.0.0/16"),))
    dns["ballot.internal.example"] = ["10.9.8.7"]
    response = organiser.post(
        "/organiser/petitions/new",
        data=petition_form(webhook_url="http://ballot.internal.example:8080/hook"),
    )
    assert response.status_code == 303
    edit = organiser.post(
        "/organiser/p/fair-pay/settings",
        data=petition_form(webhook_url="http://10.10.0.1/hook"),
    )
    assert edit.status_code == 400
    assert "10.10.0.1, a private address" in edit.get_data(as_text=True)


def test_the_command_line_refuses_an_inside_webhook_url(app, runner, dns):
    args = ["petition", "create", "p", "--title", "P", "--threshold", "5", "--webhook-url"]
    result = runner.invoke(args=[*args, "http://10.0.0.1/hook"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "Error: the webhook URL may not reach 10.0.0.1, a private address: only public "
        "addresses, or those the deployment allows in WEBHOOK_ALLOWED_NETWORKS, are allowed"
    )
    configure(app, webhook_allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert runner.invoke(args=[*args, "http://10.0.0.1/hook"]).exit_code == 0


def test_a_port_nothing_listens_on_behind_an_allowed_address_is_an_ordinary_failure(
    app, client, worker
):
    configure(app, webhook_allowed_networks=LOOPBACK_ONLY)
    url = f"http://127.0.0.1:{free_port()}/hook"
    trigger(app, client, webhook_url=url, webhook_allowed=LOOPBACK_ONLY)
    worker.run_pending()
    assert "ConnectionError" in the_delivery(app).last_error


# --- https to the checked address -------------------------------------------------------------


def _certificate(tmp_path, name: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a self-signed certificate for ``name``, and the certificate's
    file for the client to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / f"{name}.pem"
    key_file = tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


@pytest.mark.parametrize(("certified", "delivered"), [("ballot.test", True), ("other.test", False)])
def test_https_to_the_checked_address_verifies_the_urls_name(
    app, client, worker, dns, monkeypatch, tmp_path, certified, delivered
):
    context, trusted = _certificate(tmp_path, certified)
    # The client trusts this one certificate, as an operator's private CA would be trusted.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", trusted)
    configure(app, webhook_allowed_networks=LOOPBACK_ONLY)
    with Receiver(SECRET, tls=context) as ballot:
        dns["ballot.test"] = ["127.0.0.1"]
        url = f"https://ballot.test:{ballot.port}/hook"
        trigger(app, client, webhook_url=url, webhook_allowed=LOOPBACK_ONLY)
        worker.run_pending()

    delivery = the_delivery(app)
    if delivered:
        assert delivery.outcome == "delivered"
        assert ballot.received[0].host == f"ballot.test:{ballot.port}"
    else:
        assert delivery.done_at is None
        assert ballot.received == []
        [attempt] = attempts(app, delivery.id)
        assert attempt.error.startswith("SSLError")
        assert "ballot.test" in attempt.error

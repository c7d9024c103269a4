"""The dev mailbox shows every link: it answers this machine only, and a development process
listening beyond this machine says so when it starts."""

import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from petitions.web.dev import exposure_warning, is_loopback
from tests.helpers import add_members, open_petition, sent_mail

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/dev/mail", "/dev/webhooks"])
@pytest.mark.parametrize("address", ["203.0.113.9", "10.1.2.3", "2001:db8::1"])
def test_the_dev_pages_refuse_other_machines(client, path, address):
    response = client.get(path, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 404
    assert "Dev mailbox" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/dev/mail", "/dev/webhooks"])
@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_the_dev_pages_answer_this_machine(client, path, address):
    assert client.get(path, environ_base={"REMOTE_ADDR": address}).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("petitions.example.org", False),
        ("", False),
    ],
)
def test_which_hosts_are_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback
    assert (exposure_warning(host) is None) is loopback


def _gunicorn_config():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("binds", "warned"),
    [
        (["0.0.0.0:5000"], True),
        (["127.0.0.1:5000", "[::]:5000"], True),
        (["127.0.0.1:5000"], False),
        (["unix:/run/petitions.sock"], False),
    ],
)
def test_gunicorn_warns_when_development_listens_beyond_this_machine(
    monkeypatch, caplog, binds, warned
):
    monkeypatch.delenv("PETITIONS_ENV", raising=False)
    log = logging.getLogger("test.gunicorn")
    server = SimpleNamespace(cfg=SimpleNamespace(bind=binds), log=log)
    with caplog.at_level(logging.WARNING, logger="test.gunicorn"):
        _gunicorn_config().when_ready(server)
    assert ("reachable from other machines" in caplog.text) is warned


def test_gunicorn_says_nothing_in_production(monkeypatch, caplog):
    monkeypatch.setenv("PETITIONS_ENV", "production")
    log = logging.getLogger("test.gunicorn")
    server = SimpleNamespace(cfg=SimpleNamespace(bind=["0.0.0.0:5000"]), log=log)
    with caplog.at_level(logging.WARNING, logger="test.gunicorn"):
        _gunicorn_config().when_ready(server)
    assert caplog.text == ""


def test_a_mails_html_part_is_served_alone_under_a_strict_policy(app, client, worker):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client.post("/p/vote/sign", data={"email": "ann@example.org"})
    worker.run_pending()
    (mail,) = sent_mail(app)

    response = client.get(f"/dev/mail/{mail.id}/html")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == mail.html_body
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "sandbox" in policy
    assert "script-src" not in policy
    assert "frame-ancestors 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"

    mailbox = client.get("/dev/mail").get_data(as_text=True)
    assert f'src="/dev/mail/{mail.id}/html"' in mailbox
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in mailbox
    assert 'class="mail-body"' in mailbox
    assert client.get(f"/dev/mail/{mail.id + 1}/html").status_code == 404
    remote = client.get(f"/dev/mail/{mail.id}/html", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert remote.status_code == 404

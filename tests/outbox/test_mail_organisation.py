"""Every mail carries the organisation: its name as the From header's display name and the
signature, its contact under it, and its name in the sign-in mail's subject and text."""

from email.utils import parseaddr

import pytest

from petitions.config import settings_of
from petitions.outbox import mail
from tests.helpers import add_members, configure, open_petition, sent_mail

ORGANISATION = {
    "org_name": "Northern Rail Union",
    "org_contact_email": "help@nru.example.org",
    "org_contact_url": "https://nru.example.org/contact",
}


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the mails are composed the same way on either database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_a_signing_link_is_signed_with_the_organisation_and_its_contact(app, client, worker):
    configure(app, **ORGANISATION)
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app)
    client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    worker.run_pending()
    (sent,) = sent_mail(app)
    signature = sent.text_body.rstrip().split("\n\n")[-1]
    assert signature == (
        "Northern Rail Union\n"
        "Questions: help@nru.example.org\n"
        "Contact us: https://nru.example.org/contact"
    )
    assert ">Northern Rail Union<br>" in sent.html_body
    assert '<a href="https://nru.example.org/contact">' in sent.html_body


def test_the_sign_in_mail_names_the_organisation(app, client, runner, worker):
    configure(app, org_name="Northern Rail Union")
    runner.invoke(args=["user", "add", "organiser@example.org", "--role", "organiser"])
    client.post("/sign-in", data={"email": "organiser@example.org"})
    worker.run_pending()
    (sent,) = sent_mail(app, "organiser@example.org")
    assert sent.subject == "Your sign-in link for Northern Rail Union"
    assert "asked to sign in to Northern Rail Union as organiser@example.org" in sent.text_body
    assert sent.text_body.rstrip().endswith("\n\nNorthern Rail Union")


def test_without_settings_mail_is_signed_neutrally(app, client, worker):
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app)
    client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    worker.run_pending()
    (sent,) = sent_mail(app)
    assert sent.text_body.rstrip().endswith("\n\nMember petitions")
    assert "Questions" not in sent.text_body


@pytest.mark.parametrize(
    ("mail_from", "org_name", "expected"),
    [
        ("votes@example.org", "Member petitions", "Member petitions <votes@example.org>"),
        ("votes@example.org", "Northern Rail Union", "Northern Rail Union <votes@example.org>"),
        # A name with a comma is quoted; one outside ASCII is encoded.
        ("votes@example.org", "Rail, Maritime", '"Rail, Maritime" <votes@example.org>'),
        (
            "votes@example.org",
            "Syndicat Métallurgie",
            "=?utf-8?q?Syndicat_M=C3=A9tallurgie?= <votes@example.org>",
        ),
        # MAIL_FROM that names its own sender keeps it.
        ("Ballots <votes@example.org>", "Northern Rail Union", "Ballots <votes@example.org>"),
    ],
)
def test_the_sender_is_shown_under_the_organisation_s_name(app, mail_from, org_name, expected):
    configure(app, mail_from=mail_from, org_name=org_name)
    sender = mail.sender(settings_of(app))
    assert sender == expected
    assert parseaddr(sender)[1] == "votes@example.org"

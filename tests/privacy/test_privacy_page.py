"""The privacy page: linked from every page, written from the settings in force."""

import pytest

from petitions.config import settings_of
from petitions.privacy import notice
from tests.helpers import configure


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the page reads no table."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_every_page_links_to_the_privacy_page(client):
    for path in ("/", "/sign-in", "/privacy"):
        assert 'href="/privacy"' in client.get(path).get_data(as_text=True), path


def test_the_page_names_the_organisation_and_its_contact(app, client):
    configure(
        app,
        org_name="Union of Examples",
        org_contact_email="dpo@example.org",
        org_contact_url="https://example.org/contact",
    )
    page = client.get("/privacy").get_data(as_text=True)
    assert "Union of Examples runs this service" in page
    assert 'href="mailto:dpo@example.org"' in page
    assert 'href="https://example.org/contact"' in page
    assert "your usual contact" not in page


def test_without_a_contact_the_page_says_whom_to_ask(client):
    page = " ".join(client.get("/privacy").get_data(as_text=True).split())
    assert "through your usual contact with the organisation" in page


def test_the_page_explains_the_public_log_and_the_export(app, client):
    page = " ".join(client.get("/privacy").get_data(as_text=True).split())
    assert "HMAC-SHA256 of the member number" in page
    assert "No name, address, member number or network is ever in the log" in page
    assert 'action="/privacy/export"' in page
    assert "for 24 hours" in page


def test_the_page_states_the_retention_in_force(app, client):
    configure(app, mail_body_retention_days=7, sign_request_retention_days=1)
    kept = notice.retention(settings_of(app))
    assert len(kept) == len(notice.RETENTION)
    assert kept[0].period == "7 days after sending"
    assert kept[1].period == "1 day after the petition closes"
    assert kept[2].period == "30 days after they end"
    page = " ".join(client.get("/privacy").get_data(as_text=True).split())
    assert "7 days after sending" in page

"""The organisation's look in the pages: its name, logo and contact in base.html, its colour as
/theme.css (cacheable, no inline style), its logo served from ORG_LOGO_FILE, and a favicon."""

import re

import pytest

from petitions import organisation
from tests.helpers import configure

LOGO = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 4 4'><rect width='4' height='4'/></svg>"
)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these are pages, not storage."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def themed(app, tmp_path):
    """The app with every ORG_* setting given."""
    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    configure(
        app,
        org_name="Northern Rail Union",
        org_logo_file=logo,
        org_primary_colour="#c8102e",
        org_contact_email="help@nru.example.org",
        org_contact_url="https://nru.example.org/contact",
    )
    return app


def test_by_default_the_pages_look_as_before(client):
    page = client.get("/").get_data(as_text=True)
    assert "<title>Open petitions · Member petitions</title>" in page
    assert ">Member petitions</a>" in page
    assert "theme.css" not in page
    assert "site-logo" not in page
    assert "site-contact" not in page
    assert client.get("/theme/logo").status_code == 404
    assert client.get("/theme.css").get_data(as_text=True) == ""


def test_the_pages_carry_the_organisation(themed):
    client = themed.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "<title>Open petitions · Northern Rail Union</title>" in page
    header = page[page.index('<header class="site-header">') : page.index("</header>")]
    assert re.search(r'<img class="site-logo" src="/theme/logo\?v=[0-9a-f]{16}" alt="">', header)
    assert "Northern Rail Union</a>" in header
    footer = page[page.index("<footer") :]
    assert '<a href="mailto:help@nru.example.org">help@nru.example.org</a>' in footer
    assert '<a href="https://nru.example.org/contact">Contact us</a>' in footer
    # The colour reaches the page as a stylesheet of its own, never as a style attribute.
    sheet = re.search(r'<link rel="stylesheet" href="(/theme\.css\?v=[0-9a-f]{16})">', page)
    assert sheet
    assert "style=" not in page


def test_the_theme_stylesheet_sets_the_custom_properties_and_is_cached(themed):
    client = themed.test_client()
    href = re.search(r'href="(/theme\.css\?v=[^"]+)"', client.get("/").get_data(as_text=True))[1]
    response = client.get(href)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert "--accent: #c8102e;" in css
    dark = re.search(r"--accent-dark: (#[0-9a-f]{6});", css)[1]
    # The header's shade is darker still, and white text on it reads as well as on the default.
    assert organisation.contrast(dark, "#ffffff") >= organisation.DARK_CONTRAST
    assert organisation.contrast(dark, "#fbbf24") >= 3
    assert "immutable" in response.headers["Cache-Control"]
    again = client.get(href, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # A changed colour is a new address, so a browser's kept copy is never stale.
    configure(themed, org_primary_colour="#00703c")
    assert href not in client.get("/").get_data(as_text=True)


def test_the_logo_is_served_with_its_type(themed):
    client = themed.test_client()
    href = re.search(r'src="(/theme/logo\?v=[^"]+)"', client.get("/").get_data(as_text=True))[1]
    with client.get(href) as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert response.get_data(as_text=True) == LOGO
        assert "max-age=31536000" in response.headers["Cache-Control"]


def test_the_favicon_is_answered_by_both_names(client):
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    for path in ("/favicon.ico", "/static/favicon.svg"):
        with client.get(path) as response:
            assert response.status_code == 200
            assert response.mimetype == "image/svg+xml"
            assert response.get_data(as_text=True).startswith("<svg")


def test_a_logo_removed_after_start_up_leaves_the_pages_working(app, tmp_path):
    logo = tmp_path / "gone.png"
    configure(app, org_logo_file=logo)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert "site-logo" not in page.get_data(as_text=True)
    assert client.get("/theme/logo").status_code == 404

"""The API's page for people, /api/docs: Swagger UI's files served from here, configured by a
static script, linked from every page's footer; the raw document stays where it was."""

import re

import pytest


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the page reads nothing from the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_the_footer_links_the_api_page(client):
    page = client.get("/").get_data(as_text=True)
    assert '<a href="/api/docs/">JSON API</a>' in page


def test_the_page_loads_swagger_ui_from_this_service_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>JSON API</h1>" in page
    assert 'data-url="/api/v1/openapi.json"' in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(not s.startswith(("http:", "https:", "//")) for s in sources if "github" not in s)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert [s.split("?")[0] for s in scripts] == [
        "/static/local_time.js",
        "/api/docs/swagger-ui/swagger-ui-bundle.js",
        "/static/api_docs.js",
    ]
    assert "<script>" not in page
    assert "style=" not in page
    # The strict policy, not loosened for this page.
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy


def test_swagger_ui_s_files_and_licence_are_served(client):
    page = client.get("/api/docs/").get_data(as_text=True)
    for href in re.findall(r'"(/api/docs/swagger-ui/[^"]+)"', page):
        with client.get(href) as response:
            assert response.status_code == 200, href
            assert len(response.get_data()) > 0
            assert "max-age=86400" in response.headers["Cache-Control"]
            if href.endswith(".js"):
                assert "javascript" in response.mimetype
    with client.get("/api/docs/swagger-ui/LICENSE") as licence:
        assert licence.mimetype == "text/plain"
        assert "Apache License" in licence.get_data(as_text=True)


@pytest.mark.parametrize("name", ["index.html", "oauth2-redirect.html", "..%2fflask_swagger_ui.py"])
def test_nothing_else_of_the_package_is_served(client, name):
    assert client.get(f"/api/docs/swagger-ui/{name}").status_code == 404


def test_the_raw_document_stays_at_its_address(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")

"""The public pages, the error pages and the health check."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import Petition
from petitions.lifecycle import rules
from tests.helpers import configure


def make_petition(db, slug="fair-pay", *, state="open", count=0, threshold=400, **fields):
    """Insert a petition in ``state`` with ``count`` signatures of ``threshold``."""
    petition = Petition(
        slug=slug,
        title=fields.pop("title", f"Petition {slug}"),
        state=state,
        threshold_absolute=threshold,
        threshold=None if state == "draft" else threshold,
        eligible_members=None if state == "draft" else 4000,
        signature_count=count,
        opened_at=None if state == "draft" else datetime.now(UTC),
        **fields,
    )
    db.add(petition)
    db.commit()
    return petition


class Tags(HTMLParser):
    """Collects every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict]:
    """The attributes of every ``name`` element in ``html``."""
    parser = Tags()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def text_of(html: str) -> str:
    """The page's text with tags removed and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


# --- the list of petitions ------------------------------------------------------------------


def test_index_lists_open_and_triggered_petitions_only(client, db):
    make_petition(db, "open-one", title="Open one", count=100)
    make_petition(db, "triggered-one", title="Triggered one", state="triggered", count=450)
    make_petition(db, "draft-one", title="Draft one", state="draft")
    make_petition(db, "closed-one", title="Closed one", state="closed")
    make_petition(
        db,
        "expired-one",
        title="Expired one",
        closes_at=datetime.now(UTC) - timedelta(minutes=1),
    )

    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Open one" in html
    assert "Triggered one" in html
    for hidden in ("Draft one", "Closed one", "Expired one"):
        assert hidden not in html
    links = {a["href"] for a in tags(html, "a")}
    assert {"/p/open-one", "/p/triggered-one"} <= links
    text = text_of(html)
    assert "100 of 400 signatures needed (25%)" in text
    assert "450 signatures: threshold of 400 reached" in text
    assert "Threshold reached: vote triggered" in text


def test_index_says_so_when_nothing_is_open(client, db):
    make_petition(db, "draft-one", state="draft")
    html = client.get("/").get_data(as_text=True)
    assert "No petition is open for signing right now." in html


def test_index_shows_the_closing_time(client, db):
    make_petition(db, closes_at=datetime(2099, 12, 31, 18, 0, tzinfo=UTC))
    html = client.get("/").get_data(as_text=True)
    assert "Closes 31 December 2099, 18:00 UTC" in text_of(html)
    assert tags(html, "time")[0]["datetime"] == "2099-12-31T18:00:00+00:00"


# --- one petition ---------------------------------------------------------------------------


def test_petition_page_shows_the_petition(client, db):
    make_petition(
        db,
        title="Fair pay for all staff",
        body="We call for a vote.\n\nSecond paragraph\nwith a line break.",
        count=1234,
        threshold=4000,
        closes_at=datetime(2099, 1, 2, 9, 30, tzinfo=UTC),
    )
    response = client.get("/p/fair-pay")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Fair pay for all staff</h1>" in html
    assert "<p>We call for a vote.</p>" in html
    assert "<p>Second paragraph\nwith a line break.</p>" in html
    text = text_of(html)
    assert "Open for signing" in text
    assert "1,234 of 4,000 signatures needed (30%)" in text
    assert "Signing closes on 2 January 2099, 09:30 UTC" in text


def test_petition_page_has_an_accessible_progress_bar(client, db):
    make_petition(db, count=1234, threshold=4000)
    html = client.get("/p/fair-pay").get_data(as_text=True)
    (bar,) = tags(html, "progress")
    assert (bar["max"], bar["value"]) == ("4000", "1234")
    label = tags(html, "p")
    labelled = [p for p in label if p.get("id") == bar["aria-labelledby"]]
    assert len(labelled) == 1


def test_progress_bar_is_full_but_not_overfull_past_the_threshold(client, db):
    make_petition(db, state="triggered", count=5000, threshold=4000)
    html = client.get("/p/fair-pay").get_data(as_text=True)
    (bar,) = tags(html, "progress")
    assert (bar["max"], bar["value"]) == ("4000", "4000")
    assert "5,000 signatures: threshold of 4,000 reached (100%)" in text_of(html)


def test_petition_page_escapes_what_organisers_typed(client, db):
    make_petition(db, title="<script>alert(1)</script>", body="<b>bold</b>")
    html = client.get("/p/fair-pay").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_triggered_petition_says_the_vote_was_triggered(client, db):
    make_petition(
        db,
        state="triggered",
        count=400,
        reached_at=datetime(2099, 3, 4, 5, 6, tzinfo=UTC),
    )
    text = text_of(client.get("/p/fair-pay").get_data(as_text=True))
    assert "Threshold reached: vote triggered" in text
    assert "The threshold was reached on 4 March 2099, 05:06 UTC" in text
    assert "Signing continues." in text


def test_closed_and_expired_petitions_are_shown_as_closed(client, db):
    make_petition(db, "closed", state="closed", closed_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    past = datetime.now(UTC) - timedelta(hours=1)
    make_petition(db, "expired", closes_at=past)
    closed = text_of(client.get("/p/closed").get_data(as_text=True))
    assert "Closed" in closed
    assert "Signing closed on 2 January 2026, 03:04 UTC." in closed
    expired = text_of(client.get("/p/expired").get_data(as_text=True))
    assert "Open for signing" not in expired
    assert f"Signing closed on {past.day} " in expired


def test_petition_without_closing_time_says_so(client, db):
    make_petition(db)
    text = text_of(client.get("/p/fair-pay").get_data(as_text=True))
    assert "This petition has no closing date." in text


# --- not found ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/p/no-such-petition", "/p/draft-one", "/nowhere"])
def test_drafts_and_unknown_pages_are_a_404_page(client, db, path):
    make_petition(db, "draft-one", title="Secret draft", state="draft")
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Secret draft" not in html
    assert "404" in html
    assert "Not Found" in html
    assert '<a href="/">' in html


def test_a_draft_becomes_public_when_it_opens(app, client):
    # Not the ``db`` fixture: its app context would make both requests share one session.
    with Session(flask_db.engine_of(app)) as session:
        make_petition(session, state="draft")
        assert client.get("/p/fair-pay").status_code == 404
        rules.open_petition(session, "fair-pay")
        session.commit()
    assert client.get("/p/fair-pay").status_code == 200


# --- the layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/p/fair-pay", "/p/missing"])
def test_every_page_has_the_accessible_layout(client, db, path):
    make_petition(db)
    html = client.get(path).get_data(as_text=True)
    assert tags(html, "html")[0]["lang"] == "en"
    (viewport,) = [m for m in tags(html, "meta") if m.get("name") == "viewport"]
    assert "width=device-width" in viewport["content"]
    skip = tags(html, "a")[0]
    assert skip["href"] == "#main"
    assert [m["id"] for m in tags(html, "main")] == ["main"]
    assert len(tags(html, "h1")) == 1
    sheets = [link["href"] for link in tags(html, "link") if link.get("rel") == "stylesheet"]
    assert sheets == ["/static/style.css"]
    # No inline script or style, so a strict Content-Security-Policy can be used.
    scripts = tags(html, "script")
    assert all(script.get("src", "").startswith("/static/") for script in scripts)
    assert re.findall(r"<script[^>]*>([^<]*)</script>", html) == [""] * len(scripts)
    assert "<style" not in html
    assert all("style" not in attrs for _, attrs in _all_tags(html))


def _all_tags(html):
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_the_stylesheet_is_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b"progress" in response.data
    response.close()


# --- health ---------------------------------------------------------------------------------


def test_healthz_ok_without_a_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "queue": "not_configured"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_names_an_unreachable_queue(app, client):
    configure(app, redis_url="redis://127.0.0.1:1")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "ok",
        "queue": "unavailable",
    }


def test_healthz_names_a_bad_queue_url(app, client):
    configure(app, redis_url="notredis://example")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["queue"] == "unavailable"


def test_healthz_ok_with_a_reachable_queue(app, client):
    from tests.conftest import REDIS_URL, require_redis

    require_redis()
    configure(app, redis_url=REDIS_URL)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_healthz_names_an_unreachable_database(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("BALLOT_WEBHOOK_SECRET", "whsec_dGVzdC13ZWJob29rLXNlY3JldA==")
    monkeypatch.delenv("REDIS_URL", raising=False)
    # A directory that does not exist: SQLite cannot open the file.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")
    app = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "unavailable",
        "queue": "not_configured",
    }

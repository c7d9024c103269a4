"""The witnesses' panels, on the public results page and on the organiser's dashboard, at a
phone's width and a desktop's: each witness with the size it cosigned and when, one stalled;
no serious accessibility violation, no sideways scrolling on the phone. With
PETITIONS_SCREENSHOTS=1 the panels are saved under docs/screenshots."""

import os
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import TreeHead
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_problems,
    open_page,
    served,
    session_cookie,
)
from tests.helpers import configure, open_petition, sign_in
from tests.outbox.test_webhooks import confirm_members
from tests.transparency.test_witnessing import Witnesses, heads_signed


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_witness_panels_show_who_cosigned_what_and_who_stalled(
    browser, app, tmp_path, size, viewport
):
    client = app.test_client()
    sign_in(app, client, "organiser@example.org", "organiser")
    witnesses = Witnesses(app, tmp_path)
    with served(app) as base:
        try:
            witnesses.start("witness.example.org/scrutineers")
            witnesses.start("witness.example.net/federation")
            witnesses.configure("witness.example.org/scrutineers", "witness.example.net/federation")
            open_petition(app, "vote", threshold=30, witnesses_required=2)
            confirm_members(app, client, "vote", 4, prefix="A")
            heads_signed(app)
            app.extensions["petitions.dispatcher"].run_pending()
            witnesses.stop("witness.example.net/federation")
            confirm_members(app, client, "vote", 3, prefix="B")
            heads_signed(app)
            app.extensions["petitions.dispatcher"].run_pending()
            with Session(flask_db.engine_of(app)) as session:
                session.execute(update(TreeHead).values(timestamp=utcnow() - timedelta(hours=1)))
                session.commit()
            configure(app, witness_stalled_after_seconds=600)
            assert settings_of(app).witnesses

            context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
            context.add_cookies([session_cookie(client, base)])
            try:
                problems = []
                for name, path, panel in (
                    ("results", "/p/vote/results", "section[aria-labelledby=witnesses-heading]"),
                    ("dashboard", "/organiser/p/vote", "#witnesses"),
                ):
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    text = page.locator(panel).inner_text()
                    assert "witness.example.org/scrutineers" in text
                    assert "7 of 7" in text
                    assert "4 of 7" in text
                    assert "Stalled" in text
                    assert "Up to date" in text
                    problems += [f"{name}: {problem}" for problem in axe_problems(page)]
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth"
                    )
                    if size == "phone" and overflow > 1:
                        problems.append(f"{name} (phone): scrolls sideways by {overflow}px")
                    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
                        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                        page.locator(panel).screenshot(
                            path=str(SCREENSHOTS / f"witnesses-{name}-{size}.png")
                        )
                dashboard = page.locator("#witnesses").inner_text()
                assert "Last try: could not connect to http://127.0.0.1:" in dashboard
            finally:
                context.close()
        finally:
            witnesses.close()
    assert problems == []
    assert errors == []

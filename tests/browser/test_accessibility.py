"""Every main page, for members and for signed-in organisers, checked in headless Chromium with
axe-core (from the npm registry, injected into the page) for WCAG 2.1 A and AA: no serious or
critical violations, at a phone's width and at a desktop's, and no sideways scrolling on the
phone. With PETITIONS_SCREENSHOTS=1 each page is also saved under docs/screenshots.
"""

import io
import os

import pytest
from sqlalchemy import select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import LogLeaf, Member
from petitions.lifecycle import actions
from petitions.roll.importer import import_roll
from petitions.signatures import invalidation, name_check, signing, tokens, withdrawal
from petitions.transparency import roll_commitment
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    WCAG_TAGS,
    open_page,
    page_in_context,
    require_axe,
    served,
    session_cookie,
)
from tests.helpers import petition, sign_in

BLOCKING = {"serious", "critical"}
ROLL = (
    "member_id,email,name,region,status\n"
    + "".join(
        f"M{n:03d},m{n}@example.org,Member {n},{('North', 'South', 'East')[n % 3]},active\n"
        for n in range(1, 41)
    )
    + "M900,not-an-address,Broken Row,North,active\n"
)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def browser(browser):
    """The session's Chromium, once axe-core is there to inject."""
    require_axe()
    return browser


@pytest.fixture
def arranged(app):
    """A roll (with one rejected row), an open petition (its roll committed) with signatures,
    one invalidated, and its roll re-committed once a member joined; then another joined."""
    engine = flask_db.engine_of(app)
    import_roll(engine, io.BytesIO(ROLL.encode()), "roll.csv")
    actions.create_petition(
        engine,
        "organiser@example.org",
        slug="vote",
        title="Petition vote",
        threshold=30,
        open_now=True,
        commit_roll=roll_commitment.committer(settings_of(app), "organiser@example.org"),
    )
    with Session(flask_db.engine_of(app)) as session:
        members = list(session.scalars(select(Member.id).order_by(Member.id).limit(8)))
    for member_id in members:
        token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_id)
        assert (
            signing.confirm(flask_db.engine_of(app), settings_of(app), token).status == "confirmed"
        )
    invalidation.invalidate(
        flask_db.engine_of(app),
        settings_of(app),
        "vote",
        [2],
        "duplicate_person",
        "organiser@example.org",
        "",
    )
    joined = "member_id,email,name,region,status\nM041,m41@example.org,Member 41,North,active\n"
    import_roll(engine, io.BytesIO(joined.encode()), "joined.csv")
    roll_commitment.recommit(
        engine, settings_of(app), "organiser@example.org", "vote", "Member 41 joined"
    )
    later = "member_id,email,name,region,status\nM042,m42@example.org,Member 42,South,active\n"
    import_roll(engine, io.BytesIO(later.encode()), "later.csv")
    return app


def _confirm_url(app) -> str:
    with Session(flask_db.engine_of(app)) as session:
        member = session.scalars(select(Member.id).order_by(Member.id.desc())).first()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member)
    return f"/p/vote/confirm?token={token}"


def _withdraw_url(app) -> str:
    """The page a link to withdraw signature 1 opens."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.scalars(select(Member.id).order_by(Member.id)).first()
    token = withdrawal.manage_token(settings_of(app), petition(app).id, member)
    return f"/p/vote/withdraw?token={token}"


def _name_report_url(app) -> str:
    """The page a link to report signature 1 (the first signature leaf, after the committed
    roll's) as not the member's own opens."""
    with Session(flask_db.engine_of(app)) as session:
        first = session.scalars(
            select(LogLeaf.index).where(LogLeaf.kind == "signature").order_by(LogLeaf.index)
        ).first()
    spec = name_check.report_link_spec(petition(app), [first])
    return (
        "/p/vote/name-report?" + name_check.make_report_link(settings_of(app), spec).split("?")[1]
    )


def _cancelled_receipt_url(app) -> str:
    """The receipt of signature 2, which ``arranged`` invalidated."""
    with Session(flask_db.engine_of(app)) as session:
        leaf = session.scalars(
            select(LogLeaf).where(LogLeaf.kind == "signature", LogLeaf.index == 2)
        ).one()
    return f"/p/vote/receipt?index=2&leaf_hash={leaf.leaf_hash.hex()}"


PUBLIC_PAGES = {
    "home": "/",
    "petition": "/p/vote",
    "check-email": "/p/vote/check-email",
    "withdraw-manage": "/p/vote/manage",
    "withdraw-check-email": "/p/vote/manage/check-email",
    "name-check": "/p/vote/name-check",
    "name-check-email": "/p/vote/name-check/check-email",
    "results": "/p/vote/results",
    "receipt": "/p/vote/receipt?index=0",
    "sign-in": "/sign-in",
    "privacy": "/privacy",
    "not-found": "/p/no-such-petition",
}
ORGANISER_PAGES = {
    "organiser-petitions": "/organiser/",
    "dashboard": "/organiser/p/vote",
    "signatures": "/organiser/p/vote/signatures",
    "invitations": "/organiser/p/vote/invitations",
    "invitations-review": "/organiser/p/vote/invitations/review?region=&rate=6",
    "petition-settings": "/organiser/p/vote/settings",
    "committed-roll": "/organiser/p/vote/roll",
    "new-petition": "/organiser/petitions/new",
    "roll": "/organiser/roll",
    "scrutiny": "/scrutiny/",
    "scrutiny-petition": "/scrutiny/p/vote",
    "export-postal": "/organiser/privacy/export",
    "erase-postal": "/organiser/privacy/erase",
}


def _check(page, base: str, name: str, path: str, size: str) -> list[str]:
    """Open ``path``, run axe on it and the phone-width check; the problems found."""
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    problems = [
        f"{name} ({size}): {v['id']} [{v['impact']}] {v['help']}: "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if size == "phone" and overflow > 1:
        problems.append(f"{name} (phone): scrolls sideways by {overflow}px")
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    return problems


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_member_pages_have_no_serious_accessibility_violations(browser, arranged, size, viewport):
    pages = {
        **PUBLIC_PAGES,
        "confirm": _confirm_url(arranged),
        "withdraw-confirm": _withdraw_url(arranged),
        "name-report": _name_report_url(arranged),
        "receipt-cancelled": _cancelled_receipt_url(arranged),
    }
    with served(arranged) as base:
        # axe is injected as a script of its own: the content security policy would refuse it.
        context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
        try:
            problems = []
            for name, path in pages.items():
                problems += _check(page, base, name, path, size)
        finally:
            context.close()
    assert problems == []
    assert [e for e in errors if "404" not in e] == []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_organiser_pages_have_no_serious_accessibility_violations(
    browser, arranged, size, viewport
):
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    with served(arranged) as base:
        context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
        context.add_cookies([session_cookie(client, base)])
        try:
            problems = []
            for name, path in ORGANISER_PAGES.items():
                problems += _check(page, base, name, path, size)
        finally:
            context.close()
    assert problems == []
    assert errors == []


def test_the_page_for_a_member_not_on_the_committed_roll(browser, arranged):
    """Member 42 joined after the last re-commit: their link's confirm button leads to the page
    saying so, checked at both widths."""
    with Session(flask_db.engine_of(arranged)) as session:
        member = session.scalars(select(Member.id).where(Member.number == "M042")).one()
    token = tokens.make_token(arranged.config["SECRET_KEY"], [], petition(arranged).id, member)
    problems = []
    with served(arranged) as base:
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            context, page, _errors = open_page(browser, viewport=viewport, bypass_csp=True)
            try:
                page.goto(f"{base}/p/vote/confirm?token={token}")
                page.get_by_role("button").filter(has_text="onfirm").first.click()
                page.wait_for_load_state("networkidle")
                assert "You are not on the roll this petition counts" in page.content()
                problems += _check_current(page, "not-on-committed-roll", size)
            finally:
                context.close()
    assert problems == []


def _check_current(page, name: str, size: str) -> list[str]:
    """axe and the phone-width check on the page as it is (reached by a button, not a URL)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    problems = [
        f"{name} ({size}): {v['id']} [{v['impact']}] {v['help']}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if size == "phone" and overflow > 1:
        problems.append(f"{name} (phone): scrolls sideways by {overflow}px")
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    return problems


def test_the_keyboard_reaches_the_sign_form_with_a_visible_focus(browser, arranged):
    with served(arranged) as base, page_in_context(browser, viewport=PHONE) as (page, _errors):
        page.goto(base + "/p/vote")
        page.keyboard.press("Tab")
        skip = page.evaluate("document.activeElement.textContent.trim()")
        assert skip == "Skip to main content"
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "email":
                break
        else:
            pytest.fail("Tab never reached the e-mail field")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")

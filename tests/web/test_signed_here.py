"""After signing: the cookie a confirmed link leaves (the receipt number, nothing personal,
signed), the petition page that then says "You signed" with the receipt and offers the link
and QR code, and the caching that keeps one browser's page out of shared caches."""

import json

from itsdangerous import URLSafeSerializer
from sqlmodel import Session, select

from petitions.db import flask_db
from petitions.db.models import Member
from petitions.lifecycle import rules
from petitions.signatures import tokens
from petitions.web import share, signed_cookie
from tests.helpers import add_members, open_petition, petition
from tests.signatures.test_signing import confirm_web

MEMBERS = [("M1", "ann@example.org"), ("M2", "bob@example.org")]


def link_for(app, number: str, slug: str = "vote") -> str:
    """The confirmation link of member ``number`` for the petition ``slug``."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member.id).where(Member.number == number)).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app, slug).id, member)
    return f"http://localhost/p/{slug}/confirm?token={token}"


def test_confirming_leaves_a_signed_cookie_with_only_the_receipt_number(app, client):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    confirm_web(client, link_for(app, "M1"))
    response = confirm_web(client, link_for(app, "M2"))
    assert response.status_code == 200

    cookie = client.get_cookie("signed", path="/p/vote")
    assert cookie is not None
    assert cookie.path == "/p/vote"
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    header = response.headers["Set-Cookie"]
    assert "bob" not in header
    assert "M2" not in header
    value = URLSafeSerializer(app.config["SECRET_KEY"], salt=signed_cookie.SALT).loads(cookie.value)
    assert value == [petition(app).id, 2]


def test_the_petition_page_of_a_browser_that_signed_shows_the_receipt(app, client):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    confirm_web(client, link_for(app, "M1"))

    response = client.get("/p/vote")
    html = response.get_data(as_text=True)
    assert "You signed this petition" in html
    assert "confirmed signature number 1." in html
    assert "/p/vote/receipt?index=0&amp;leaf_hash=" in html
    assert 'value="http://127.0.0.1:5000/p/vote" readonly' in html
    assert 'src="/p/vote/qr.svg"' in html
    assert response.cache_control.private
    assert "Cookie" in response.vary

    stranger = app.test_client().get("/p/vote")
    html = stranger.get_data(as_text=True)
    assert "You signed" not in html
    assert 'id="sign-heading"' in html
    assert not stranger.cache_control.private
    assert "Cookie" in stranger.vary


def test_opening_the_link_again_leaves_the_cookie_too(app, client):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    link = link_for(app, "M1")
    confirm_web(app.test_client(), link)
    response = confirm_web(client, link)
    assert "You have already signed" in response.get_data(as_text=True)
    assert "You signed this petition" in client.get("/p/vote").get_data(as_text=True)


def test_a_forged_or_foreign_cookie_is_ignored(app, client):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    open_petition(app, "other", threshold=100)
    confirm_web(client, link_for(app, "M1", "other"))
    value = client.get_cookie("signed", path="/p/other").value
    # The cookie of another petition, given to this one, and made-up cookies.
    forged = URLSafeSerializer("not the key", salt=signed_cookie.SALT).dumps([1, 1])
    unsigned = json.dumps([petition(app).id, 1])
    for cookie in (value, forged, unsigned, "", "x.y", value[:-2]):
        client.set_cookie("signed", cookie, path="/p/vote")
        response = client.get("/p/vote")
        assert response.status_code == 200
        assert "You signed" not in response.get_data(as_text=True), cookie


def test_the_qr_code_is_the_petitions_public_link(app, client):
    open_petition(app, threshold=100)
    response = client.get("/p/vote/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.cache_control.public
    assert response.data == share.qr_svg("http://127.0.0.1:5000/p/vote")
    assert response.data.startswith(b"<svg")
    assert client.get("/p/nothing/qr.svg").status_code == 404


def test_a_closed_petition_still_shows_the_receipt_but_offers_no_sharing(app, client):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    confirm_web(client, link_for(app, "M1"))
    with Session(flask_db.engine_of(app)) as session:
        rules.close_petition(session, "vote")
        session.commit()
    html = client.get("/p/vote").get_data(as_text=True)
    assert "You signed this petition" in html
    assert "/p/vote/receipt?index=0" in html
    assert "Ask other members to sign" not in html
    assert "qr.svg" not in html

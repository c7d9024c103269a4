"""Signing outcomes: asking to sign, what the mail says, confirming the link, the threshold,
the dev pages and CSRF, through the web pages and the JSON API."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous.encoding import base64_decode, base64_encode
from markupsafe import escape
from sqlalchemy import func, update
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import (
    DevWebhookReceipt,
    Mail,
    Member,
    Petition,
    Signature,
    SignRequest,
    ThresholdEvent,
    WebhookDelivery,
)
from petitions.lifecycle import rules
from petitions.roll.addresses import InvalidAddress, parse_address
from petitions.signatures import tokens
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    petition,
    sent_mail,
    token_of,
)

BASE_URL = "http://127.0.0.1:5000"
CHECK_EMAIL = "/p/vote/check-email"


# --- helpers ----------------------------------------------------------------------------------


def text_of(html: str) -> str:
    """The page's text with tags removed and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def sign_form(client, email, member_id=None, slug="vote"):
    """POST the sign form."""
    data = {"email": email}
    if member_id is not None:
        data["member_id"] = member_id
    return client.post(f"/p/{slug}/sign", data=data)


def sign_api(client, email, member_id=None, slug="vote"):
    """POST a request to sign to the JSON API."""
    body = {"email": email}
    if member_id is not None:
        body["member_id"] = member_id
    return client.post(f"/api/v1/petitions/{slug}/signatures", json=body)


def mail_after(app, worker, client, email, member_id=None, slug="vote") -> Mail:
    """Ask to sign from the form, let the worker answer, and return the one mail it sent."""
    before = len(sent_mail(app))
    response = sign_form(client, email, member_id, slug)
    assert response.status_code == 303, response.get_data(as_text=True)
    worker.run_pending()
    mails = sent_mail(app)[before:]
    assert len(mails) == 1, [m.purpose for m in mails]
    assert mails[0].done_at is not None
    assert mails[0].transport == "dev"
    return mails[0]


def outcome_after(app, worker, client, email, member_id=None) -> tuple[str, list[Mail]]:
    """Ask to sign from the form, let the worker answer, and return what the request came to
    and the mails it caused."""
    before = len(sent_mail(app))
    assert sign_form(client, email, member_id).status_code == 303
    worker.run_pending()
    with Session(flask_db.engine_of(app)) as session:
        request = session.exec(select(SignRequest).order_by(SignRequest.id.desc())).first()
    assert request.done_at is not None
    return request.outcome, sent_mail(app)[before:]


def outcomes_by_address(app) -> dict[str, str]:
    """What each typed address's request to sign came to."""
    with Session(flask_db.engine_of(app)) as session:
        return {r.email: r.outcome for r in session.exec(select(SignRequest)).all()}


def link_for(app, worker, client, email, member_id=None, slug="vote") -> str:
    """The confirmation link mailed in answer to a request to sign."""
    mail = mail_after(app, worker, client, email, member_id, slug)
    assert mail.purpose == "confirm_link", mail.text_body
    return link_in(mail.text_body)


def path_of(link: str) -> str:
    """The link without BASE_URL, for the test client."""
    assert link.startswith(BASE_URL + "/")
    return link[len(BASE_URL) :]


def slug_of(link: str) -> str:
    """The petition slug in a confirmation link."""
    return re.search(r"/p/([a-z0-9-]+)/confirm", link).group(1)


def confirm_web(client, link: str):
    """Press the confirm button on the page the link opens."""
    return client.post(f"/p/{slug_of(link)}/confirm", data={"token": token_of(link)})


def confirm_api(client, token: str):
    """Confirm through the JSON API."""
    return client.post("/api/v1/signatures/confirm", json={"token": token})


def signature_rows(app, slug="vote") -> list[Signature]:
    """The confirmed signatures of petition ``slug``."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        found = session.exec(select(Petition).where(Petition.slug == slug)).one()
        return list(
            session.exec(
                select(Signature)
                .where(Signature.petition_id == found.id)
                .order_by(Signature.number)
            )
        )


def count_of(app, slug="vote") -> int:
    """The maintained count, after checking it equals the number of signature rows."""
    count = petition(app, slug).signature_count
    assert count == len(signature_rows(app, slug))
    return count


def rows(app, model) -> int:
    """How many rows ``model``'s table holds."""
    with Session(flask_db.engine_of(app)) as session:
        return session.scalar(select(func.count()).select_from(model))


def member_pk(app, member_id: str) -> int:
    """The database id of the member numbered ``member_id``."""
    with Session(flask_db.engine_of(app)) as session:
        return session.exec(select(Member.id).where(Member.number == member_id)).one()


def linked_member(app, link: str) -> int:
    """The member id a link's token names."""
    config = settings_of(app)
    return tokens.read_token(
        config.secret_key, config.secret_key_fallbacks, token_of(link), None
    ).member_id


def set_member_status(app, member_id: str, status: str) -> None:
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(update(Member).where(Member.number == member_id).values(status=status))


def close_petition(app, slug="vote") -> None:
    with Session(flask_db.engine_of(app)) as session, session.begin():
        rules.close_petition(session, slug)


def draft_petition(app, slug="draft") -> None:
    with Session(flask_db.engine_of(app)) as session, session.begin():
        rules.create_petition(session, slug=slug, title=f"Petition {slug}", threshold=3)


# --- invariant 5: one answer for every well-formed address ------------------------------------


@pytest.fixture
def everyone(app, client, worker):
    """A roll with one address per case, and one member who has already signed."""
    add_members(
        app,
        ("M1", "active@example.org", "active", "North"),
        ("M2", "lapsed@example.org", "lapsed"),
        ("M3", "suspended@example.org", "suspended"),
        ("H1", "home@example.org"),
        ("H2", "home@example.org"),
        ("M4", "signed@example.org"),
    )
    open_petition(app, threshold=100)
    assert (
        confirm_web(client, link_for(app, worker, client, "signed@example.org")).status_code == 200
    )
    assert count_of(app) == 1
    return {
        "active@example.org": "confirm_link",
        "nobody@example.org": "not_in_good_standing",
        "lapsed@example.org": "not_in_good_standing",
        "suspended@example.org": "not_in_good_standing",
        "home@example.org": "household_needs_number",
        "signed@example.org": "already_signed",
    }


# The member who has signed is mailed the link again: confirming it shows their receipt.
MAILED = {"active@example.org": "confirm_link", "signed@example.org": "confirm_link"}


def _mailed(app) -> dict[str, str]:
    """Every mail after the fixture's own, by address."""
    return {m.to_address: m.purpose for m in sent_mail(app)[1:]}


def _answer(response) -> tuple:
    return response.status_code, sorted(response.headers.items()), response.get_data()


def test_the_sign_form_answers_every_address_alike(app, client, worker, everyone):
    answers = {email: _answer(sign_form(client, email)) for email in everyone}

    first = next(iter(answers.values()))
    assert first[0] == 303
    assert dict(first[1])["Location"] == CHECK_EMAIL
    assert all(answer == first for answer in answers.values()), answers
    page = client.get(CHECK_EMAIL)
    assert page.status_code == 200
    assert "Check your inbox" in page.get_data(as_text=True)

    # What happened is recorded; only the members who may sign are mailed, their link.
    worker.run_pending()
    assert outcomes_by_address(app) == everyone
    assert _mailed(app) == MAILED


def test_the_api_answers_every_address_alike(app, client, worker, everyone):
    answers = {email: _answer(sign_api(client, email)) for email in everyone}

    first = next(iter(answers.values()))
    assert first[0] == 202
    assert json.loads(first[2]) == {"status": "check_email"}
    assert all(answer == first for answer in answers.values()), answers

    worker.run_pending()
    assert outcomes_by_address(app) == everyone
    assert _mailed(app) == MAILED


def test_malformed_input_gets_a_form_error_keeping_what_was_typed(app, client):
    open_petition(app)
    typed = "jo at example dot org"
    with pytest.raises(InvalidAddress) as reason:
        parse_address(typed)

    response = sign_form(client, typed, "M 12<3>")

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="error"' in html
    # In plain words of the form's own, not the address checker's.
    assert str(escape(str(reason.value))) not in html
    assert "Enter your e-mail address in the form name@example.org" in html
    assert "<title>Error: Petition vote" in html
    assert 'class="error-summary"' in html
    assert '<a href="#email">' in html
    assert f'value="{escape(typed)}"' in html
    assert 'value="M 12&lt;3&gt;"' in html
    assert 'aria-invalid="true"' in html

    for email in ["", "   ", "jo@", "@example.org", "jo@@example.org", "jo@example"]:
        response = sign_form(client, email)
        assert response.status_code == 400, email
        assert 'class="error"' in response.get_data(as_text=True), email
    response = client.post("/p/vote/sign", data={})
    assert response.status_code == 400
    assert "Enter your e-mail address." in response.get_data(as_text=True)
    response = sign_form(client, "jo@example.org", "9" * 65)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A membership number is at most 64 characters long" in html
    assert '<a href="#member_id">' in html
    assert 'id="member_id-error"' in html
    assert rows(app, SignRequest) == 0


BAD_API_REQUESTS = [
    ({"data": "{not json", "content_type": "application/json"}, "invalid_json"),
    (
        {"data": "email=jo@example.org", "content_type": "application/x-www-form-urlencoded"},
        "invalid_json",
    ),
    ({"json": ["jo@example.org"]}, "invalid_json"),
    ({"json": {}}, "invalid_email"),
    ({"json": {"email": None}}, "invalid_email"),
    ({"json": {"email": 42}}, "invalid_email"),
    ({"json": {"email": "not an address"}}, "invalid_email"),
    ({"json": {"email": ""}}, "invalid_email"),
    ({"json": {"email": "jo@example.org", "member_id": ["M1"]}}, "invalid_member_id"),
    ({"json": {"email": "jo@example.org", "member_id": {"id": "M1"}}}, "invalid_member_id"),
    ({"json": {"email": "jo@example.org", "member_id": 1.5}}, "invalid_member_id"),
    ({"json": {"email": "jo@example.org", "member_id": True}}, "invalid_member_id"),
    ({"json": {"email": "jo@example.org", "member_id": "9" * 65}}, "invalid_member_id"),
]


def test_bad_api_requests_get_a_json_400(app, client):
    open_petition(app)
    for kwargs, error in BAD_API_REQUESTS:
        response = client.post("/api/v1/petitions/vote/signatures", **kwargs)
        assert response.status_code == 400, kwargs
        assert response.mimetype == "application/json", kwargs
        body = response.get_json()
        assert body["error"] == error, kwargs
        assert body["message"], kwargs
    assert rows(app, SignRequest) == 0


def test_unknown_draft_and_closed_petitions_refuse_requests(app, client):
    draft_petition(app)
    for slug in ("nowhere", "draft"):
        page = sign_form(client, "jo@example.org", slug=slug)
        assert page.status_code == 404
        assert "There is no petition at this address." in page.get_data(as_text=True)
        api = sign_api(client, "jo@example.org", slug=slug)
        assert api.status_code == 404
        assert api.get_json()["error"] == "not_found"

    add_members(app, ("M1", "jo@example.org"))
    open_petition(app)
    open_petition(app, "late", closes_at=datetime.now(UTC) + timedelta(hours=1))
    close_petition(app)
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(
            update(Petition)
            .where(Petition.slug == "late")
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    for slug in ("vote", "late"):
        page = sign_form(client, "jo@example.org", slug=slug)
        assert page.status_code == 409
        assert "This petition is closed" in page.get_data(as_text=True)
        api = sign_api(client, "jo@example.org", slug=slug)
        assert api.status_code == 409
        assert api.get_json()["error"] == "petition_closed"
    assert rows(app, SignRequest) == 0


# --- what the mail says -------------------------------------------------------------------------


def test_the_confirm_link_mail_carries_the_link_on_a_line_of_its_own(app, client, worker):
    add_members(app, ("M1", "ann@example.org", "active", "North"))
    open_petition(app)

    mail = mail_after(app, worker, client, "Ann@Example.org")

    assert mail.purpose == "confirm_link"
    assert mail.to_address == "ann@example.org"  # the roll's address, not the typed variant
    assert mail.subject == "Confirm your signature: Petition vote"
    link = link_in(mail.text_body)
    assert link.startswith(f"{BASE_URL}/p/vote/confirm?token=")
    assert f"\n{link}\n" in mail.text_body
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token_of(link))
    assert f'href="{link}"' in mail.html_body
    assert "72 hours" in mail.text_body
    assert linked_member(app, link) == member_pk(app, "M1")
    with Session(flask_db.engine_of(app)) as session:
        request = session.exec(select(SignRequest)).one()
        assert request.outcome == "confirm_link"
        assert request.done_at is not None


def test_the_link_uses_base_url_and_a_numeric_member_id_is_the_number(app, client, worker):
    configure(app, base_url="https://petitions.example.org")
    add_members(app, ("12345", "home@example.org"), ("12346", "home@example.org"))
    open_petition(app)
    assert sign_api(client, "home@example.org", 12346).status_code == 202
    worker.run_pending()
    (mail,) = sent_mail(app)
    assert mail.purpose == "confirm_link"
    assert "\nhttps://petitions.example.org/p/vote/confirm?token=" in mail.text_body
    token = mail.text_body.split("?token=", 1)[1].split("\n", 1)[0]
    assert linked_member(app, f"{BASE_URL}/p/vote/confirm?token={token}") == member_pk(app, "12346")


ROLL = (
    ("M1", "ann@example.org"),
    ("M2", "lapsed@example.org", "lapsed"),
    ("M3", "suspended@example.org", "suspended"),
    ("H1", "home@example.org"),
    ("H2", "home@example.org"),
    ("H3", "home@example.org", "lapsed"),
)
REFUSED_CASES = [
    # (typed address, membership number, what the request comes to)
    ("home@example.org", None, "household_needs_number"),
    ("Home@Example.org", "H9", "household_needs_number"),
    ("home@example.org", "H3", "household_needs_number"),  # H3 has lapsed
    ("ann@example.org", "M9", "wrong_number"),
    ("ann@example.org", "H1", "wrong_number"),
    ("lapsed@example.org", None, "not_in_good_standing"),
    ("suspended@example.org", None, "not_in_good_standing"),
    ("suspended@example.org", "M3", "not_in_good_standing"),
    ("nobody@example.org", None, "not_in_good_standing"),
    ("ann+petition@example.org", None, "not_in_good_standing"),
]


def test_a_request_that_earns_no_link_mails_nobody(app, client, worker):
    # Anyone can type anyone's address: a lapsed member, a household or a stranger must not
    # be written to because someone else asked (README, "Security").
    add_members(app, *ROLL)
    open_petition(app)

    for email, number, outcome in REFUSED_CASES:
        assert outcome_after(app, worker, client, email, number) == (outcome, []), (email, number)
    assert sent_mail(app) == []
    assert count_of(app) == 0


def test_the_page_says_why_a_link_may_not_come(app, client):
    open_petition(app)
    page = " ".join(client.get(CHECK_EMAIL).get_data(as_text=True).split())
    for reason in ("membership number", "spam", "lapsed", "membership secretary"):
        assert reason in page, reason


def test_the_right_membership_number_gets_that_members_link(app, client, worker):
    add_members(app, *ROLL)
    open_petition(app)
    for email, number, member in [
        ("home@example.org", "H1", "H1"),
        ("Home@Example.org", "H2", "H2"),
        ("home@example.org", " H2 ", "H2"),
        ("ann@example.org", "M1", "M1"),
    ]:
        link = link_for(app, worker, client, email, number)
        assert linked_member(app, link) == member_pk(app, member), (email, number)


def test_a_membership_number_matches_whatever_its_case_and_surrounding_spaces(
    app, client, worker, runner, tmp_path
):
    roll = tmp_path / "roll.csv"
    roll.write_text(
        "member_id,email\n  Ab-12 ,home@example.org\nAB-13,home@example.org\n", encoding="utf-8"
    )
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    # A row kept from before numbers were compared this way, exactly as it was stored.
    add_members(app, ("xy-7", "home@example.org"))
    open_petition(app)
    for typed, member in [
        ("ab-12", "Ab-12"),
        ("  AB-12\t", "Ab-12"),
        ("ab-13", "AB-13"),
        (" XY-7 ", "xy-7"),
    ]:
        link = link_for(app, worker, client, "home@example.org", typed)
        assert linked_member(app, link) == member_pk(app, member), typed


def test_an_exact_membership_number_wins_over_one_that_differs_in_case(app, client, worker):
    add_members(app, ("h1", "home@example.org"), ("H1", "home@example.org"))
    open_petition(app)
    for typed in ("h1", "H1"):
        link = link_for(app, worker, client, "home@example.org", typed)
        assert linked_member(app, link) == member_pk(app, typed)


def test_a_number_that_matches_two_members_only_in_case_picks_nobody(app, client, worker):
    add_members(app, ("ab1", "home@example.org"), ("AB1", "home@example.org"))
    open_petition(app)

    outcome, mails = outcome_after(app, worker, client, "home@example.org", "Ab1")

    assert outcome == "wrong_number"
    assert mails == []


def test_asking_again_after_signing_mails_the_link_that_shows_the_receipt(app, client, worker):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    confirm_web(client, link_for(app, worker, client, "ann@example.org"))

    outcome, mails = outcome_after(app, worker, client, "ANN@example.org")

    assert outcome == "already_signed"
    assert [(m.purpose, m.to_address) for m in mails] == [("confirm_link", "ann@example.org")]
    again = confirm_web(client, link_in(mails[0].text_body))
    assert again.status_code == 200
    assert "signature number 1" in " ".join(again.get_data(as_text=True).split()).lower()
    assert count_of(app) == 1


def test_a_petition_closed_between_request_and_answer_mails_nobody(app, client, worker):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    assert sign_form(client, "ann@example.org").status_code == 303
    close_petition(app)

    worker.run_pending()

    assert sent_mail(app) == []
    assert outcomes_by_address(app) == {"ann@example.org": "petition_closed"}


def test_address_variants_reach_the_member(app, client, worker):
    add_members(app, ("M1", "jo.bloggs@gmail.com"), ("M2", "other@gmail.com"))
    open_petition(app)

    for typed in [
        "JO.BLOGGS@GMAIL.COM",
        "  jo.bloggs@gmail.com  ",
        "jobloggs@gmail.com",
        "jo.bloggs+petition@gmail.com",
        "Jo.Bloggs@googlemail.com",
    ]:
        mail = mail_after(app, worker, client, typed)
        assert mail.purpose == "confirm_link", typed
        # The link goes to the roll's address, never to the typed look-alike.
        assert mail.to_address == "jo.bloggs@gmail.com", typed
        assert linked_member(app, link_in(mail.text_body)) == member_pk(app, "M1"), typed
    # The variants share one mailbox's mail limit (SIGN_LIMIT_PER_ADDRESS, 5 an hour): the
    # sixth is answered by the links already in it.
    outcome, mails = outcome_after(app, worker, client, "j.o.b.l.o.g.g.s+x@GoogleMail.com")
    assert (outcome, mails) == ("already_mailed", [])


# --- confirming ---------------------------------------------------------------------------------


@pytest.fixture
def ann(app):
    """One active member in the North, and an open petition with a threshold of 3."""
    add_members(app, ("M1", "ann@example.org", "active", "North"))
    open_petition(app)


def test_the_link_shows_a_button_and_pressing_it_confirms_once(app, client, worker, ann):
    link = link_for(app, worker, client, "ann@example.org")

    # Opening the link (as a mail scanner would, twice) counts nothing.
    for _ in range(2):
        page = client.get(path_of(link))
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert '<form method="post" action="/p/vote/confirm">' in html
        assert f'name="token" value="{token_of(link)}"' in html
        assert "Confirm my signature" in html
    assert count_of(app) == 0
    assert client.get("/api/v1/petitions/vote").get_json()["count"] == 0

    response = confirm_web(client, link)

    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert "Thank you: your signature is counted" in text
    assert "Signature number 1" in text
    assert count_of(app) == 1
    (signature,) = signature_rows(app)
    assert signature.number == 1
    assert signature.member_id == member_pk(app, "M1")
    api = client.get("/api/v1/petitions/vote").get_json()
    assert api["count"] == 1
    assert api["by_region"] == {"North": 1}
    assert api["state"] == "open"

    again = confirm_web(client, link)
    assert again.status_code == 200
    text = text_of(again.get_data(as_text=True))
    assert "You have already signed" in text
    assert "signature number 1" in text
    assert "Thank you" not in text
    assert count_of(app) == 1
    assert petition(app).last_number == 1


def test_the_api_confirms_with_a_receipt_and_once(app, client, worker, ann):
    link = link_for(app, worker, client, "ann@example.org")

    response = confirm_api(client, token_of(link))

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "confirmed"
    receipt = body["receipt"]
    assert receipt["petition"] == "vote"
    assert receipt["number"] == 1
    confirmed = datetime.fromisoformat(receipt["confirmed_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - confirmed) < timedelta(minutes=1)
    assert count_of(app) == 1
    assert client.get("/api/v1/petitions/vote").get_json()["by_region"] == {"North": 1}

    again = confirm_api(client, token_of(link))
    assert again.status_code == 200
    assert again.get_json() == {"status": "already_signed"}
    assert "Signature number" not in text_of(client.get(path_of(link)).get_data(as_text=True))
    assert count_of(app) == 1


def test_a_second_link_for_the_same_member_is_already_signed(app, client, worker, ann):
    first = link_for(app, worker, client, "ann@example.org")
    second = link_for(app, worker, client, "Ann@Example.org")
    assert first != second

    assert confirm_api(client, token_of(second)).get_json()["status"] == "confirmed"
    page = confirm_web(client, first)
    assert page.status_code == 200
    assert "You have already signed" in page.get_data(as_text=True)
    response = confirm_api(client, token_of(first))
    assert response.status_code == 200
    assert response.get_json() == {"status": "already_signed"}
    assert count_of(app) == 1
    assert petition(app).last_number == 1


def _tampered_signature(link, app):
    token = token_of(link)
    head, signature = token.rsplit(".", 1)
    flipped = "B" if signature[0] == "A" else "A"
    return f"{head}.{flipped}{signature[1:]}"


def _tampered_payload(link, app):
    payload, timestamp, signature = token_of(link).split(".")
    named = json.loads(base64_decode(payload))
    named["m"] = member_pk(app, "M2")
    forged = base64_encode(json.dumps(named, separators=(",", ":")).encode()).decode()
    return f"{forged}.{timestamp}.{signature}"


def _other_key(link, app):
    return tokens.make_token("another-secret-key", [], petition(app).id, member_pk(app, "M2"))


FORGERIES = {
    "tampered-signature": _tampered_signature,
    "tampered-payload": _tampered_payload,
    "another-key": _other_key,
    "garbage": lambda link, app: "garbage",
    "three-parts": lambda link, app: "a.b.c",
    "empty": lambda link, app: "",
}


def test_a_forged_token_is_invalid_and_changes_nothing(app, client, worker, ann):
    add_members(app, ("M2", "bob@example.org"))
    link = link_for(app, worker, client, "ann@example.org")
    work_rows = (rows(app, SignRequest), rows(app, Mail))

    for forgery, forge in FORGERIES.items():
        token = forge(link, app)
        assert token != token_of(link), forgery
        page = client.get("/p/vote/confirm", query_string={"token": token})
        assert page.status_code == 400, forgery
        html = page.get_data(as_text=True)
        assert "This link is not valid" in html, forgery
        assert "Confirm my signature" not in html, forgery
        posted = client.post("/p/vote/confirm", data={"token": token})
        assert posted.status_code == 400, forgery
        assert "This link is not valid" in posted.get_data(as_text=True), forgery
        api = confirm_api(client, token)
        assert api.status_code == 400, forgery
        assert api.get_json()["error"] == "invalid_token", forgery

    assert count_of(app) == 0
    assert petition(app).last_number == 0
    assert (rows(app, SignRequest), rows(app, Mail)) == work_rows
    # The genuine link still works.
    assert confirm_web(client, link).status_code == 200
    assert count_of(app) == 1


def test_a_missing_token_is_invalid(app, client, ann):
    for kwargs in [
        {"json": {}},
        {"json": {"token": None}},
        {"json": {"token": 12}},
        {"json": ["token"]},
        {"data": "{", "content_type": "application/json"},
    ]:
        response = client.post("/api/v1/signatures/confirm", **kwargs)
        assert response.status_code == 400, kwargs
        assert response.get_json()["error"] == "invalid_token", kwargs
    page = client.get("/p/vote/confirm")
    assert page.status_code == 400
    assert "This link is not valid" in page.get_data(as_text=True)
    assert client.post("/p/vote/confirm").status_code == 400
    assert count_of(app) == 0


def test_a_link_for_another_petition_is_invalid_on_this_page(app, client, worker, ann):
    open_petition(app, "other")
    link = link_for(app, worker, client, "ann@example.org", slug="other")
    token = token_of(link)

    page = client.get("/p/vote/confirm", query_string={"token": token})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "This link is not valid" in html
    assert "Confirm my signature" not in html
    posted = client.post("/p/vote/confirm", data={"token": token})
    assert posted.status_code == 400
    assert "This link is not valid" in posted.get_data(as_text=True)
    assert count_of(app, "vote") == 0
    assert count_of(app, "other") == 0
    assert petition(app, "other").last_number == 0

    # On its own petition's page it confirms that petition only.
    assert confirm_web(client, link).status_code == 200
    assert (count_of(app, "vote"), count_of(app, "other")) == (0, 1)


def test_an_expired_link_offers_a_fresh_one(app, client, worker):
    add_members(app, ("M1", "jo.bloggs@gmail.com"))
    open_petition(app)
    link = link_for(app, worker, client, "Jo.Bloggs+petitions@googlemail.com")
    configure(app, confirm_link_max_age=-1)

    page = client.get(path_of(link))
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "This link has expired" in html
    assert '<form method="post" action="/p/vote/confirm/renew">' in html
    assert f'name="token" value="{token_of(link)}"' in html
    assert "Send me a fresh link" in html
    posted = confirm_web(client, link)
    assert posted.status_code == 400
    assert "Send me a fresh link" in posted.get_data(as_text=True)
    api = confirm_api(client, token_of(link))
    assert api.status_code == 400
    assert api.get_json()["error"] == "expired_token"
    assert count_of(app) == 0

    renewed = client.post("/p/vote/confirm/renew", data={"token": token_of(link)})
    assert renewed.status_code == 303
    assert renewed.headers["Location"] == CHECK_EMAIL
    worker.run_pending()
    fresh_mail = sent_mail(app)[-1]
    assert len(sent_mail(app)) == 2
    assert fresh_mail.purpose == "confirm_link"
    assert fresh_mail.to_address == "jo.bloggs@gmail.com"  # the roll's address
    fresh = link_in(fresh_mail.text_body)
    assert fresh != link
    assert linked_member(app, fresh) == member_pk(app, "M1")

    configure(app, confirm_link_max_age=3600)
    assert confirm_web(client, fresh).status_code == 200
    assert count_of(app) == 1


def test_renewing_needs_a_genuine_link_for_this_petition(app, client, worker, ann):
    open_petition(app, "other")
    link = link_for(app, worker, client, "ann@example.org", slug="other")
    forged = tokens.make_token("another-secret-key", [], petition(app).id, member_pk(app, "M1"))

    for token in ["", "garbage", forged, token_of(link)]:
        response = client.post("/p/vote/confirm/renew", data={"token": token})
        assert response.status_code == 400, token
        assert "This link is not valid" in response.get_data(as_text=True), token
    assert client.post("/p/vote/confirm/renew").status_code == 400
    assert rows(app, SignRequest) == 1


def test_a_link_to_a_closed_petition_counts_nothing(app, client, worker, runner):
    add_members(app, ("M1", "ann@example.org"))
    soon = datetime.now(UTC) + timedelta(hours=1)
    open_petition(app, "vote", closes_at=soon)
    open_petition(app, "late", closes_at=soon)
    links = {
        slug: link_for(app, worker, client, "ann@example.org", slug=slug)
        for slug in ("vote", "late")
    }
    result = runner.invoke(args=["petition", "close", "vote"])
    assert result.exit_code == 0, result.output
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.execute(
            update(Petition)
            .where(Petition.slug == "late")
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    for slug, link in links.items():
        page = confirm_web(client, link)
        assert page.status_code == 409, slug
        assert "This petition is closed" in page.get_data(as_text=True), slug
        api = confirm_api(client, token_of(link))
        assert api.status_code == 409, slug
        assert api.get_json()["error"] == "petition_closed", slug
        assert count_of(app, slug) == 0
        assert petition(app, slug).last_number == 0


@pytest.mark.parametrize("reached", [False, True])
def test_any_link_to_a_closed_petition_says_it_closed_and_how_it_ended(
    app, client, worker, runner, reached
):
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app, "vote", threshold=1 if reached else 3)
    link = link_for(app, worker, client, "ann@example.org")
    if reached:
        assert confirm_web(client, link).status_code == 200
        link = link_for(app, worker, client, "bob@example.org")
    assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
    mails = len(sent_mail(app))
    expired = (lambda: configure(app, confirm_link_max_age=-1), lambda: None)

    for make_old, token in [(expired[0], token_of(link)), (expired[1], "garbage")]:
        make_old()
        for response in [
            client.get(f"/p/vote/confirm?token={token}"),
            client.post("/p/vote/confirm", data={"token": token}),
            client.post("/p/vote/confirm/renew", data={"token": token}),
        ]:
            assert response.status_code == 409
            text = text_of(response.get_data(as_text=True))
            assert "This petition is closed" in text
            assert "Send me a fresh link" not in text
            assert "not valid" not in text
            assert "/confirm/renew" not in response.get_data(as_text=True)
            if reached:
                assert "with 1 signature, of the 1 it needed" in text
                assert "The threshold was reached on" in text
            else:
                assert "with 0 of the 3 signatures it needed" in text
                assert "The threshold was not reached" in text
    worker.run_pending()
    assert len(sent_mail(app)) == mails


def test_a_member_who_lapsed_after_the_link_was_sent_is_refused(app, client, worker):
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app)
    links = {
        "M1": link_for(app, worker, client, "ann@example.org"),
        "M2": link_for(app, worker, client, "bob@example.org"),
    }
    set_member_status(app, "M1", "lapsed")
    set_member_status(app, "M2", "suspended")

    for member, link in links.items():
        page = confirm_web(client, link)
        assert page.status_code == 403, member
        assert "no longer in good standing" in text_of(page.get_data(as_text=True)), member
        api = confirm_api(client, token_of(link))
        assert api.status_code == 403, member
        assert api.get_json()["error"] == "not_in_good_standing", member
    assert count_of(app) == 0
    assert petition(app).last_number == 0

    set_member_status(app, "M1", "active")
    assert confirm_api(client, token_of(links["M1"])).get_json()["status"] == "confirmed"
    assert signature_rows(app)[0].number == 1


def test_a_link_made_under_the_old_key_confirms_with_the_key_as_fallback(app, client, worker):
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app)
    old = app.config["SECRET_KEY"]
    ann_link = link_for(app, worker, client, "ann@example.org")
    bob_link = link_for(app, worker, client, "bob@example.org")

    configure(app, secret_key="a-brand-new-secret-key")
    configure(app, secret_key_fallbacks=[old])
    page = client.get(path_of(ann_link))
    assert page.status_code == 200
    assert "Confirm my signature" in page.get_data(as_text=True)
    assert confirm_web(client, ann_link).status_code == 200
    assert count_of(app) == 1

    # New links are made with the new key.
    configure(app, secret_key_fallbacks=[])
    add_members(app, ("M3", "cat@example.org"))
    cat_link = link_for(app, worker, client, "cat@example.org")
    assert confirm_api(client, token_of(cat_link)).get_json()["status"] == "confirmed"

    # Without the fallback, the old key's links are not valid.
    page = client.get(path_of(bob_link))
    assert page.status_code == 400
    assert "This link is not valid" in page.get_data(as_text=True)
    assert confirm_web(client, bob_link).status_code == 400
    assert confirm_api(client, token_of(bob_link)).get_json()["error"] == "invalid_token"
    assert count_of(app) == 2


# --- the threshold, from the web ---------------------------------------------------------------


def test_the_second_confirmation_triggers_the_vote_once(app, client, worker):
    add_members(
        app,
        ("M1", "ann@example.org", "active", "North"),
        ("M2", "bob@example.org", "active", "South"),
        ("M3", "cat@example.org", "active", "North"),
    )
    open_petition(app, threshold=2)
    links = [link_for(app, worker, client, f"{n}@example.org") for n in ("ann", "bob", "cat")]

    assert confirm_web(client, links[0]).status_code == 200
    assert petition(app).state == "open"
    assert rows(app, ThresholdEvent) == 0

    assert confirm_web(client, links[1]).status_code == 200
    triggered = petition(app)
    assert triggered.state == "triggered"
    assert triggered.reached_at is not None
    assert rows(app, ThresholdEvent) == 1
    assert rows(app, WebhookDelivery) == 1

    assert confirm_api(client, token_of(links[2])).get_json()["status"] == "confirmed"
    assert petition(app).state == "triggered"
    assert petition(app).reached_at == triggered.reached_at
    assert rows(app, ThresholdEvent) == 1
    assert rows(app, WebhookDelivery) == 1
    assert count_of(app) == 3

    worker.run_pending()

    with Session(flask_db.engine_of(app)) as session:
        event = session.exec(select(ThresholdEvent)).one()
        delivery = session.exec(select(WebhookDelivery)).one()
        (receipt,) = session.exec(select(DevWebhookReceipt)).all()
    assert (event.count, event.threshold, event.eligible_members) == (2, 2, 3)
    assert delivery.outcome == "delivered"
    assert delivery.done_at is not None
    assert delivery.response_status == 200
    assert receipt.verified is True
    assert receipt.webhook_id == delivery.webhook_id
    headers = json.loads(receipt.headers)
    assert headers["webhook-id"] == delivery.webhook_id
    Webhook(settings_of(app).ballot_webhook_secret).verify(receipt.body, headers)

    body = json.loads(receipt.body)
    reached = rules.iso_utc(triggered.reached_at)
    log = body["data"].pop("log")
    # The signed head of the log at the crossing: the ballot system's own checkpoint.
    assert set(log) == {"size", "root_hash", "timestamp", "signature"}
    assert log["size"] == 2
    assert body == {
        "type": "petition.threshold_reached",
        "timestamp": reached,
        "data": {
            "petition": {"slug": "vote", "title": "Petition vote", "url": f"{BASE_URL}/p/vote"},
            "threshold": 2,
            "count": 2,
            "eligible_members": 3,
            "reached_at": reached,
        },
    }

    page = client.get("/p/vote").get_data(as_text=True)
    assert "the all-member vote has been triggered" in page
    assert f'<a href="{BASE_URL}/dev/webhooks#receipt-{receipt.id}">The ballot</a>' in page
    api = client.get("/api/v1/petitions/vote").get_json()
    assert api["state"] == "triggered"
    assert api["reached_at"] == reached
    assert api["by_region"] == {"North": 2, "South": 1}

    hooks = client.get("/dev/webhooks")
    assert hooks.status_code == 200
    assert delivery.webhook_id in hooks.get_data(as_text=True)

    worker.run_pending()
    assert rows(app, DevWebhookReceipt) == 1


# --- the dev pages ------------------------------------------------------------------------------


def test_the_dev_mailbox_lists_the_mails_with_their_links(app, client, worker, ann):
    add_members(app, ("M2", "bob@example.org"))
    link = link_for(app, worker, client, "ann@example.org")
    later = link_for(app, worker, client, "bob@example.org")

    page = client.get("/dev/mail")

    assert page.status_code == 200
    assert client.get("/dev/webhooks").status_code == 200
    html = page.get_data(as_text=True)
    assert f'<a href="{link}">{link}</a>' in html
    assert f'<a href="{later}">{later}</a>' in html
    assert "Confirm your signature: Petition vote" in html
    assert "To ann@example.org" in html
    assert "To bob@example.org" in html
    assert html.index("bob@example.org") < html.index("ann@example.org")  # newest first


def test_the_dev_pages_do_not_exist_in_production(tmp_path, monkeypatch, redis_url):
    settings = {
        "PETITIONS_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}",
        "SECRET_KEY": "production-secret-key-of-32-bytes-or-more",
        "BASE_URL": "https://petitions.example.org",
        "REDIS_URL": redis_url,
        "BALLOT_WEBHOOK_SECRET": "whsec_dGVzdC13ZWJob29rLXNlY3JldA==",
        "SMTP_URL": "smtp://127.0.0.1:2525",
        "BALLOT_WEBHOOK_URL": "http://127.0.0.1:9/ballot",
        "LOG_SIGNING_KEY": "bG9nLXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzLi4uLi4=",
    }
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    production = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    try:
        assert settings_of(production).production is True
        client = production.test_client()
        for path in ("/dev/mail", "/dev/webhooks"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "Dev mailbox" not in response.get_data(as_text=True)
        assert client.get("/api/v1/openapi.json").status_code == 200
    finally:
        flask_db.engine_of(production).dispose()


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app):
    """A client of the app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_a_form_post_without_the_csrf_token_is_refused(app, csrf_client, worker, ann):
    response = csrf_client.post("/p/vote/sign", data={"email": "ann@example.org"})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    text = text_of(response.get_data(as_text=True))
    assert "CSRF token is missing" in text
    assert rows(app, SignRequest) == 0

    forged = csrf_client.post(
        "/p/vote/sign", data={"email": "ann@example.org", "csrf_token": "made-up"}
    )
    assert forged.status_code == 400
    assert "CSRF" in text_of(forged.get_data(as_text=True))
    assert rows(app, SignRequest) == 0


def test_the_form_works_with_the_token_from_the_page(app, csrf_client, worker, ann):
    page = csrf_client.get("/p/vote").get_data(as_text=True)
    response = csrf_client.post(
        "/p/vote/sign", data={"email": "ann@example.org", "csrf_token": csrf_token_in(page)}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == CHECK_EMAIL
    worker.run_pending()
    (mail,) = sent_mail(app)
    link = link_in(mail.text_body)

    refused = csrf_client.post("/p/vote/confirm", data={"token": token_of(link)})
    assert refused.status_code == 400
    assert "CSRF token is missing" in text_of(refused.get_data(as_text=True))
    assert count_of(app) == 0

    confirm_page = csrf_client.get(path_of(link)).get_data(as_text=True)
    confirmed = csrf_client.post(
        "/p/vote/confirm",
        data={"token": token_of(link), "csrf_token": csrf_token_in(confirm_page)},
    )
    assert confirmed.status_code == 200
    assert "Signature number 1" in text_of(confirmed.get_data(as_text=True))
    assert count_of(app) == 1


def test_the_json_api_needs_no_csrf_token(app, csrf_client, worker, ann):
    response = sign_api(csrf_client, "ann@example.org")
    assert response.status_code == 202
    worker.run_pending()
    (mail,) = sent_mail(app)
    confirmed = confirm_api(csrf_client, token_of(link_in(mail.text_body)))
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "confirmed"
    assert count_of(app) == 1


def test_a_look_alike_address_never_receives_the_members_link(app, client, worker):
    # Each stranger's mailbox folds to the member's matching key (case, gmail dots, +tags).
    add_members(app, ("M1", "jo.bloggs@gmail.com"))
    open_petition(app)
    for stranger in ("jobloggs@gmail.com", "JO.BLOGGS@googlemail.com", "Jo.Bloggs+x@gmail.com"):
        answer = sign_api(client, stranger)
        assert answer.status_code == 202
        assert answer.get_json() == {"status": "check_email"}
        worker.run_pending()
        assert sent_mail(app, stranger) == []
    links = [link_in(m.text_body) for m in sent_mail(app, "jo.bloggs@gmail.com")]
    assert len(links) == 3
    assert {linked_member(app, link) for link in links} == {member_pk(app, "M1")}


def test_a_household_member_is_mailed_at_their_roll_address(app, client, worker):
    add_members(app, ("H1", "home@example.org"), ("H2", "Home@example.org"))
    open_petition(app)
    sign_api(client, "HOME@EXAMPLE.ORG", "H2")
    worker.run_pending()
    assert sent_mail(app, "HOME@EXAMPLE.ORG") == []
    assert sent_mail(app, "home@example.org") == []
    assert [m.purpose for m in sent_mail(app, "Home@example.org")] == ["confirm_link"]

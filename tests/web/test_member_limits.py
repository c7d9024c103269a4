"""Limits that do not lock members out: a crowd behind one network is served, a flood past the
safety valve is refused and a busy network is shown to the organisers; per address, the mail is
limited and never the request, so a stranger naming a member's address cannot keep that member
from signing, and the answer never says whether an address is limited. Counted in memory, in
Redis, and in memory while Redis does not answer."""

from datetime import timedelta

import pytest
from limits import parse
from sqlalchemy import update
from sqlmodel import Session, select

from app import create_app
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import DataExport, Signature, SignRequest
from petitions.web import rate_limits
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    sent_mail,
    sign_in,
    token_of,
)

CROWD = 200
OFFICE = "203.0.113"  # one /24: the members' shared network
STRANGER = "198.51.100"  # another /24


@pytest.fixture(params=["memory", "redis", "redis-down"])
def storage(request) -> dict:
    """Where the limited app counts: its memory, a Redis of the test's own, or a Redis that
    does not answer (nothing listens on port 1), so that it counts in memory."""
    if request.param == "memory":
        return {}
    if request.param == "redis":
        return {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")}
    return {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}


@pytest.fixture
def limited(app, monkeypatch):
    """Build apps with the limits on and default settings, on the database of ``app``."""
    for name in (
        "SIGN_LIMIT_PER_NETWORK",
        "SIGN_LIMIT_PER_ADDRESS",
        "SIGN_NOTICE_PER_NETWORK",
        "CONFIRM_LIMIT_PER_NETWORK",
        "PRIVACY_LIMIT_PER_NETWORK",
        "PRIVACY_LIMIT_PER_ADDRESS",
        "PROXY_FIX_HOPS",
    ):
        monkeypatch.delenv(name, raising=False)
    made = []

    def make(**config):
        built = create_app(
            {
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "INPROCESS_WORKER_THREAD": False,
                "RATELIMIT_ENABLED": True,
                **config,
            }
        )
        made.append(built)
        return built

    yield make
    for built in made:
        flask_db.engine_of(built).dispose()


def from_ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def sign_form(client, email, ip, slug="vote"):
    return client.post(f"/p/{slug}/sign", data={"email": email}, **from_ip(ip))


def sign_api(client, email, ip, slug="vote"):
    return client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": email}, **from_ip(ip))


def confirm_api(client, token, ip):
    return client.post("/api/v1/signatures/confirm", json={"token": token}, **from_ip(ip))


def outcomes(app) -> list[str | None]:
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(SignRequest.outcome).order_by(SignRequest.id)).all())


def signatures(app) -> int:
    with Session(flask_db.engine_of(app)) as session:
        return len(session.exec(select(Signature.id)).all())


# --- a crowd behind one network -------------------------------------------------------------


def crowd_asks(app, worker, client) -> list:
    """Two hundred members behind one carrier-grade NAT ask to sign (one /24, form and API
    together); every request is taken and every member is mailed their link."""
    add_members(app, *((f"M{n}", f"member{n}@example.org") for n in range(CROWD)))
    open_petition(app, threshold=10_000)
    answers = [
        (sign_form if n % 2 else sign_api)(client, f"member{n}@example.org", f"{OFFICE}.{n % 250}")
        for n in range(CROWD)
    ]
    assert [a.status_code for a in answers] == [202 if n % 2 == 0 else 303 for n in range(CROWD)]
    worker.run_pending()
    mails = sent_mail(app)
    assert sorted(m.to_address for m in mails) == sorted(
        f"member{n}@example.org" for n in range(CROWD)
    )
    assert set(outcomes(app)) == {"confirm_link"}
    return mails


def test_two_hundred_members_behind_one_network_all_get_links(app, worker, limited, storage):
    crowd_asks(app, worker, limited(**storage).test_client())


def test_two_hundred_members_behind_one_network_can_all_sign(app, worker, limited):
    client = limited().test_client()
    mails = crowd_asks(app, worker, client)
    # Confirming from the same network is limited by a safety valve as well.
    confirmed = [
        confirm_api(client, token_of(link_in(m.text_body)), f"{OFFICE}.{i % 250}")
        for i, m in enumerate(mails)
    ]
    assert {a.status_code for a in confirmed} == {200}
    assert {a.get_json()["status"] for a in confirmed} == {"confirmed"}
    assert signatures(app) == CROWD


def fill(built, limit: str, network: str, scope: str, count: int) -> None:
    """Count ``count`` requests from ``network`` against the limit named ``scope``, as if they
    had been made, straight in the limiter's storage (thousands of requests would be slow)."""
    limiter = rate_limits.limiter_of(built).limiter
    assert limiter.hit(parse(limit), rate_limits.KEY_PREFIX, network, scope, cost=count)


def test_the_safety_valve_still_refuses_a_flood_above_it(app, limited, storage):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    built = limited(**storage)
    client = built.test_client()
    assert sign_api(client, "x0@example.org", f"{OFFICE}.1").status_code == 202
    fill(built, "2000 per hour", f"{OFFICE}.0/24", "sign-network", 1998)

    assert sign_form(client, "x1999@example.org", f"{OFFICE}.77").status_code == 303
    refused = sign_api(client, "x2000@example.org", f"{OFFICE}.9")
    assert refused.status_code == 429
    assert refused.get_json()["limit"] == "sign"
    assert refused.get_json()["advice"] == rate_limits.ADVICE["sign-network"]
    page = sign_form(client, "ann@example.org", f"{OFFICE}.200")
    assert page.status_code == 429
    assert "Too many requests to sign have come from your network." in page.get_data(as_text=True)
    # Another network is not held back by this one's flood.
    assert sign_api(client, "ann@example.org", f"{STRANGER}.1").status_code == 202


def test_the_valve_and_the_notice_level_are_settings(app, limited, monkeypatch):
    monkeypatch.setenv("SIGN_NOTICE_PER_NETWORK", "30 per 10 minutes")
    open_petition(app)
    built = limited(SIGN_LIMIT_PER_NETWORK="2 per hour")
    client = built.test_client()
    assert [
        sign_api(client, f"y{n}@example.org", f"{OFFICE}.{n}").status_code for n in (1, 2, 3)
    ] == [
        202,
        202,
        429,
    ]
    fresh = limited()
    assert fresh.extensions["petitions.settings"].sign_limit_per_network == "2000 per hour"
    assert fresh.extensions["petitions.settings"].sign_notice_per_network == "30 per 10 minutes"


# --- a busy network is shown, not refused -----------------------------------------------------


@pytest.mark.parametrize("role", ["organiser", "scrutineer"])
def test_a_network_past_the_notice_level_is_a_signal_and_is_not_refused(app, limited, role):
    open_petition(app)
    client = limited().test_client()
    statuses = {
        sign_api(client, f"z{n}@example.org", f"{OFFICE}.{n}").status_code for n in range(61)
    }
    assert statuses == {202}

    viewer = app.test_client()
    sign_in(app, viewer, f"{role}@example.org", role)
    page = viewer.get("/organiser/p/vote/signatures/signals")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Many requests from one network" in text
    assert f"61 sign requests from {OFFICE}.0/24" in text
    assert "at least 60 sign requests within one hour from one network" in text
    assert "2000 per hour" in text


def test_the_notice_level_is_a_setting(app, limited):
    open_petition(app)
    client = limited().test_client()
    # 40 from the office, and 130 from as many other networks: a share under 25%.
    for n in range(40):
        assert sign_api(client, f"o{n}@example.org", f"{OFFICE}.{n}").status_code == 202
    for n in range(130):
        assert sign_api(client, f"p{n}@example.org", f"10.{n}.0.1").status_code == 202
    viewer = app.test_client()
    sign_in(app, viewer)

    def shown() -> bool:
        page = viewer.get("/organiser/p/vote/signatures/signals").get_data(as_text=True)
        return "Many requests from one network" in page

    configure(app, sign_notice_per_network="41 per hour")
    assert not shown()
    configure(app, sign_notice_per_network="40 per hour")
    assert shown()


# --- a stranger cannot lock a member out ----------------------------------------------------


def test_a_stranger_cannot_keep_the_owner_from_signing(app, worker, limited, storage):
    add_members(app, ("M1", "Ann.Smith@gmail.com"))
    open_petition(app)
    client = limited(**storage).test_client()
    # A stranger, from another network, asks twenty times with variants of Ann's address.
    typed = ["annsmith@gmail.com", "ANN.SMITH@gmail.com", "ann.smith+x@googlemail.com"]
    answers = [
        (sign_api if n % 2 else sign_form)(client, typed[n % 3], f"{STRANGER}.{n}")
        for n in range(20)
    ]
    assert {a.status_code for a in answers} <= {202, 303}
    worker.run_pending()
    # Ann's mailbox got the links the limit allows (SIGN_LIMIT_PER_ADDRESS, 5 an hour) and no
    # more; the other requests were answered by those links.
    mails = sent_mail(app)
    assert [m.to_address for m in mails] == ["Ann.Smith@gmail.com"] * 5
    assert outcomes(app) == ["confirm_link"] * 5 + ["already_mailed"] * 15

    # Ann asks herself, from her own network: the same answer as anyone gets...
    own = sign_form(client, "ann.smith@gmail.com", f"{OFFICE}.7")
    assert own.status_code == 303
    assert own.headers["Location"].endswith("/p/vote/check-email")
    worker.run_pending()
    # ... and the latest link in her mailbox (it works for CONFIRM_LINK_MAX_AGE) signs.
    assert len(sent_mail(app)) == 5
    confirmed = confirm_api(client, token_of(link_in(mails[-1].text_body)), f"{OFFICE}.7")
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "confirmed"


def test_links_for_other_petitions_do_not_use_up_a_members_way_to_sign(app, worker, limited):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app, "other")
    open_petition(app, "vote")
    client = limited().test_client()
    for n in range(8):
        assert sign_api(client, "ann@example.org", f"{STRANGER}.{n}", slug="other").status_code == (
            202
        )
    worker.run_pending()
    assert len(sent_mail(app)) == 5

    # Ann's mailbox has had its five links, but none for "vote": she is mailed one all the same.
    assert sign_form(client, "ann@example.org", f"{OFFICE}.7").status_code == 303
    worker.run_pending()
    mails = sent_mail(app)
    assert len(mails) == 6
    assert "/p/vote/confirm?token=" in link_in(mails[-1].text_body)
    confirmed = confirm_api(client, token_of(link_in(mails[-1].text_body)), f"{OFFICE}.7")
    assert confirmed.get_json()["status"] == "confirmed"


def test_the_mail_limit_counts_the_last_hour_only(app, worker, limited):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client = limited().test_client()
    for n in range(7):
        assert sign_api(client, "ann@example.org", f"{STRANGER}.{n}").status_code == 202
    worker.run_pending()
    assert len(sent_mail(app)) == 5
    # An hour later the mailbox may be mailed again.
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(SignRequest).values(done_at=utcnow() - timedelta(minutes=61)))
        session.commit()
    assert sign_api(client, "ann@example.org", f"{STRANGER}.9").status_code == 202
    worker.run_pending()
    assert len(sent_mail(app)) == 6


def test_the_answer_is_the_same_whether_or_not_the_address_is_limited(app, worker, limited):
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app)
    client = limited().test_client()
    for n in range(6):
        sign_api(client, "ann@example.org", f"{STRANGER}.{n}")
    worker.run_pending()
    assert outcomes(app)[-1] == "already_mailed"

    def answers(email):
        form = sign_form(client, email, f"{OFFICE}.1")
        api = sign_api(client, email, f"{OFFICE}.2")
        page = client.get(form.headers["Location"], **from_ip(f"{OFFICE}.1"))
        return (
            form.status_code,
            form.headers["Location"],
            page.status_code,
            page.get_data(as_text=True),
            api.status_code,
            api.get_json(),
        )

    limited_address = answers("ann@example.org")
    assert limited_address == answers("bob@example.org")  # not limited
    assert limited_address == answers("nobody@example.org")  # not on the roll
    assert limited_address[0] == 303
    assert limited_address[4:] == (202, {"status": "check_email"})


def test_asking_for_the_link_to_withdraw_shares_the_mail_limit(app, worker, limited):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client = limited().test_client()
    assert sign_api(client, "ann@example.org", f"{OFFICE}.1").status_code == 202
    worker.run_pending()
    confirm_api(client, token_of(link_in(sent_mail(app)[-1].text_body)), f"{OFFICE}.1")
    for n in range(8):
        answer = client.post(
            "/p/vote/manage", data={"email": "ann@example.org"}, **from_ip(f"{STRANGER}.{n}")
        )
        assert answer.status_code == 303
    worker.run_pending()
    assert [m.purpose for m in sent_mail(app)] == ["confirm_link"] + ["manage_link"] * 4
    assert outcomes(app)[-4:] == ["already_mailed"] * 4


# --- data exports -----------------------------------------------------------------------------


def test_a_stranger_cannot_keep_a_member_from_their_data(app, worker, limited):
    add_members(app, ("M1", "jo@example.org"))
    client = limited().test_client()
    pages = {
        client.post(
            "/privacy/export", data={"email": "JO@example.org"}, **from_ip(f"{STRANGER}.{n}")
        ).get_data(as_text=True)
        for n in range(8)
    }
    assert len(pages) == 1
    worker.run_pending()
    # PRIVACY_LIMIT_PER_ADDRESS (5 an hour) links reach Jo's mailbox, no more.
    assert [m.purpose for m in sent_mail(app)] == ["data_export"] * 5

    # Jo asks herself: she holds unused links (each works once), so nothing more is mailed ...
    own = client.post("/privacy/export", data={"email": "jo@example.org"}, **from_ip(f"{OFFICE}.7"))
    assert own.get_data(as_text=True) in pages
    worker.run_pending()
    assert len(sent_mail(app)) == 5
    # ... and once she has used them all, asking again mails her a new one past the limit.
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(DataExport).values(used_at=DataExport.created_at))
        session.commit()
    again = client.post(
        "/privacy/export", data={"email": "jo@example.org"}, **from_ip(f"{OFFICE}.7")
    )
    assert again.get_data(as_text=True) in pages
    worker.run_pending()
    assert [m.purpose for m in sent_mail(app)] == ["data_export"] * 6


def test_a_stranger_cannot_flood_a_member_with_links_to_erase(app, worker, limited):
    add_members(app, ("M1", "jo@example.org"))
    client = limited().test_client()
    for n in range(8):
        answer = client.post(
            "/privacy/erase", data={"email": "JO@example.org"}, **from_ip(f"{STRANGER}.{n}")
        )
        assert answer.status_code in (200, 303)
    worker.run_pending()
    # PRIVACY_LIMIT_PER_ADDRESS (5 an hour) links reach Jo's mailbox, no more: she holds
    # unused ones, which answer the other requests.
    assert [m.purpose for m in sent_mail(app)] == ["erasure_link"] * 5


def test_answers_to_was_my_name_used_share_the_mail_limit(app, worker, limited):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client = limited().test_client()
    for n in range(8):
        answer = client.post(
            "/p/vote/name-check", data={"email": "ANN@example.org"}, **from_ip(f"{STRANGER}.{n}")
        )
        assert answer.status_code == 303
    worker.run_pending()
    # The answers count towards SIGN_LIMIT_PER_ADDRESS (5 an hour) like links do.
    assert [m.purpose for m in sent_mail(app)] == ["name_not_used"] * 5
    assert outcomes(app) == ["name_not_used"] * 5 + ["already_mailed"] * 3

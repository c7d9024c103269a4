"""Rate limits on asking to sign and on confirming (per network; per address, only the mail is
limited: tests/web/test_member_limits.py), and on signing in: the 429 for people and for the
API, the settings, and counts shared through Redis between app instances, as between gunicorn
workers."""

import logging
import re

import pytest
import redis
from sqlmodel import Session, select

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member, Petition, SignRequest
from petitions.signatures import tokens
from petitions.web import rate_limits
from tests.helpers import add_members, configure, open_petition, sent_mail

LIMIT_SETTINGS = ("SIGN_LIMIT_PER_NETWORK", "SIGN_LIMIT_PER_ADDRESS", "CONFIRM_LIMIT_PER_NETWORK")
NOTICE_SETTINGS = ("SIGN_NOTICE_PER_NETWORK",)
HOUR = 3600
FORGED = "forged"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the limits do not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def make_app(app, monkeypatch):
    """Build apps with the limits on, on the database of ``app`` (with the petition "vote")."""
    for name in (*LIMIT_SETTINGS, *NOTICE_SETTINGS, "PROXY_FIX_HOPS"):
        monkeypatch.delenv(name, raising=False)
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
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


def sign_form(client, email, ip):
    return client.post("/p/vote/sign", data={"email": email}, **from_ip(ip))


def sign_api(client, email, ip):
    return client.post("/api/v1/petitions/vote/signatures", json={"email": email}, **from_ip(ip))


def confirm_api(client, ip):
    return client.post("/api/v1/signatures/confirm", json={"token": FORGED}, **from_ip(ip))


def confirm_form(client, ip):
    return client.post("/p/vote/confirm", data={"token": FORGED}, **from_ip(ip))


def retry_after(response, most=HOUR) -> int:
    """The Retry-After header: whole seconds, at least 1 and at most ``most``."""
    value = int(response.headers["Retry-After"])
    assert 0 < value <= most
    return value


def text_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


# --- networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.255", "203.0.113.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", "unknown"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_a_client_address_belongs_to_its_slash_24_or_slash_64(address, network):
    assert rate_limits.network_of(address) == network


def test_one_ipv4_network_shares_the_sign_limit_across_form_and_api(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="3 per hour").test_client()
    assert sign_form(client, "a1@example.org", "203.0.113.5").status_code == 303
    assert sign_api(client, "a2@example.org", "203.0.113.200").status_code == 202
    assert sign_form(client, "a3@example.org", "203.0.113.5").status_code == 303

    refused = sign_api(client, "a4@example.org", "203.0.113.77")
    assert refused.status_code == 429
    refused_form = sign_form(client, "a5@example.org", "203.0.113.5")
    assert refused_form.status_code == 429

    assert sign_form(client, "a6@example.org", "198.51.100.1").status_code == 303
    assert sign_api(client, "a7@example.org", "203.0.114.5").status_code == 202


def test_one_ipv6_network_shares_the_sign_limit(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="2 per hour").test_client()
    assert sign_api(client, "b1@example.org", "2001:db8:1:2::1").status_code == 202
    assert sign_api(client, "b2@example.org", "2001:db8:1:2:ffff:ffff:ffff:9").status_code == 202
    assert sign_api(client, "b3@example.org", "2001:db8:1:2::abcd").status_code == 429
    assert sign_api(client, "b4@example.org", "2001:db8:1:3::1").status_code == 202


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(make_app, monkeypatch):
    spoofing = make_app(SIGN_LIMIT_PER_NETWORK="1 per hour").test_client()
    headers = {"X-Forwarded-For": "198.51.100.1"}
    first = spoofing.post(
        "/api/v1/petitions/vote/signatures",
        json={"email": "c1@example.org"},
        headers=headers,
        **from_ip("10.1.1.1"),
    )
    assert first.status_code == 202
    headers = {"X-Forwarded-For": "192.0.2.1"}
    second = spoofing.post(
        "/api/v1/petitions/vote/signatures",
        json={"email": "c2@example.org"},
        headers=headers,
        **from_ip("10.1.1.1"),
    )
    assert second.status_code == 429

    monkeypatch.setenv("PROXY_FIX_HOPS", "1")
    proxied = make_app(SIGN_LIMIT_PER_NETWORK="1 per hour").test_client()
    for number, client_ip in enumerate(("198.51.100.1", "192.0.2.1")):
        answer = proxied.post(
            "/api/v1/petitions/vote/signatures",
            json={"email": f"d{number}@example.org"},
            headers={"X-Forwarded-For": client_ip},
            **from_ip("10.1.1.1"),
        )
        assert answer.status_code == 202, client_ip


# --- addresses --------------------------------------------------------------------------------


def test_no_request_is_refused_for_its_address_and_variants_share_its_mail_limit(
    make_app, app, worker
):
    # The worker, which answers the requests, keeps to the mail limit.
    configure(app, sign_limit_per_address="2 per hour")
    client = make_app().test_client()
    add_members(app, ("J1", "Jo.Bloggs@gmail.com"))
    typed = [
        "Jo.Bloggs+petition@gmail.com",
        "jobloggs@googlemail.com",
        "JOBLOGGS@GMAIL.COM",
        " j.o.b.l.o.g.g.s@gmail.com ",
    ]
    statuses = [
        (sign_form if n % 2 == 0 else sign_api)(client, email, f"192.0.{n}.1").status_code
        for n, email in enumerate(typed)
    ]
    assert statuses == [303, 202, 303, 202]
    worker.run_pending()
    mails = sent_mail(app)
    assert [m.to_address for m in mails] == ["Jo.Bloggs@gmail.com"] * 2

    # Another mailbox, and an address distinct at a provider that keeps dots, go through.
    assert sign_form(client, "ann@example.org", "192.0.2.1").status_code == 303
    assert sign_api(client, "jo.bloggs@example.org", "192.0.2.1").status_code == 202
    assert sign_api(client, "jobloggs@example.org", "192.0.2.1").status_code == 202


def test_malformed_addresses_are_refused_as_such(make_app):
    client = make_app(SIGN_LIMIT_PER_ADDRESS="1 per hour").test_client()
    for _ in range(3):
        assert sign_form(client, "not an address", "203.0.113.1").status_code == 400
        assert sign_api(client, "", "203.0.113.1").status_code == 400
        answer = client.post(
            "/api/v1/petitions/vote/signatures", json={"email": 42}, **from_ip("203.0.113.1")
        )
        assert answer.status_code == 400
        assert client.post("/p/vote/sign", data={}, **from_ip("203.0.113.1")).status_code == 400


def test_malformed_requests_still_count_per_network(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="2 per hour").test_client()
    assert sign_form(client, "not an address", "203.0.113.1").status_code == 400
    assert sign_api(client, "@", "203.0.113.1").status_code == 400
    assert sign_api(client, "ann@example.org", "203.0.113.1").status_code == 429


# --- the 429 ----------------------------------------------------------------------------------


def test_people_get_a_429_page_saying_when_to_try_again(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="1 per hour").test_client()
    assert sign_form(client, "e1@example.org", "203.0.113.1").status_code == 303
    refused = sign_form(client, "e2@example.org", "203.0.113.1")

    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    seconds = retry_after(refused)
    assert seconds > HOUR - 60
    text = text_of(refused)
    assert "<title>Too many requests to sign: try again in about 60 minutes" in (
        refused.get_data(as_text=True)
    )
    assert "Too many requests to sign have come from your network." in text
    assert "If you asked for a signing link earlier, that link still works" in text
    assert "spam or junk folder" in text
    assert "You can try again in about 60 minutes." in text
    assert refused.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert refused.headers["X-Frame-Options"] == "DENY"


def test_the_api_gets_a_json_429_with_retry_after(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="1 per hour").test_client()
    assert sign_api(client, "f1@example.org", "203.0.113.1").status_code == 202
    refused = sign_api(client, "f2@example.org", "203.0.113.1")

    assert refused.status_code == 429
    assert refused.mimetype == "application/json"
    seconds = retry_after(refused)
    body = refused.get_json()
    assert body == {
        "error": "rate_limited",
        "message": "Too many requests to sign have come from your network. "
        f"{rate_limits.ADVICE['sign-network']} Try again in about 60 minutes ({seconds} seconds).",
        "limit": "sign",
        "advice": rate_limits.ADVICE["sign-network"],
        "retry_after_seconds": seconds,
        "retry_after_minutes": 60,
    }
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "about 1 minute"),
        (60, "about 1 minute"),
        (61, "about 2 minutes"),
        (690, "about 12 minutes"),
        (3600, "about 60 minutes"),
        (7140, "about 119 minutes"),
        (7141, "about 2 hours"),
        (86400, "about 24 hours"),
    ],
)
def test_the_wait_is_said_in_whole_minutes_rounded_up(seconds, words):
    assert rate_limits.wait_in_words(seconds) == words


def test_each_limit_has_words_that_fit_it(make_app, monkeypatch):
    monkeypatch.setattr(rate_limits, "retry_after", lambda: 690)
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_NETWORK", "1 per hour")
    client = make_app(
        SIGN_LIMIT_PER_NETWORK="1 per hour", CONFIRM_LIMIT_PER_NETWORK="1 per hour"
    ).test_client()
    sign_form(client, "k1@example.org", "198.51.100.1")
    by_network = sign_form(client, "k1@example.org", "198.51.100.2")
    confirm_form(client, "203.0.113.1")
    confirming = confirm_form(client, "203.0.113.1")
    sign_in_form(client, "k2@example.org", "203.0.113.1")
    signing_in = sign_in_form(client, "k3@example.org", "203.0.113.1")
    for refused, heading, words in [
        (by_network, "Too many requests to sign", "If you asked for a signing link earlier"),
        (confirming, "Too many confirmations", "Nothing was counted this time"),
        (signing_in, "Too many sign-in attempts", "A sign-in link sent to you earlier"),
    ]:
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "690"
        text = text_of(refused)
        assert heading in text
        assert words in text
        assert "spam or junk folder" in text
        assert "You can try again in about 12 minutes." in text

    refused = confirm_api(client, "203.0.113.1")
    body = refused.get_json()
    assert body["limit"] == "confirm"
    assert body["retry_after_seconds"] == 690
    assert body["retry_after_minutes"] == 12
    assert body["advice"] == rate_limits.ADVICE["confirm-network"]
    assert "Try again in about 12 minutes" in body["message"]


def test_retry_after_counts_down_to_when_a_request_is_let_through(make_app):
    client = make_app(SIGN_LIMIT_PER_NETWORK="1 per 10 seconds").test_client()
    assert sign_api(client, "g1@example.org", "203.0.113.1").status_code == 202
    refused = sign_api(client, "g2@example.org", "203.0.113.1")
    assert refused.status_code == 429
    assert 1 <= retry_after(refused) <= 11


# --- confirming -------------------------------------------------------------------------------


def test_confirming_is_limited_per_network_across_form_and_api(make_app):
    client = make_app(CONFIRM_LIMIT_PER_NETWORK="3 per hour").test_client()
    assert confirm_api(client, "203.0.113.1").status_code == 400
    assert confirm_form(client, "203.0.113.2").status_code == 400
    renew = client.post("/p/vote/confirm/renew", data={"token": "x"}, **from_ip("203.0.113.3"))
    assert renew.status_code == 400

    refused_api = confirm_api(client, "203.0.113.4")
    assert refused_api.status_code == 429
    assert refused_api.get_json()["error"] == "rate_limited"
    assert "confirmations" in refused_api.get_json()["message"]
    retry_after(refused_api)
    refused_page = confirm_form(client, "203.0.113.1")
    assert refused_page.status_code == 429
    assert refused_page.mimetype == "text/html"
    assert "Too many confirmations have come from your network." in text_of(refused_page)
    retry_after(refused_page)

    # The page the e-mailed link opens only shows a button, and is not limited.
    page = client.get("/p/vote/confirm?token=forged", **from_ip("203.0.113.1"))
    assert page.status_code == 400
    assert confirm_api(client, "198.51.100.1").status_code == 400


def test_confirming_does_not_use_up_the_sign_limits(make_app):
    client = make_app(CONFIRM_LIMIT_PER_NETWORK="1 per hour", SIGN_LIMIT_PER_NETWORK="1 per hour")
    client = client.test_client()
    assert confirm_api(client, "203.0.113.1").status_code == 400
    assert sign_api(client, "h1@example.org", "203.0.113.1").status_code == 202
    assert confirm_api(client, "203.0.113.1").status_code == 429
    assert sign_api(client, "h2@example.org", "203.0.113.1").status_code == 429


# --- settings ---------------------------------------------------------------------------------


def test_the_limits_are_off_in_the_test_app_by_default(app, client):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    for _ in range(8):
        assert sign_api(client, "ann@example.org", "203.0.113.1").status_code == 202


def test_the_default_limits(make_app):
    built = make_app()
    assert {name: getattr(settings_of(built), name.lower()) for name in LIMIT_SETTINGS} == {
        "SIGN_LIMIT_PER_NETWORK": "2000 per hour",
        "SIGN_LIMIT_PER_ADDRESS": "5 per hour",
        "CONFIRM_LIMIT_PER_NETWORK": "2000 per hour",
    }
    assert settings_of(built).sign_notice_per_network == "60 per hour"
    client = built.test_client()
    # Asking for one address again and again is never refused: its mail is limited instead.
    statuses = [sign_api(client, "ann@example.org", "203.0.113.1").status_code for _ in range(8)]
    assert statuses == [202] * 8


def test_the_environment_overrides_the_defaults(make_app, monkeypatch):
    monkeypatch.setenv("SIGN_LIMIT_PER_NETWORK", "1 per day")
    monkeypatch.setenv("SIGN_LIMIT_PER_ADDRESS", "1 per day")
    monkeypatch.setenv("SIGN_NOTICE_PER_NETWORK", "30/10 minutes")
    monkeypatch.setenv("CONFIRM_LIMIT_PER_NETWORK", "10/minute;100/day")
    built = make_app()
    assert settings_of(built).sign_limit_per_network == "1 per day"
    assert settings_of(built).sign_limit_per_address == "1 per day"
    assert settings_of(built).sign_notice_per_network == "30/10 minutes"
    assert settings_of(built).confirm_limit_per_network == "10/minute;100/day"
    assert make_app(SIGN_LIMIT_PER_NETWORK="7 per hour").extensions[
        "petitions.settings"
    ].sign_limit_per_network == ("7 per hour")
    client = built.test_client()
    assert sign_api(client, "ann@example.org", "203.0.113.1").status_code == 202
    refused = sign_api(client, "ann@example.org", "203.0.113.2")
    assert refused.status_code == 429
    assert retry_after(refused, most=24 * HOUR) > 24 * HOUR - 60


def test_an_unusable_storage_stops_start_up(make_app, capsys):
    with pytest.raises(SystemExit) as stopped:
        make_app(RATELIMIT_STORAGE_URI="carrier-pigeon://loft")
    assert stopped.value.code == 2
    assert "rate limit storage carrier-pigeon:// is not usable" in capsys.readouterr().err


@pytest.mark.parametrize("name", LIMIT_SETTINGS)
def test_a_malformed_limit_stops_start_up(make_app, monkeypatch, capsys, name):
    monkeypatch.setenv(name, "lots")
    with pytest.raises(SystemExit) as stopped:
        make_app()
    assert stopped.value.code == 2
    assert f"{name} must be a rate limit" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["lots", "60/hour;1000/day"])
def test_a_notice_level_is_one_rate(make_app, monkeypatch, capsys, value):
    monkeypatch.setenv("SIGN_NOTICE_PER_NETWORK", value)
    with pytest.raises(SystemExit) as stopped:
        make_app()
    assert stopped.value.code == 2
    assert 'SIGN_NOTICE_PER_NETWORK must be one rate such as "60 per hour"' in (
        capsys.readouterr().err
    )


def test_counts_live_in_redis_when_there_is_one_else_in_memory(make_app):
    assert rate_limits.storage_uri(None) == "memory://"
    for given, used in [
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
        ("rediss://cache.example:6380/0", "rediss://cache.example:6380/0"),
        ("unix:///run/redis.sock?db=2", "redis+unix:///run/redis.sock?db=2"),
    ]:
        assert rate_limits.storage_uri(given) == used
    first = make_app(CONFIRM_LIMIT_PER_NETWORK="1 per hour").test_client()
    second = make_app(CONFIRM_LIMIT_PER_NETWORK="1 per hour").test_client()
    assert confirm_api(first, "203.0.113.1").status_code == 400
    assert confirm_api(second, "203.0.113.1").status_code == 400  # each process its own
    assert confirm_api(first, "203.0.113.1").status_code == 429


# --- Redis --------------------------------------------------------------------------------------


@pytest.mark.redis
def test_app_instances_share_counts_through_redis(make_app, redis_url):
    limits = {
        "REDIS_URL": redis_url,
        "SIGN_LIMIT_PER_NETWORK": "3 per hour",
        "SIGN_LIMIT_PER_ADDRESS": "2 per hour",
        "CONFIRM_LIMIT_PER_NETWORK": "2 per hour",
    }
    one = make_app(**limits).test_client()
    two = make_app(**limits).test_client()

    assert confirm_api(one, "203.0.113.1").status_code == 400
    assert confirm_api(two, "203.0.113.2").status_code == 400
    assert confirm_api(one, "203.0.113.3").status_code == 429
    assert confirm_api(two, "203.0.113.3").status_code == 429

    assert sign_api(one, "jobloggs@gmail.com", "198.51.100.1").status_code == 202
    assert sign_form(two, "Jo.Bloggs@gmail.com", "192.0.2.1").status_code == 303
    # The same mailbox a third time, from another network: taken (its mail is what is limited).
    assert sign_api(two, "jo.bloggs+x@gmail.com", "203.0.114.1").status_code == 202
    assert sign_api(one, "k1@example.org", "198.51.100.2").status_code == 202
    assert sign_api(two, "k2@example.org", "198.51.100.3").status_code == 202
    refused = sign_api(one, "k3@example.org", "198.51.100.4")
    assert refused.status_code == 429
    retry_after(refused)

    keys = redis.Redis.from_url(redis_url).keys(f"*{rate_limits.KEY_PREFIX}*")
    assert keys, "no rate limit counts in Redis"


def test_limits_count_in_memory_when_redis_does_not_answer(make_app):
    # Port 1 on loopback: nothing listens there, so every Redis call fails at once. Requests
    # are still answered, and still limited: in this process's memory.
    client = make_app(
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", CONFIRM_LIMIT_PER_NETWORK="1 per hour"
    ).test_client()
    statuses = [confirm_api(client, "203.0.113.1").status_code for _ in range(3)]
    assert statuses == [400, 429, 429]


# --- signing in -------------------------------------------------------------------------------


def sign_in_form(client, email, ip):
    return client.post("/sign-in", data={"email": email}, **from_ip(ip))


def test_asking_for_sign_in_links_is_limited_per_address(make_app, monkeypatch):
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ADDRESS", "2 per hour")
    client = make_app().test_client()
    statuses = [
        sign_in_form(client, "Ada@example.org", f"203.0.113.{n}").status_code for n in (1, 2)
    ]
    assert statuses == [303, 303]
    refused = sign_in_form(client, "ada@EXAMPLE.org", "198.51.100.1")
    assert refused.status_code == 429
    assert "sign-in links have been asked for this e-mail address" in text_of(refused)
    retry_after(refused)
    assert sign_in_form(client, "bob@example.org", "198.51.100.1").status_code == 303


def test_signing_in_is_limited_per_network_and_showing_the_form_is_free(make_app, monkeypatch):
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_NETWORK", "3 per hour")
    client = make_app().test_client()
    for _ in range(10):
        assert client.get("/sign-in", **from_ip("203.0.113.1")).status_code == 200
    assert sign_in_form(client, "a@example.org", "203.0.113.1").status_code == 303
    assert sign_in_form(client, "b@example.org", "203.0.113.2").status_code == 303
    used = client.post("/sign-in/link", data={"token": FORGED}, **from_ip("203.0.113.3"))
    assert used.status_code == 400
    refused = client.post("/sign-in/link", data={"token": FORGED}, **from_ip("203.0.113.4"))
    assert refused.status_code == 429
    assert "Too many sign-in attempts have come from your network" in text_of(refused)
    assert sign_in_form(client, "c@example.org", "198.51.100.1").status_code == 303


def test_limits_stay_on_in_memory_while_redis_is_down(make_app, caplog):
    # Nothing listens on port 1: every Redis call fails at once.
    built = make_app(REDIS_URL="redis://127.0.0.1:1/0", SIGN_LIMIT_PER_NETWORK="5 per hour")
    client = built.test_client()
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        statuses = [
            sign_api(client, "ann@example.org", "203.0.113.1").status_code for _ in range(6)
        ]
    assert statuses == [202] * 5 + [429]
    fallbacks = [r for r in caplog.records if "falling back to in-memory" in r.getMessage()]
    assert len(fallbacks) == 1


def renew_form(client, token, ip):
    return client.post("/p/vote/confirm/renew", data={"token": token}, **from_ip(ip))


def test_asking_for_fresh_links_counts_as_asking_to_sign_from_that_network(make_app):
    built = make_app(SIGN_LIMIT_PER_NETWORK="3 per hour")
    client = built.test_client()
    settings = settings_of(built)
    with Session(flask_db.engine_of(built)) as session:
        member = session.exec(select(Member).where(Member.number == "M1")).one()
        petition_id = session.exec(select(Petition.id).where(Petition.slug == "vote")).one()
    token = tokens.make_token(settings.secret_key, [], petition_id, member.id)
    assert sign_api(client, "ann@example.org", "203.0.113.1").status_code == 202
    assert renew_form(client, token, "203.0.113.2").status_code == 303
    assert renew_form(client, token, "198.51.100.1").status_code == 303
    assert renew_form(client, token, "203.0.113.99").status_code == 303
    refused = renew_form(client, token, "203.0.113.3")
    assert refused.status_code == 429
    assert sign_api(client, "bob@example.org", "203.0.113.7").status_code == 429
    with Session(flask_db.engine_of(built)) as session:
        networks = session.exec(select(SignRequest.network).order_by(SignRequest.id)).all()
    assert networks == ["203.0.113.0/24", "203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"]


def test_a_stranger_naming_a_members_address_gets_them_only_the_links_the_limits_allow(
    make_app, app, worker
):
    configure(app, sign_limit_per_address="2 per hour")
    add_members(app, ("M2", "lapsed@example.org", "lapsed"), ("H1", "home@example.org"))
    add_members(app, ("H2", "home@example.org"))
    client = make_app(SIGN_LIMIT_PER_ADDRESS="2 per hour").test_client()
    # From a new network each time, as a stranger with many addresses would.
    statuses = {
        email: [sign_api(client, email, f"203.0.{n}.1").status_code for n in range(4)]
        for email in ("ann@example.org", "lapsed@example.org", "home@example.org")
    }
    worker.run_pending()

    assert statuses == {email: [202] * 4 for email in statuses}
    mails = sent_mail(app)
    assert [(m.to_address, m.purpose) for m in mails] == [("ann@example.org", "confirm_link")] * 2
    with Session(flask_db.engine_of(app)) as session:
        answered = session.exec(
            select(SignRequest.outcome).where(SignRequest.email == "ann@example.org")
        ).all()
    assert answered == ["confirm_link"] * 2 + ["already_mailed"] * 2


def test_asking_for_the_link_to_withdraw_counts_as_a_request_to_sign(make_app):
    client = make_app(
        SIGN_LIMIT_PER_NETWORK="2 per hour", CONFIRM_LIMIT_PER_NETWORK="1 per hour"
    ).test_client()
    assert sign_form(client, "ann@example.org", "203.0.113.1").status_code == 303
    manage = {"email": "ANN@example.org"}
    assert client.post("/p/vote/manage", data=manage, **from_ip("203.0.113.2")).status_code == 303
    refused = client.post("/p/vote/manage", data=manage, **from_ip("203.0.113.3"))
    assert refused.status_code == 429
    assert "Too many requests to sign have come from your network." in text_of(refused)
    # Another network asking for the same address is not refused.
    assert client.post("/p/vote/manage", data=manage, **from_ip("192.0.2.1")).status_code == 303
    # Showing the form costs nothing; withdrawing is counted as a confirmation.
    assert client.get("/p/vote/manage", **from_ip("192.0.2.1")).status_code == 200
    withdraw = {"token": FORGED}
    assert client.post("/p/vote/withdraw", data=withdraw, **from_ip("192.0.2.9")).status_code == 400
    assert client.post("/p/vote/withdraw", data=withdraw, **from_ip("192.0.2.9")).status_code == 429


def test_asking_was_my_name_used_counts_as_a_request_to_sign(make_app):
    client = make_app(
        SIGN_LIMIT_PER_ADDRESS="2 per hour",
        SIGN_LIMIT_PER_NETWORK="3 per hour",
        CONFIRM_LIMIT_PER_NETWORK="1 per hour",
    ).test_client()
    assert sign_form(client, "ann@example.org", "203.0.113.1").status_code == 303
    asked = {"email": "Ann@example.org"}
    assert (
        client.post("/p/vote/name-check", data=asked, **from_ip("198.51.100.1")).status_code == 303
    )
    # The same mailbox again, from anywhere, is never refused: the mail is limited instead.
    again = client.post("/p/vote/name-check", data=asked, **from_ip("192.0.2.1"))
    assert again.status_code == 303
    # One network asking about many addresses: over the limit per network.
    for n in range(2):
        other = {"email": f"person{n}@example.org"}
        last = client.post("/p/vote/name-check", data=other, **from_ip("192.0.2.77"))
    assert last.status_code == 303
    refused = client.post(
        "/p/vote/name-check", data={"email": "more@example.org"}, **from_ip("192.0.2.78")
    )
    assert refused.status_code == 429
    assert "your network" in text_of(refused)
    # Showing the form costs nothing; reporting is counted as a confirmation.
    assert client.get("/p/vote/name-check", **from_ip("192.0.2.1")).status_code == 200
    report = {"token": FORGED}
    assert (
        client.post("/p/vote/name-report", data=report, **from_ip("192.0.2.9")).status_code == 400
    )
    assert (
        client.post("/p/vote/name-report", data=report, **from_ip("192.0.2.9")).status_code == 429
    )

"""The signatures page: the list and its filters, the anomaly signals page, and invalidating
from the browser (review, then confirm): the count goes down, nothing is deleted, the log gets
cancelling leaves, the decision names the signed-in organiser, and bad requests change nothing."""

import base64
import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import (
    AuditEvent,
    Invalidation,
    LogLeaf,
    Signature,
    ThresholdEvent,
    WebhookDelivery,
)
from petitions.signatures import listing
from petitions.transparency import leaves as log_leaves
from tests.helpers import add_members, open_petition, petition, sign_in
from tests.signatures.test_anomalies import T0, arrange, steady
from tests.transparency.test_store import MEMBERS, confirm

ORGANISER = "organiser@example.org"
LIST = "/organiser/p/vote/signatures"
REVIEW = "/organiser/p/vote/signatures/review"
INVALIDATE = "/organiser/p/vote/signatures/invalidate"
ROW = re.compile(r'<th scope="row" class="number">(\d+)</th>')
BOX = re.compile(r'<input type="checkbox" name="number" value="(\d+)"')


@pytest.fixture
def five(app):
    """Five signatures (members M001-M005, regions alternating South/North) on a petition with
    threshold 4, so it has been triggered."""
    add_members(
        app, *[(m, e, "active", "North" if i % 2 else "South") for i, (m, e) in enumerate(MEMBERS)]
    )
    open_petition(app, threshold=4)
    return [confirm(app, member_id) for member_id, _ in MEMBERS[:5]]


@pytest.fixture
def organiser(app, client):
    sign_in(app, client, ORGANISER, "organiser")
    return client


@pytest.fixture
def scrutineer(app, client):
    sign_in(app, client, "scrutineer@example.org", "scrutineer")
    return client


def rows(response) -> list[int]:
    return [int(n) for n in ROW.findall(response.get_data(as_text=True))]


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def counts(app) -> dict:
    with Session(flask_db.engine_of(app)) as session:

        def count(model, *where):
            return session.scalar(select(func.count()).select_from(model).where(*where))

        return {
            "signatures": count(Signature),
            "invalidated": count(Signature, Signature.invalidated_at.is_not(None)),
            "invalidations": count(Invalidation),
            "leaves": count(LogLeaf),
            "events": count(ThresholdEvent),
            "deliveries": count(WebhookDelivery),
            "audit": count(AuditEvent, AuditEvent.action == "signature.invalidate"),
        }


def test_the_list_shows_every_signature_newest_first(app, organiser, five):
    page = organiser.get(LIST)
    assert page.status_code == 200
    assert rows(page) == [5, 4, 3, 2, 1]
    body = text(page)
    for member_id, _ in MEMBERS[:5]:
        assert f"<td>{member_id}</td>" in body
    assert "5 counted of 5 confirmed" in body
    assert BOX.findall(body) == ["5", "4", "3", "2", "1"]
    assert 'action="/organiser/p/vote/signatures/review"' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=counted", [5, 4, 3, 2, 1]),
        ("status=invalidated", []),
        ("region=North", [4, 2]),
        ("region=South&numbers=1-3", [3, 1]),
        ("numbers=5, 1 - 2", [5, 2, 1]),
        ("numbers=2 4", [4, 2]),
    ],
)
def test_filters_narrow_the_list(app, organiser, five, query, expected):
    page = organiser.get(f"{LIST}?{query}")
    assert page.status_code == 200
    assert rows(page) == expected


def test_the_time_and_network_filters(app, organiser, five):
    with Session(flask_db.engine_of(app)) as session:
        times = dict(session.execute(select(Signature.number, Signature.confirmed_at)).all())
    since = (times[3] - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert rows(organiser.get(f"{LIST}?since={since}")) == [5, 4, 3]
    until = times[3].strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert rows(organiser.get(f"{LIST}?until={until}")) == [2, 1]
    assert rows(organiser.get(f"{LIST}?network=192.0.2.0/24")) == []


def test_the_list_is_paged(app, organiser):
    arrange(app, steady(T0, 60, per_minute=3))  # 180 signatures
    first = organiser.get(LIST)
    assert rows(first) == list(range(180, 80, -1))
    assert "Page 1 of 2" in text(first)
    second = organiser.get(f"{LIST}?page=2")
    assert rows(second) == list(range(80, 0, -1))
    assert rows(organiser.get(f"{LIST}?page=3")) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("numbers=abc", "'abc' is not a signature number"),
        ("numbers=9-3", "not a range of signature numbers from low to high"),
        ("status=gone", "status 'gone' is not one of all, counted, invalidated"),
        ("since=yesterday", "is not a date and time"),
        ("since=2026-01-02T10:00&until=2026-01-01T10:00", "must come after its start"),
        ("page=0", "page '0' is not a page number"),
    ],
)
def test_bad_filters_get_a_clear_400_page(app, organiser, five, query, message):
    page = organiser.get(f"{LIST}?{query}")
    assert page.status_code == 400
    assert message.lower() in text(page).lower()
    assert "Nothing was changed" in text(page)


def test_an_unknown_petition_is_404(app, organiser):
    assert organiser.get("/organiser/p/nothing/signatures").status_code == 404
    assert organiser.get("/organiser/p/nothing/signatures/signals").status_code == 404


def test_a_scrutineer_may_look_but_not_act(app, scrutineer, five):
    page = scrutineer.get(LIST)
    assert page.status_code == 200
    assert rows(page) == [5, 4, 3, 2, 1]
    assert BOX.findall(text(page)) == []
    assert "/signatures/review" not in text(page)
    before = counts(app)
    for url in (REVIEW, INVALIDATE):
        answer = scrutineer.post(url, data={"number": "1", "numbers": "1", "reason": "other"})
        assert answer.status_code == 403
    assert counts(app) == before
    assert petition(app).signature_count == 5


def review(client, **form):
    return client.post(REVIEW, data=form)


def test_invalidating_one_signature_from_the_browser(app, client, organiser, five):
    before = counts(app)
    page = review(organiser, number="2", reason="not_a_member", note="left in 2024")
    assert page.status_code == 200
    body = text(page)
    assert "Confirm the invalidation" in body
    assert rows(page) == [2]
    assert '<input type="hidden" name="numbers" value="2">' in body
    assert "the count of 5 goes down to 4" in body
    # Reviewing changes nothing.
    assert counts(app) == before

    done = organiser.post(
        INVALIDATE, data={"numbers": "2", "reason": "not_a_member", "note": "left in 2024"}
    )
    assert done.status_code == 303
    shown = organiser.get(done.headers["Location"])
    assert "Invalidated 1 signature (2)" in text(shown)
    assert rows(shown) == [2]
    assert "by organiser@example.org" in text(shown)
    assert "Note: left in 2024" in text(shown)
    assert BOX.findall(text(shown)) == []  # an invalidated signature cannot be selected again

    stored = petition(app)
    assert stored.signature_count == 4
    assert stored.state == "triggered"
    assert client.get("/api/v1/petitions/vote").get_json()["count"] == 4
    after = counts(app)
    assert after == before | {
        "invalidated": 1,
        "invalidations": 1,
        "leaves": 6,
        "audit": 1,
    }
    assert after["signatures"] == 5  # nothing deleted
    leaves = client.get("/api/v1/petitions/vote/log").get_json()["leaves"]
    cancelling = log_leaves.decode(base64.b64decode(leaves[5]["leaf_input"]))
    assert (cancelling["type"], cancelling["cancels"], cancelling["reason"]) == (
        "invalidation",
        five[1]["leaf_index"],
        "not_a_member",
    )
    with Session(flask_db.engine_of(app)) as session:
        record = session.scalars(select(Invalidation)).one()
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "signature.invalidate")
        ).one()
    assert (record.decided_by, record.reason, record.note) == (
        ORGANISER,
        "not_a_member",
        "left in 2024",
    )
    assert event.actor == ORGANISER
    assert event.petition_id == stored.id
    assert event.detail == "1 signature(s): 2; reason not_a_member; note: left in 2024"
    assert event.at == record.decided_at


def test_invalidating_a_selected_set(app, client, organiser, five):
    page = review(organiser, number=["3", "1"], also="5", reason="duplicate_person")
    assert page.status_code == 200
    assert rows(page) == [1, 3, 5]
    assert '<input type="hidden" name="numbers" value="1, 3, 5">' in text(page)
    done = organiser.post(INVALIDATE, data={"numbers": "1, 3, 5", "reason": "duplicate_person"})
    assert done.status_code == 303
    assert petition(app).signature_count == 2
    assert client.get("/api/v1/petitions/vote").get_json()["count"] == 2
    listed = organiser.get(f"{LIST}?status=invalidated")
    assert rows(listed) == [5, 3, 1]
    assert rows(organiser.get(f"{LIST}?status=counted")) == [4, 2]
    leaves = client.get("/api/v1/petitions/vote/log").get_json()["leaves"]
    decoded = [log_leaves.decode(base64.b64decode(leaf["leaf_input"])) for leaf in leaves[5:]]
    assert [(leaf["type"], leaf["cancels"]) for leaf in decoded] == [
        ("invalidation", 0),
        ("invalidation", 2),
        ("invalidation", 4),
    ]
    with Session(flask_db.engine_of(app)) as session:
        deciders = session.scalars(select(Invalidation.decided_by)).all()
    assert deciders == [ORGANISER] * 3


def test_every_counted_signature_matching_a_filter_can_be_selected(app, organiser, five):
    done = organiser.post(INVALIDATE, data={"numbers": "3", "reason": "other", "note": "x"})
    assert done.status_code == 303
    page = review(organiser, all_matching="1", filter="numbers=2-4", reason="impersonation")
    assert page.status_code == 200
    assert rows(page) == [2, 4]  # 3 is already invalidated: not selected again


def test_a_triggered_petition_stays_triggered_and_is_never_triggered_again(app, organiser, five):
    organiser.post(INVALIDATE, data={"numbers": "1-2", "reason": "not_a_member"})
    assert petition(app).signature_count == 3  # below the threshold of 4
    assert petition(app).state == "triggered"
    confirm(app, MEMBERS[5][0])
    stored = petition(app)
    assert (stored.signature_count, stored.state) == (4, "triggered")
    assert counts(app)["events"] == 1
    assert counts(app)["deliveries"] == 1


def test_an_open_petition_stays_open(app, organiser):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=10)
    for member_id, _ in MEMBERS[:3]:
        confirm(app, member_id)
    organiser.post(INVALIDATE, data={"numbers": "2", "reason": "member_request"})
    stored = petition(app)
    assert (stored.signature_count, stored.state) == (2, "open")
    assert counts(app)["events"] == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "not_a_member"}, "Select at least one signature"),
        ({"number": "99", "reason": "not_a_member"}, "no signature numbered 99"),
        ({"also": "4, 98-99", "reason": "not_a_member"}, "no signature numbered 98-99"),
        ({"number": "2"}, "Choose a reason"),
        ({"number": "2", "reason": "fraud"}, "Choose a reason"),
        ({"number": "2", "reason": "other"}, "needs a note"),
        ({"number": "x", "reason": "not_a_member"}, "'x' is not a signature number"),
        ({"also": "1-5000", "reason": "not_a_member"}, "at most 1,000"),
        ({"number": "2", "reason": "other", "note": "n" * 2001}, "note is too long"),
    ],
)
def test_a_bad_selection_gets_a_clear_400_page(app, organiser, five, form, message):
    before = counts(app)
    page = review(organiser, **form)
    assert page.status_code == 400
    assert message.lower() in text(page).lower()
    assert "Nothing was changed" in text(page)
    html = page.get_data(as_text=True)
    assert "<title>Error: Please check the request" in html
    assert 'class="error-summary"' in html
    assert counts(app) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "not_a_member"}, "Select at least one signature"),
        ({"numbers": "", "reason": "not_a_member"}, "Select at least one signature"),
        ({"numbers": "2, 99", "reason": "not_a_member"}, "no signature numbered 99"),
        ({"numbers": "2"}, "Choose a reason"),
        ({"numbers": "2", "reason": "other", "note": " "}, "needs a note"),
        ({"numbers": "two", "reason": "not_a_member"}, "'two' is not a signature number"),
    ],
)
def test_a_bad_invalidation_changes_nothing(app, organiser, five, form, message):
    before = counts(app)
    answer = organiser.post(INVALIDATE, data=form)
    assert answer.status_code == 400
    assert message.lower() in text(answer).lower()
    assert counts(app) == before
    assert petition(app).signature_count == 5


def test_all_or_nothing_and_never_twice(app, organiser, five):
    done = organiser.post(INVALIDATE, data={"numbers": "1", "reason": "other", "note": "x"})
    assert done.status_code == 303
    before = counts(app)
    again = review(organiser, number=["1", "2"], reason="not_a_member")
    assert again.status_code == 400
    assert "Already invalidated: 1" in text(again)
    # A stale confirmation page (someone else acted meanwhile) changes nothing either.
    stale = organiser.post(INVALIDATE, data={"numbers": "1-2", "reason": "not_a_member"})
    assert stale.status_code == 400
    assert "already invalidated: 1; nothing was changed" in text(stale).lower()
    assert counts(app) == before
    assert petition(app).signature_count == 4


def test_the_signals_page_shows_the_evidence_and_links_to_the_signatures(app, scrutineer):
    burst = [T0 + timedelta(minutes=90, seconds=s) for s in range(60)]
    arrange(app, steady(T0, 120) + burst)
    page = scrutineer.get(f"{LIST}/signals")
    assert page.status_code == 200
    body = text(page)
    assert "Burst of confirmations" in body
    assert "62 confirmations in 1 minute" in body
    assert "Signal above (a minute)" in body
    links = re.findall(r'<a href="([^"]+)">Signatures confirmed in this window</a>', body)
    assert len(links) == 1
    window = scrutineer.get(links[0])
    assert window.status_code == 200
    assert rows(window) == list(range(242, 180, -1))
    numbered = re.findall(r'<a href="([^"]+)">Signatures numbered 181 to 242</a>', body)
    assert rows(scrutineer.get(numbered[0])) == list(range(242, 180, -1))


def test_the_signals_page_of_a_quiet_petition(app, organiser, five):
    page = organiser.get(f"{LIST}/signals")
    assert page.status_code == 200
    assert "No signals" in text(page)


def test_a_large_scattered_selection_goes_through_review_and_confirmation(app, organiser):
    # More separate numbers than a filter may name (200), all through review and confirmation.
    many = [(f"B{n:03d}", f"b{n}@example.org") for n in range(1, 411)]
    add_members(app, *many)
    open_petition(app, threshold=10_000)
    for member_id, _ in many:
        confirm(app, member_id)
    odd = [str(n) for n in range(1, 411, 2)]
    page = review(organiser, number=odd, reason="impersonation")
    assert page.status_code == 200
    assert len(rows(page)) == 205
    numbers = re.search(r'name="numbers" value="([^"]+)"', text(page)).group(1)
    done = organiser.post(INVALIDATE, data={"numbers": numbers, "reason": "impersonation"})
    assert done.status_code == 303, text(done)
    assert petition(app).signature_count == 205
    assert rows(organiser.get(f"{LIST}?status=counted"))[:3] == [410, 408, 406]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("", ()),
        ("7", ((7, 7),)),
        ("1, 4-6 9", ((1, 1), (4, 6), (9, 9))),
        ("12 - 15,,20", ((12, 15), (20, 20))),
    ],
)
def test_numbers_are_read_as_lists_and_ranges(written, expected):
    ranges = listing.parse_numbers(written)
    assert tuple((r.first, r.last) for r in ranges) == expected
    assert listing.format_numbers([9, 1, 2, 3, 7, 2]) == "1-3, 7, 9"


@pytest.mark.parametrize("written", ["0", "5-2", "a", "1-", "3.5", " ,".join(["1"] * 201)])
def test_numbers_that_cannot_be_read_are_refused(written):
    with pytest.raises(listing.FilterError):
        listing.parse_numbers(written)

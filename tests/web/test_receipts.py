"""What a receipt stands for now: the API listing the leaves that cancel a signature leaf, and
the receipt page saying, without JavaScript, that a signature no longer counts, when and why."""

import base64
import json
import re
from datetime import UTC, datetime

from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.signatures import invalidation, receipts, signing, tokens
from tests.helpers import add_members, open_petition, petition

DECIDED = datetime(2026, 1, 15, 18, 30, tzinfo=UTC)


def signed(app, count: int) -> list[dict]:
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(1, count + 1)])
    open_petition(app, threshold=1000)
    made = []
    for member_id in range(1, count + 1):
        token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_id)
        result = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
        assert result.status == "confirmed"
        made.append(result.receipt)
    return made


def invalidate(app, number: int, reason: str = "duplicate_person") -> None:
    invalidation.invalidate(
        flask_db.engine_of(app),
        settings_of(app),
        "vote",
        [number],
        reason,
        "organiser@example.org",
        "private words" if reason == "other" else "",
        now=DECIDED,
    )


def text_of(response) -> str:
    words = " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())
    return re.sub(r" ([,.])", r"\1", words)


def test_the_api_lists_the_leaves_cancelling_a_signature(app, client):
    made = signed(app, 3)
    invalidate(app, 2)
    answer = client.get("/api/v1/petitions/vote/log/cancellations?index=1").get_json()
    assert answer["index"] == made[1]["leaf_index"] == 1
    (leaf,) = answer["cancelled_by"]
    assert leaf["index"] == 3
    assert leaf["type"] == "invalidation"
    assert leaf["reason"] == "duplicate_person"
    assert leaf["reason_text"] == "one person signed twice under two memberships"
    assert leaf["time"] == "2026-01-15T18:30:00Z"
    assert json.loads(base64.b64decode(leaf["leaf_input"]))["cancels"] == 1
    for index in (0, 2, 3, 99):
        answer = client.get(f"/api/v1/petitions/vote/log/cancellations?index={index}").get_json()
        assert answer == {"index": index, "cancelled_by": []}
    assert client.get("/api/v1/petitions/vote/log/cancellations").status_code == 400
    assert client.get("/api/v1/petitions/vote/log/cancellations?index=-1").status_code == 400
    assert client.get("/api/v1/petitions/nope/log/cancellations?index=1").status_code == 404


def test_the_receipt_page_says_a_cancelled_signature_no_longer_counts(app, client):
    made = signed(app, 3)
    invalidate(app, 2)
    url = "/p/vote/receipt?index={leaf_index}&leaf_hash={leaf_hash}"
    cancelled = text_of(client.get(url.format(**made[1])))
    assert "This signature no longer counts" in cancelled
    assert (
        "Entry 4 of the public log, added on 15 January 2026, 18:30 UTC, cancels it." in cancelled
    )
    assert "The published reason: one person signed twice under two memberships." in cancelled
    assert "Signature number 2" in cancelled
    assert "Entry in the public log 2 (index 1 in the log's API)" in cancelled
    assert "Check your signature: Petition vote" in cancelled

    counted = text_of(client.get(url.format(**made[0])))
    assert "no longer counts" not in counted
    assert "Signature number 1" in counted

    wrong = dict(made[1], leaf_hash=made[0]["leaf_hash"])
    for query in [
        wrong,
        {"leaf_index": "x", "leaf_hash": "y"},
        {"leaf_index": "", "leaf_hash": ""},
    ]:
        response = client.get(url.format(**query))
        assert response.status_code == 200
        assert "no longer counts" not in text_of(response)
        assert "Signature number" not in text_of(response)


def test_the_reason_other_is_told_without_its_private_note(app):
    signed(app, 2)
    invalidate(app, 1, "other")
    with Session(flask_db.engine_of(app)) as session:
        (found,) = receipts.cancellations_of(session, petition(app).id, 0)
    assert found.reason == "other"
    assert found.reason_text == "another reason, recorded with the decision for the scrutineers"
    assert receipts.reason_in_words("withdrawal", "") == "the member withdrew it"

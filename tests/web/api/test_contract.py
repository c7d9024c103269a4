"""The check that every API answer in the tests is one the OpenAPI document describes
(tests/api_contract.py): it passes what the document says and catches what it does not."""

import json

import pytest
from flask import jsonify

from tests.api_contract import UndocumentedAnswer, check
from tests.helpers import open_petition

PETITION = {
    "slug": "vote",
    "title": "Petition vote",
    "state": "open",
    "count": 0,
    "threshold": 3,
    "reached_at": None,
    "closes_at": "2099-12-31T18:00:00Z",
    "by_region": {"North": 2},
    "log": {"size": 1, "root_hash": "ab" * 32},
    "mail_delay_seconds": None,
    "name_reports": 0,
}


def body_of(value) -> bytes:
    """``value`` as a JSON body."""
    return json.dumps(value).encode()


def test_a_documented_answer_passes():
    check("GET", "/api/v1/petitions/vote", 200, "application/json", body_of(PETITION))
    error = {"error": "not_found", "message": "no petition"}
    check("GET", "/api/v1/petitions/nope", 404, "application/json", body_of(error))
    check("GET", "/api/v1/nowhere", 404, "application/json", body_of(error))
    check("POST", "/api/v1/petitions/vote", 405, "application/json", body_of(error))
    check("HEAD", "/api/v1/petitions/vote/count", 200, "application/json", b"")
    check("GET", "/api/v1/petitions/vote/evidence", 200, "application/x-ndjson", b"")


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        ({"title": None}, "None is not of type 'string'"),
        ({"count": -1}, "less than the minimum of 0"),
        ({"state": "draft"}, "'draft' is not one of"),
        ({"closes_at": "next tuesday"}, "is not a 'date-time'"),
        ({"log": {"size": 1, "root_hash": "not hex"}}, "does not match"),
        ({"secret": "hook"}, "Additional properties are not allowed"),
    ],
)
def test_a_wrong_body_is_caught(change, caught):
    with pytest.raises(UndocumentedAnswer, match=caught):
        check("GET", "/api/v1/petitions/vote", 200, "application/json", body_of(PETITION | change))


SIGNATURES = "/api/v1/petitions/vote/signatures"


def test_the_mail_delay_is_documented_as_whole_seconds():
    slow = PETITION | {"mail_delay_seconds": 600}
    check("GET", "/api/v1/petitions/vote", 200, "application/json", body_of(slow))
    check("POST", SIGNATURES, 202, "application/json", body_of({"status": "check_email"}))
    taken = {"status": "check_email", "mail_delay_seconds": 600}
    check("POST", SIGNATURES, 202, "application/json", body_of(taken))
    for wrong in (0, 1.5, "10 minutes"):
        with pytest.raises(UndocumentedAnswer):
            check(
                "GET",
                "/api/v1/petitions/vote",
                200,
                "application/json",
                body_of(PETITION | {"mail_delay_seconds": wrong}),
            )
    # Absent, never null, in the answer to a request to sign.
    for wrong in (None, 0):
        with pytest.raises(UndocumentedAnswer):
            check(
                "POST",
                SIGNATURES,
                202,
                "application/json",
                body_of(taken | {"mail_delay_seconds": wrong}),
            )


def test_a_missing_field_is_caught():
    answer = {key: value for key, value in PETITION.items() if key != "by_region"}
    with pytest.raises(UndocumentedAnswer, match="'by_region' is a required property"):
        check("GET", "/api/v1/petitions/vote", 200, "application/json", body_of(answer))


def test_an_undocumented_status_or_media_type_is_caught():
    error = body_of({"error": "teapot", "message": "short and stout"})
    with pytest.raises(UndocumentedAnswer, match="documents only 200, 400, 404, 503"):
        check("GET", "/api/v1/petitions/vote", 418, "application/json", error)
    with pytest.raises(UndocumentedAnswer, match="as text/html"):
        check("GET", "/api/v1/petitions/vote", 404, "text/html", b"<p>Not found</p>")
    with pytest.raises(UndocumentedAnswer, match="no such operation"):
        check("GET", "/api/v1/nowhere", 200, "application/json", body_of(PETITION))
    with pytest.raises(UndocumentedAnswer, match="no such operation"):
        check("DELETE", "/api/v1/petitions/vote", 200, "application/json", body_of(PETITION))


def test_the_test_client_checks_every_api_answer(app, client, monkeypatch):
    open_petition(app)
    assert client.get("/api/v1/petitions/vote").status_code == 200

    monkeypatch.setitem(app.view_functions, "api.petition", lambda slug: jsonify(slug=slug))
    with pytest.raises(UndocumentedAnswer, match="'title' is a required property"):
        client.get("/api/v1/petitions/vote")

    monkeypatch.setitem(app.view_functions, "api.petition", lambda slug: (jsonify(PETITION), 201))
    with pytest.raises(UndocumentedAnswer, match="answered 201"):
        client.get("/api/v1/petitions/vote")

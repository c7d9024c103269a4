"""Values at the edges of what a field can hold get a 400 with a message, never a 500: numbers
past the database's integers, lone surrogates, a page to return to longer than its column."""

import pytest

from tests.helpers import add_members, open_petition

HUGE = [2**31, 2**63, 2**64, 10**30]
LOG_PATHS = [
    "/api/v1/petitions/vote/log?start={n}",
    "/api/v1/petitions/vote/log?limit={n}",
    "/api/v1/petitions/vote/log/proof?index={n}&size=1",
    "/api/v1/petitions/vote/log/proof?index=0&size={n}",
    "/api/v1/petitions/vote/log/consistency?first={n}&second=1",
    "/api/v1/petitions/vote/log/consistency?first=1&second={n}",
]


@pytest.fixture
def vote(app):
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, "vote", threshold=5)


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize("path", LOG_PATHS)
def test_log_numbers_past_the_database_integers_are_a_400(client, vote, path, number):
    response = client.get(path.format(n=number))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_parameter"
    assert "whole number from" in body["message"]


def test_the_largest_stored_integer_is_still_a_fine_start(client, vote):
    response = client.get(f"/api/v1/petitions/vote/log?start={2**31 - 1}")
    assert response.status_code == 200
    assert response.get_json()["leaves"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/petitions/vote/signatures",
            '{"email": "m1@example.org", "member_id": "\\ud800"}',
        ),
        ("/api/v1/petitions/vote/signatures", '{"email": "m1\\udfff@example.org"}'),
        ("/api/v1/signatures/confirm", '{"token": "abc\\ud800"}'),
    ],
)
def test_a_lone_surrogate_is_a_400_with_a_message(client, vote, path, body):
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "lone surrogate" in response.get_json()["message"]


def test_a_page_to_return_to_longer_than_its_column_is_a_400(client):
    long_next = "/" + "a" * 2000
    posted = client.post("/sign-in", data={"email": "ann@example.org", "next": long_next})
    assert posted.status_code == 400
    assert "over 2000 characters long" in posted.get_data(as_text=True)
    assert client.get("/sign-in", query_string={"next": long_next}).status_code == 400
    fits = client.post("/sign-in", data={"email": "ann@example.org", "next": long_next[:2000]})
    assert fits.status_code == 303

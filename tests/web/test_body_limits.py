"""Bodies are bounded before they are read: 413 at once for a body declared too large, on any
URL; 400 for JSON nested too deeply."""

import io
import time

import pytest

from petitions.web.body_limits import JSON_MAX_BYTES, JSON_MAX_DEPTH, json_depth
from tests.helpers import add_members, open_petition

HUGE = 65 * 1024 * 1024


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer) -> int:
        raise AssertionError("the oversized body was read")


@pytest.fixture
def vote(app):
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, "vote", threshold=5)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/petitions/vote/signatures", "application/json"),
        ("/api/v1/signatures/confirm", "application/json"),
        ("/p/vote/sign", "application/x-www-form-urlencoded"),
        ("/sign-in", "application/x-www-form-urlencoded"),
        ("/no/such/page", "application/json"),
        ("/no/such/page", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_declared_too_large_is_a_413_unread(client, vote, path, content_type):
    started = time.monotonic()
    response = client.open(
        path,
        method="POST",
        content_type=content_type,
        environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(HUGE)},
    )
    assert response.status_code == 413
    assert time.monotonic() - started < 5
    if path.startswith("/api/"):
        assert response.get_json()["error"] == "request_entity_too_large"


def test_json_just_over_its_limit_is_refused_and_under_it_is_read(client, vote):
    filler = "x" * (JSON_MAX_BYTES - 40)
    under = client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    assert under.status_code == 202
    over = client.post(
        "/api/v1/petitions/vote/signatures",
        json={"email": "m1@example.org", "padding": filler + "x" * 100},
    )
    assert over.status_code == 413


def test_json_nested_too_deeply_is_a_400(client, vote):
    deep = "[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1)
    response = client.post(
        "/api/v1/petitions/vote/signatures", data=deep, content_type="application/json"
    )
    assert response.status_code == 400
    assert f"nested deeper than the {JSON_MAX_DEPTH} levels" in response.get_json()["message"]
    # Far deeper than Python's parser could follow: still a 400, never a 500.
    deepest = "[" * 200_000
    response = client.post(
        "/api/v1/signatures/confirm", data=deepest, content_type="application/json"
    )
    assert response.status_code in (400, 413)


def test_json_within_the_depth_is_answered_as_usual(client, vote):
    nested = "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH
    response = client.post(
        "/api/v1/petitions/vote/signatures", data=nested, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[[["}', 1),
        (b'{"a": "\\"[[[["}', 1),
        (b'["\\\\", [[]]]', 3),
        (b"42", 0),
    ],
)
def test_json_depth_counts_brackets_outside_strings(text, depth):
    assert json_depth(text) == depth

"""Every signed-in route checks the role, for each role and for anonymous visitors, and every
form is CSRF-protected. The routes are found from the app itself, so a new route without a role
check fails here."""

import re

import pytest

from tests import walk
from tests.helpers import add_members, open_petition, sign_in

# Blueprints whose routes are for signed-in people.
SIGNED_IN_BLUEPRINTS = {"organiser", "dashboard", "signatures", "invitations", "roll", "scrutiny"}
# Routes in those blueprints meant for anyone (a member's opt-out link, say).
PUBLIC_ENDPOINTS = {"invitations.opt_out", "invitations.opt_out_done"}


def _signed_in_routes(app):
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0]
        if blueprint in SIGNED_IN_BLUEPRINTS or rule.endpoint == "auth.home":
            if rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _url(rule) -> str:
    def fill(match):
        converter, name = match.group(1), match.group(2)
        if name == "slug":
            return "vote"
        return "1" if converter in ("int", "int:") else "x"

    return re.sub(r"<(?:(\w+):)?(\w+)>", fill, rule.rule)


@pytest.fixture
def arranged(app):
    add_members(app, ("1", "a@example.org"))
    open_petition(app, "vote")
    return app


def test_every_signed_in_route_declares_its_roles(arranged):
    missing = [
        rule.endpoint
        for rule, _method in _signed_in_routes(arranged)
        if not getattr(arranged.view_functions[rule.endpoint], "allowed_roles", None)
    ]
    assert missing == []


def test_anonymous_visitors_are_sent_to_sign_in(arranged):
    client = arranged.test_client()
    for rule, method in _signed_in_routes(arranged):
        response = client.open(_url(rule), method=method)
        assert response.status_code == 302, (method, rule.rule)
        assert response.headers["Location"].startswith("/sign-in?next="), rule.rule
        api = client.open(_url(rule), method=method, headers={"Accept": "application/json"})
        assert api.status_code == 401, (method, rule.rule)


@pytest.mark.parametrize("role", ["organiser", "scrutineer"])
def test_each_role_reaches_exactly_its_routes(arranged, role):
    client = arranged.test_client()
    sign_in(arranged, client, f"{role}@example.org", role)
    for rule, method in _signed_in_routes(arranged):
        allowed = arranged.view_functions[rule.endpoint].allowed_roles
        response = client.open(_url(rule), method=method)
        if role in allowed:
            assert response.status_code != 403, (method, rule.rule)
            location = response.headers.get("Location", "")
            assert not location.startswith("/sign-in"), (method, rule.rule)
            assert response.status_code < 500, (method, rule.rule, response.status_code)
        else:
            assert response.status_code == 403, (method, rule.rule)


def test_every_form_post_needs_the_csrf_token(arranged):
    arranged.config["WTF_CSRF_ENABLED"] = True
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    posts = [rule for rule, method in _signed_in_routes(arranged) if method == "POST"]
    for rule in posts:
        response = client.post(_url(rule), data={})
        assert response.status_code == 400, rule.rule
        assert b"CSRF" in response.data, rule.rule
    for path in ("/sign-out", "/sign-in", "/sign-in/link"):
        assert client.post(path, data={}).status_code == 400, path


def test_a_scrutineer_is_offered_no_link_or_form_that_answers_403(app):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "scrutineer@example.org", "scrutineer")
    adapter = arranged.url_map.bind("localhost")

    get = walk.getter(client)

    pages = list(walk.walk(get, ("/organiser/", "/scrutiny/")))
    visited = {path.split("?")[0] for path, *_ in pages}
    assert {"/organiser/", "/scrutiny/", f"/organiser/p/{walk.REACHED}"} <= visited
    assert f"/organiser/p/{walk.REACHED}/signatures" in visited
    assert f"/scrutiny/p/{walk.REACHED}" in visited
    forbidden = [path for path, status, *_ in pages if status == 403]
    assert forbidden == []
    # Forms are not sent (one would reveal a key): their target must let the role in.
    for path, _status, _body, forms in pages:
        for method, action in forms:
            endpoint, _args = adapter.match(action.split("?")[0], method=method)
            roles = getattr(arranged.view_functions[endpoint], "allowed_roles", None)
            assert roles is None or "scrutineer" in roles, (path, method, action)

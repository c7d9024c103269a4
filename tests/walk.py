"""A service with something on every page, and a walk over every page a signed-in account
reaches by following the links it is shown, for the tests that look at every page."""

import io
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from sqlalchemy import select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member, Petition
from petitions.lifecycle import actions
from petitions.roll.importer import import_roll
from petitions.signatures import invalidation, signing, tokens
from tests.helpers import open_petition, petition

ROLL = (
    "member_id,email,name,region,status\n"
    + "".join(
        f"M{n:03d},m{n}@example.org,Member {n},{('North', 'South', 'East')[n % 3]},active\n"
        for n in range(1, 41)
    )
    + "M900,not-an-address,Broken Row,North,active\n"
)
# The petitions arranged: one past its threshold, one closed below it, one still short of it.
REACHED = "fair-pay"
CLOSED = "old-rota"
OPEN = "new-canteen"
SLUGS = (REACHED, CLOSED, OPEN)
TITLES = {
    REACHED: "Fair pay for all staff",
    CLOSED: "Keep the old rota",
    OPEN: "A canteen in every office",
}
# Where a walk of every page starts: the public, organiser, scrutiny and development pages.
STARTS = (
    "/",
    "/organiser/",
    "/scrutiny/",
    "/dev/mail",
    "/dev/webhooks",
    *(f"/p/{slug}/results" for slug in SLUGS),
)
# Where a walk never goes: it would end the session it walks with.
NEVER = ("/sign-out",)


def _sign(app, slug: str, members: list[int]) -> None:
    for member_id in members:
        token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app, slug).id, member_id)
        confirmed = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
        assert confirmed.status == "confirmed"


def arrange(app):
    """A roll with a rejected row; a petition past its threshold with one signature
    invalidated, a closed petition below its threshold, and an open one short of it."""
    engine = flask_db.engine_of(app)
    import_roll(engine, io.BytesIO(ROLL.encode()), "roll.csv")
    with Session(engine) as session:
        members = list(session.scalars(select(Member.id).order_by(Member.id)))
    open_petition(app, REACHED, threshold=5)
    _sign(app, REACHED, members[:8])
    invalidation.invalidate(
        engine, settings_of(app), REACHED, [2], "duplicate_person", "organiser@example.org", ""
    )
    open_petition(app, CLOSED, threshold=30)
    _sign(app, CLOSED, members[10:13])
    actions.close_petition(engine, "organiser@example.org", CLOSED)
    open_petition(app, OPEN, threshold=30)
    _sign(app, OPEN, members[20:22])
    with Session(engine) as session:
        for found in session.scalars(select(Petition)):
            found.title = TITLES[found.slug]
            session.add(found)
        session.commit()
    return app


class _Links(HTMLParser):
    """The links (a href) and forms (method, action) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "form":
            self.forms.append(
                ((attributes.get("method") or "get").upper(), attributes.get("action") or "")
            )


def links_and_forms(html: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The hrefs and the (method, action) of the forms in ``html``."""
    parser = _Links()
    parser.feed(html)
    return parser.links, parser.forms


def _own(url: str, page: str) -> str | None:
    """``url`` (found on ``page``) as a path of this service, or None for elsewhere."""
    absolute = urljoin("http://service" + page, url)
    parts = urlsplit(absolute)
    if parts.netloc != "service" or parts.path.startswith("/static/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def getter(client) -> Callable[[str], tuple[int, str, str]]:
    """What walk() reads pages with: ``client`` (a Flask test client), each answer closed."""

    def get(path: str) -> tuple[int, str, str]:
        with client.get(path) as response:
            return response.status_code, response.content_type, response.get_data(as_text=True)

    return get


def walk(
    get: Callable[[str], tuple[int, str, str]], starts: tuple[str, ...], limit: int = 200
) -> Iterator[tuple[str, int, str, list[tuple[str, str]]]]:
    """Follow every link from ``starts``, each page once (``get(path)`` answers its status,
    content type and body): yields each page's path, status, body, and its forms' (method,
    path) found on it. Pages with a query (a filter, a page of a list) are followed once per
    path, so that lists of many pages end."""
    seen_paths: set[str] = set()
    queue = list(starts)
    while queue and len(seen_paths) < limit:
        path = queue.pop(0)
        bare = path.split("?", 1)[0]
        if bare in seen_paths or bare.startswith(NEVER):
            continue
        seen_paths.add(bare)
        status, content_type, body = get(path)
        forms: list[tuple[str, str]] = []
        if status == 200 and content_type.startswith("text/html"):
            hrefs, raw_forms = links_and_forms(body)
            for href in hrefs:
                own = _own(href, path)
                if own is not None and not own.startswith("#"):
                    queue.append(own)
            for method, action in raw_forms:
                own = _own(action or path, path)
                if own is not None:
                    forms.append((method, own))
                    if method == "GET":
                        queue.append(own)
        yield path, status, body, forms


# What must never be shown as text: a moment in ISO 8601, or a code in snake_case or as an
# audit action (petition.open).
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
SNAKE_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
DOTTED_CODE = re.compile(
    r"\b(?:petition|signature|log|roll|invitations|webhook|user)\.(?!(?:csv|jsonl?|txt)\b)[a-z_]+\b"
)


def codes_in(text: str, slugs: tuple[str, ...] = SLUGS) -> list[str]:
    """The ISO moments, codes and bare slugs (not part of an address or a file name) in
    ``text``, a page's visible text."""
    found = ISO_MOMENT.findall(text) + SNAKE_CODE.findall(text) + DOTTED_CODE.findall(text)
    for slug in slugs:
        found += re.findall(rf"(?<![\w/.-]){re.escape(slug)}(?![\w/.-])", text)
    return found

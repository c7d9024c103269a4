"""The petition a web address names, or the 404 answer when there is none."""

from flask import abort
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.engine import reader
from petitions.db.models import Petition
from petitions.lifecycle import rules
from petitions.web.errors import json_error, wants_json


def petition_or_404(
    slug: str,
    *,
    drafts: bool = False,
    session: Session | None = None,
    as_json: bool | None = None,
) -> Petition:
    """The petition ``slug``, or a 404. Drafts are not published: they are found only with
    ``drafts`` (the signed-in pages).

    Read in ``session`` when one is given, otherwise in a short session of its own that is
    closed before this returns: on SQLite an open transaction holds the lock that a view's own
    transaction (signing, an organiser's change) then waits for. The 404 is the API's JSON
    error under /api or when the request wants JSON (``as_json`` decides instead, for a JSON
    endpoint elsewhere), and the error page otherwise.
    """
    find = rules.find_petition if drafts else rules.find_published
    if session is None:
        with Session(reader(flask_db.engine()), expire_on_commit=False) as own:
            found = find(own, slug)
    else:
        found = find(session, slug)
    if found is None:
        if wants_json() if as_json is None else as_json:
            abort(json_error(404, "not_found", f"no petition with slug {slug!r}"))
        abort(404, description="There is no petition at this address.")
    return found

"""Who is signed in, and the role check every organiser and scrutineer route makes.

The browser's session cookie (Flask's, signed, HttpOnly, SameSite=Lax, Secure over https) holds
only a random session token; petitions.accounts.users decides whether it still names a live session.
"""

import functools
from collections.abc import Callable

from flask import Flask, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from werkzeug.exceptions import Forbidden

from petitions.accounts import sessions
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import reader
from petitions.db.models import Role, UserAccount
from petitions.web.errors import json_error, wants_json

SESSION_KEY = "sid"
# What each role may do: an organiser runs petitions and may read everything a scrutineer
# reads; a scrutineer only reads.
READERS = (Role.ORGANISER, Role.SCRUTINEER)
ORGANISERS = (Role.ORGANISER,)


def current_user() -> UserAccount | None:
    """The signed-in account of this request, or None."""
    if "current_user" not in g:
        # Anonymous until the lookup succeeds: if the database fails it, the error page is
        # rendered for an anonymous visitor instead of trying the same lookup again.
        g.current_user = None
        g.current_user = _load_user()
    return g.current_user


def _load_user() -> UserAccount | None:
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    # Sessions of their own, closed at once: the request's own session must not hold a
    # transaction (on SQLite, the write lock) while the view opens others. The lookup only
    # reads, so on SQLite it goes on during a long write (a roll import's progress is watched
    # by signed-in organisers).
    with Session(reader(flask_db.engine()), expire_on_commit=False) as db:
        account, upkeep = sessions.session_user(db, settings_of(current_app), token)
    if upkeep is not None:
        _apply(upkeep)
    if account is None:
        session.pop(SESSION_KEY, None)
    return account


def _apply(upkeep: sessions.Upkeep) -> None:
    try:
        with Session(flask_db.engine()) as db:
            sessions.apply_upkeep(db, upkeep)
            db.commit()
    except OperationalError:
        # Bookkeeping only (the session's times are checked on every request whatever is
        # written): a database too busy to take it now gets it on a later request.
        current_app.logger.warning(
            "session %s: could not %s it now", upkeep.session_id, upkeep.action
        )


def sign_in(token: str) -> None:
    """Keep the new session ``token`` in a fresh cookie (nothing of the old one carries over)."""
    session.clear()
    session[SESSION_KEY] = token
    g.pop("current_user", None)


def sign_out() -> None:
    """End this browser's session, here and in the database."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        with Session(flask_db.engine()) as db:
            sessions.end_session(db, token)
            db.commit()
    session.clear()
    g.current_user = None


def require_role(*roles: str) -> Callable:
    """Decorate a view so that only a signed-in account with one of ``roles`` reaches it.

    Anonymous: people are sent to sign in (and back afterwards), the API gets 401. A signed-in
    account without the role gets 403.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def checked(*args, **kwargs):
            user = current_user()
            if user is None:
                if wants_json():
                    return json_error(401, "sign_in_required", "sign in to see this")
                return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                raise Forbidden(description="Your account's role does not allow this.")
            return view(*args, **kwargs)

        checked.allowed_roles = roles
        return checked

    return decorate


def may_visit(endpoint: str) -> bool:
    """Whether the signed-in account's role lets it reach ``endpoint``: pages offer only the
    links and buttons that would not answer 403."""
    roles = getattr(current_app.view_functions.get(endpoint), "allowed_roles", None)
    if roles is None:
        return True
    user = current_user()
    return user is not None and user.role in roles


def actor() -> str:
    """The signed-in person as the audit trail names them."""
    user = current_user()
    return user.email if user else "anonymous"


def _load_before_view() -> None:
    # Before the view, so that a view holding its own transaction open (on SQLite, the write
    # lock) never waits on this lookup when the template asks who is signed in. Stylesheets
    # and scripts render no template: they cost no lookup.
    if request.endpoint != "static":
        current_user()


def init_app(app: Flask) -> None:
    """Know who is signed in before every view runs, and tell every template (with
    ``may_visit``, which pages the account's role reaches)."""
    app.before_request(_load_before_view)
    app.context_processor(lambda: {"current_user": current_user()})
    app.add_template_global(may_visit, "may_visit")

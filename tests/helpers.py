"""Arranging members and petitions, and reading the mail the service sent, for tests."""

import re

from sqlmodel import Session, select

from petitions import config
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Mail, Member, Petition
from petitions.lifecycle import rules
from petitions.roll.addresses import matching_key

LINK = re.compile(r"^(http://\S+/p/[a-z0-9-]+/confirm\?token=\S+)$", re.MULTILINE)


def add_members(app, *members: tuple) -> None:
    """Add members given as (member_id, email[, status[, region]])."""
    with Session(flask_db.engine_of(app)) as session:
        for member_id, email, *rest in members:
            status = rest[0] if rest else "active"
            region = rest[1] if len(rest) > 1 else None
            session.add(
                Member(
                    number=member_id,
                    email=email,
                    email_key=matching_key(email),
                    status=status,
                    region=region,
                )
            )
        session.commit()


def open_petition(app, slug: str = "vote", threshold: int = 3, **fields) -> None:
    """Create and open a petition with an absolute threshold."""
    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(
            session, slug=slug, title=f"Petition {slug}", threshold=threshold, **fields
        )
        rules.open_petition(session, slug)
        session.commit()


def petition(app, slug: str = "vote") -> Petition:
    """The petition as stored now."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.exec(select(Petition).where(Petition.slug == slug)).one()


def sent_mail(app, to: str | None = None) -> list[Mail]:
    """Mail rows, oldest first, optionally only those to ``to``."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        query = select(Mail).order_by(Mail.id)
        if to is not None:
            query = query.where(Mail.to_address == to)
        return list(session.exec(query))


def link_in(text: str) -> str:
    """The confirmation link, which stands on a line of its own."""
    match = LINK.search(text)
    assert match, f"no confirmation link on a line of its own in:\n{text}"
    return match.group(1)


def token_of(link: str) -> str:
    """The token part of a confirmation link."""
    return link.split("token=", 1)[1]


def sign_in(app, client, email: str = "organiser@example.org", role: str = "organiser"):
    """Give ``email`` an account with ``role`` and sign ``client`` in as it (without the mail
    round trip, which tests/accounts/test_users.py covers)."""
    from petitions.accounts import sessions, users
    from petitions.web import auth

    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        account, _new = users.add_user(session, email, role)
        token = sessions.start_session(session, account)
        session.commit()
    with client.session_transaction() as browser:
        browser[auth.SESSION_KEY] = token
    return account


SIGN_IN_LINK = re.compile(r"^(http://\S+/sign-in/link\?token=(\S+))$", re.MULTILINE)


def sign_in_link_in(text: str) -> str:
    """The sign-in link's token in a sign-in mail."""
    match = SIGN_IN_LINK.search(text)
    assert match, f"no sign-in link on a line of its own in:\n{text}"
    return match.group(2)


def configure(app, **changes) -> None:
    """Change ``app``'s settings (by field name) from here on, as if it had started with them."""
    config.keep(app, settings_of(app).replace(**changes))

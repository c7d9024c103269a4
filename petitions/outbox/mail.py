"""E-mail: composing each message when it is decided on, and sending it by SMTP or into the
development mailbox. Only worker jobs send; no web request talks SMTP.

No live link at rest: a link that would sign or sign in is not stored. A mail row's bodies hold
a placeholder (an address under the reserved .invalid domain) where each link goes, and
``Mail.links`` what each link is made from; send_batch() makes the links, with the makers the caller
gives, only for the message that leaves. The development mailbox, which is the database, gets
the finished bodies.
"""

import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import bindparam, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import Mail
from petitions.organisation import Organisation
from petitions.outbox import smtp
from petitions.outbox.messages import MessageMaker
from petitions.text import one_line

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"


class MailPurpose(StrEnum):
    """What a mail is for, as ``Mail.purpose`` stores it. The first six are also what a request
    to sign came to (its ``outcome``), ``manage_link`` and ``not_signed`` what a request for
    the link to withdraw came to, ``name_used`` and ``name_not_used`` what a name check came to,
    and ``already_mailed`` a request answered by a link mailed earlier
    (petitions.signatures.mail_limits); of those only ``confirm_link``, ``manage_link`` and the
    name check's answers are ever mailed (README, "Security"), so only mailed purposes have a
    template and a subject."""

    CONFIRM_LINK = "confirm_link"
    HOUSEHOLD_NEEDS_NUMBER = "household_needs_number"
    WRONG_NUMBER = "wrong_number"
    NOT_IN_GOOD_STANDING = "not_in_good_standing"
    ALREADY_SIGNED = "already_signed"
    PETITION_CLOSED = "petition_closed"
    # A member in good standing who is not on the roll committed for the petition.
    NOT_ON_COMMITTED_ROLL = "not_on_committed_roll"
    SIGN_IN = "sign_in"
    INVITATION = "invitation"
    DATA_EXPORT = "data_export"
    # A request for the link to withdraw a signature: mailed only to a member who has signed.
    MANAGE_LINK = "manage_link"
    NOT_SIGNED = "not_signed"
    # The mailbox's link limit was used up and it holds a working link for the request already.
    ALREADY_MAILED = "already_mailed"
    # A request to erase one's data: the link to the page that erases it.
    ERASURE_LINK = "erasure_link"
    # "Was my name used?": the answer to a member on the roll (a signature in their name, or
    # none), and the report of one they did not make, to every scrutineer.
    NAME_USED = "name_used"
    NAME_NOT_USED = "name_not_used"
    NAME_REPORTED = "name_reported"


SUBJECTS = {
    MailPurpose.CONFIRM_LINK: "Confirm your signature: {title}",
    MailPurpose.SIGN_IN: "Your sign-in link for {organisation}",
    MailPurpose.INVITATION: "You are invited to sign: {title}",
    MailPurpose.DATA_EXPORT: "The data {organisation} holds about you",
    MailPurpose.MANAGE_LINK: "Your signature: {title}",
    MailPurpose.ERASURE_LINK: "Erasing the data {organisation} holds about you",
    MailPurpose.NAME_USED: "A signature in your name: {title}",
    MailPurpose.NAME_NOT_USED: "No signature in your name: {title}",
    MailPurpose.NAME_REPORTED: "A member reports a signature they did not make: {title}",
}
# The button's colour in the HTML part without ORG_PRIMARY_COLOUR (white text on it: 7.8:1).
DEFAULT_BUTTON_COLOUR = "#0b5394"
# Mail.transport of a mail that can never be sent.
FAILED = "failed"
log = logging.getLogger(__name__)
_URL = re.compile(r"https?://[^\s<>\"]+")


def linkify_filter(text: str, breaks: bool = True) -> Markup:
    """Escape ``text`` and make its web addresses links; with ``breaks``, its line breaks <br>
    (not wanted inside <pre>)."""
    escaped = str(escape(text))
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return Markup(linked.replace("\n", "<br>\n") if breaks else linked)  # noqa: S704 - escaped above


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_env.filters["linkify"] = linkify_filter


# What a link is made from (JSON-ready, with its "kind"), and the makers by kind.
LinkSpec = dict[str, Any]
LinkMakers = Mapping[str, Callable[[Settings, LinkSpec], str]]
PLACEHOLDER = "https://link-made-when-sent.invalid/"


def placeholder(name: str) -> str:
    """What a mail's bodies hold, at rest, where the link ``name`` goes."""
    return f"{PLACEHOLDER}{name}"


def compose(
    purpose: MailPurpose,
    to_address: str,
    context: Mapping,
    petition_id: int | None,
    links: Mapping[str, LinkSpec] | None = None,
    *,
    organisation: Organisation,
) -> Mail:
    """A Mail row for ``purpose`` to ``to_address``, with its text and HTML parts rendered.

    ``links`` names each link the templates show (``link``, ``opt_out_link`` ...) and what it
    is made from; the row keeps a placeholder for each, and send() makes them. The text part
    carries any link on a line of its own, so that every mail reader shows it whole and a
    program can find it. Every mail is signed with ``organisation``'s name and contact.
    """
    links = dict(links or {})
    context = {
        **context,
        **{name: placeholder(name) for name in links},
        "organisation": organisation,
    }
    petition = context.get("petition")
    # A title stored before titles were checked may still hold a line break: a header gets it
    # as a space, never as a break that would make the mail impossible to send.
    subject = one_line(
        SUBJECTS[purpose].format(
            title=petition.title if petition else "", organisation=organisation.name
        )
    )
    text = _env.get_template(f"{purpose}.txt").render(**context)
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    html = _env.get_template("base.html").render(
        subject=subject,
        paragraphs=paragraphs,
        link=context.get("link"),
        button=context.get("button") or "Confirm my signature",
        colour=organisation.primary_colour or DEFAULT_BUTTON_COLOUR,
    )
    return Mail(
        to_address=to_address,
        subject=subject,
        text_body=text,
        html_body=html,
        purpose=purpose,
        petition_id=petition_id,
        links=json.dumps(links, sort_keys=True) if links else None,
    )


def with_links(mail: Mail, settings: Settings, makers: LinkMakers) -> tuple[str, str]:
    """The mail's text and HTML bodies with every link made (for the message that leaves)."""
    text, html = mail.text_body, mail.html_body
    links = json.loads(mail.links or "{}")
    # Longest names first: a name that begins another ("link", "link_2") must not cut into it.
    for name in sorted(links, key=len, reverse=True):
        spec = links[name]
        url = makers[spec["kind"]](settings, spec)
        text = text.replace(placeholder(name), url)
        html = html.replace(placeholder(name), str(escape(url)))
    return text, html


def sender(settings: Settings) -> str:
    """The From header: MAIL_FROM, under the organisation's name unless MAIL_FROM names one."""
    name, address = parseaddr(settings.mail_from)
    return formataddr((name or settings.org_name, address or settings.mail_from))


def _print_to_console(message: EmailMessage) -> None:
    text = message.get_body(("plain",)).get_content()
    print(
        f"--- mail to {message['To']}: {message['Subject']}\n{text}--- end of mail",
        file=sys.stderr,
        flush=True,
    )


def send_batch(
    engine: Engine, settings: Settings, mail_ids: list[int], makers: LinkMakers
) -> dict[int, str]:
    """Send the claimed mails ``mail_ids`` (over SMTP when SMTP_URL is set, on one kept
    connection; else into the dev mailbox), their links made by ``makers`` now; return the
    mails to try again, with why.

    Each mail is marked sent the moment the server has taken it, so that a worker killed
    mid-batch leaves at most the one mail it was sending to go again, not every mail the batch
    sent before it (README, "Jobs and the outbox"). A mail the server refuses for good, or that
    cannot be made at all, is marked failed with the reason and not tried again. When the
    server cannot be reached, the rest of the batch waits for its next try rather than each
    mail waiting for a timeout in turn.
    """
    spent = Counter()
    unmarked: dict[int, tuple[str, str]] = {}
    failed: dict[int, str] = {}
    retry: dict[int, str] = {}
    smtp_url = settings.smtp_url
    transport = "smtp" if smtp_url else "dev"
    messages = MessageMaker(sender(settings))
    with Session(engine) as session:
        mails = session.scalars(
            select(Mail).where(Mail.id.in_(mail_ids), Mail.done_at.is_(None)).order_by(Mail.id)
        ).all()
        session.expunge_all()
    sent = 0
    with _marking(engine) as marking:
        for mail in mails:
            if retry:
                retry[mail.id] = next(iter(retry.values()))
                continue
            started = time.perf_counter()
            try:
                text, html = with_links(mail, settings, makers)
                message = messages.make(
                    mail.id, mail.to_address, one_line(mail.subject), text, html
                )
            except Exception as exc:
                # Making the message from the same row fails the same way every time: retrying
                # would only fail again, for ever. It is marked failed, with why, for organisers.
                failed[mail.id] = f"cannot be composed: {type(exc).__name__}: {exc}"
                continue
            finally:
                spent["render"] += time.perf_counter() - started
            started = time.perf_counter()
            try:
                if smtp_url:
                    smtp.connection(smtp_url).send(message)
                else:
                    _print_to_console(message)
            except smtp.Refused as exc:
                failed[mail.id] = f"refused by the mail server: {exc}"
                continue
            except Exception as exc:
                retry[mail.id] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                spent["send"] += time.perf_counter() - started
            sent += 1
            started = time.perf_counter()
            if not _mark_sent(marking, mail.id, transport, text, html):
                unmarked[mail.id] = (text, html)
            spent["record"] += time.perf_counter() - started
    started = time.perf_counter()
    _record(engine, unmarked, failed, transport)
    spent["record"] += time.perf_counter() - started
    # One line a batch: where the time goes (bench/sign.py adds these up).
    log.info(
        "mail batch: %d sent, %d failed, %d to try again; render %.1f ms, send %.1f ms, "
        "record %.1f ms",
        sent,
        len(failed),
        len(retry),
        spent["render"] * 1000,
        spent["send"] * 1000,
        spent["record"] * 1000,
    )
    return retry


@contextmanager
def _marking(engine: Engine) -> Iterator[Connection]:
    """A connection on which each statement commits on its own.

    On PostgreSQL those commits do not wait for the disk (synchronous_commit off, for this
    connection's marks only): a worker that dies still leaves them committed, and only a crash
    of the database server itself could lose the last few, whose mails would then go again,
    as any mail may (at least once). Waiting for the disk once per mail would cost more than
    sending it.
    """
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        marking = connection.execution_options(isolation_level="AUTOCOMMIT")
        if postgres:
            marking.execute(sql_text("SET synchronous_commit = off"))
        try:
            yield marking
        finally:
            # The pooled connection goes back as it came: the next user's commits wait again.
            if postgres:
                try:
                    marking.execute(sql_text("RESET synchronous_commit"))
                except DBAPIError:
                    marking.invalidate()


# Built once, for every mail that leaves; the columns it sets are the keys it is given.
_MARK = update(Mail.__table__).where(Mail.__table__.c.id == bindparam("mail_id"))


def _mark_sent(marking: Connection, mail_id: int, transport: str, text: str, html: str) -> bool:
    """Mark one mail sent; False when the database could not be told (the batch's final
    record tries again)."""
    values = {"done_at": utcnow(), "transport": transport, "leased_until": None, "last_error": None}
    if transport == "dev":
        # The development mailbox is this database: its page shows the links to click.
        values.update(text_body=text, html_body=html)
    try:
        marking.execute(_MARK, {"mail_id": mail_id, **values})
        marking.commit()
        return True
    except DBAPIError as exc:
        log.warning("mail %d was sent but could not be marked yet: %s", mail_id, exc.orig)
        marking.rollback()
        return False


def _record(
    engine: Engine, sent: dict[int, tuple[str, str]], failed: dict[int, str], transport: str
) -> None:
    """Mark the sent mails done and the failed ones failed, in one commit."""
    if not sent and not failed:
        return
    for mail_id, reason in failed.items():
        log.warning("mail %d cannot be sent: %s", mail_id, reason)
    now = utcnow()
    with Session(engine) as session, session.begin():
        if sent:
            session.execute(
                update(Mail)
                .where(Mail.id.in_(list(sent)))
                .values(done_at=now, transport=transport, leased_until=None, last_error=None)
            )
        if transport == "dev":
            for mail_id, (text, html) in sent.items():
                session.execute(
                    update(Mail).where(Mail.id == mail_id).values(text_body=text, html_body=html)
                )
        for mail_id, reason in failed.items():
            session.execute(
                update(Mail)
                .where(Mail.id == mail_id)
                .values(done_at=now, transport=FAILED, leased_until=None, last_error=reason[:2000])
            )

"""The petition rules: creating a petition, editing it while it is a draft, opening it (which
freezes its threshold), closing it, and the state it is really in once its closing time has
passed.

States: ``draft`` (being prepared, not public), ``open`` (collecting signatures), ``triggered``
(the threshold was met and the vote fired; signing goes on), ``closed`` (signing has stopped).

Every function here works inside the caller's transaction: it changes rows and flushes, and the
caller commits. Every refusal raises :class:`PetitionError` with a one-line message.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from urllib.parse import urlsplit

from sqlalchemy import bindparam, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from petitions import webhook_targets
from petitions.db.engine import utcnow
from petitions.db.models import Member, MemberStatus, Petition, PetitionState
from petitions.lifecycle import slugs
from petitions.text import breaks_lines

SLUG_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
TITLE_MAX = 200
BODY_MAX = 50_000
WEBHOOK_URL_MAX = 2000
# The threshold columns are 32-bit integers in PostgreSQL.
THRESHOLD_MAX = 2_147_483_647
# threshold_percent is NUMERIC(6, 3): more places would be rounded silently by PostgreSQL.
PERCENT_PLACES = 3

LIVE_STATES = (PetitionState.OPEN, PetitionState.TRIGGERED)


class PetitionError(Exception):
    """A petition rule refused an action; the message is one line, fit to show as it is.

    ``field`` names the petition field at fault when there is one (``slug``, ``title``, ...), so
    that a form can show the message beside that field.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class WebhookTargetError(PetitionError):
    """A webhook URL names or resolves to an address a webhook may not reach (see
    petitions.webhook_targets); the message says which address and why."""

    def __init__(self, message: str):
        super().__init__(message, "webhook_url")


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is 1-64 lowercase letters, digits or hyphens; raise otherwise."""
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug):
        raise PetitionError(
            f"slug {slug!r} is not valid: use 1-64 lowercase letters, digits and hyphens", "slug"
        )
    return slug


def _validate_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise PetitionError("title must not be empty", "title")
    if len(title) > TITLE_MAX:
        raise PetitionError(
            f"title is {len(title)} characters long; the limit is {TITLE_MAX}", "title"
        )
    if breaks_lines(title):
        raise PetitionError(
            "title must be a single line, without line breaks (U+2028, U+2029 and U+0085 "
            "included) or control characters",
            "title",
        )
    return title


def _validate_body(body: str | None) -> str:
    # Line endings are made uniform so the page can split paragraphs on blank lines.
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(body) > BODY_MAX:
        raise PetitionError(f"text is {len(body)} characters long; the limit is {BODY_MAX}", "body")
    if "\x00" in body:
        raise PetitionError("text must not contain NUL characters", "body")
    return body


def _validate_absolute(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise PetitionError(f"threshold must be a whole number, got {threshold!r}", "threshold")
    if threshold < 1:
        raise PetitionError(f"threshold must be at least 1, got {threshold}", "threshold")
    if threshold > THRESHOLD_MAX:
        raise PetitionError(
            f"threshold must be at most {THRESHOLD_MAX:,}, got {threshold:,}", "threshold"
        )
    return threshold


def _validate_percent(percent: float | Decimal | str) -> Decimal:
    try:
        value = Decimal(str(percent))
    except InvalidOperation:
        raise PetitionError(
            f"threshold percentage must be a number, got {percent!r}", "threshold_percent"
        ) from None
    if not value.is_finite() or not 0 < value <= 100:
        raise PetitionError(
            f"threshold percentage must be greater than 0 and at most 100, got {percent}",
            "threshold_percent",
        )
    if value.as_tuple().exponent < -PERCENT_PLACES:
        raise PetitionError(
            f"threshold percentage may have at most {PERCENT_PLACES} decimal places, got {percent}",
            "threshold_percent",
        )
    return value


def _validate_closes_at(closes_at: datetime | None, now: datetime) -> datetime | None:
    if closes_at is None:
        return None
    if closes_at.tzinfo is None or closes_at.utcoffset() is None:
        raise PetitionError("closing time must include a timezone", "closes_at")
    if closes_at <= now:
        raise PetitionError(f"closing time {iso_utc(closes_at)} is not in the future", "closes_at")
    return closes_at


def _validate_webhook_url(
    url: str | None, allowed: tuple[webhook_targets.Network, ...] = ()
) -> str | None:
    """``url`` checked as a petition's webhook URL may be: well formed, and reaching only public
    addresses or those in the ``allowed`` networks (WEBHOOK_ALLOWED_NETWORKS). Its name is
    resolved here, so the caller should not hold a row lock."""
    if url is None:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise PetitionError(f"webhook URL {url!r} is not a valid URL", "webhook_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PetitionError(
            f"webhook URL must be an http:// or https:// URL, got {url!r}", "webhook_url"
        )
    if len(url) > WEBHOOK_URL_MAX or any(ch.isspace() for ch in url):
        raise PetitionError(
            "webhook URL must be at most 2000 characters without spaces", "webhook_url"
        )
    # A NUL or other control character would be refused by the database, not by a rule.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise PetitionError("webhook URL must not contain control characters", "webhook_url")
    try:
        webhook_targets.check_url(url, allowed)
    except webhook_targets.TargetRefused as exc:
        raise WebhookTargetError(str(exc)) from None
    return url


# More witnesses than this cannot be configured sensibly; the number only guards against typos.
MAX_WITNESSES_REQUIRED = 16


def _validate_witnesses_required(value) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PetitionError(
            "witnesses required must be a whole number", "witnesses_required"
        ) from None
    if isinstance(value, float | bool) or not 0 <= number <= MAX_WITNESSES_REQUIRED:
        raise PetitionError(
            f"witnesses required must be a whole number from 0 to {MAX_WITNESSES_REQUIRED}",
            "witnesses_required",
        )
    return number


# What each field of a petition is checked by; create_petition and update_draft apply the same.
_FIELD_RULES = {
    "slug": lambda value, now, allowed: validate_slug(value),
    "title": lambda value, now, allowed: _validate_title(value),
    "body": lambda value, now, allowed: _validate_body(value),
    "threshold": lambda value, now, allowed: _validate_absolute(value),
    "threshold_percent": lambda value, now, allowed: _validate_percent(value),
    "closes_at": lambda value, now, allowed: _validate_closes_at(value, now),
    "webhook_url": lambda value, now, allowed: _validate_webhook_url(value, allowed),
    "witnesses_required": lambda value, now, allowed: _validate_witnesses_required(value),
}
EDITABLE_FIELDS = (
    "title",
    "body",
    "threshold",
    "threshold_percent",
    "closes_at",
    "webhook_url",
    "witnesses_required",
)


def validate_field(
    name: str,
    value,
    *,
    now: datetime | None = None,
    webhook_allowed: tuple[webhook_targets.Network, ...] = (),
):
    """``value`` of the petition field ``name`` as the rules store it (a title trimmed, a
    percentage as a Decimal); raise PetitionError, naming the field, if a rule refuses it.

    The same checks as create_petition and update_draft, one field at a time, so that a form can
    report every faulty field at once. ``webhook_allowed`` is WEBHOOK_ALLOWED_NETWORKS.
    """
    if name not in _FIELD_RULES:
        raise ValueError(f"unknown petition field {name!r}")
    return _FIELD_RULES[name](value, now or utcnow(), webhook_allowed)


def iso_utc(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601 in UTC with a ``Z`` suffix, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Built once: every request to sign and every page of a petition finds it by its slug.
_BY_SLUG = select(Petition).where(Petition.slug == bindparam("slug"))


def find_petition(session: Session, slug: str) -> Petition | None:
    """The petition called ``slug``, or None."""
    return session.exec(_BY_SLUG, params={"slug": slug}).first()


def find_published(session: Session, slug: str) -> Petition | None:
    """The petition called ``slug`` if the public may see it: drafts are not published."""
    petition = find_petition(session, slug)
    return None if petition is None or petition.state == PetitionState.DRAFT else petition


def _get_for_update(session: Session, slug: str) -> Petition:
    # The row lock makes two concurrent opens or closes of one petition take turns on PostgreSQL;
    # populate_existing makes the rules see the row as it is once locked, not as the session
    # read it earlier (another request may have opened it in between).
    query = (
        select(Petition)
        .where(Petition.slug == slug)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    petition = session.exec(query).first()
    if petition is None:
        raise PetitionError(f"no petition with slug {slug!r}")
    return petition


def active_member_count(session: Session) -> int:
    """How many members on the roll are in good standing (status ``active``) right now."""
    return session.exec(
        select(func.count()).select_from(Member).where(Member.status == MemberStatus.ACTIVE)
    ).one()


def threshold_for(
    eligible: int, *, absolute: int | None = None, percent: float | Decimal | None = None
) -> int:
    """The number of signatures needed: ``absolute``, or ``percent`` of ``eligible`` rounded up.

    A percentage never asks for fewer than one signature. Exact arithmetic is used so that,
    say, 10% of 4,120 is 412 and not 413 through a floating-point remainder.
    """
    if (absolute is None) == (percent is None):
        raise PetitionError("give exactly one of an absolute threshold or a percentage")
    if absolute is not None:
        return _validate_absolute(absolute)
    exact = Fraction(_validate_percent(percent)) * eligible / 100
    return max(1, math.ceil(exact))


def create_petition(
    session: Session,
    *,
    slug: str | None,
    title: str,
    body: str | None = None,
    threshold: int | None = None,
    threshold_percent: float | Decimal | None = None,
    closes_at: datetime | None = None,
    webhook_url: str | None = None,
    webhook_allowed: tuple[webhook_targets.Network, ...] = (),
    witnesses_required: int = 0,
    now: datetime | None = None,
) -> Petition:
    """Create a draft petition after checking every field; raise PetitionError on the first fault.

    Exactly one of ``threshold`` (an absolute number, at least 1) or ``threshold_percent``
    (0 < P <= 100, of the members active when the petition opens) must be given. A ``slug`` of
    None is made from the title, unique (petitions.lifecycle.slugs). If another petition takes
    the slug at the same moment the session is rolled back before raising. ``webhook_allowed``
    is WEBHOOK_ALLOWED_NETWORKS: a webhook URL may reach only public addresses or those.
    """
    now = now or utcnow()
    title = _validate_title(title)
    if slug is None:
        slug = slugs.derived(session, title)
    validate_slug(slug)
    fields = {
        "title": title,
        "body": _validate_body(body),
        "closes_at": _validate_closes_at(closes_at, now),
        "webhook_url": _validate_webhook_url(webhook_url, webhook_allowed),
        "witnesses_required": _validate_witnesses_required(witnesses_required),
    }
    if (threshold is None) == (threshold_percent is None):
        raise PetitionError("give exactly one of a threshold or a threshold percentage")
    if threshold is not None:
        fields["threshold_absolute"] = _validate_absolute(threshold)
    else:
        fields["threshold_percent"] = float(_validate_percent(threshold_percent))
    if find_petition(session, slug) is not None:
        raise PetitionError(f"a petition with slug {slug!r} already exists", "slug")

    petition = Petition(slug=slug, state=PetitionState.DRAFT, created_at=now, **fields)
    session.add(petition)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise PetitionError(f"a petition with slug {slug!r} already exists", "slug") from None
    return petition


RollCommitter = Callable[[Session, Petition, datetime], int]
"""Commits the roll for a petition being opened, in the opening transaction, and returns how
many members it holds (petitions.transparency.roll_commitment.committer makes one)."""


def open_petition(
    session: Session,
    slug: str,
    *,
    now: datetime | None = None,
    commit_roll: RollCommitter | None = None,
) -> Petition:
    """Open the draft ``slug``: freeze the count of active members and the threshold from it.

    Members who join or lapse afterwards change neither number. A percentage threshold is
    refused when no member is active, and so is a petition whose closing time has passed.
    With ``commit_roll`` the roll is committed too, under the row lock taken here, and the
    eligible count is the committed roll's size (one reading of the roll for both).
    """
    now = now or utcnow()
    petition = _get_for_update(session, slug)
    eligible = None
    if commit_roll is not None:
        _check_openable(petition, now)
        eligible = commit_roll(session, petition, now)
    petition.threshold, petition.eligible_members = opening_threshold(
        session, petition, now=now, eligible=eligible
    )
    petition.state = PetitionState.OPEN
    petition.opened_at = now
    session.add(petition)
    session.flush()
    return petition


def _check_openable(petition: Petition, now: datetime) -> None:
    slug = petition.slug
    if petition.state != PetitionState.DRAFT:
        raise PetitionError(f"petition {slug!r} is {petition.state}; only a draft can be opened")
    if petition.closes_at is not None and petition.closes_at <= now:
        raise PetitionError(
            f"petition {slug!r} cannot open: its closing time "
            f"{iso_utc(petition.closes_at)} has passed"
        )


def opening_threshold(
    session: Session,
    petition: Petition,
    *,
    now: datetime | None = None,
    eligible: int | None = None,
) -> tuple[int, int]:
    """The threshold ``petition`` would be frozen at if it opened at ``now``, and the number of
    active members it is taken from (``eligible`` when given, else counted now); raise
    PetitionError for whatever would stop it opening.

    open_petition uses this, so a preview shown before opening applies the same rules.
    """
    now = now or utcnow()
    slug = petition.slug
    _check_openable(petition, now)
    if eligible is None:
        eligible = active_member_count(session)
    if petition.threshold_percent is not None and eligible == 0:
        raise PetitionError(
            f"petition {slug!r} has a percentage threshold but the roll has no active members; "
            "import the roll first"
        )
    threshold = threshold_for(
        eligible, absolute=petition.threshold_absolute, percent=petition.threshold_percent
    )
    return threshold, eligible


@dataclass
class DraftEdit:
    """What update_draft did: the petition, and each stored field it changed as (old, new)."""

    petition: Petition
    changes: dict[str, tuple] = field(default_factory=dict)


def update_draft(
    session: Session,
    slug: str,
    *,
    now: datetime | None = None,
    webhook_allowed: tuple[webhook_targets.Network, ...] = (),
    **fields,
) -> DraftEdit:
    """Change fields of the draft ``slug`` (any of EDITABLE_FIELDS) after checking each one as
    create_petition does; fields not given keep their values. The slug cannot change.

    Giving ``threshold`` or ``threshold_percent`` sets the threshold rule: exactly one of them
    must then be a value, and the other kind is cleared. Only a draft can be edited: an open
    petition's rules are what its members signed under. ``webhook_allowed`` is as for
    create_petition.
    """
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValueError(f"not editable petition fields: {', '.join(unknown)}")
    now = now or utcnow()
    wanted = {}
    # The webhook URL's name is resolved before the row is locked: DNS can be slow.
    if "webhook_url" in fields:
        wanted["webhook_url"] = _validate_webhook_url(fields["webhook_url"], webhook_allowed)
    petition = _get_for_update(session, slug)
    if petition.state != PetitionState.DRAFT:
        raise PetitionError(f"petition {slug!r} is {petition.state}; only a draft can be edited")

    for name in ("title", "body", "closes_at", "witnesses_required"):
        if name in fields:
            wanted[name] = validate_field(name, fields[name], now=now)
    if "threshold" in fields or "threshold_percent" in fields:
        absolute, percent = fields.get("threshold"), fields.get("threshold_percent")
        if (absolute is None) == (percent is None):
            raise PetitionError("give exactly one of a threshold or a threshold percentage")
        wanted["threshold_absolute"] = None if absolute is None else _validate_absolute(absolute)
        wanted["threshold_percent"] = None if percent is None else float(_validate_percent(percent))

    edit = DraftEdit(petition)
    for name, value in wanted.items():
        old = getattr(petition, name)
        if old != value:
            edit.changes[name] = (old, value)
            setattr(petition, name, value)
    session.add(petition)
    session.flush()
    return edit


def close_petition(session: Session, slug: str, *, now: datetime | None = None) -> Petition:
    """Close the open or triggered petition ``slug`` so that signing stops.

    ``closed_at`` records when signing really stopped: the closing time if that passed first.
    """
    now = now or utcnow()
    petition = _get_for_update(session, slug)
    if petition.state == PetitionState.DRAFT:
        raise PetitionError(f"petition {slug!r} is a draft; only an open petition can be closed")
    if petition.state == PetitionState.CLOSED:
        raise PetitionError(f"petition {slug!r} is already closed")
    _mark_closed(petition, now)
    session.add(petition)
    session.flush()
    return petition


def _mark_closed(petition: Petition, now: datetime) -> None:
    petition.state = PetitionState.CLOSED
    if petition.closes_at is not None and petition.closes_at <= now:
        petition.closed_at = petition.closes_at
    else:
        petition.closed_at = now


def effective_state(petition: Petition, now: datetime | None = None) -> PetitionState:
    """The state ``petition`` is really in at ``now``.

    An open or triggered petition whose closing time has passed is closed even before anything
    has written that down: signing stops at the closing time by itself.
    """
    return state_at(PetitionState(petition.state), petition.closes_at, now or utcnow())


def state_at(state: PetitionState, closes_at: datetime | None, now: datetime) -> PetitionState:
    """The state a petition written down as ``state``, closing at ``closes_at``, is really in
    at ``now`` (see effective_state), for a caller that read only those two columns."""
    if state in LIVE_STATES and closes_at is not None and closes_at <= now:
        return PetitionState.CLOSED
    return state


def close_expired(session: Session, *, now: datetime | None = None) -> list[Petition]:
    """Write down the closing of every open or triggered petition whose closing time has passed.

    Returns the petitions closed, each with ``closed_at`` set to its closing time.
    """
    now = now or utcnow()
    due = session.exec(
        select(Petition)
        .where(col(Petition.state).in_(LIVE_STATES))
        .where(col(Petition.closes_at).is_not(None))
        .where(col(Petition.closes_at) <= now)
        .order_by(col(Petition.closes_at))
        .with_for_update()
    ).all()
    for petition in due:
        _mark_closed(petition, now)
        session.add(petition)
    session.flush()
    return list(due)


def public_petitions(session: Session, *, now: datetime | None = None) -> list[Petition]:
    """The petitions collecting signatures at ``now`` (open or triggered), newest first."""
    now = now or utcnow()
    return list(
        session.exec(
            select(Petition)
            .where(col(Petition.state).in_(LIVE_STATES))
            .where(or_(col(Petition.closes_at).is_(None), col(Petition.closes_at) > now))
            .order_by(col(Petition.opened_at).desc(), col(Petition.id).desc())
        )
    )


def all_petitions(session: Session) -> list[Petition]:
    """Every petition, drafts included, oldest first (for organisers' listings)."""
    return list(session.exec(select(Petition).order_by(col(Petition.created_at), col(Petition.id))))


def progress_percent(petition: Petition) -> int:
    """How far the count is towards the threshold, as a whole percentage capped at 100."""
    if not petition.threshold:
        return 0
    return min(100, petition.signature_count * 100 // petition.threshold)

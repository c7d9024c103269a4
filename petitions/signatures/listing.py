"""Looking up a petition's signatures for organisers and scrutineers: filtered, paged lists,
and the exact set a selection names before it is invalidated.

Filters combine (all must hold): the status (counted or invalidated), the signer's region,
signature numbers (ranges and lists: ``"12, 40-55"``), a time window of confirmation, and a
network (signatures of members whose address was given in a sign request from that network).
"""

import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlmodel import Session

from petitions.db.models import Invalidation, Member, Petition, Signature, SignRequest

STATUSES = ("all", "counted", "invalidated")
# The region filter's name for members without a region (as counts.by_region names them).
UNKNOWN_REGION = "unknown"
PER_PAGE = 100
# One selection is invalidated in one transaction that holds the petition's row lock (signing
# waits for it), and the confirmation page lists every signature in it: keep both short.
MAX_SELECTION = 1000
# A numbers filter naming more than this is refused rather than turned into a huge query (a
# selection being invalidated may name up to MAX_SELECTION terms).
MAX_NUMBER_TERMS = 200
# The longest a term can be: two ten-digit numbers, a hyphen and a separator.
_TERM_CHARS = 24
_TERM = re.compile(r"^(\d{1,10})(?:-(\d{1,10}))?$")


class FilterError(ValueError):
    """A filter or selection cannot be read; the message says why, fit to show as it is."""


@dataclass(frozen=True)
class NumberRange:
    """Signature numbers from ``first`` to ``last``, both included."""

    first: int
    last: int


@dataclass(frozen=True)
class Filters:
    """What to show: every field left at its default shows every signature."""

    status: str = "all"
    region: str | None = None
    numbers: tuple[NumberRange, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    network: str | None = None

    def is_narrowed(self) -> bool:
        """True when any filter other than the status is set."""
        return bool(self.region or self.numbers or self.since or self.until or self.network)


@dataclass(frozen=True)
class Row:
    """One signature as the page shows it, with its invalidation or withdrawal if it has one."""

    number: int
    confirmed_at: datetime
    member_number: str
    name: str | None
    region: str | None
    invalidated_at: datetime | None
    reason: str | None = None
    note: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    withdrawn_at: datetime | None = None

    @property
    def counted(self) -> bool:
        """Whether the signature counts."""
        return self.invalidated_at is None


@dataclass
class Page:
    """One page of a filtered list."""

    rows: list[Row]
    total: int
    number: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, math.ceil(self.total / self.per_page))


def parse_numbers(text: str | None, max_terms: int = MAX_NUMBER_TERMS) -> tuple[NumberRange, ...]:
    """Read ``"12, 40-55 60"`` (commas or spaces between terms) as number ranges, at most
    ``max_terms`` of them.

    Raises FilterError naming the first term that is not a number or a range ``a-b`` with
    ``1 <= a <= b``.
    """
    text = (text or "").strip()
    if len(text) > max_terms * _TERM_CHARS:
        raise FilterError("the list of numbers is too long")
    # "40 - 55" is one range: join the hyphen to its numbers before splitting into terms.
    terms = [t for t in re.split(r"[,\s]+", re.sub(r"\s*-\s*", "-", text)) if t]
    if len(terms) > max_terms:
        raise FilterError(f"name at most {max_terms} numbers or ranges at a time")
    ranges = []
    for term in terms:
        match = _TERM.match(term)
        if not match:
            raise FilterError(f"{term!r} is not a signature number or a range such as 40-55")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or last < first:
            raise FilterError(f"{term!r} is not a range of signature numbers from low to high")
        ranges.append(NumberRange(first, last))
    return tuple(ranges)


def format_numbers(numbers) -> str:
    """Numbers written compactly and sorted: ``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts: list[list[int]] = []
    for number in sorted(set(numbers)):
        if parts and number == parts[-1][1] + 1:
            parts[-1][1] = number
        else:
            parts.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def expand(ranges: tuple[NumberRange, ...], limit: int) -> list[int]:
    """Every number the ranges name, sorted; FilterError if there are more than ``limit``."""
    if sum(r.last - r.first + 1 for r in ranges) > limit:
        raise FilterError(f"select at most {limit:,} signatures at a time")
    return sorted({n for r in ranges for n in range(r.first, r.last + 1)})


def parse_time(text: str | None, name: str) -> datetime | None:
    """A time from a filter field (``2026-11-26T10:00`` or with seconds or an offset), in UTC;
    a time without an offset is taken as UTC."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # A time near year 1 or 9999 cannot always be moved to UTC.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise FilterError(
            f"{name} {text!r} is not a date and time such as 2026-11-26T10:00"
        ) from None


def filters_from(args) -> Filters:
    """Filters from a query string or form (``status``, ``region``, ``numbers``, ``since``,
    ``until``, ``network``); FilterError for a value that cannot be read."""
    status = (args.get("status") or "all").strip()
    if status not in STATUSES:
        raise FilterError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    since = parse_time(args.get("since"), "from")
    until = parse_time(args.get("until"), "until")
    if since and until and until <= since:
        raise FilterError("the end of the time window must come after its start")
    network = (args.get("network") or "").strip() or None
    if network is not None and len(network) > 64:
        raise FilterError("a network is written like 192.0.2.0/24 (at most 64 characters)")
    return Filters(
        status=status,
        region=(args.get("region") or "").strip() or None,
        numbers=parse_numbers(args.get("numbers")),
        since=since,
        until=until,
        network=network,
    )


def query_args(filters: Filters) -> dict[str, str]:
    """The query-string parameters that give ``filters`` back through filters_from."""
    args = {
        "status": filters.status if filters.status != "all" else None,
        "region": filters.region,
        "numbers": ", ".join(
            str(r.first) if r.first == r.last else f"{r.first}-{r.last}" for r in filters.numbers
        ),
        "since": _time_arg(filters.since),
        "until": _time_arg(filters.until),
        "network": filters.network,
    }
    return {name: value for name, value in args.items() if value}


def _time_arg(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else None


def _where(query: Select, petition: Petition, filters: Filters) -> Select:
    # Only counted signatures: one still waiting for the sequencer has no number yet.
    query = query.where(Signature.petition_id == petition.id, Signature.number.is_not(None))
    if filters.status == "counted":
        query = query.where(Signature.invalidated_at.is_(None))
    elif filters.status == "invalidated":
        query = query.where(Signature.invalidated_at.is_not(None))
    if filters.region == UNKNOWN_REGION:
        query = query.where(or_(Member.region.is_(None), Member.region == UNKNOWN_REGION))
    elif filters.region:
        query = query.where(Member.region == filters.region)
    if filters.numbers:
        query = query.where(
            or_(*(Signature.number.between(r.first, r.last) for r in filters.numbers))
        )
    if filters.since:
        query = query.where(Signature.confirmed_at >= filters.since)
    if filters.until:
        query = query.where(Signature.confirmed_at < filters.until)
    if filters.network:
        requested = select(SignRequest.email_key).where(
            SignRequest.petition_id == petition.id, SignRequest.network == filters.network
        )
        query = query.where(Member.email_key.in_(requested))
    return query


def _rows_query() -> Select:
    return (
        select(
            Signature.number,
            Signature.confirmed_at,
            Member.number,
            Member.name,
            Member.region,
            Signature.invalidated_at,
            Invalidation.reason,
            Invalidation.note,
            Invalidation.decided_by,
            Invalidation.decided_at,
            Signature.withdrawn_at,
        )
        .select_from(Signature)
        .join(Member, Member.id == Signature.member_id)
        .outerjoin(Invalidation, Invalidation.signature_id == Signature.id)
    )


def page(
    session: Session,
    petition: Petition,
    filters: Filters,
    number: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """Page ``number`` (from 1) of the signatures matching ``filters``, newest first."""
    counted = _where(
        select(func.count()).select_from(Signature).join(Member, Member.id == Signature.member_id),
        petition,
        filters,
    )
    total = session.execute(counted).scalar_one()
    number = max(1, number)
    rows = session.execute(
        _where(_rows_query(), petition, filters)
        .order_by(Signature.number.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    return Page([Row(*row) for row in rows], total, number, per_page)


def regions(session: Session, petition: Petition) -> list[str]:
    """The regions of the members who signed ``petition``, for the region filter."""
    found = session.execute(
        select(func.coalesce(Member.region, UNKNOWN_REGION))
        .select_from(Signature)
        .join(Member, Member.id == Signature.member_id)
        .where(Signature.petition_id == petition.id, Signature.number.is_not(None))
        .distinct()
    ).scalars()
    return sorted(found)


def matching_numbers(
    session: Session, petition: Petition, filters: Filters, limit: int
) -> list[int]:
    """The numbers of the counted signatures matching ``filters``, oldest first; FilterError if
    there are more than ``limit``."""
    counted = replace(filters, status="counted")
    numbers = (
        session.execute(
            _where(
                select(Signature.number)
                .select_from(Signature)
                .join(Member, Member.id == Signature.member_id),
                petition,
                counted,
            )
            .order_by(Signature.number)
            .limit(limit + 1)
        )
        .scalars()
        .all()
    )
    if len(numbers) > limit:
        raise FilterError(
            f"more than {limit:,} signatures match: narrow the filter and invalidate in parts"
        )
    return list(numbers)


@dataclass(frozen=True)
class Selection:
    """The signatures a selection names: those found, and the numbers that cannot be taken."""

    rows: list[Row]
    unknown: list[int]
    already: list[int]

    def problem(self) -> str | None:
        """Why this selection cannot be invalidated, or None."""
        if self.unknown:
            return f"there is no signature numbered {format_numbers(self.unknown)} on this petition"
        if self.already:
            return f"already invalidated: {format_numbers(self.already)}; select only counted ones"
        if not self.rows:
            return "select at least one signature"
        return None


def selection(session: Session, petition: Petition, numbers: list[int]) -> Selection:
    """The signatures numbered ``numbers`` with what stops them being invalidated."""
    wanted = sorted(set(numbers))
    if not wanted:
        return Selection([], [], [])
    rows = [
        Row(*row)
        for row in session.execute(
            _rows_query()
            .where(and_(Signature.petition_id == petition.id, Signature.number.in_(wanted)))
            .order_by(Signature.number)
        ).all()
    ]
    found = {row.number for row in rows}
    return Selection(
        rows,
        unknown=[n for n in wanted if n not in found],
        already=[row.number for row in rows if not row.counted],
    )

"""Anomaly signals: patterns in a petition's signatures and sign requests that an organiser may
want to look at before deciding whether any signature should not count.

- ``burst``: a minute (or a few minutes together) with confirmations far above the recent rate;
- ``late_surge``: the rate in the last hours before the closing time far above the earlier rate;
- ``network``: many sign requests from one network (an IPv4 /24 or an IPv6 /64): past the
  notice level (SIGN_NOTICE_PER_NETWORK), far below the safety valve that refuses requests.

Signals inform; they never change anything. Every figure comes from aggregating queries (counts
per minute, per network), so the work done in Python grows with the number of active minutes
and of busy networks, never with the number of signatures.
"""

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from limits import parse_many
from sqlalchemy import BigInteger, Integer, case, cast, distinct, func, select
from sqlmodel import Session

from petitions.db.engine import utcnow
from petitions.db.models import Member, Petition, Signature, SignRequest

KINDS = ("burst", "late_surge", "network")

# Bursts. The recent rate is the median of the confirmations per minute over the trailing
# hour (minutes without any count as zero), so that one earlier burst does not raise the bar
# for the next. A minute is a burst when it is more than BURST_FACTOR times that median: with
# a steady rate of a few per minute a minute ten times as busy is not chance. BURST_FLOOR keeps
# quiet petitions (median 0 or 1) from firing on a handful of people who happen to confirm
# together, e.g. after an invitation mail.
BURST_TRAILING_MINUTES = 60
BURST_FACTOR = 10
BURST_FLOOR = 20
# In the first minutes after opening there is no recent rate to compare with (and an invitation
# sent at opening makes them busy by design): minutes are judged once this much history exists.
BURST_MIN_HISTORY_MINUTES = 15
# Flagged minutes this close together are one burst, shown as one window.
BURST_MERGE_GAP_MINUTES = 2
# Minutes of context shown before and after a burst's window.
BURST_CONTEXT_MINUTES = 5

# Late surges. The last LATE_WINDOW before the closing time is compared with everything before
# it; the earlier period must be at least as long for its rate to mean anything. A surge is a
# late rate more than LATE_SURGE_FACTOR times the earlier one: a final push is normal, three
# times the usual pace is worth a look. LATE_SURGE_MIN_COUNT keeps small numbers quiet, and the
# late rate is taken over at least LATE_MIN_ELAPSED so that the first minutes of the window do
# not extrapolate a few confirmations into a huge rate.
LATE_WINDOW = timedelta(hours=6)
LATE_SURGE_FACTOR = 3
LATE_SURGE_MIN_COUNT = 20
LATE_MIN_ELAPSED = timedelta(hours=1)

# Networks. One network may ask to sign up to a safety valve (SIGN_LIMIT_PER_NETWORK, 2,000 an
# hour) so that members behind one office, meeting hall or carrier-grade NAT are all served;
# past the notice level (SIGN_NOTICE_PER_NETWORK, 60 an hour, for one petition) a network is
# shown here: more than an office or a household usually makes, and what a flood under the
# valve looks like. NETWORK_SHARE catches a network that stays under the notice level but makes
# a large part of all requests; NETWORK_SHARE_MIN_REQUESTS keeps it quiet on petitions with few
# requests.
NETWORK_SHARE = 0.25
NETWORK_SHARE_MIN_REQUESTS = 20
# Addresses that are not a network (rate_limits.network_of could not read the client address).
NOT_A_NETWORK = ("unknown",)

# At most this many signals of one kind, the strongest, so that a page stays readable.
MAX_SIGNALS_PER_KIND = 20

_MINUTE = 60
_HOUR = 3600


@dataclass(frozen=True)
class NetworkNotice:
    """The notice level: ``requests`` sign requests from one network within ``window``."""

    requests: int
    window: timedelta

    @classmethod
    def of(cls, level: str) -> "NetworkNotice":
        """The level a rate in Flask-Limiter's notation ("60 per hour") names (its first)."""
        item = parse_many(level)[0]
        return cls(item.amount, timedelta(seconds=item.get_expiry()))

    @property
    def window_words(self) -> str:
        """The window for people: "one hour", "30 minutes"."""
        seconds = int(self.window.total_seconds())
        for unit, size in (("day", 86400), ("hour", _HOUR), ("minute", _MINUTE)):
            if seconds % size == 0:
                count = seconds // size
                return f"one {unit}" if count == 1 else f"{count:,} {unit}s"
        return f"{seconds:,} seconds"


DEFAULT_NOTICE = NetworkNotice(60, timedelta(hours=1))


@dataclass(frozen=True)
class Signal:
    """One anomaly: what, a one-line summary, the time window concerned, and the evidence.

    ``evidence`` holds the figures compared (names as in this module's constants); ``buckets``
    the counts over time behind them (start of each bucket, count); the signatures concerned are
    those numbered ``first_number`` to ``last_number``, confirmed in ``when`` to ``until``, or
    (for a network) those of members whose address was given in a request from ``network``.
    """

    kind: str
    summary: str
    when: datetime
    until: datetime | None
    evidence: dict
    buckets: tuple[tuple[datetime, int], ...] = ()
    bucket_seconds: int = _MINUTE
    first_number: int | None = None
    last_number: int | None = None
    network: str | None = None


@dataclass(frozen=True)
class _Minute:
    minute: int
    count: int
    counted: int
    first: int
    last: int


def signals(
    session: Session,
    petition: Petition,
    now: datetime | None = None,
    notice: NetworkNotice = DEFAULT_NOTICE,
) -> list[Signal]:
    """Every anomaly signal of ``petition`` as of ``now``, in time order, networks judged
    against ``notice``. Reads only."""
    now = now or utcnow()
    minutes = _minutes(session, petition, now)
    found: list[Signal] = []
    if minutes:
        start = _start_minute(petition, minutes)
        found += _bursts(minutes, start)
        surge = _late_surge(petition, minutes, start, now)
        if surge is not None:
            found.append(surge)
    found += _networks(session, petition, now, notice)
    return sorted(found, key=lambda signal: (signal.when, KINDS.index(signal.kind)))


def _epoch(session: Session, column):
    """Seconds since 1970 of a stored UTC time, as an integer, in SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _bucket(session: Session, column, unit: str):
    """Two SQL expressions for grouping stored UTC times by ``unit`` ("minute" or "hour"): the
    one to group by, and the bucket's number (seconds since 1970 // the unit's seconds)."""
    seconds = {"minute": _MINUTE, "hour": _HOUR}[unit]
    if session.get_bind().dialect.name == "sqlite":
        number = _epoch(session, column) // seconds
        return number, number
    # PostgreSQL truncates timestamps much faster than it does numeric arithmetic; truncating
    # the UTC wall time keeps buckets on UTC boundaries whatever the session's time zone.
    truncated = func.date_trunc(unit, func.timezone("UTC", column))
    return truncated, cast(func.extract("epoch", truncated), BigInteger) // seconds


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _minutes(session: Session, petition: Petition, now: datetime) -> list[_Minute]:
    """Confirmations per minute (only minutes that had any), oldest first."""
    group, minute = _bucket(session, Signature.confirmed_at, "minute")
    rows = session.execute(
        select(
            minute,
            func.count(),
            func.sum(case((Signature.invalidated_at.is_(None), 1), else_=0)),
            func.min(Signature.number),
            func.max(Signature.number),
        )
        .where(
            Signature.petition_id == petition.id,
            Signature.number.is_not(None),
            Signature.confirmed_at < now,
        )
        .group_by(group)
        .order_by(group)
    ).all()
    return [
        _Minute(int(m), count, int(counted), first, last) for m, count, counted, first, last in rows
    ]


def _start_minute(petition: Petition, minutes: list[_Minute]) -> int:
    """The minute the petition started collecting: when it opened, or its first signature."""
    first = minutes[0].minute
    if petition.opened_at is None:
        return first
    return min(first, int(petition.opened_at.timestamp()) // _MINUTE)


def _median(nonzero: list[int], length: int) -> float:
    """The median of ``length`` values: the sorted ``nonzero`` ones and zeros for the rest."""
    zeros = max(0, length - len(nonzero))
    total = zeros + len(nonzero)
    if total == 0:
        return 0.0

    def value(i: int) -> int:
        return 0 if i < zeros else nonzero[i - zeros]

    return (value((total - 1) // 2) + value(total // 2)) / 2


def _bursts(minutes: list[_Minute], start: int) -> list[Signal]:
    # A window over the trailing minutes slides along the active minutes: each minute enters and
    # leaves the sorted list once; empty minutes are counted, not stored.
    trailing: list[int] = []
    entered = left = 0
    flagged: list[tuple[_Minute, float, float]] = []
    for i, current in enumerate(minutes):
        while entered < i:
            bisect.insort(trailing, minutes[entered].count)
            entered += 1
        lower = current.minute - BURST_TRAILING_MINUTES
        while left < entered and minutes[left].minute < lower:
            trailing.remove(minutes[left].count)
            left += 1
        history = current.minute - max(lower, start)
        if current.minute - start < BURST_MIN_HISTORY_MINUTES:
            continue
        baseline = _median(trailing, history)
        threshold = max(BURST_FACTOR * baseline, BURST_FLOOR)
        if current.count > threshold:
            flagged.append((current, baseline, threshold))
    groups: list[list[tuple[_Minute, float, float]]] = []
    for item in flagged:
        if groups and item[0].minute - groups[-1][-1][0].minute <= BURST_MERGE_GAP_MINUTES:
            groups[-1].append(item)
        else:
            groups.append([item])
    by_minute = {m.minute: m for m in minutes}
    made = [_burst(group, by_minute) for group in groups]
    made.sort(key=lambda s: s.evidence["peak_per_minute"] / s.evidence["threshold_per_minute"])
    return made[-MAX_SIGNALS_PER_KIND:]


def _burst(group: list[tuple[_Minute, float, float]], by_minute: dict[int, _Minute]) -> Signal:
    first_minute, baseline, threshold = group[0]
    begin, end = first_minute.minute, group[-1][0].minute + 1
    inside = [by_minute[m] for m in range(begin, end) if m in by_minute]
    count = sum(m.count for m in inside)
    peak = max(m.count for m in inside)
    context = range(begin - BURST_CONTEXT_MINUTES, end + BURST_CONTEXT_MINUTES)
    buckets = tuple(
        (_at(m * _MINUTE), by_minute[m].count if m in by_minute else 0) for m in context
    )
    when, until = _at(begin * _MINUTE), _at(end * _MINUTE)
    span = end - begin
    summary = (
        f"{count:,} confirmations in {span} minute{'s' if span != 1 else ''} from "
        f"{_written(when)} (up to {peak:,} a minute), against a recent median of "
        f"{figure(baseline)} a minute"
    )
    return Signal(
        kind="burst",
        summary=summary,
        when=when,
        until=until,
        evidence={
            "confirmations": count,
            "still_counted": sum(m.counted for m in inside),
            "minutes": span,
            "peak_per_minute": peak,
            "baseline_per_minute": baseline,
            "threshold_per_minute": threshold,
            "trailing_minutes": BURST_TRAILING_MINUTES,
            "factor": BURST_FACTOR,
            "floor": BURST_FLOOR,
        },
        buckets=buckets,
        first_number=min(m.first for m in inside),
        last_number=max(m.last for m in inside),
    )


def _late_surge(
    petition: Petition, minutes: list[_Minute], start: int, now: datetime
) -> Signal | None:
    closing = petition.closes_at or petition.closed_at
    if closing is None:
        return None
    late_start = int((closing - LATE_WINDOW).timestamp()) // _MINUTE
    late_end = math.ceil(min(now, closing).timestamp() / _MINUTE)
    earlier_minutes = late_start - start
    if late_end <= late_start or earlier_minutes * _MINUTE < LATE_WINDOW.total_seconds():
        return None
    late = [m for m in minutes if late_start <= m.minute < late_end]
    late_count = sum(m.count for m in late)
    earlier_count = sum(m.count for m in minutes if m.minute < late_start)
    elapsed_hours = max((late_end - late_start) * _MINUTE, LATE_MIN_ELAPSED.total_seconds()) / _HOUR
    late_rate = late_count / elapsed_hours
    earlier_rate = earlier_count / (earlier_minutes * _MINUTE / _HOUR)
    if late_count < LATE_SURGE_MIN_COUNT or late_rate <= LATE_SURGE_FACTOR * earlier_rate:
        return None
    hours = math.ceil((late_end - late_start) / 60)
    per_hour = [0] * hours
    for m in late:
        per_hour[(m.minute - late_start) // 60] += m.count
    when, until = _at(late_start * _MINUTE), _at(late_end * _MINUTE)
    summary = (
        f"{late_count:,} confirmations in the last {figure(LATE_WINDOW.total_seconds() / _HOUR)}"
        f" hours before closing ({figure(late_rate)} an hour), against "
        f"{figure(earlier_rate)} an hour before"
    )
    return Signal(
        kind="late_surge",
        summary=summary,
        when=when,
        until=until,
        evidence={
            "confirmations": late_count,
            "still_counted": sum(m.counted for m in late),
            "closes_at": closing,
            "late_rate_per_hour": round(late_rate, 2),
            "earlier_confirmations": earlier_count,
            "earlier_since": _at(start * _MINUTE),
            "earlier_rate_per_hour": round(earlier_rate, 2),
            "factor": LATE_SURGE_FACTOR,
            "minimum": LATE_SURGE_MIN_COUNT,
        },
        buckets=tuple(
            (_at((late_start + 60 * h) * _MINUTE), count) for h, count in enumerate(per_hour)
        ),
        bucket_seconds=_HOUR,
        first_number=min((m.first for m in late), default=None),
        last_number=max((m.last for m in late), default=None),
    )


def _networks(
    session: Session, petition: Petition, now: datetime, notice: NetworkNotice
) -> list[Signal]:
    mine = (
        SignRequest.petition_id == petition.id,
        SignRequest.created_at < now,
        SignRequest.network.is_not(None),
        SignRequest.network.not_in(NOT_A_NETWORK),
    )
    total = session.execute(
        select(func.count())
        .select_from(SignRequest)
        .where(SignRequest.petition_id == petition.id, SignRequest.created_at < now)
    ).scalar_one()
    floor = min(notice.requests, NETWORK_SHARE_MIN_REQUESTS)
    totals = {
        row.network: row
        for row in session.execute(
            select(
                SignRequest.network,
                func.count().label("requests"),
                func.min(SignRequest.created_at).label("first"),
                func.max(SignRequest.created_at).label("last"),
            )
            .where(*mine)
            .group_by(SignRequest.network)
            .having(func.count() >= floor)
        )
    }
    if not totals:
        return []
    # Only networks that can reach the notice level are looked at closely: a sliding window
    # overlaps at most ``hours`` clock hours, so such a network has at least its share of the
    # level in some clock hour. Grouping by clock hours is cheap; the sliding count is made for
    # those only.
    hours = math.ceil(notice.window.total_seconds() / _HOUR) + 1
    busy = (
        select(SignRequest.network)
        .where(*mine)
        .group_by(SignRequest.network, _bucket(session, SignRequest.created_at, "hour")[0])
        .having(func.count() >= math.ceil(notice.requests / hours))
        .distinct()
    )
    # Asked first, on its own: as a subquery the planner may count every network's windows.
    busy_networks = session.execute(busy).scalars().all()
    busiest = _busiest_windows(session, mine, busy_networks, notice.window) if busy_networks else {}
    flagged = []
    for network, row in totals.items():
        window_start, window_count = busiest.get(network, (None, 0))
        share = row.requests / total
        if window_count >= notice.requests or (
            row.requests >= NETWORK_SHARE_MIN_REQUESTS and share >= NETWORK_SHARE
        ):
            flagged.append((network, row, share, window_start, window_count))
    flagged.sort(key=lambda item: item[1].requests, reverse=True)
    flagged = flagged[:MAX_SIGNALS_PER_KIND]
    if not flagged:
        return []
    names = [item[0] for item in flagged]
    # Networks flagged for their share alone: their busiest window, for the evidence.
    quiet = [name for name in names if name not in busiest]
    if quiet:
        busiest.update(_busiest_windows(session, mine, quiet, notice.window))
        flagged = [(*item[:3], *busiest[item[0]]) for item in flagged]
    outcomes = _outcomes(session, mine, names)
    addresses = _addresses(session, mine, names)
    signed = _signatures_from(session, petition, mine, names)
    return [
        _network_signal(
            item, outcomes.get(item[0], {}), addresses[item[0]], signed.get(item[0]), total, notice
        )
        for item in flagged
    ]


def _busiest_windows(
    session: Session, mine: tuple, among: list[str], window: timedelta
) -> dict[str, tuple[datetime, int]]:
    """The start of the busiest ``window`` of each network ``among``, and the requests in it."""
    seconds = int(window.total_seconds())
    at = _epoch(session, SignRequest.created_at)
    # Requests in the window starting at each request, counted by the database.
    windowed = (
        select(
            SignRequest.network,
            at.label("at"),
            func.count()
            .over(partition_by=SignRequest.network, order_by=at, range_=(0, seconds - 1))
            .label("requests"),
        )
        .where(*mine, SignRequest.network.in_(among))
        .subquery()
    )
    ranked = select(
        windowed.c.network,
        windowed.c.at,
        windowed.c.requests,
        func.row_number()
        .over(
            partition_by=windowed.c.network,
            order_by=(windowed.c.requests.desc(), windowed.c.at),
        )
        .label("rank"),
    ).subquery()
    rows = session.execute(
        select(ranked.c.network, ranked.c.at, ranked.c.requests).where(ranked.c.rank == 1)
    ).all()
    return {network: (_at(int(at)), requests) for network, at, requests in rows}


def _addresses(session: Session, mine: tuple, networks: list[str]) -> dict[str, int]:
    """How many different addresses (matching keys) each network asked for."""
    rows = session.execute(
        select(SignRequest.network, func.count(distinct(SignRequest.email_key)))
        .where(*mine, SignRequest.network.in_(networks))
        .group_by(SignRequest.network)
    ).all()
    return dict(rows)


def _outcomes(session: Session, mine: tuple, networks: list[str]) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(SignRequest.network, SignRequest.outcome, func.count())
        .where(*mine, SignRequest.network.in_(networks))
        .group_by(SignRequest.network, SignRequest.outcome)
    ).all()
    found: dict[str, dict[str, int]] = {}
    for network, outcome, count in rows:
        found.setdefault(network, {})[outcome or "pending"] = count
    return {network: dict(sorted(counts.items())) for network, counts in found.items()}


def _signatures_from(
    session: Session, petition: Petition, mine: tuple, networks: list[str]
) -> dict[str, tuple]:
    """Per network: the signatures of members whose address was given in a request from it
    (how many, how many still count, the lowest and highest number)."""
    requested = (
        select(SignRequest.network, SignRequest.email_key)
        .where(*mine, SignRequest.network.in_(networks))
        .distinct()
        .subquery()
    )
    rows = session.execute(
        select(
            requested.c.network,
            func.count(distinct(Signature.id)),
            func.count(distinct(case((Signature.invalidated_at.is_(None), Signature.id)))),
            func.min(Signature.number),
            func.max(Signature.number),
        )
        .select_from(Signature)
        .join(Member, Member.id == Signature.member_id)
        .join(requested, requested.c.email_key == Member.email_key)
        .where(Signature.petition_id == petition.id, Signature.number.is_not(None))
        .group_by(requested.c.network)
    ).all()
    return {network: tuple(rest) for network, *rest in rows}


def _network_signal(
    item: tuple,
    outcomes: dict,
    addresses: int,
    signed: tuple | None,
    total: int,
    notice: NetworkNotice,
) -> Signal:
    network, row, share, window_start, window_count = item
    signatures, still_counted, first, last = signed or (0, 0, None, None)
    when = window_start or row.first
    summary = (
        f"{row.requests:,} sign requests from {network} ({figure(share * 100)}% of all), "
        f"{window_count:,} of them within {notice.window_words} from {_written(when)}"
    )
    return Signal(
        kind="network",
        summary=summary,
        when=when,
        until=when + notice.window,
        evidence={
            "network": network,
            "requests": row.requests,
            "all_requests": total,
            "share_percent": round(share * 100, 1),
            "addresses": addresses,
            "first_request": row.first,
            "last_request": row.last,
            "busiest_hour_requests": window_count,
            "outcomes": outcomes,
            "signatures": signatures,
            "still_counted": still_counted,
            "window_requests": notice.requests,
            "notice_window": notice.window_words,
            "share_threshold_percent": round(NETWORK_SHARE * 100),
        },
        first_number=first,
        last_number=last,
        network=network,
    )


def _written(moment: datetime) -> str:
    """A time in a summary: ``2 Mar 2026 10:30 UTC``."""
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def figure(value: float) -> str:
    """A figure for people: whole numbers without decimals, others to one place."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

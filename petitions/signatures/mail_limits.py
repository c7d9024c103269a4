"""The limit on the links that requests to sign (or to withdraw) mail to one mailbox.

Anyone may ask with any address, so asking is never refused because of the address: a stranger
could otherwise use up a member's allowance and lock them out. What is limited is the mail the
requests cause: at most SIGN_LIMIT_PER_ADDRESS links to one mailbox (one matching key). Past
that, a request is answered by a link already mailed, when the member it names holds one: a
link of the same kind (signing, or withdrawing) for the same petition and member, mailed while
it has at least half its life (CONFIRM_LINK_MAX_AGE) ahead. Otherwise it is mailed all the
same, so the member who asks always has a working link in their mailbox, whoever else asked
for their address (README, "Security").

The record is the requests already answered (``sign_request``, by matching key and answer
time), so the limit holds across workers and restarts. Two workers answering requests for one
mailbox at the same moment may each mail once more: the limit errs towards the member.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from limits import parse_many
from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import SignRequest
from petitions.outbox.mail import MailPurpose

# The answers to a request that mail the member (already_signed mails the member their signing
# link again: confirming it shows their receipt; a name check's answers count too).
MAILED = (
    MailPurpose.CONFIRM_LINK,
    MailPurpose.ALREADY_SIGNED,
    MailPurpose.MANAGE_LINK,
    MailPurpose.NAME_USED,
    MailPurpose.NAME_NOT_USED,
)


@dataclass(frozen=True)
class Budget:
    """How many links one mailbox may be mailed in each window (a limit may have several), and
    how recent a mailed link must be to answer a request instead of a new mail."""

    windows: tuple[tuple[int, timedelta], ...]
    still_valid: timedelta

    @classmethod
    def of(cls, limit: str, link_max_age: int) -> "Budget":
        """The budget a limit in Flask-Limiter's notation allows, for links valid
        ``link_max_age`` seconds."""
        windows = tuple(
            (item.amount, timedelta(seconds=item.get_expiry())) for item in parse_many(limit)
        )
        return cls(windows, timedelta(seconds=link_max_age / 2))

    def used_up(self, mailed_at: Iterable[datetime], now: datetime) -> bool:
        """True when mails sent at ``mailed_at`` fill one of the windows ending ``now``."""
        times = list(mailed_at)
        return any(
            sum(1 for at in times if at > now - window) >= amount for amount, window in self.windows
        )

    @property
    def lookback(self) -> timedelta:
        """How far back answered requests matter."""
        return max([self.still_valid, *(window for _, window in self.windows)])


@dataclass
class _Mailed:
    at: datetime
    link: tuple | None  # (petition id, kind, member id), None when the member is unknown now


@dataclass
class Ledger:
    """The links mailed to each mailbox lately, as a batch of requests is answered."""

    budget: Budget
    now: datetime
    mailed: dict[str, list[_Mailed]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        session: Session,
        budget: Budget,
        keys: Iterable[str],
        now: datetime,
        member_of,
    ) -> "Ledger":
        """The links mailed to the mailboxes ``keys`` within the budget's lookback.
        ``member_of(email_key, member_number)`` gives the id of the member an earlier request
        was mailed for (or None): the roll decides, as it did when the request was answered."""
        ledger = cls(budget, now)
        rows = session.execute(
            select(
                SignRequest.email_key,
                SignRequest.member_number,
                SignRequest.petition_id,
                SignRequest.kind,
                SignRequest.done_at,
            )
            .where(
                SignRequest.email_key.in_(set(keys)),
                SignRequest.done_at >= now - budget.lookback,
                SignRequest.outcome.in_(MAILED),
            )
            .order_by(SignRequest.done_at)
        ).all()
        for row in rows:
            member_id = member_of(row.email_key, row.member_number)
            link = None if member_id is None else (row.petition_id, row.kind, member_id)
            ledger.mailed.setdefault(row.email_key, []).append(_Mailed(row.done_at, link))
        return ledger

    def used_up(self, key: str) -> bool:
        """True when ``key``'s mailbox has had as many links as one of its windows allows."""
        return self.budget.used_up((m.at for m in self.mailed.get(key, [])), self.now)

    def holds(self, key: str, link: tuple) -> bool:
        """True when ``link`` was mailed to ``key``'s mailbox recently enough to still work."""
        since = self.now - self.budget.still_valid
        return any(m.link == link and m.at > since for m in self.mailed.get(key, []))

    def answered_by_earlier_mail(self, key: str, link: tuple) -> bool:
        """True when a request for ``link`` should mail nothing: the mailbox's limit is used
        up and it holds that link already."""
        return self.used_up(key) and self.holds(key, link)

    def record(self, key: str, link: tuple) -> None:
        """Count ``link`` as mailed to ``key``'s mailbox now."""
        self.mailed.setdefault(key, []).append(_Mailed(self.now, link))

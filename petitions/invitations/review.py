"""Reviewing an invitation run before it starts: how many members it would mail (counted as the
run counts them), at what pace, how long that takes, and the e-mail they would get.

The review page hands the organiser a signed token naming what they saw: the petition, the
region, the rate, the number of recipients and a fingerprint of who they are. Starting a run
needs that token, so no run starts unreviewed, and the figures are taken again when the run
starts: if the recipients have changed since (members joined, signed or opted out), the start
is refused and the organiser reviews again.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import humanize
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.models import Mail, Member, Petition
from petitions.invitations import runs

SALT = "petitions.invitation-review"
# A review older than this is stale: the organiser looks at the figures again.
MAX_AGE_SECONDS = 3600
# Whom the preview greets: no real member's name or address is shown.
SAMPLE_MEMBER = SimpleNamespace(
    id=0, email="member@example.org", email_key="member@example.org", name="Jo Bloggs"
)


class ReviewInvalid(Exception):
    """Starting a run was asked for without a review this service made for it; the message is
    fit to show as it is."""


@dataclass(frozen=True)
class Review:
    """What the organiser is shown before a run starts, and confirms."""

    region: str | None
    rate_per_minute: int
    recipients: int
    fingerprint: str

    @property
    def duration(self) -> timedelta:
        """How long the run takes to send every invitation."""
        return sending_time(self.recipients, self.rate_per_minute)

    @property
    def duration_in_words(self) -> str:
        """The duration as a person says it: "about 9 minutes"."""
        return in_words(self.duration)


def sending_time(recipients: int, rate_per_minute: int) -> timedelta:
    """How long a run of ``recipients`` at ``rate_per_minute`` takes: the first batch goes at
    once, each later one a batch interval after the one before (runs.batch_interval)."""
    batches = math.ceil(recipients / runs.batch_size(rate_per_minute))
    return max(0, batches - 1) * runs.batch_interval(rate_per_minute)


def in_words(duration: timedelta) -> str:
    """``duration`` in words, to the nearest minute: "about 9 minutes", "about 2 hours and 5
    minutes", or "less than a minute"."""
    minutes = round(duration.total_seconds() / 60)
    if minutes < 1:
        return "less than a minute"
    return "about " + humanize.precisedelta(
        timedelta(minutes=minutes), minimum_unit="minutes", format="%0.0f"
    )


def _fingerprint(session: Session, petition: Petition, region: str | None) -> str:
    # Who the recipients are, in a few figures one query gives: a member joining, signing or
    # opting out changes them even when the count stays the same.
    query = select(func.count(), func.sum(Member.id), func.min(Member.id), func.max(Member.id))
    figures = session.execute(query.where(*runs.targets(petition.id, region))).one()
    text = ":".join(str(figure or 0) for figure in (petition.id, region or "", *figures))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def review(session: Session, petition: Petition, region: str | None, rate: int) -> Review:
    """The review of a run for ``region`` (None: all) at ``rate`` a minute, as of now; refused
    with runs.InvitationError as runs.recipients() refuses."""
    total = runs.recipients(session, petition, region)
    return Review(region, rate, total, _fingerprint(session, petition, region))


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=SALT)


def make_token(settings: Settings, petition: Petition, shown: Review) -> str:
    """The token the review page's confirm button sends: what was reviewed, signed."""
    payload = {
        "p": petition.id,
        "r": shown.region,
        "n": shown.rate_per_minute,
        "t": shown.recipients,
        "f": shown.fingerprint,
    }
    return _serializer(settings).dumps(payload)


def read_token(settings: Settings, petition: Petition, token: str | None) -> Review:
    """The review ``token`` names, for ``petition``; ReviewInvalid when there is none, or it
    is not genuine, is for another petition, or is too old."""
    if not token:
        raise ReviewInvalid(
            "Invitations are sent only after a review: choose who to invite, press Review "
            "the invitations, check the figures and the e-mail, then confirm."
        )
    try:
        payload = _serializer(settings).loads(token, max_age=MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ReviewInvalid(
            "The review is more than an hour old: review the invitations again."
        ) from None
    except BadSignature:
        raise ReviewInvalid(
            "The review was not recognised: review the invitations again."
        ) from None
    if not isinstance(payload, dict) or payload.get("p") != petition.id:
        raise ReviewInvalid("The review was for another petition: review the invitations again.")
    return Review(payload.get("r"), payload.get("n"), payload.get("t"), payload.get("f"))


def changed(session: Session, petition: Petition, reviewed: Review) -> Review | None:
    """The review as it stands now if the recipients differ from ``reviewed``, else None;
    refused with runs.InvitationError as runs.recipients() refuses."""
    now = review(session, petition, reviewed.region, reviewed.rate_per_minute)
    if (now.recipients, now.fingerprint) == (reviewed.recipients, reviewed.fingerprint):
        return None
    return now


def preview(settings: Settings, petition: Petition) -> Mail:
    """The invitation to ``petition`` as a member gets it, greeting a sample member; its links
    are the placeholders a mail holds until it is sent, under the reserved .invalid domain,
    which lead nowhere."""
    return runs.compose_invitation(settings, petition, SAMPLE_MEMBER)

"""What the privacy page says about how long each kind of personal data is kept: the periods in
force, from the *_RETENTION_DAYS settings that the purge (petitions.privacy.purge) keeps to."""

from dataclasses import dataclass

from petitions.config import Settings


@dataclass(frozen=True)
class Kept:
    """One kind of personal data and how long it is kept, in words."""

    what: str
    period: str


# Each kind of data: what the page calls it, the setting that holds its period in days, and
# what the period counts from.
RETENTION = (
    (
        "The e-mails we send: their text and the address they went to",
        "mail_body_retention_days",
        "after sending",
    ),
    (
        "Requests to sign, with the network (/24 or /64) they came from",
        "sign_request_retention_days",
        "after the petition closes",
    ),
    ("Organisers' sessions and sign-in links", "session_retention_days", "after they end"),
    ("Invitations", "invitation_retention_days", "after the petition closes"),
    ("Roll import reports", "roll_report_retention_days", "after the import"),
    (
        "Requests to see or erase your data, and the links we mailed for them",
        "privacy_request_retention_days",
        "after they are answered",
    ),
)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def retention(settings: Settings) -> list[Kept]:
    """How long each kind of personal data is kept, as the settings in force say."""
    kept = []
    for what, name, counted_from in RETENTION:
        kept.append(Kept(what, f"{_days(getattr(settings, name))} {counted_from}"))
    return kept

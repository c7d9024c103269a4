"""What the privacy page says about how long each kind of personal data is kept.

The periods are settings (RETENTION_* in days) where the service has them; a kind without one is
kept until an organiser removes it, and the page says so. Reading each with a default keeps the
page right whichever settings this version has.
"""

from dataclasses import dataclass

from petitions.config import Settings

UNTIL_REMOVED = "kept until removed by an organiser"


@dataclass(frozen=True)
class Kept:
    """One kind of personal data and how long it is kept, in words."""

    what: str
    period: str


# Each kind of data: what the page calls it, the setting that holds its period in days (when
# the service has one), and what the period counts from.
RETENTION = (
    ("The bodies of the e-mails we send", "retention_mail_body_days", "after sending"),
    (
        "Requests to sign, with the network (/24 or /64) they came from",
        "retention_sign_request_days",
        "after the petition closes",
    ),
    ("Organisers' sessions and sign-in links", "retention_session_days", "after they end"),
    ("Invitations", "retention_invitation_days", "after the petition closes"),
    ("Roll import reports", "retention_roll_report_days", "after the import"),
)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def retention(settings: Settings) -> list[Kept]:
    """How long each kind of personal data is kept, as the settings in force say."""
    kept = []
    for what, name, counted_from in RETENTION:
        days = getattr(settings, name, None)
        period = f"{_days(days)} {counted_from}" if isinstance(days, int) else UNTIL_REMOVED
        kept.append(Kept(what, period))
    return kept

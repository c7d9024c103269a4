"""The retention in force: for each kind of personal data, how long it is kept and from when.

The settings (README, "Retention") give the days; this module says what each counts from, in
the words the organisers' pages and the purge's report use.
"""

from dataclasses import dataclass

from petitions.config import Settings


@dataclass(frozen=True)
class Retention:
    """One kind of personal data and how long it is kept once it is no longer needed."""

    kind: str
    setting: str
    days: int
    what: str
    counted_from: str
    then: str


def in_force(settings: Settings) -> list[Retention]:
    """Every kind of personal data the purge looks after, with the days ``settings`` give."""
    return [
        Retention(
            "mail bodies",
            "MAIL_BODY_RETENTION_DAYS",
            settings.mail_body_retention_days,
            "The text of each e-mail sent (and what its links were made from) and its address",
            "after it was sent (or given up on)",
            "blanked; the subject, purpose and time are kept",
        ),
        Retention(
            "sign requests",
            "SIGN_REQUEST_RETENTION_DAYS",
            settings.sign_request_retention_days,
            "Requests to sign: the address, member number and network (/24 or /64) given",
            "after the petition closes",
            "blanked; the outcome and time are kept for the petition's figures",
        ),
        Retention(
            "sessions and sign-in links",
            "SESSION_RETENTION_DAYS",
            settings.session_retention_days,
            "Organisers' and scrutineers' sessions, sign-in links and requests for them",
            "after the session or link ended (used, signed out or expired)",
            "removed",
        ),
        Retention(
            "invitations",
            "INVITATION_RETENTION_DAYS",
            settings.invitation_retention_days,
            "Which member was invited to which petition",
            "after the petition closes",
            "removed; each run's totals are kept",
        ),
        Retention(
            "roll import reports",
            "ROLL_REPORT_RETENTION_DAYS",
            settings.roll_report_retention_days,
            "The lines of a roll import's report and the uploaded roll file",
            "after the import finished",
            "removed; the import's totals and the file's checksum are kept",
        ),
        Retention(
            "requests for members' data",
            "PRIVACY_REQUEST_RETENTION_DAYS",
            settings.privacy_request_retention_days,
            "Requests to see or erase one's data: the address asked about, and the links mailed",
            "after the request was answered (for a link, after it expired)",
            "blanked; when each was asked for and used is kept",
        ),
    ]

"""What the pages call every coded value they show: one table per kind of code, and the
``label`` template filter that looks a value up (``{{ petition.state | label("state") }}``).

A value missing from its table is still shown in words (underscores and dots become spaces),
never as the bare code; tests/web/test_labels.py checks that every known code has its entry.
"""

from dataclasses import dataclass

from flask import Flask

from petitions.db.models import MemberStatus, PetitionState, Role
from petitions.invitations import runs
from petitions.outbox.mail import MailPurpose
from petitions.reports import dashboard as dashboard_report
from petitions.signatures import invalidation
from petitions.signatures.outcomes import SigningOutcome


@dataclass(frozen=True)
class StateLabel:
    """A state's two labels: ``short`` on a badge (the public pages and the dashboard), ``long``
    on a petition's settings and confirmation pages, which also say what it means for signing."""

    short: str
    long: str


STATE_LABELS = {
    PetitionState.DRAFT: StateLabel("Draft: not open for signing", "Draft: not public yet"),
    PetitionState.OPEN: StateLabel("Open for signing", "Open for signing"),
    PetitionState.TRIGGERED: StateLabel(
        "Threshold reached: vote triggered",
        "Threshold reached: vote triggered, signing goes on",
    ),
    PetitionState.CLOSED: StateLabel("Closed", "Closed"),
}
# The same labels as plain mappings, for templates that look a petition's state up.
SHORT_LABELS = {state: label.short for state, label in STATE_LABELS.items()}
LONG_LABELS = {state: label.long for state, label in STATE_LABELS.items()}
ROLES = {
    Role.ORGANISER: "organiser",
    Role.SCRUTINEER: "scrutineer",
}
MEMBER_STATUSES = {
    MemberStatus.ACTIVE: "Active",
    MemberStatus.LAPSED: "Lapsed",
    MemberStatus.SUSPENDED: "Suspended",
}
# Why a signature was invalidated: the published reason, as a short phrase.
INVALIDATION_REASONS = {
    "not_a_member": "Not a member in good standing",
    "duplicate_person": "One person signed twice",
    "impersonation": "Signed without the member's knowledge",
    "member_request": "Removed at the member's request",
    "other": "Another reason (see the note)",
}
# What a request to sign or a confirmed link came to.
SIGNING_OUTCOMES = {
    SigningOutcome.CONFIRMED: "Signature confirmed",
    SigningOutcome.ALREADY_SIGNED: "Had already signed",
    SigningOutcome.EXPIRED: "Link expired",
    SigningOutcome.INVALID: "Link not valid",
    SigningOutcome.PETITION_CLOSED: "Petition closed",
    SigningOutcome.NOT_IN_GOOD_STANDING: "Not a member in good standing",
    SigningOutcome.NOT_ON_COMMITTED_ROLL: "Not on the roll committed for this petition",
    SigningOutcome.NOT_FOUND: "No such petition",
    SigningOutcome.INVALID_MEMBER_ID: "Membership number not valid",
}
MAIL_PURPOSES = {
    MailPurpose.CONFIRM_LINK: "Confirmation links",
    MailPurpose.HOUSEHOLD_NEEDS_NUMBER: "Answers to a shared address without a number",
    MailPurpose.WRONG_NUMBER: "Answers to a number that does not match",
    MailPurpose.NOT_IN_GOOD_STANDING: "Answers to members not in good standing",
    MailPurpose.NOT_ON_COMMITTED_ROLL: "Answers to members not on the committed roll",
    MailPurpose.ALREADY_SIGNED: "Answers to members who had already signed",
    MailPurpose.PETITION_CLOSED: "Answers to requests after closing",
    MailPurpose.SIGN_IN: "Sign-in links",
    MailPurpose.INVITATION: "Invitations",
    MailPurpose.DATA_EXPORT: "Links to members' data",
    MailPurpose.MANAGE_LINK: "Links to withdraw a signature",
    MailPurpose.NOT_SIGNED: "Answers to members who had not signed",
    MailPurpose.ALREADY_MAILED: "Requests answered by a link mailed earlier",
    MailPurpose.ERASURE_LINK: "Links to erase members' data",
    MailPurpose.NAME_USED: 'Answers to "Was my name used?": a signature in the name',
    MailPurpose.NAME_NOT_USED: 'Answers to "Was my name used?": no signature in the name',
    MailPurpose.NAME_REPORTED: "Reports of a signature the member did not make, to scrutineers",
}
# A threshold webhook's delivery, as the dashboard sums it up.
WEBHOOK_STATES = {
    "delivered": "Delivered",
    "disabled": "Refused (410): not sent again",
    "trying": "Being tried now",
    "waiting": "Not delivered yet",
}
# How a delivery ended, as the outbox stores it.
WEBHOOK_OUTCOMES = {
    "delivered": "Delivered",
    "disabled": "Refused (410): not sent again",
    "failed": "Failed",
}
ROLL_OUTCOMES = {
    "accepted": "Imported",
    "refused": "Refused",
    "failed": "Failed",
    "running": "Running",
    None: "Running",
}
SIGNATURE_FILTERS = {
    "all": "All",
    "counted": "Counted",
    "invalidated": "Invalidated",
}
# What the audit trail records, in the words of the trail's "What" column.
AUDIT_ACTIONS = {
    "petition.create": "Petition created",
    "petition.edit": "Petition changed",
    "petition.open": "Petition opened",
    "petition.close": "Petition closed",
    "petition.recommit": "Roll re-committed",
    "petition.threshold_reached": "Threshold reached",
    "signature.invalidate": "Signature invalidated",
    "signature.reported": "Signature reported by the member named",
    "log.commitment_key": "Commitment key revealed",
    "log.sample": "Sample drawn for scrutineers",
    "roll.upload": "Roll uploaded",
    "invitations.start": "Invitations started",
    "invitations.pause": "Invitations paused",
    "invitations.resume": "Invitations resumed",
    "invitations.cancel": "Invitations cancelled",
    "webhook.retry": "Webhook retried",
    "user.add": "Account added",
    "user.role": "Account's role changed",
    "user.disable": "Account disabled",
    "privacy.export": "Member's data exported",
    "privacy.erase": "Member's data erased",
}

TABLES: dict[str, dict] = {
    "state": SHORT_LABELS,
    "state_long": LONG_LABELS,
    "role": ROLES,
    "member_status": MEMBER_STATUSES,
    "invalidation_reason": INVALIDATION_REASONS,
    "invalidation_reason_long": invalidation.REASONS,
    "request_reason": dashboard_report.REASONS,
    "signing_outcome": SIGNING_OUTCOMES,
    "mail_purpose": MAIL_PURPOSES,
    "webhook_state": WEBHOOK_STATES,
    "webhook_outcome": WEBHOOK_OUTCOMES,
    "roll_outcome": ROLL_OUTCOMES,
    "invitation_run": runs.STATE_LABELS,
    "signature_filter": SIGNATURE_FILTERS,
    "audit_action": AUDIT_ACTIONS,
}


def label(value, kind: str) -> str:
    """The words for ``value``, a code of ``kind`` (a key of TABLES).

    A code the table lacks is still shown in words, the first letter capitalised.
    """
    table = TABLES[kind]
    if value in table:
        return table[value]
    words = str(value).replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:]


def init_app(app: Flask) -> None:
    """Give every template the ``label`` filter."""
    app.add_template_filter(label, "label")

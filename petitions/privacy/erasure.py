"""Erasing what is held about one address (UK GDPR art. 17).

The rows are the export's (petitions.privacy.export.find, by the address's matching key), plus
the requests and links asked for with the address and any roll report that quotes it. What the
counts and the public log depend on stays: each signature, its leaf, the heads, the threshold
event, the invalidation (without its note). The signature keeps its place through a roll row
emptied of everything personal (a random placeholder for the member number, no address, name or
date joined; the region stays, so the split by region of a count does not change), and it keeps
the commitment its leaf already publishes, so that one signature per member still holds if a
later roll brings the member back (petitions.signatures.signing checks it).

Refused, changing nothing: a member still on the current roll (active or suspended: the roll
would bring them straight back, and the organisation must remove them from it first), and an
address with an organiser's or scrutineer's account (its acts in the audit trail are kept under
it; the account is disabled and answered for by the organisation instead).

Erasing is idempotent: a second erasure of the same address finds nothing left to erase.
"""

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, or_, select, update
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.models import (
    AuditEvent,
    DataExport,
    DataExportRequest,
    Erasure,
    ErasureRequest,
    Invitation,
    LogLeaf,
    MemberStatus,
    Petition,
    RollImportNote,
    RollUpload,
    SignInRequest,
    SignRequest,
)
from petitions.outbox import mail as outbox_mail
from petitions.privacy import export
from petitions.roll.addresses import InvalidAddress, parse_address
from petitions.signatures import sequencer
from petitions.transparency import leaves

# The kinds of row an erasure counts, in the order the pages list them.
KINDS = (
    "roll_entries",
    "sign_requests",
    "signatures",
    "mails",
    "invitations",
    "opt_outs",
    "data_requests",
    "roll_reports",
)
# What stands in for erased text in a record that is kept (an audit entry, a report line).
ERASED = "[erased]"
# The start of the placeholder member number of an erased roll row.
PLACEHOLDER_PREFIX = "erased-"


class Refusal(StrEnum):
    """Why an address cannot be erased now."""

    ON_ROLL = "on_roll"
    ACCOUNT = "account"


class ErasureRefused(Exception):
    """The erasure was refused; ``refusal`` says why. Nothing was changed."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal)
        self.refusal = refusal


@dataclass(frozen=True)
class Plan:
    """What erasing an address would do (or did): rows per kind (KINDS), the petitions whose
    signatures stay counted, and why it is refused, if it is."""

    counts: dict[str, int] = field(default_factory=dict)
    petitions: tuple[str, ...] = ()
    refusal: Refusal | None = None

    @property
    def total(self) -> int:
        """Rows in all."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """The counts in one line, for the audit trail: figures only, nobody's data."""
        return ", ".join(f"{self.counts.get(kind, 0)} {kind}" for kind in KINDS)


def refusal(held: export.Held) -> Refusal | None:
    """Why the rows ``held`` cannot be erased (an account; a member still on the roll), or
    None."""
    if held.accounts:
        return Refusal.ACCOUNT
    if any(member.status != MemberStatus.LAPSED for member in held.members):
        return Refusal.ON_ROLL
    return None


def _keyed(rows, email_key: str) -> list:
    """The rows (with an ``email`` as it was given) whose address has matching key
    ``email_key``; matching keys fold what SQL cannot (gmail dots, ``+tags``), so this is read
    in Python, over tables of requests that the purge keeps short."""
    found = []
    for row in rows:
        try:
            if parse_address(row.email).key == email_key:
                found.append(row)
        except InvalidAddress:
            continue
    return found


def _requests(session: Session, email_key: str) -> list:
    """Requests for data, and for sign-in links, made with the address."""
    found = []
    for model in (DataExportRequest, ErasureRequest, SignInRequest):
        found += _keyed(session.scalars(select(model).where(model.email != "")), email_key)
    return found


def _contains_any(text: str, values: set[str]) -> bool:
    lowered = text.lower()
    return any(value.lower() in lowered for value in values)


def _quoted(held: export.Held, email_key: str) -> set[str]:
    """The texts whose presence in a free-text field shows it is about this member: every
    address, the matching key, names of three letters or more."""
    names = {member.name for member in held.members if member.name and len(member.name) >= 3}
    return {*held.addresses, email_key, *names} - {""}


def _roll_reports(session: Session, held: export.Held, quoted: set[str]) -> tuple[list, list]:
    """The roll report lines about the member and the uploaded roll files that hold them."""
    numbers = {member.number for member in held.members}
    notes = list(
        session.scalars(
            select(RollImportNote).where(
                or_(
                    RollImportNote.member_number.in_(numbers),
                    *(func.lower(RollImportNote.detail).contains(v.lower()) for v in quoted),
                )
            )
        )
    )
    uploads = [
        upload_id
        for upload_id, data in session.execute(
            select(RollUpload.id, RollUpload.data).where(func.length(RollUpload.data) > 0)
        )
        if _contains_any(bytes(data).decode("utf-8", "replace"), quoted)
    ]
    return notes, uploads


def plan(session: Session, email_key: str) -> Plan:
    """What erasing the address whose matching key is ``email_key`` would do (reads only)."""
    held = export.find(session, email_key)
    notes, uploads = _roll_reports(session, held, _quoted(held, email_key))
    data_requests = _requests(session, email_key)
    exports = session.scalar(
        select(func.count()).select_from(DataExport).where(DataExport.email_key == email_key)
    )
    petition_ids = {signature.petition_id for signature in held.signatures}
    slugs = (
        tuple(session.scalars(select(Petition.slug).where(Petition.id.in_(petition_ids))))
        if petition_ids
        else ()
    )
    counts = {
        "roll_entries": len(held.members),
        "sign_requests": len(held.requests),
        "signatures": len(held.signatures),
        "mails": len(held.mails),
        "invitations": len(held.invitations),
        "opt_outs": len(held.opt_outs),
        "data_requests": len(data_requests) + exports,
        "roll_reports": len(notes) + len(uploads),
    }
    return Plan(counts, tuple(sorted(slugs)), refusal(held))


def _sequence_waiting(session: Session, settings: Settings, held: export.Held, now) -> bool:
    """Count any of the member's signatures still waiting for the sequencer, so that each has
    its leaf (and its commitment) before the member number goes. True if there were any."""
    waiting = {s.petition_id for s in held.signatures if s.number is None}
    for petition_id in sorted(waiting):
        sequencer.sequence(session, settings, petition_id, now)
    return bool(waiting)


def _keep_commitments(session: Session, held: export.Held) -> None:
    """Give each signature the commitment its leaf publishes."""
    if not held.signatures:
        return
    published = dict(
        session.execute(
            select(LogLeaf.signature_id, LogLeaf.data).where(
                LogLeaf.signature_id.in_([s.id for s in held.signatures]),
                LogLeaf.kind == "signature",
            )
        ).all()
    )
    for signature in held.signatures:
        if signature.id in published:
            signature.commitment = leaves.decode(bytes(published[signature.id]))["commitment"]


def _scrub(text: str, quoted: set[str]) -> str:
    for value in sorted(quoted, key=len, reverse=True):
        lowered, needle = text.lower(), value.lower()
        while needle in lowered:
            at = lowered.index(needle)
            text = text[:at] + ERASED + text[at + len(needle) :]
            lowered = text.lower()
    return text


def _erase_mails(held: export.Held, now: datetime) -> None:
    for row in held.mails:
        if row.done_at is None:
            # Never sent now: there is nobody to send it to.
            row.done_at, row.transport, row.leased_until = now, outbox_mail.FAILED, None
            row.last_error = "erased before it was sent"
        elif row.last_error:
            # A mail server's refusal may quote the address.
            row.last_error = ERASED
        row.to_address, row.text_body, row.html_body, row.links = "", "", "", None


def _erase_roll_rows(held: export.Held, now: datetime) -> None:
    for member in held.members:
        member.number = PLACEHOLDER_PREFIX + secrets.token_hex(16)
        member.email, member.email_key, member.name, member.joined_on = "", "", None, None
        member.status, member.erased_at, member.updated_at = MemberStatus.LAPSED, now, now


def erase(session: Session, settings: Settings, email_key: str, now: datetime) -> Plan:
    """Erase what is held about the address whose matching key is ``email_key``, in the
    caller's transaction; return what was erased. Raises ErasureRefused (changing nothing) for
    a member on the current roll or an address with an account."""
    held = export.find(session, email_key)
    refused = refusal(held)
    if refused is not None:
        raise ErasureRefused(refused)
    if _sequence_waiting(session, settings, held, now):
        # The sequencer refuses (deletes) what waited on a closed petition: look again.
        session.expire_all()
        held = export.find(session, email_key)
    done = plan(session, email_key)
    quoted = _quoted(held, email_key)
    notes, uploads = _roll_reports(session, held, quoted)

    _keep_commitments(session, held)
    for invalidation in held.invalidations.values():
        invalidation.note = ""
    member_ids = [member.id for member in held.members]
    if member_ids:
        session.execute(delete(Invitation).where(Invitation.member_id.in_(member_ids)))
    _erase_mails(held, now)
    for request in held.requests:
        request.email, request.email_key = "", ""
        request.member_number, request.network = None, None
        if request.done_at is None:
            request.done_at, request.leased_until = now, None
    numbers = [member.number for member in held.members]
    if numbers:
        # Someone else may have typed this member's number when asking to sign.
        session.execute(
            update(SignRequest)
            .where(SignRequest.member_number.in_(numbers))
            .values(member_number=None)
        )
    for row in held.opt_outs:
        session.delete(row)
    for request in _requests(session, email_key):
        request.email = ""
        if request.done_at is None:
            request.done_at, request.leased_until = now, None
    session.execute(
        update(DataExport).where(DataExport.email_key == email_key).values(email_key="")
    )
    session.execute(update(Erasure).where(Erasure.email_key == email_key).values(email_key=""))
    for note in notes:
        session.delete(note)
    if uploads:
        session.execute(update(RollUpload).where(RollUpload.id.in_(uploads)).values(data=b""))
    for event in session.scalars(select(AuditEvent).where(AuditEvent.detail != "")):
        if _contains_any(event.detail, quoted):
            event.detail = _scrub(event.detail, quoted)
    _erase_roll_rows(held, now)
    session.flush()
    return done


def record(counts: dict[str, int]) -> str:
    """An erasure's counts as ``Erasure.counts`` keeps them."""
    return json.dumps(counts, sort_keys=True)

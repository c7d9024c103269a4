"""Everything held about one address, gathered for the member it belongs to (UK GDPR art. 15).

Rows are found by the address's matching key (petitions.roll.addresses), so every variant of
one mailbox (case, gmail dots, ``+tags``) finds the same rows, and nothing else: another
member's rows are never read into an export. Mails are listed by subject, time and purpose; their
bodies are not, since a body may quote what was written to someone else.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import (
    Invalidation,
    Invitation,
    Mail,
    MailOptOut,
    Member,
    Petition,
    Signature,
    SignRequest,
    UserAccount,
)

# The sections of an export, in the order the page shows them.
SECTIONS = (
    "roll_entries",
    "sign_requests",
    "signatures",
    "mails",
    "invitations",
    "opt_outs",
    "accounts",
)


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _petitions(session: Session, ids: set[int]) -> dict[int, Petition]:
    if not ids:
        return {}
    rows = session.scalars(select(Petition).where(Petition.id.in_(ids)))
    return {petition.id: petition for petition in rows}


def _petition_fields(petitions: dict[int, Petition], petition_id: int | None) -> dict:
    petition = petitions.get(petition_id) if petition_id is not None else None
    if petition is None:
        return {"petition": None, "petition_title": None}
    return {"petition": petition.slug, "petition_title": petition.title}


def _signature_state(signature: Signature, invalidation: Invalidation | None) -> str:
    if getattr(signature, "withdrawn_at", None) is not None:
        return "withdrawn"
    if invalidation is not None or signature.invalidated_at is not None:
        return "invalidated"
    return "counted" if signature.number is not None else "waiting_to_be_counted"


def _mail_state(mail: Mail) -> str:
    if mail.done_at is None:
        return "waiting"
    return "failed" if mail.transport == "failed" else "sent"


@dataclass(frozen=True)
class Held:
    """The rows held about one matching key, found the one way both the export and the erasure
    (petitions.privacy.erasure) use."""

    members: list[Member]
    requests: list[SignRequest]
    accounts: list[UserAccount]
    signatures: list[Signature]
    invalidations: dict[int, Invalidation]
    invitations: list[Invitation]
    mails: list[Mail]
    opt_outs: list[MailOptOut]

    def holds_anything(self) -> bool:
        """Whether any row at all is held (an invalidation only ever goes with a signature)."""
        return any(
            (
                self.members,
                self.requests,
                self.accounts,
                self.signatures,
                self.invitations,
                self.mails,
                self.opt_outs,
            )
        )

    @property
    def addresses(self) -> set[str]:
        """Every address, as stored, that mail for this key can have gone to."""
        return _addresses(self.members, self.requests, self.accounts)


def _addresses(members, requests, accounts) -> set[str]:
    # Mail goes only to addresses on the roll, on accounts or given in a request: those of one
    # key are every address its mail can have gone to (an erased row's blank one is none).
    return {
        *(member.email for member in members),
        *(request.email for request in requests),
        *(account.email for account in accounts),
    } - {""}


def find(session: Session, email_key: str) -> Held:
    """The rows held about the address whose matching key is ``email_key``, and no others."""
    if not email_key:
        # Blank is the key of erased and purged rows, never of an address.
        return Held([], [], [], [], {}, [], [], [])
    members = list(session.scalars(select(Member).where(Member.email_key == email_key)))
    member_ids = {member.id for member in members}
    requests = list(
        session.scalars(
            select(SignRequest).where(SignRequest.email_key == email_key).order_by(SignRequest.id)
        )
    )
    accounts = list(session.scalars(select(UserAccount).where(UserAccount.email_key == email_key)))
    signatures = (
        list(
            session.scalars(
                select(Signature).where(Signature.member_id.in_(member_ids)).order_by(Signature.id)
            )
        )
        if member_ids
        else []
    )
    invalidations = (
        {
            row.signature_id: row
            for row in session.scalars(
                select(Invalidation).where(
                    Invalidation.signature_id.in_([signature.id for signature in signatures])
                )
            )
        }
        if signatures
        else {}
    )
    invitations = (
        list(
            session.scalars(
                select(Invitation)
                .where(Invitation.member_id.in_(member_ids))
                .order_by(Invitation.id)
            )
        )
        if member_ids
        else []
    )
    addresses = _addresses(members, requests, accounts)
    mails = (
        list(
            session.scalars(
                select(Mail).where(Mail.to_address.in_(addresses)).order_by(Mail.created_at)
            )
        )
        if addresses
        else []
    )
    opt_outs = list(session.scalars(select(MailOptOut).where(MailOptOut.email_key == email_key)))
    return Held(
        members, requests, accounts, signatures, invalidations, invitations, mails, opt_outs
    )


def collect(session: Session, email_key: str) -> dict[str, Any]:
    """What is held about the address whose matching key is ``email_key``: one list per
    section (SECTIONS), each item a JSON-ready dict, plus the key itself."""
    held = find(session, email_key)
    members, requests, accounts = held.members, held.requests, held.accounts
    signatures, invalidations, invitations = held.signatures, held.invalidations, held.invitations
    mails, opt_outs = held.mails, held.opt_outs
    petitions = _petitions(
        session,
        {row.petition_id for row in [*requests, *signatures, *invitations, *mails]} - {None},
    )
    numbers = {member.id: member.number for member in members}
    return {
        "email_key": email_key,
        "roll_entries": [
            {
                "member_number": member.number,
                "email": member.email,
                "name": member.name,
                "region": member.region,
                "status": member.status,
                "joined_on": _when(member.joined_on),
                "updated_at": _when(member.updated_at),
            }
            for member in members
        ],
        "sign_requests": [
            {
                **_petition_fields(petitions, request.petition_id),
                "email": request.email,
                "member_number": request.member_number,
                "network": request.network,
                # What was asked: "sign", "manage" (the link to withdraw) or "name_check"
                # ("Was my name used?").
                "kind": request.kind,
                "outcome": request.outcome,
                "requested_at": _when(request.created_at),
            }
            for request in requests
        ],
        "signatures": [
            {
                **_petition_fields(petitions, signature.petition_id),
                "member_number": numbers.get(signature.member_id),
                "confirmed_at": _when(signature.confirmed_at),
                "signature_number": signature.number,
                "state": _signature_state(signature, invalidations.get(signature.id)),
                "invalidation_reason": (
                    invalidations[signature.id].reason if signature.id in invalidations else None
                ),
            }
            for signature in signatures
        ],
        "mails": [
            {
                **_petition_fields(petitions, mail.petition_id),
                "to": mail.to_address,
                "subject": mail.subject,
                "purpose": mail.purpose,
                "written_at": _when(mail.created_at),
                "sent_at": _when(mail.done_at) if _mail_state(mail) == "sent" else None,
                "state": _mail_state(mail),
            }
            for mail in mails
        ],
        "invitations": [
            {
                **_petition_fields(petitions, invitation.petition_id),
                "member_number": numbers.get(invitation.member_id),
                "invited_at": _when(invitation.created_at),
            }
            for invitation in invitations
        ],
        "opt_outs": [{"opted_out_at": _when(row.created_at)} for row in opt_outs],
        "accounts": [
            {
                "email": account.email,
                "role": account.role,
                "created_at": _when(account.created_at),
                "disabled_at": _when(account.disabled_at),
            }
            for account in accounts
        ],
    }

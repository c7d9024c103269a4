"""The tables. Rules about them live in the modules named for each concern."""

import secrets
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary, Numeric, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from petitions.db.engine import UTCDateTime, utcnow


class MemberStatus(StrEnum):
    """A member's standing on the roll: only an active member may sign or be invited."""

    ACTIVE = "active"
    LAPSED = "lapsed"
    SUSPENDED = "suspended"


class PetitionState(StrEnum):
    """Where a petition is in its life; petitions.lifecycle.rules says how it moves on."""

    DRAFT = "draft"
    OPEN = "open"
    TRIGGERED = "triggered"
    CLOSED = "closed"


def _time(*, nullable: bool, default=None):
    """A UTC timestamp field; ``default`` (a callable) also applies to Core inserts."""
    if default is None:
        return Field(default=None, sa_type=UTCDateTime, nullable=nullable)
    return Field(
        default_factory=default,
        sa_type=UTCDateTime,
        nullable=nullable,
        sa_column_kwargs={"default": default},
    )


# The longest page a sign-in link may lead back to (the column's size).
NEXT_PAGE_MAX = 2000


class Member(SQLModel, table=True):
    """One row of the membership roll, keyed by the organisation's member number (``number``;
    its column, like the roll file's, is called ``member_id``)."""

    __tablename__ = "member"
    __table_args__ = (Index("ix_member_email_key", "email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True, sa_column_kwargs={"name": "member_id"})
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    status: str = Field(default=MemberStatus.ACTIVE, max_length=16)
    joined_on: date | None = None
    updated_at: datetime = _time(nullable=False, default=utcnow)
    # Set when the member's personal data was erased (petitions.privacy.erasure): the row stays
    # only so that their signatures keep their place in the counts, with no address, name or
    # member number (``number`` is then a random placeholder).
    erased_at: datetime | None = _time(nullable=True)


class RollImport(SQLModel, table=True):
    """One run of ``roll import``: what file, when, what it did (or why it was refused)."""

    __tablename__ = "roll_import"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    started_at: datetime = _time(nullable=False, default=utcnow)
    finished_at: datetime | None = _time(nullable=True)
    outcome: str = Field(default="running", max_length=16)
    refusal: str | None = Field(default=None, sa_column=Column(Text))
    replace: bool = False
    strict: bool = False
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    lapsed: int = 0
    rejected: int = 0
    household_addresses: int = 0
    household_members: int = 0


class RollImportNote(SQLModel, table=True):
    """A line of an import's report: a rejected row, or a member who shares an address."""

    __tablename__ = "roll_import_note"
    __table_args__ = (Index("ix_roll_import_note_import_line", "import_id", "line"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="roll_import.id")
    kind: str = Field(max_length=16)
    line: int
    # The member number the file gave on that line (the column keeps the file's name for it).
    member_number: str | None = Field(
        default=None, max_length=64, sa_column_kwargs={"name": "member_id"}
    )
    detail: str = Field(sa_column=Column(Text, nullable=False))


class Petition(SQLModel, table=True):
    """A petition and its threshold; ``signature_count`` is the maintained count."""

    __tablename__ = "petition"
    __table_args__ = (UniqueConstraint("slug", name="uq_petition_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str = Field(default=PetitionState.DRAFT, max_length=16)
    threshold_absolute: int | None = None
    threshold_percent: float | None = Field(
        default=None, sa_column=Column(Numeric(6, 3, asdecimal=False))
    )
    threshold: int | None = None
    eligible_members: int | None = None
    signature_count: int = 0
    last_number: int = 0
    log_size: int = 0
    log_secret: str = Field(default_factory=lambda: secrets.token_hex(32), max_length=64)
    webhook_url: str | None = Field(default=None, max_length=2000)
    # How many configured witnesses must cosign the crossing checkpoint (or a later one)
    # before the threshold webhook goes out; 0: it goes out at once.
    witnesses_required: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _time(nullable=False, default=utcnow)
    opened_at: datetime | None = _time(nullable=True)
    closes_at: datetime | None = _time(nullable=True)
    reached_at: datetime | None = _time(nullable=True)
    closed_at: datetime | None = _time(nullable=True)
    # The generation of the committed roll in force (petitions.transparency.roll_commitment);
    # empty for a petition opened before rolls were committed, whose eligibility is the roll's.
    roll_generation: int | None = None


class Work(SQLModel):
    """Fields of a row that is also work to do (the outbox): an e-mail to send, a webhook to
    deliver, a sign request to answer. Written in the transaction that causes it; done by a
    worker; found again by the relay if its job is lost."""

    created_at: datetime = _time(nullable=False, default=utcnow)
    attempts: int = 0
    next_attempt_at: datetime = _time(nullable=False, default=utcnow)
    leased_until: datetime | None = _time(nullable=True)
    done_at: datetime | None = _time(nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text)


class SignRequest(Work, table=True):
    """Someone asked to sign with an address; a worker decides what to tell that mailbox."""

    __tablename__ = "sign_request"
    __table_args__ = (
        Index("ix_sign_request_due", "done_at", "next_attempt_at"),
        Index("ix_sign_request_petition_created", "petition_id", "created_at"),
        # The links lately mailed to one mailbox (petitions.signatures.mail_limits).
        Index("ix_sign_request_key_done", "email_key", "done_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320)
    member_number: str | None = Field(default=None, max_length=64)
    network: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, max_length=32)
    # "sign" asks for a signing link; "manage" for the link to withdraw a signature made;
    # "name_check" whether a signature is counted in the member's name (answered after the
    # close too).
    kind: str = Field(default="sign", max_length=16, sa_column_kwargs={"server_default": "sign"})


class Mail(Work, table=True):
    """An e-mail to send, composed when it is decided on; its links are not in it.

    The bodies hold a placeholder where each link goes, and ``links`` (JSON) what each link is
    made from; the links are made when the mail is sent, so that whoever reads the database
    finds no link that would sign or sign in (outbox.mail).
    """

    __tablename__ = "mail"
    __table_args__ = (
        Index("ix_mail_due", "done_at", "next_attempt_at"),
        # Only the mail not sent yet, with every column the backlog reads (outbox.backlog): the
        # public pages ask about it on every view during a surge, and an index of the few
        # waiting rows answers without touching the table or the mail already sent. done_at
        # (always null here) comes first so that SQLite, which matches "done_at IS NULL" to
        # the first column of an index, prefers this one to ix_mail_due.
        Index(
            "ix_mail_waiting",
            "done_at",
            "created_at",
            "next_attempt_at",
            "attempts",
            "petition_id",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(sa_column=Column(Text, nullable=False))
    purpose: str = Field(max_length=32)
    petition_id: int | None = Field(default=None, foreign_key="petition.id")
    transport: str | None = Field(default=None, max_length=8)
    links: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Signature(SQLModel, table=True):
    """A confirmed signature: one per petition and member, enforced by the database.

    ``number`` is empty until the petition's sequencer counts the signature and gives it its
    leaf of the log (petitions.signatures.sequencer); only numbered signatures are counted.
    """

    __tablename__ = "signature"
    __table_args__ = (
        # One signature per member that is not withdrawn: a member who withdrew may sign again,
        # which is a new signature with a new number and leaf (README, "Withdrawing").
        Index(
            "uq_signature_petition_member",
            "petition_id",
            "member_id",
            unique=True,
            postgresql_where=text("withdrawn_at IS NULL"),
            sqlite_where=text("withdrawn_at IS NULL"),
        ),
        UniqueConstraint("petition_id", "number", name="uq_signature_petition_number"),
        # The signatures waiting for the sequencer: few, and found without reading the rest.
        Index(
            "ix_signature_unsequenced",
            "petition_id",
            postgresql_where=text("number IS NULL"),
            sqlite_where=text("number IS NULL"),
        ),
        # The signatures of erased members, found by the commitment their leaf carries.
        Index(
            "ix_signature_commitment",
            "petition_id",
            "commitment",
            postgresql_where=text("commitment IS NOT NULL"),
            sqlite_where=text("commitment IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    member_id: int = Field(foreign_key="member.id")
    number: int | None = None
    nonce: str = Field(max_length=64)
    confirmed_at: datetime = _time(nullable=False, default=utcnow)
    # When the signature stopped counting (an invalidation, or a withdrawal, which sets both).
    invalidated_at: datetime | None = _time(nullable=True)
    # A member's withdrawal: ``withdrawal_leaf`` is the index of the log leaf cancelling it.
    withdrawn_at: datetime | None = _time(nullable=True)
    withdrawal_leaf: int | None = None
    # Set when the member's data is erased: the commitment of their leaf (as the public log
    # has it), so that one signature per member still holds if the roll brings them back.
    commitment: str | None = Field(default=None, max_length=64)


class ThresholdEvent(SQLModel, table=True):
    """The moment a petition's count reached its threshold: at most one per petition."""

    __tablename__ = "threshold_event"
    __table_args__ = (UniqueConstraint("petition_id", name="uq_threshold_event_petition"),)

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    signature_id: int = Field(foreign_key="signature.id")
    count: int
    threshold: int
    eligible_members: int
    reached_at: datetime = _time(nullable=False)


class WebhookDelivery(Work, table=True):
    """The threshold webhook to one URL; its id and body are fixed, so every attempt is the same
    message. ``outcome`` is delivered (a 2xx), disabled (410) or empty while trying."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", name="uq_webhook_delivery_webhook_id"),
        Index("ix_webhook_delivery_due", "done_at", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="threshold_event.id")
    webhook_id: str = Field(max_length=64)
    url: str | None = Field(default=None, max_length=2000)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str | None = Field(default=None, max_length=16)
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    # True while the petition's witnesses have not yet cosigned enough: the body is completed
    # with the cosigned checkpoint, once, before the first try (signatures.thresholds).
    awaiting_witnesses: bool = Field(
        default=False, sa_column_kwargs={"server_default": text("false")}
    )


class WebhookAttempt(SQLModel, table=True):
    """One try at delivering a webhook, kept whatever its result."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id")
    number: int
    started_at: datetime = _time(nullable=False)
    duration_ms: int
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))


class DevWebhookReceipt(SQLModel, table=True):
    """What the development receiver got, when no ballot system is configured."""

    __tablename__ = "dev_webhook_receipt"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _time(nullable=False, default=utcnow)
    webhook_id: str = Field(max_length=64)
    headers: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    verified: bool


class LogLeaf(SQLModel, table=True):
    """One entry of a petition's public append-only log, as the canonical bytes published."""

    __tablename__ = "log_leaf"
    __table_args__ = (UniqueConstraint("petition_id", "index", name="uq_log_leaf_index"),)

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    index: int
    kind: str = Field(max_length=16)
    signature_id: int | None = Field(default=None, foreign_key="signature.id")
    data: bytes = Field(sa_type=LargeBinary)
    leaf_hash: bytes = Field(sa_type=LargeBinary)


class LogNode(SQLModel, table=True):
    """The hash of a complete subtree of a petition's log: what O(log n) proofs are made of."""

    __tablename__ = "log_node"

    petition_id: int = Field(foreign_key="petition.id", primary_key=True)
    level: int = Field(primary_key=True)
    index: int = Field(primary_key=True)
    hash: bytes = Field(sa_type=LargeBinary)


class TreeHead(SQLModel, table=True):
    """A signed statement of a petition's log: its size and root hash at a time."""

    __tablename__ = "tree_head"
    __table_args__ = (UniqueConstraint("petition_id", "size", name="uq_tree_head_size"),)

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    size: int
    root_hash: str = Field(max_length=64)
    timestamp: datetime = _time(nullable=False)
    signature: str = Field(max_length=200)


class WitnessSubmission(Work, table=True):
    """Keeping one witness up to date with one petition's log: the work is to have the newest
    signed head cosigned. Reopened whenever a head is signed (transparency.witnessing)."""

    __tablename__ = "witness_submission"
    __table_args__ = (
        UniqueConstraint("petition_id", "witness", name="uq_witness_submission"),
        Index("ix_witness_submission_due", "done_at", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    witness: str = Field(max_length=200)
    # The size the witness last said it cosigned (a 409 tells it), sent as "old".
    witness_size: int = 0
    cosigned_size: int = 0
    cosigned_at: datetime | None = _time(nullable=True)
    # Answers that were not a valid cosignature: counted and the last one kept, never trusted.
    rejected_answers: int = 0
    last_rejected_answer: str | None = Field(default=None, sa_type=Text)
    last_rejected_at: datetime | None = _time(nullable=True)


class WitnessCosignature(SQLModel, table=True):
    """A witness's verified cosignature (its note signature line) of one checkpoint."""

    __tablename__ = "witness_cosignature"
    __table_args__ = (
        UniqueConstraint("petition_id", "witness", "size", name="uq_witness_cosignature"),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    witness: str = Field(max_length=200)
    size: int
    root_hash: str = Field(max_length=64)
    signed_at: datetime = _time(nullable=False)
    received_at: datetime = _time(nullable=False, default=utcnow)
    line: str = Field(sa_column=Column(Text, nullable=False))


class RollCommitment(SQLModel, table=True):
    """The eligible roll a petition counts, as committed when it opened (generation 1) or when
    an organiser re-committed it: the Merkle root over the sorted commitments of its eligible
    members, how many they are, and the signature published with them."""

    __tablename__ = "roll_commitment"
    __table_args__ = (
        UniqueConstraint("petition_id", "generation", name="uq_roll_commitment_generation"),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    generation: int
    root_hash: str = Field(max_length=64)
    eligible_count: int
    # The count of the generation it replaced; empty for the first.
    previous_count: int | None = None
    committed_at: datetime = _time(nullable=False)
    signature: str = Field(max_length=200)
    leaf_index: int
    committed_by: str = Field(max_length=320)
    # Why an organiser re-committed (kept for scrutineers, not published); empty at opening.
    reason: str = Field(default="", sa_type=Text)


class CommittedMember(SQLModel, table=True):
    """One eligible member's commitment in one generation of a petition's committed roll: the
    set signing checks membership of, by its primary key."""

    __tablename__ = "committed_member"

    petition_id: int = Field(foreign_key="petition.id", primary_key=True)
    generation: int = Field(primary_key=True)
    commitment: bytes = Field(sa_type=LargeBinary, primary_key=True)


class Invalidation(SQLModel, table=True):
    """An organiser's decision that a signature does not count: who, when and why. The
    signature itself is kept; the log gets a leaf cancelling it."""

    __tablename__ = "invalidation"
    __table_args__ = (UniqueConstraint("signature_id", name="uq_invalidation_signature"),)

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    signature_id: int = Field(foreign_key="signature.id")
    reason: str = Field(max_length=32)
    note: str = Field(default="", sa_type=Text)
    decided_by: str = Field(max_length=320)
    decided_at: datetime = _time(nullable=False, default=utcnow)
    leaf_index: int


class Role(StrEnum):
    """What a signed-in account may do: an organiser runs petitions, a scrutineer reads."""

    ORGANISER = "organiser"
    SCRUTINEER = "scrutineer"


class UserAccount(SQLModel, table=True):
    """Someone who signs in: an organiser (runs petitions) or a scrutineer (reads, checks)."""

    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("email_key", name="uq_user_account_email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320)
    role: str = Field(max_length=16)
    created_at: datetime = _time(nullable=False, default=utcnow)
    disabled_at: datetime | None = _time(nullable=True)


class SignInRequest(Work, table=True):
    """Someone asked for a sign-in link; a worker decides whether the address has an account
    (so the form does the same work, and takes the same time, for every address)."""

    __tablename__ = "sign_in_request"
    __table_args__ = (Index("ix_sign_in_request_due", "done_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    next_page: str | None = Field(default=None, max_length=NEXT_PAGE_MAX)


class SignInLink(SQLModel, table=True):
    """A sign-in link mailed to an account; ``used_at`` makes it single-use."""

    __tablename__ = "sign_in_link"
    __table_args__ = (UniqueConstraint("nonce", name="uq_sign_in_link_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    nonce: str = Field(max_length=64)
    created_at: datetime = _time(nullable=False, default=utcnow)
    used_at: datetime | None = _time(nullable=True)


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored, and the
    session ends (for every copy of the cookie) when ``ended_at`` is set."""

    __tablename__ = "user_session"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_user_session_token_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    token_hash: str = Field(max_length=64)
    created_at: datetime = _time(nullable=False, default=utcnow)
    last_seen_at: datetime = _time(nullable=False, default=utcnow)
    ended_at: datetime | None = _time(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Something a signed-in person did (or a command did on their behalf), kept for
    scrutineers: who, when, what, to which petition."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_petition", "petition_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(nullable=False, default=utcnow)
    actor: str = Field(max_length=320)
    action: str = Field(max_length=64)
    petition_id: int | None = Field(default=None, foreign_key="petition.id")
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class RollUpload(Work, table=True):
    """A roll file uploaded in the browser, imported by a worker with the command line's engine.
    The file is kept in the database so that a worker on any machine can read it."""

    __tablename__ = "roll_upload"
    __table_args__ = (Index("ix_roll_upload_due", "done_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=500)
    data: bytes = Field(sa_type=LargeBinary)
    size: int
    replace: bool = False
    strict: bool = False
    uploaded_by: str = Field(max_length=320)
    import_id: int | None = Field(default=None, foreign_key="roll_import.id")
    outcome: str | None = Field(default=None, max_length=16)


class InvitationRun(Work, table=True):
    """Inviting every active member (or one region's) to sign a petition, a batch at a time at a
    set rate. Each member is invited at most once per petition (``Invitation``'s unique key), so
    a run taken over after a crash sends nobody a second mail."""

    __tablename__ = "invitation_run"
    __table_args__ = (Index("ix_invitation_run_due", "done_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    region: str | None = Field(default=None, max_length=100)
    rate_per_minute: int
    started_by: str = Field(max_length=320)
    total: int = 0
    sent: int = 0
    cancelled_at: datetime | None = _time(nullable=True)
    # Set while an organiser has paused the run; a batch offered meanwhile sends nothing.
    paused_at: datetime | None = _time(nullable=True)
    # Set when the run ended because its petition closed.
    stopped_at: datetime | None = _time(nullable=True)


class Invitation(SQLModel, table=True):
    """One member invited to one petition: the mail, and the run that sent it."""

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("petition_id", "member_id", name="uq_invitation_petition_member"),
        Index("ix_invitation_run", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="invitation_run.id")
    petition_id: int = Field(foreign_key="petition.id")
    member_id: int = Field(foreign_key="member.id")
    mail_id: int | None = Field(default=None, foreign_key="mail.id")
    created_at: datetime = _time(nullable=False, default=utcnow)


class MailOptOut(SQLModel, table=True):
    """An address whose owner asked not to be sent invitations again (by matching key)."""

    __tablename__ = "mail_opt_out"
    __table_args__ = (UniqueConstraint("email_key", name="uq_mail_opt_out_email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    email_key: str = Field(max_length=320)
    created_at: datetime = _time(nullable=False, default=utcnow)


class DataExportRequest(Work, table=True):
    """Someone asked, by address, for everything held about it; a worker decides whether there
    is anything (so the form does the same work, and takes the same time, for every address)."""

    __tablename__ = "data_export_request"
    __table_args__ = (Index("ix_data_export_request_due", "done_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)


class DataExport(SQLModel, table=True):
    """An export of what is held about one address: mailed as a link that works once
    (``used_at``), or made at once by an organiser for a request by post (``made_by``)."""

    __tablename__ = "data_export"
    __table_args__ = (UniqueConstraint("nonce", name="uq_data_export_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64)
    email_key: str = Field(max_length=320)
    made_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = _time(nullable=False, default=utcnow)
    used_at: datetime | None = _time(nullable=True)


class ErasureRequest(Work, table=True):
    """Someone asked, by address, for everything held about it to be erased; a worker decides
    whether there is anything (so the form does the same work for every address)."""

    __tablename__ = "erasure_request"
    __table_args__ = (Index("ix_erasure_request_due", "done_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)


class Erasure(SQLModel, table=True):
    """An erasure of what is held about one address: mailed as a link that works once
    (``used_at``), or done at once by an organiser for a request by post (``made_by``). Once
    done, ``email_key`` is blanked and ``counts`` says how many rows of each kind went."""

    __tablename__ = "erasure"
    __table_args__ = (UniqueConstraint("nonce", name="uq_erasure_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64)
    email_key: str = Field(max_length=320)
    made_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = _time(nullable=False, default=utcnow)
    used_at: datetime | None = _time(nullable=True)
    counts: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class NameReport(SQLModel, table=True):
    """A member's report that a signature in their name is not theirs, made from the answer to
    "Was my name used?". It names the signature by its public leaf and holds nothing personal;
    one report per leaf, however many links name it. ``notified`` is how many scrutineers were
    mailed about it."""

    __tablename__ = "name_report"
    __table_args__ = (
        UniqueConstraint("petition_id", "leaf_index", name="uq_name_report_petition_leaf"),
    )

    id: int | None = Field(default=None, primary_key=True)
    petition_id: int = Field(foreign_key="petition.id")
    leaf_index: int
    reported_at: datetime = _time(nullable=False, default=utcnow)
    notified: int = 0

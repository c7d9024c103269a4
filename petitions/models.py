"""The tables. Rules about them live in the modules named for each concern."""

from datetime import date, datetime

from sqlalchemy import Column, Index, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from petitions.db import UTCDateTime, utcnow

MEMBER_STATUSES = ("active", "lapsed", "suspended")
PETITION_STATES = ("draft", "open", "triggered", "closed")


def _time(**kwargs):
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class Member(SQLModel, table=True):
    """One row of the membership roll, keyed by the organisation's member number."""

    __tablename__ = "member"
    __table_args__ = (Index("ix_member_email_key", "email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    status: str = Field(default="active", max_length=16)
    joined_on: date | None = None
    updated_at: datetime = _time(nullable=False, default=utcnow)


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
    member_id: str | None = Field(default=None, max_length=64)
    detail: str = Field(sa_column=Column(Text, nullable=False))


class Petition(SQLModel, table=True):
    """A petition and its threshold; ``signature_count`` is the maintained count."""

    __tablename__ = "petition"
    __table_args__ = (UniqueConstraint("slug", name="uq_petition_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str = Field(default="draft", max_length=16)
    threshold_absolute: int | None = None
    threshold_percent: float | None = Field(
        default=None, sa_column=Column(Numeric(6, 3, asdecimal=False))
    )
    threshold: int | None = None
    eligible_members: int | None = None
    signature_count: int = 0
    webhook_url: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _time(nullable=False, default=utcnow)
    opened_at: datetime | None = _time(nullable=True)
    closes_at: datetime | None = _time(nullable=True)
    reached_at: datetime | None = _time(nullable=True)
    closed_at: datetime | None = _time(nullable=True)

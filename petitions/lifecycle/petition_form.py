"""The petition form as organisers fill it in: what they typed, read into the values the petition
rules (petitions.lifecycle.rules) take, with a message for every field at fault.

No Flask here: the views hand over the submitted form as a mapping of strings.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from petitions.db.engine import utcnow
from petitions.db.models import Petition
from petitions.lifecycle import rules as lifecycle
from petitions.lifecycle.rules import PetitionError

# The order fields appear on the form, which is also the order of the error summary.
FIELDS = (
    "slug",
    "title",
    "body",
    "threshold_kind",
    "threshold",
    "threshold_percent",
    "closes_at",
    "webhook_url",
)
THRESHOLD_KINDS = ("absolute", "percent")
# Typed numbers longer than this are refused before any parsing: no threshold needs more.
NUMBER_MAX_CHARS = 20
# Digits, optionally grouped by commas, spaces or underscores ("4,000", "4 000").
WHOLE_NUMBER = re.compile(r"[+-]?\d+")
DIGIT_GROUPING = re.compile(r"[,_\s\u00a0\u202f]")
DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class PetitionForm:
    """One filling-in of the form: ``values`` as typed (to show again), ``errors`` by field, and
    ``clean``, the checked values ready for lifecycle.create_petition or update_draft."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    clean: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every field passed its checks."""
        return not self.errors

    def error_list(self) -> list[tuple[str, str]]:
        """(field, message) for every fault in the order of the form; a fault of no one field
        comes first, with the field ``""``."""
        return [(name, self.errors[name]) for name in ("", *FIELDS) if name in self.errors]

    def refuse(self, exc: PetitionError) -> None:
        """Record a refusal from the petition rules against its field, if it names one."""
        self.errors[exc.field if exc.field in FIELDS else ""] = sentence(str(exc))


def blank() -> PetitionForm:
    """The empty form for a new petition."""
    return PetitionForm(values={"threshold_kind": "absolute"})


def from_petition(petition: Petition) -> PetitionForm:
    """The form filled in with ``petition``'s stored fields, for editing."""
    if petition.threshold_absolute is not None:
        kind, absolute, percent = "absolute", str(petition.threshold_absolute), ""
    else:
        kind, absolute, percent = "percent", "", f"{petition.threshold_percent:g}"
    return PetitionForm(
        values={
            "slug": petition.slug,
            "title": petition.title,
            "body": petition.body,
            "threshold_kind": kind,
            "threshold": absolute,
            "threshold_percent": percent,
            "closes_at": datetime_local(petition.closes_at),
            "webhook_url": petition.webhook_url or "",
        }
    )


def datetime_local(moment: datetime | None) -> str:
    """``moment`` in UTC as a datetime-local input's value (seconds only when there are some)."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return moment.strftime(DATETIME_LOCAL_FORMAT + (":%S" if moment.second else ""))


def read(submitted: Mapping[str, str], *, creating: bool, now: datetime | None = None):
    """Check every field of ``submitted``; the result's ``clean`` holds the keyword arguments for
    lifecycle.create_petition (``creating``) or lifecycle.update_draft (without the slug)."""
    now = now or utcnow()
    names = FIELDS if creating else FIELDS[1:]
    form = PetitionForm(values={name: str(submitted.get(name, "")) for name in names})
    values = form.values

    if creating:
        slug = values["slug"] = values["slug"].strip().lower()
        _check(form, "slug", _slug(slug), now)
    _check(form, "title", values["title"], now)
    _check(form, "body", values["body"], now)
    kind = values["threshold_kind"]
    if kind == "absolute":
        _check(form, "threshold", _whole_number(values["threshold"]), now)
        form.clean.setdefault("threshold_percent", None)
    elif kind == "percent":
        _check(form, "threshold_percent", _percentage(values["threshold_percent"]), now)
        form.clean.setdefault("threshold", None)
    else:
        form.errors["threshold_kind"] = (
            "Choose whether the threshold is a number of signatures or a percentage of members."
        )
    _check(form, "closes_at", _closing_time(values["closes_at"]), now)
    _check(form, "webhook_url", _url(values["webhook_url"]), now)
    return form


def _check(form: PetitionForm, name: str, parsed, now: datetime) -> None:
    """Run the petition rule for ``name`` on ``parsed`` (an error message when parsing failed)."""
    if isinstance(parsed, _Unreadable):
        form.errors[name] = parsed.message
        return
    try:
        form.clean[name] = lifecycle.validate_field(name, parsed, now=now)
    except PetitionError as exc:
        form.errors[name] = sentence(str(exc))


@dataclass(frozen=True)
class _Unreadable:
    """What was typed could not be read as the field's kind of value; ``message`` says why."""

    message: str


def _slug(typed: str):
    if not typed:
        return _Unreadable("Enter a short name for the petition's address, such as fair-pay.")
    if len(typed) > 64:
        return _Unreadable(f"The short name is {len(typed):,} characters long; the limit is 64.")
    return typed


def _url(typed: str):
    url = typed.strip()
    # Checked here first so that the rule's messages, which quote the URL, stay short.
    if len(url) > lifecycle.WEBHOOK_URL_MAX:
        return _Unreadable(
            f"The webhook URL is {len(url):,} characters long; "
            f"the limit is {lifecycle.WEBHOOK_URL_MAX:,}."
        )
    return url or None


def _whole_number(typed: str):
    digits = DIGIT_GROUPING.sub("", typed)
    if not digits:
        return _Unreadable("Enter the number of signatures needed, such as 4000.")
    if len(digits) > NUMBER_MAX_CHARS or not WHOLE_NUMBER.fullmatch(digits):
        return _Unreadable(
            "Enter the number of signatures as a whole number, such as 4000, "
            f"at most {lifecycle.THRESHOLD_MAX:,}."
        )
    return int(digits)


def _percentage(typed: str):
    number = typed.strip().removesuffix("%").strip()
    if not number:
        return _Unreadable("Enter the percentage of active members needed, such as 10.")
    if len(number) > NUMBER_MAX_CHARS:
        return _Unreadable(
            "Enter the percentage as a number greater than 0 and at most 100, such as 10 or 2.5."
        )
    return number


def _closing_time(typed: str):
    typed = typed.strip()
    if not typed:
        return None
    try:
        if len(typed) > 40:
            raise ValueError(typed)
        moment = datetime.fromisoformat(typed)
        # A time typed without a zone is UTC, as the form says; one with a zone is converted.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return _Unreadable(
            "Enter the closing time as a date and time in UTC, such as 2026-12-31T18:00."
        )


def sentence(message: str) -> str:
    """A rule's one-line message written as a sentence for the page."""
    message = message[:1].upper() + message[1:]
    return message if message.endswith(".") else message + "."


def _rule(absolute: int | None, percent: float | None) -> str:
    if absolute is not None:
        return f"{absolute:,} signatures"
    return f"{percent:g}% of active members"


def describe_rule(petition: Petition) -> str:
    """The threshold rule in words: ``4,000 signatures`` or ``10% of active members``."""
    return _rule(petition.threshold_absolute, petition.threshold_percent)


def describe_new(petition: Petition) -> str:
    """The audit trail's note of a petition just created."""
    parts = [f"slug {petition.slug}", f"threshold {describe_rule(petition)}"]
    parts.append(f"closes {lifecycle.iso_utc(petition.closes_at) or 'never'}")
    parts.append(f"webhook {petition.webhook_url or 'the default'}")
    return "; ".join(parts)


def describe_changes(changes: dict[str, tuple]) -> str:
    """The audit trail's note of a draft's edit: each field that changed, old -> new (the text
    only as changed, since it may be long)."""
    notes = []
    if "title" in changes:
        notes.append("title {!r} -> {!r}".format(*changes["title"]))
    if "body" in changes:
        notes.append("text changed")
    absolute = changes.get("threshold_absolute", (None, None))
    percent = changes.get("threshold_percent", (None, None))
    if absolute != (None, None) or percent != (None, None):
        # Exactly one kind is set before and after, so the changed entries give both rules.
        notes.append(
            f"threshold {_rule(absolute[0], percent[0])} -> {_rule(absolute[1], percent[1])}"
        )
    if "closes_at" in changes:
        old, new = (lifecycle.iso_utc(moment) or "never" for moment in changes["closes_at"])
        notes.append(f"closes {old} -> {new}")
    if "webhook_url" in changes:
        old, new = (url or "the default" for url in changes["webhook_url"])
        notes.append(f"webhook {old} -> {new}")
    return "; ".join(notes) or "nothing changed"

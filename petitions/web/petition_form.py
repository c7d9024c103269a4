"""The petition form as organisers fill it in, for a new petition or a draft's settings: what
they typed, read into the values the petition rules (petitions.lifecycle.rules) take, with a
message beside every field at fault.

Each field is checked by the rule the petition itself is held to (rules.validate_field), so the
form reports every fault at once; what passes is kept in ``clean``, ready for the petition
actions (petitions.lifecycle.actions).
"""

import re
from datetime import UTC, datetime

from flask import current_app
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, ValidationError

from petitions.config import settings_of
from petitions.db.engine import utcnow
from petitions.db.models import Petition
from petitions.lifecycle import rules
from petitions.lifecycle.rules import PetitionError, WebhookTargetError
from petitions.web.forms import Form, sentence

# The order fields appear on the form, which is also the order of the error summary.
FIELDS = (
    "title",
    "slug",
    "body",
    "threshold_kind",
    "threshold",
    "threshold_percent",
    "closes_at",
    "webhook_url",
    "witnesses_required",
)
THRESHOLD_KINDS = ("absolute", "percent")
# Typed numbers longer than this are refused before any parsing: no threshold needs more.
NUMBER_MAX_CHARS = 20
# Digits, optionally grouped by commas, spaces or underscores ("4,000", "4 000").
WHOLE_NUMBER = re.compile(r"[+-]?\d+")
DIGIT_GROUPING = re.compile(r"[,_\s\u00a0\u202f]")
DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# Dates and times as people type them where no date picker is shown: day first, as in Britain,
# then month first, which only a date that cannot be day first (12/31/2026) matches.
TYPED_DATES = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%m/%d/%Y")
TYPED_TIMES = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I%p", "%I %p")


# What to say when a petition rule refuses a field, in the form's own words: the rules' messages
# are written for the command line (they quote what was given, code points, ISO times).
PLAIN_REFUSALS = {
    "slug": "Use only lowercase letters, digits and hyphens for the short name, such as fair-pay.",
    "title": f"Keep the title to one line of at most {rules.TITLE_MAX} characters.",
    "body": f"Shorten the text to at most {rules.BODY_MAX:,} characters.",
    "threshold": f"Enter a number of signatures from 1 to {rules.THRESHOLD_MAX:,}, such as 4000.",
    "threshold_percent": "Enter a percentage greater than 0 and at most 100, with at most "
    f"{rules.PERCENT_PLACES} decimal places, such as 10 or 2.5.",
    "closes_at": "Choose a closing time in the future (in UTC), or leave it empty.",
    "webhook_url": "Enter the webhook URL as a whole web address without spaces, beginning with "
    "http:// or https://, or leave it empty.",
    "witnesses_required": "Enter how many witnesses must cosign as a whole number from 0 to "
    f"{rules.MAX_WITNESSES_REQUIRED}.",
}
EMPTY_TITLE = "Enter a title for the petition."


def _rule(name: str, read=None):
    """A validator: read what was typed with ``read`` (which raises ValidationError when it
    cannot), then apply the petition rule for ``name``, keeping the value it gives in
    ``form.clean``; a refusal is said in plain words (PLAIN_REFUSALS)."""

    def check(form: "PetitionForm", field) -> None:
        typed = field.data if read is None else read(field.data)
        try:
            form.clean[name] = rules.validate_field(
                name, typed, now=form.now, webhook_allowed=form.clean["webhook_allowed"]
            )
        except WebhookTargetError as exc:
            raise ValidationError(sentence(str(exc))) from None
        except PetitionError:
            if name == "title" and not (typed or "").strip():
                raise ValidationError(EMPTY_TITLE) from None
            raise ValidationError(PLAIN_REFUSALS[name]) from None

    return check


def _threshold(kind: str, name: str, read):
    """A threshold field's validator: its rule applies when ``kind`` is chosen; the other kind
    of threshold clears it."""
    rule = _rule(name, read)

    def check(form: "PetitionForm", field) -> None:
        if form.threshold_kind.data == kind:
            rule(form, field)
        else:
            form.clean[name] = None

    return check


def _slug(typed: str) -> str:
    if len(typed) > 64:
        raise ValidationError(f"The short name is {len(typed):,} characters long; the limit is 64.")
    return typed


def _url(typed: str) -> str | None:
    url = typed.strip()
    # Checked here first so that the rule's messages, which quote the URL, stay short.
    if len(url) > rules.WEBHOOK_URL_MAX:
        raise ValidationError(
            f"The webhook URL is {len(url):,} characters long; "
            f"the limit is {rules.WEBHOOK_URL_MAX:,}."
        )
    return url or None


def _witness_count(typed: str) -> int:
    digits = (typed or "").strip() or "0"
    if len(digits) > 3 or not digits.isdigit():
        raise ValidationError(PLAIN_REFUSALS["witnesses_required"])
    return int(digits)


def _witnesses_configured(form: "PetitionForm", field) -> None:
    """No more witnesses can be required than WITNESSES names: the webhook would never go."""
    wanted = form.clean.get("witnesses_required") or 0
    if wanted > form.witnesses_configured:
        configured = form.witnesses_configured
        raise ValidationError(
            f"Only {configured} witness{'' if configured == 1 else 'es'} "
            f"{'is' if configured == 1 else 'are'} configured; require at most {configured}."
        )


def _whole_number(typed: str) -> int:
    digits = DIGIT_GROUPING.sub("", typed)
    if not digits:
        raise ValidationError("Enter the number of signatures needed, such as 4000.")
    if len(digits) > NUMBER_MAX_CHARS or not WHOLE_NUMBER.fullmatch(digits):
        raise ValidationError(
            "Enter the number of signatures as a whole number, such as 4000, "
            f"at most {rules.THRESHOLD_MAX:,}."
        )
    return int(digits)


def _percentage(typed: str) -> str:
    number = typed.strip().removesuffix("%").strip()
    if not number:
        raise ValidationError("Enter the percentage of active members needed, such as 10.")
    if len(number) > NUMBER_MAX_CHARS:
        raise ValidationError(
            "Enter the percentage as a number greater than 0 and at most 100, such as 10 or 2.5."
        )
    return number


def _closing_time(typed: str) -> datetime | None:
    typed = typed.strip()
    if not typed:
        return None
    moment = None if len(typed) > 40 else read_datetime(typed)
    if moment is None:
        raise ValidationError(
            "Enter the closing time as a date and time in UTC, such as 31/12/2026 18:00 "
            "or 2026-12-31 18:00."
        )
    return moment


def read_datetime(typed: str) -> datetime | None:
    """The moment ``typed`` names, in UTC, or None if it names none.

    What a datetime-local input sends (2026-12-31T18:00, with or without seconds and their
    fractions), the same with a space or a zone, and what a person types where a browser shows
    a plain text box: day first (31/12/2026 18:00, 31.12.2026, 18:00:30), or month first when
    the day first cannot be (12/31/2026, 6:00 PM). A time without a zone is UTC.
    """
    try:
        moment = datetime.fromisoformat(typed)
    except ValueError:
        moment = _typed_datetime(" ".join(typed.replace(",", " ").split()))
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # A zone that moves the moment past the first or last year there is.
        return None


def _typed_datetime(typed: str) -> datetime | None:
    for date_format in TYPED_DATES:
        for time_format in TYPED_TIMES:
            try:
                return datetime.strptime(typed, f"{date_format} {time_format}")
            except ValueError:
                continue
    return None


class PetitionForm(Form):
    """A draft's settings: every field but the slug, which cannot change. ``clean`` holds the
    checked values, the keyword arguments of actions.update_draft, once the form is valid."""

    title = StringField(default="", validators=[_rule("title")])
    body = TextAreaField(default="", validators=[_rule("body")])
    threshold_kind = StringField(
        default="",
        validators=[
            AnyOf(
                THRESHOLD_KINDS,
                message="Choose whether the threshold is a number of signatures or a "
                "percentage of members.",
            )
        ],
    )
    threshold = StringField(
        default="", validators=[_threshold("absolute", "threshold", _whole_number)]
    )
    threshold_percent = StringField(
        default="", validators=[_threshold("percent", "threshold_percent", _percentage)]
    )
    closes_at = StringField(default="", validators=[_rule("closes_at", _closing_time)])
    webhook_url = StringField(default="", validators=[_rule("webhook_url", _url)])
    witnesses_required = StringField(
        default="0",
        validators=[_rule("witnesses_required", _witness_count), _witnesses_configured],
    )

    def __init__(self, formdata=None, *, witnesses_configured: int = 0, **kwargs):
        super().__init__(formdata, **kwargs)
        self.now = utcnow()
        # The webhook URL may reach the networks the deployment allows, and public addresses.
        self.clean: dict = {
            "webhook_allowed": settings_of(current_app).webhook_allowed_networks,
        }
        # How many witnesses WITNESSES names: the most a petition may require.
        self.witnesses_configured = witnesses_configured

    def error_list(self) -> list[tuple[str, str]]:
        """(field, message) for every fault in the order of the form; a fault of no one field
        comes first, with the field ``""``."""
        faults = [("", message) for message in self.form_errors]
        for name in FIELDS:
            if name in self and self[name].errors:
                faults.append((name, self[name].errors[0]))
        return faults

    def refuse(self, exc: PetitionError) -> None:
        """Show a refusal from the petition rules beside its field, if it names one."""
        self.add_error(exc.field or "", sentence(str(exc)))


def _new_slug(form: "NewPetitionForm", field) -> None:
    """A slug left empty, or filled in by the page's script from the title and not edited
    since, is made from the title when the petition is created (unique, see
    petitions.lifecycle.slugs); one the organiser typed is checked by the slug rule."""
    if not field.data or form.slug_from_title.data == "1":
        form.clean["slug"] = None
        return
    _rule("slug", _slug)(form, field)


class NewPetitionForm(PetitionForm):
    """A new petition: the settings and its slug. ``clean`` holds the keyword arguments of
    actions.create_petition once the form is valid."""

    slug = StringField(
        default="",
        filters=[lambda typed: typed.strip().lower()],
        validators=[_new_slug],
    )
    # "1" while the slug shown is the one the page's script made from the title.
    slug_from_title = HiddenField(default="")


def blank(witnesses_configured: int = 0) -> NewPetitionForm:
    """The empty form for a new petition."""
    return NewPetitionForm(threshold_kind="absolute", witnesses_configured=witnesses_configured)


def from_petition(petition: Petition, witnesses_configured: int = 0) -> PetitionForm:
    """The form filled in with ``petition``'s stored fields, for editing."""
    if petition.threshold_absolute is not None:
        kind, absolute, percent = "absolute", str(petition.threshold_absolute), ""
    else:
        kind, absolute, percent = "percent", "", f"{petition.threshold_percent:g}"
    return PetitionForm(
        title=petition.title,
        body=petition.body,
        threshold_kind=kind,
        threshold=absolute,
        threshold_percent=percent,
        closes_at=datetime_local(petition.closes_at),
        webhook_url=petition.webhook_url or "",
        witnesses_required=str(petition.witnesses_required),
        witnesses_configured=witnesses_configured,
    )


def datetime_local(moment: datetime | None) -> str:
    """``moment`` in UTC as a datetime-local input's value (seconds only when there are some)."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return moment.strftime(DATETIME_LOCAL_FORMAT + (":%S" if moment.second else ""))

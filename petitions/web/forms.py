"""The web's forms, read with WTForms: what a browser posted, field by field, and the message
shown beside each field at fault. The petition form and the signature forms have modules of
their own (petition_form.py, signature_forms.py).

A view builds its form from ``request.form`` (or the query string) itself, so that a JSON body
is never read as a form. No form checks the CSRF token: CSRFProtect checks it on every POST
before any view runs.
"""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, ValidationError

from petitions.invitations import runs as invitations
from petitions.transparency.roll_commitment import REASON_MAX

# What a ticked confirmation box may send.
CONFIRMED = ("yes", "true", "on", "1")


def sentence(message: str) -> str:
    """A domain's one-line message ("no signature numbered 9") written as a sentence."""
    message = message[:1].upper() + message[1:]
    return message if message.endswith(".") else message + "."


class Form(FlaskForm):
    """The base of the web's forms: built from the ``formdata`` given, or empty."""

    class Meta:
        csrf = False

    def __init__(self, formdata=None, **kwargs):
        super().__init__(formdata, **kwargs)

    def add_error(self, name: str, message: str) -> None:
        """Show ``message`` beside the field ``name``, or for the whole form when it has no
        such field: a refusal the domain made once the form's own checks had passed."""
        if name in self:
            self[name].errors = [*self[name].errors, message]
        else:
            self.form_errors.append(message)

    def error_list(self) -> list[tuple[str, str]]:
        """(field id, message) for the error summary (templates/_errors.html): a fault of the
        whole form first, with the field ``""``, then the first fault of each field in the
        form's order."""
        faults = [("", message) for message in self.form_errors]
        faults += [(field.id, field.errors[0]) for field in self if field.errors]
        return faults


class SignForm(Form):
    """The petition page's sign form; signing.request_signature checks what was given, and
    the form says what to do about a refusal in words of its own."""

    email = StringField(default="")
    member_id = StringField(default="")

    def refuse_address(self) -> None:
        """Say what to do about an address that cannot be used."""
        self.add_error("email", address_message(self.email.data))

    def refuse_member_number(self) -> None:
        """Say what to do about a membership number that cannot be one (too long)."""
        self.add_error(
            "member_id",
            "A membership number is at most 64 characters long. Check the number, or leave "
            "it empty.",
        )


def address_message(typed: str | None) -> str:
    """What to tell a person whose e-mail address could not be used, in plain words (the
    address checker's own reasons are written for programmers)."""
    if not (typed or "").strip():
        return "Enter your e-mail address."
    return "Enter your e-mail address in the form name@example.org, without spaces."


class SignInForm(Form):
    """Asking for a sign-in link; the page to go back to afterwards rides along."""

    email = StringField(default="", filters=[str.strip])
    next = HiddenField(default="")


class TokenForm(Form):
    """The button that spends or renews a mailed link, or an opt-out link: its token."""

    token = HiddenField(default="")


class SignInLinkForm(TokenForm):
    """The button that spends a sign-in link, and the page to go to afterwards."""

    next = HiddenField(default="")


class ConfirmForm(Form):
    """The button of a step that cannot be undone (opening or closing a petition)."""

    confirm = HiddenField(validators=[AnyOf(("yes",))])


class RecommitForm(Form):
    """Re-committing a petition's roll: why (kept in the audit trail), and the confirmation."""

    reason = TextAreaField(default="", filters=[lambda typed: (typed or "").strip()])
    confirm = StringField(default="", filters=[lambda ticked: (ticked or "").strip().lower()])

    def validate(self, extra_validators=None) -> bool:
        """Both a reason and the ticked confirmation are needed."""
        valid = super().validate(extra_validators)
        if not self.reason.data:
            self.add_error("reason", "Say why the roll is being re-committed.")
            valid = False
        elif len(self.reason.data) > REASON_MAX:
            self.add_error("reason", f"Keep the reason to {REASON_MAX:,} characters or fewer.")
            valid = False
        if self.confirm.data not in CONFIRMED:
            self.add_error(
                "confirm",
                "Tick the box to confirm: the re-commit is published and cannot be undone.",
            )
            valid = False
        return valid

    def refuse(self, exc: Exception) -> None:
        """Show a refusal the domain made once the form's own checks had passed."""
        self.add_error(getattr(exc, "field", None) or "", sentence(str(exc)))


class RevealKeyForm(Form):
    """The box a scrutineer ticks before a petition's commitment key is shown."""

    confirm = StringField(
        default="",
        filters=[lambda ticked: ticked.strip().lower()],
        validators=[
            AnyOf(
                CONFIRMED,
                message="Tick the box to confirm: revealing the key is recorded in the audit "
                "trail.",
            )
        ],
    )


class InvitationRunForm(Form):
    """Starting an invitation run: whom to invite (a region, or everyone) and how fast."""

    region = StringField(default="")
    rate = StringField(default="")

    def __init__(self, formdata=None, *, max_rate: int, **kwargs):
        super().__init__(formdata, **kwargs)
        self.max_rate = max_rate
        # The rate as a number, once the form has checked it.
        self.rate_per_minute: int | None = None

    def validate_rate(self, field) -> None:
        """The rate is a whole number from 1 to ``max_rate`` (INVITATION_RATE_PER_MINUTE)."""
        try:
            self.rate_per_minute = invitations.validate_rate(field.data, self.max_rate)
        except invitations.InvitationError as exc:
            raise ValidationError(str(exc)) from None


class RollUploadForm(Form):
    """A roll file to import, and how to import it."""

    file = FileField(validators=[FileRequired("Choose a CSV file of the roll to upload.")])
    replace = BooleanField()
    strict = BooleanField()

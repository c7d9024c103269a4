"""The forms of the signatures page: the list's filter, the selection to review, and the
invalidation it confirms. The numbers, filters and reasons are read by the domain's own rules
(petitions.signatures.listing and invalidation); these forms say where each fault is shown."""

from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Field, HiddenField, StringField, TextAreaField
from wtforms.validators import ValidationError

from petitions.signatures import invalidation
from petitions.signatures import listing as signature_list
from petitions.signatures.listing import MAX_SELECTION, FilterError
from petitions.web import whole_numbers
from petitions.web.forms import Form, sentence

NOTE_MAX = 2000


def page_number(raw: str | None) -> int:
    """The page of the list asked for (the first when none is)."""
    if raw is None or raw == "":
        return 1
    page = whole_numbers.parse(raw, 1_000_000)
    if not page:
        raise FilterError(f"page {raw!r} is not a page number")
    return page


class FilterForm(Form):
    """The list's filter and page, from the query string. Once valid, ``filters`` and
    ``page_number`` hold what they ask for; otherwise the first fault is the form's error."""

    status = StringField()
    region = StringField()
    numbers = StringField()
    since = StringField()
    until = StringField()
    network = StringField()
    page = StringField()

    def __init__(self, formdata=None, **kwargs):
        super().__init__(formdata, **kwargs)
        self.filters = signature_list.Filters()
        self.page_number = 1

    def validate(self, extra_validators=None) -> bool:
        """Read the filter, then the page number; the first that cannot be read is the fault."""
        try:
            self.filters = signature_list.filters_from(self.data)
            self.page_number = page_number(self.page.data)
        except FilterError as exc:
            self.form_errors.append(sentence(str(exc)))
        return super().validate(extra_validators) and not self.form_errors


class TickedNumbers(Field):
    """Every value sent under the field's name (the ticked boxes), read as signature numbers:
    ``data`` holds the numbers, and each value that is not one is an error of its own."""

    def process_formdata(self, valuelist) -> None:
        self.data = [n for n in map(whole_numbers.parse, valuelist) if n is not None]

    def pre_validate(self, form) -> None:
        """Name every value that is not a signature number."""
        for value in self.raw_data or ():
            if whole_numbers.parse(value) is None:
                self.errors.append(f"{value!r} is not a signature number.")


class NumberList(StringField):
    """Signature numbers typed as a list or ranges (``12, 40-55``): ``data`` holds every number
    they name, sorted, at most MAX_SELECTION of them and ``max_terms`` terms."""

    def __init__(self, *args, max_terms: int = signature_list.MAX_NUMBER_TERMS, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_terms = max_terms

    def process_formdata(self, valuelist) -> None:
        self.data = []
        typed = valuelist[0] if valuelist else None
        try:
            ranges = signature_list.parse_numbers(typed, self.max_terms)
            self.data = signature_list.expand(ranges, MAX_SELECTION)
        except FilterError as exc:
            raise ValueError(sentence(str(exc))) from None


class FilterQuery(HiddenField):
    """The list's filter as it was when a selection was made, sent back as a query string:
    ``data`` holds it read (no filter when it cannot be read, which is then the error)."""

    def process_formdata(self, valuelist) -> None:
        self.data = signature_list.Filters()
        query = MultiDict(parse_qsl(valuelist[0] if valuelist else ""))
        try:
            self.data = signature_list.filters_from(query)
        except FilterError as exc:
            raise ValueError(sentence(str(exc))) from None


class ReasonForm(Form):
    """Why signatures are invalidated: a reason code, and a note for the scrutineers."""

    reason = StringField(default="", filters=[lambda typed: (typed or "").strip()])
    note = TextAreaField(default="", filters=[lambda typed: (typed or "").strip()])

    def validate_reason(self, field) -> None:
        """The reason is one of invalidation.REASONS."""
        if field.data not in invalidation.REASONS:
            raise ValidationError("Choose a reason for the invalidation.")

    def validate_note(self, field) -> None:
        """The reason ``other`` needs a note, and no note is too long."""
        if self.reason.data == "other" and not field.data:
            raise ValidationError("The reason 'other' needs a note saying what it is.")
        if len(field.data) > NOTE_MAX:
            raise ValidationError(f"The note is too long: at most {NOTE_MAX:,} characters.")

    def reason_errors(self) -> list[str]:
        """What is wrong with the reason and the note."""
        return [*self.reason.errors, *self.note.errors]


class SelectionForm(ReasonForm):
    """A selection to review: ticked boxes, typed numbers, and (when asked for) every counted
    signature matching the list's filter, with the reason."""

    number = TickedNumbers(default=list)
    also = NumberList(default=list)
    all_matching = BooleanField()
    filter = FilterQuery(default=signature_list.Filters)


class InvalidationForm(ReasonForm):
    """The confirmed invalidation: the reviewed numbers, written compactly, and the reason."""

    numbers = NumberList(default=list, max_terms=MAX_SELECTION)

    def validate_numbers(self, field) -> None:
        """At least one signature is named."""
        if not field.data and not field.errors:
            raise ValidationError("Select at least one signature to invalidate.")

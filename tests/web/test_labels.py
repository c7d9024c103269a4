"""The one table of labels and the one way to show a moment."""

import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from petitions.db.models import MemberStatus, PetitionState, Role
from petitions.outbox.mail import MailPurpose
from petitions.reports import dashboard as dashboard_report
from petitions.signatures import invalidation, name_check
from petitions.signatures.outcomes import SigningOutcome
from petitions.web import labels, moments
from tests import walk
from tests.helpers import sign_in


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("state", list(PetitionState)),
        ("state_long", list(PetitionState)),
        ("role", list(Role)),
        ("member_status", list(MemberStatus)),
        ("invalidation_reason", list(invalidation.REASONS)),
        ("request_reason", list(dashboard_report.REASONS)),
        ("signing_outcome", list(SigningOutcome)),
        ("mail_purpose", list(MailPurpose)),
        ("roll_outcome", ["accepted", "refused", "failed", "running", None]),
    ],
)
def test_every_code_of_a_kind_has_its_words(kind, codes):
    for code in codes:
        assert code in labels.TABLES[kind], f"{kind}: {code!r} has no label"
        words = labels.label(code, kind)
        assert words
        assert "_" not in words


def test_every_state_has_a_short_and_a_long_label():
    assert set(labels.STATE_LABELS) == set(PetitionState)
    for state in PetitionState:
        assert labels.STATE_LABELS[state].short
        assert labels.STATE_LABELS[state].long
        # Templates look labels up by the state as the database holds it: a plain string.
        assert labels.SHORT_LABELS[state.value] == labels.STATE_LABELS[state].short
        assert labels.LONG_LABELS[state.value] == labels.STATE_LABELS[state].long


def test_an_unknown_code_is_still_shown_in_words():
    assert labels.label("petition.archive", "audit_action") == "Petition archive"
    assert labels.label("some_new_reason", "invalidation_reason") == "Some new reason"


def test_every_audit_action_the_code_records_has_its_words():
    recorded = {"petition.create", "petition.open", "petition.close", "petition.edit"}
    recorded |= {
        "signature.invalidate",
        "log.commitment_key",
        "log.sample",
        "roll.upload",
        "webhook.retry",
    }
    recorded |= {"petition.recommit"}
    recorded |= {f"invitations.{a}" for a in ("start", "pause", "resume", "cancel")}
    recorded |= {"user.add", "user.role", "user.disable", "privacy.export", "privacy.erase"}
    recorded |= {name_check.AUDIT_ACTION}
    assert recorded <= set(labels.AUDIT_ACTIONS)


def test_a_moment_is_a_time_element_in_words_with_its_iso_datetime():
    when = datetime(2026, 12, 3, 18, 5, 9, tzinfo=UTC)
    html = str(moments.moment(when))
    assert html == (
        '<time datetime="2026-12-03T18:05:09+00:00" data-style="minute">'
        "3 December 2026, 18:05 UTC</time>"
    )
    assert ">3 December 2026<" in str(moments.moment(when, "date"))
    assert ">3 December 2026, 18:05:09 UTC<" in str(moments.moment(when, "second"))
    assert ">18:05:09 UTC<" in str(moments.moment(when, "time"))


def test_a_moment_may_be_an_iso_string_another_zone_or_nothing():
    berlin = timezone(timedelta(hours=1))
    assert (
        moments.words(datetime(2026, 12, 3, 19, 0, tzinfo=berlin)) == "3 December 2026, 18:00 UTC"
    )
    assert moments.words("2026-12-03T18:00:00Z") == "3 December 2026, 18:00 UTC"
    assert moments.words(datetime(2026, 12, 3, 18, 0)) == "3 December 2026, 18:00 UTC"
    assert str(moments.moment(None)) == ""
    assert str(moments.moment("not a time")) == ""


def test_moments_in_free_text_are_shown_in_words_and_the_rest_escaped():
    shown = str(moments.moments_in("closed at 2026-12-03T18:00:00+00:00 with <b>5</b>"))
    assert shown == (
        'closed at <time datetime="2026-12-03T18:00:00+00:00" data-style="minute">'
        "3 December 2026, 18:00 UTC</time> with &lt;b&gt;5&lt;/b&gt;"
    )
    assert str(moments.moments_in("no moment here")) == "no moment here"
    assert str(moments.moments_in(None)) == ""


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Text(HTMLParser):
    """The text of a page's body a reader is told in words: without scripts and styles, nor
    what they are shown to type as it is (code, pre, and the hints of form fields)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._open: list[bool] = []
        self._body = False

    def handle_starttag(self, tag, attrs):
        self._body = self._body or tag == "body"
        if tag in VOID:
            return
        literal = (
            tag in ("script", "style", "code", "pre")
            or "hint" in (dict(attrs).get("class") or "").split()
        )
        self._open.append(literal or (bool(self._open) and self._open[-1]))

    def handle_endtag(self, tag):
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._body and not (self._open and self._open[-1]):
            self.parts.append(data)


def _text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


@pytest.mark.parametrize("role", ["organiser", "scrutineer"])
def test_no_page_shows_an_iso_moment_a_code_or_a_bare_slug(app, role):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, f"{role}@example.org", role)

    get = walk.getter(client)

    starts = walk.STARTS
    pages = list(walk.walk(get, starts))
    assert len(pages) > 15
    found = {
        path: codes
        for path, status, body, _forms in pages
        if status == 200 and (codes := walk.codes_in(_text(body)))
    }
    assert found == {}

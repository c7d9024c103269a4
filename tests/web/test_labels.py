"""The one table of labels and the one way to show a moment."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from petitions.db.models import MemberStatus, PetitionState, Role
from petitions.outbox.mail import MailPurpose
from petitions.reports import dashboard as dashboard_report
from petitions.signatures import invalidation
from petitions.signatures.outcomes import SigningOutcome
from petitions.web import labels, moments


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


def test_an_unknown_code_is_still_shown_in_words():
    assert labels.label("petition.archive", "audit_action") == "Petition archive"
    assert labels.label("some_new_reason", "invalidation_reason") == "Some new reason"


def test_every_audit_action_the_code_records_has_its_words():
    recorded = {"petition.create", "petition.open", "petition.close", "petition.edit"}
    recorded |= {"signature.invalidate", "log.commitment_key", "roll.upload", "webhook.retry"}
    recorded |= {f"invitations.{a}" for a in ("start", "pause", "resume", "cancel")}
    recorded |= {"user.add", "user.role", "user.disable"}
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

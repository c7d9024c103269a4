"""Reviewing invitations before they go: the review page's figures (recipients as the run counts
them, pace, time in words) and its e-mail preview, and a start that is refused without a review
this service made, or once who it would reach has changed."""

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from petitions.config import settings_of
from petitions.invitations import review as invitation_review
from tests.helpers import add_members, configure, open_petition, petition
from tests.invitations import test_runs
from tests.invitations.test_runs import (
    REVIEW_TOKEN,
    audit_actions,
    confirm,
    invitation_mail,
    opt_out,
    review,
    runs,
    sign,
)

roll = test_runs.roll
organiser = test_runs.organiser


def _words(page) -> str:
    """The page's text with every run of white space one space, as a reader sees it."""
    return " ".join(page.get_data(as_text=True).split())


def _token(page) -> str:
    return REVIEW_TOKEN.search(page.get_data(as_text=True)).group(1)


@pytest.mark.parametrize(
    ("recipients", "rate", "words"),
    [
        (1, 600, "less than a minute"),
        (50, 600, "less than a minute"),  # one batch: sent at once
        (5_400, 600, "about 9 minutes"),
        (4_000, 24, "about 2 hours and 47 minutes"),
        (100_000, 600, "about 2 hours and 47 minutes"),
    ],
)
def test_the_time_a_run_takes_in_words(recipients, rate, words):
    assert invitation_review.in_words(invitation_review.sending_time(recipients, rate)) == words


def test_the_time_is_the_batches_the_run_sends(app):
    # 600 a minute: 50 a batch, one batch every 5 seconds, the first at once.
    assert invitation_review.sending_time(101, 600) == timedelta(seconds=10)


def test_the_review_shows_recipients_pace_time_and_the_mail(roll, organiser, client):
    sign(roll, client, "N2")
    opt_out(roll, "n3@example.org")
    page = review(organiser, region="North", rate=24)
    assert page.status_code == 200
    text = _words(page)
    # N1 only: N2 signed, N3 opted out, N4 lapsed; the run counts them the same way.
    assert "Send 1 invitation?" in text
    assert '<strong id="review-recipients">1 member</strong>' in text
    assert "24 e-mails a minute" in text
    assert "The most this service sends is 600 a minute." in text
    assert "Less than a minute" in text
    assert f"You are invited to sign: {petition(roll).title}" in text
    assert 'src="/organiser/p/vote/invitations/preview"' in text
    assert "Yes, send 1 invitation" in text
    assert runs(roll) == [], "reviewing starts nothing"
    assert invitation_mail(roll) == []


def test_the_preview_is_the_mail_with_links_that_lead_nowhere(roll, organiser):
    response = organiser.get("/organiser/p/vote/invitations/preview")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert petition(roll).title in html
    assert "Hello Jo Bloggs," in html
    assert "Sign the petition" in html
    assert "https://link-made-when-sent.invalid/link" in html
    assert "token=" not in html, "no working link in the preview"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "sandbox" in policy
    assert "frame-ancestors 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_confirming_the_review_starts_the_run_reviewed(roll, organiser):
    page = review(organiser, region="South", rate=12)
    response = confirm(organiser, _token(page))
    assert response.status_code == 303
    [run] = runs(roll)
    assert (run.region, run.rate_per_minute, run.total) == ("South", 12, 2)
    assert audit_actions(roll)[-1] == "invitations.start"


def test_a_start_without_a_review_is_refused(roll, organiser):
    for form in ({}, {"region": "", "rate": "600"}, {"token": ""}):
        response = organiser.post("/organiser/p/vote/invitations", data=form)
        assert response.status_code == 400
        assert "Invitations are sent only after a review" in response.get_data(as_text=True)
    assert runs(roll) == []


def test_a_forged_expired_or_borrowed_review_is_refused(roll, organiser, monkeypatch):
    settings = settings_of(roll)
    forged = URLSafeTimedSerializer("not the key", salt=invitation_review.SALT).dumps(
        {"p": petition(roll).id, "r": None, "n": 600, "t": 6, "f": "x"}
    )
    assert confirm(organiser, forged).status_code == 400
    open_petition(roll, "other", threshold=5)
    other = invitation_review.make_token(
        settings, petition(roll, "other"), invitation_review.Review(None, 600, 6, "x")
    )
    answer = confirm(organiser, other)
    assert answer.status_code == 400
    assert "another petition" in answer.get_data(as_text=True)
    token = _token(review(organiser))
    monkeypatch.setattr(invitation_review, "MAX_AGE_SECONDS", -1)
    stale = confirm(organiser, token)
    assert stale.status_code == 400
    assert "more than an hour old" in stale.get_data(as_text=True)
    assert runs(roll) == []


def test_a_change_in_recipients_since_the_review_is_refused_with_the_new_figures(
    roll, organiser, client
):
    token = _token(review(organiser))
    opt_out(roll, "n1@example.org")
    response = confirm(organiser, token)
    assert response.status_code == 409
    text = _words(response)
    assert "has changed since you reviewed it (6 then, 5 now)" in text
    assert "Send 5 invitations?" in text
    assert runs(roll) == []
    # The same number, other members: one left the count and another joined it.
    token = _token(review(organiser))
    sign(roll, client, "N2")
    add_members(roll, ("N9", "n9@example.org", "active", "North"))
    swapped = confirm(organiser, token)
    assert swapped.status_code == 409
    assert "(5 then, 5 now)" in _words(swapped)
    # Confirmed from the new review, it starts.
    assert confirm(organiser, _token(swapped)).status_code == 303
    assert runs(roll)[0].total == 5


def test_a_petition_closed_since_the_review_is_refused(roll, organiser):
    token = _token(review(organiser))
    organiser.post("/organiser/p/vote/close", data={"confirm": "yes"})
    response = confirm(organiser, token)
    assert response.status_code == 409
    assert runs(roll) == []


def test_a_pace_above_the_ceiling_set_since_the_review_is_refused(roll, organiser):
    token = _token(review(organiser, rate=600))
    configure(roll, invitation_rate_per_minute=100)
    response = confirm(organiser, token)
    assert response.status_code == 409
    assert "from 1 to 100 a minute" in _words(response)
    assert runs(roll) == []

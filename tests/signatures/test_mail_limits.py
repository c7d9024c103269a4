"""The mail limit per mailbox: its windows, and when a link mailed earlier answers a request."""

from datetime import UTC, datetime, timedelta

from petitions.signatures import mail_limits
from petitions.signatures.anomalies import NetworkNotice

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEY = "ann@example.org"
LINK = (1, "sign", 7)
DAY_LINKS = 72 * 3600  # CONFIRM_LINK_MAX_AGE's default


def ledger(limit: str, mailed_minutes_ago, link=LINK, max_age=DAY_LINKS) -> mail_limits.Ledger:
    made = mail_limits.Ledger(mail_limits.Budget.of(limit, max_age), NOW)
    made.mailed[KEY] = [
        mail_limits._Mailed(NOW - timedelta(minutes=m), link) for m in mailed_minutes_ago
    ]
    return made


def test_a_budget_reads_every_window_of_a_limit():
    budget = mail_limits.Budget.of("2/minute;5/hour", DAY_LINKS)
    assert budget.windows == ((2, timedelta(minutes=1)), (5, timedelta(hours=1)))
    assert budget.still_valid == timedelta(hours=36)
    assert budget.lookback == timedelta(hours=36)


def test_under_the_limit_every_request_is_mailed_and_counted():
    made = ledger("5 per hour", [50, 40, 30, 20])
    assert not made.answered_by_earlier_mail(KEY, LINK)
    made.record(KEY, LINK)
    assert made.used_up(KEY)
    assert made.answered_by_earlier_mail(KEY, LINK)


def test_mails_older_than_the_window_do_not_count():
    assert not ledger("5 per hour", [61, 70, 80, 90, 100]).used_up(KEY)
    assert ledger("5 per hour", [1, 2, 3, 4, 59]).used_up(KEY)
    assert ledger("2/minute;10/hour", [0.1, 0.5]).used_up(KEY)


def test_past_the_limit_only_a_held_link_answers_a_request():
    made = ledger("2 per hour", [10, 5], link=(2, "sign", 7))
    # Links for another petition fill the mailbox's limit; this petition's link is mailed.
    assert not made.answered_by_earlier_mail(KEY, LINK)
    made.record(KEY, LINK)
    assert made.answered_by_earlier_mail(KEY, LINK)
    # A link to withdraw is another link than the one to sign.
    assert not made.answered_by_earlier_mail(KEY, (1, "manage", 7))


def test_a_link_past_half_its_life_is_mailed_again():
    # Links that live two hours: one mailed 61 minutes ago has less than half its life left.
    made = ledger("1 per 2 hours", [61], max_age=2 * 3600)
    assert made.used_up(KEY)
    assert not made.holds(KEY, LINK)
    assert not made.answered_by_earlier_mail(KEY, LINK)
    assert ledger("1 per 2 hours", [59], max_age=2 * 3600).holds(KEY, LINK)


def test_a_notice_level_reads_its_rate():
    assert NetworkNotice.of("60 per hour") == NetworkNotice(60, timedelta(hours=1))
    assert NetworkNotice.of("60 per hour").window_words == "one hour"
    assert NetworkNotice.of("30/10 minutes").window_words == "10 minutes"
    assert NetworkNotice.of("500 per day").window_words == "one day"

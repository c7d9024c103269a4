"""The privacy purge: it removes or blanks exactly what its retention says is due, keeps the
rest and everything the counts and the log depend on, is idempotent, works in bounded batches,
and leaves `log verify` and `log recount` passing."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import (
    Invitation,
    LogLeaf,
    LogNode,
    Mail,
    Petition,
    RollImportNote,
    RollUpload,
    Signature,
    SignInLink,
    SignInRequest,
    SignRequest,
    ThresholdEvent,
    TreeHead,
    UserSession,
)
from petitions.jobs import dispatch, nightly
from petitions.privacy import purge
from tests.helpers import configure
from tests.privacy import history

DAY = timedelta(days=1)


@pytest.fixture
def made(app, client, worker, runner, tmp_path):
    return history.make(app, client, worker, runner, tmp_path)


def run(app, later: timedelta, **options) -> purge.PurgeReport:
    return purge.purge(flask_db.engine_of(app), settings_of(app), utcnow() + later, **options)


def rows(app, query):
    with Session(flask_db.engine_of(app)) as session:
        return session.execute(query).all()


def count(app, table) -> int:
    return rows(app, select(func.count()).select_from(table))[0][0]


def counting_state(app) -> dict:
    """What the counts and the log depend on."""
    snap = history.snapshot(app)
    return {
        name: snap[name]
        for name in (
            "petition",
            "signature",
            "log_leaf",
            "log_node",
            "tree_head",
            "threshold_event",
            "invalidation",
            "member",
            "roll_import",
            "invitation_run",
            "user_account",
            "audit_event",
        )
    }


def test_nothing_is_due_the_day_after(app, made):
    before = history.snapshot(app)
    report = run(app, DAY)
    assert report.total == 0
    assert history.snapshot(app) == before


def test_after_a_month_mail_bodies_sessions_and_sign_in_links_go(app, made):
    mails = count(app, Mail)
    kept = counting_state(app)
    assert count(app, UserSession) == count(app, SignInLink) == count(app, SignInRequest) == 1
    report = run(app, 31 * DAY)
    assert report.counts["mail bodies"] == mails
    assert report.counts["sessions"] == report.counts["sign-in links"] == 1
    assert report.counts["sign-in requests"] == 1
    assert report.counts["sign requests"] == report.counts["invitations"] == 0
    assert report.counts["roll import notes"] == 0
    for text_body, html_body, links, address, subject in rows(
        app, select(Mail.text_body, Mail.html_body, Mail.links, Mail.to_address, Mail.subject)
    ):
        assert (text_body, html_body, links, address) == ("", "", None, "")
        assert subject
    assert count(app, UserSession) == count(app, SignInLink) == count(app, SignInRequest) == 0
    # Not yet due: 90 days after the petition closed.
    assert count(app, SignRequest) == 7
    assert rows(app, select(func.count()).where(SignRequest.network.is_not(None)))[0][0] == 7
    assert count(app, RollImportNote) == 1
    assert counting_state(app) == kept


def test_after_ninety_days_the_closed_petitions_requests_and_invitations_go(app, made):
    kept = counting_state(app)
    signatures = count(app, Signature)
    report = run(app, 91 * DAY)
    assert report.counts["sign requests"] == 5
    assert report.counts["invitations"] == 1
    assert report.counts["roll import notes"] == 1
    closed = rows(
        app,
        select(
            SignRequest.email,
            SignRequest.email_key,
            SignRequest.member_number,
            SignRequest.network,
            SignRequest.outcome,
        )
        .join(Petition, Petition.id == SignRequest.petition_id)
        .where(Petition.slug == "vote"),
    )
    assert [row[:4] for row in closed] == [("", "", None, None)] * 5
    assert all(row[4] for row in closed), "the outcome is kept for the petition's figures"
    still_open = rows(
        app,
        select(SignRequest.email, SignRequest.network)
        .join(Petition, Petition.id == SignRequest.petition_id)
        .where(Petition.slug == "later"),
    )
    assert [email for email, _ in still_open] == ["m6@example.org", "m7@example.org"]
    assert {network for _, network in still_open} == {"2001:db8:1:2::/64"}
    invited = rows(
        app,
        select(Petition.slug).join(Invitation, Invitation.petition_id == Petition.id),
    )
    assert invited == [("later",)]
    assert count(app, RollImportNote) == 0
    assert count(app, Signature) == signatures == 7
    assert counting_state(app) == kept
    for table in (LogLeaf, LogNode, TreeHead, ThresholdEvent):
        assert count(app, table) > 0


def test_the_purge_is_idempotent(app, made):
    first = run(app, 91 * DAY)
    assert first.total > 0
    after_first = history.snapshot(app)
    second = run(app, 91 * DAY)
    assert second.total == 0
    assert second.batches == 0
    assert history.snapshot(app) == after_first


def test_a_small_batch_takes_several_rounds_and_ends_the_same(app, made):
    mails = count(app, Mail)
    assert mails > 4
    report = run(app, 31 * DAY, batch_size=2)
    assert report.finished
    assert report.counts["mail bodies"] == mails
    # Each batch is one commit of at most two rows: every mail, session, link and request.
    assert report.batches >= (mails + 1) // 2 + 3
    assert run(app, 31 * DAY).total == 0


def test_the_time_bound_stops_between_batches_and_the_next_run_goes_on(app, made):
    mails = count(app, Mail)
    ticks = iter(range(1000))
    # A clock that passes the bound (of 1.5 "seconds") after the second batch.
    report = run(app, 31 * DAY, batch_size=2, time_limit=1.5, clock=lambda: next(ticks))
    assert not report.finished
    assert report.batches == 2
    assert report.counts["mail bodies"] == 4
    blanked = rows(app, select(func.count()).where(Mail.text_body == ""))[0][0]
    assert blanked == 4
    rest = run(app, 31 * DAY)
    assert rest.finished
    assert rest.counts["mail bodies"] == mails - 4


def test_purges_running_at_once_share_the_work_and_count_each_row_once(app, made, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    mails = count(app, Mail)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda _: run(app, 31 * DAY, batch_size=1), range(4)))
    assert all(report.finished for report in reports)
    assert sum(report.counts["mail bodies"] for report in reports) == mails
    assert sum(report.counts["sessions"] for report in reports) == 1
    assert rows(app, select(func.count()).where(Mail.text_body != ""))[0][0] == 0


def test_log_verify_and_recount_still_pass_after_a_purge(app, runner, made):
    run(app, 91 * DAY)
    for slug in ("vote", "later"):
        verified = runner.invoke(args=["log", "verify", "--slug", slug])
        assert verified.exit_code == 0, verified.output
        assert "the log verifies" in verified.output
        recounted = runner.invoke(args=["log", "recount", "--slug", slug, "--roll", str(made.roll)])
        assert recounted.exit_code == 0, recounted.output
        assert "the recount agrees" in recounted.output


def age(app, days: int) -> None:
    """Move every stored time that the retention counts from ``days`` into the past."""
    then = utcnow() - timedelta(days=days)
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(Mail).values(done_at=then))
        session.execute(
            update(Petition).where(Petition.closed_at.is_not(None)).values(closed_at=then)
        )
        session.commit()


def test_the_command_reports_per_kind_and_dry_run_changes_nothing(app, runner, made):
    age(app, 100)
    before = history.snapshot(app)
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    mails = len(before["mail"])
    assert f"mail bodies: would remove or blank {mails}" in dry.output
    assert "sign requests: would remove or blank 5" in dry.output
    assert "invitations: would remove or blank 1" in dry.output
    assert "mail bodies: kept 30 days after it was sent" in dry.output
    assert "nothing changed" in dry.output
    assert history.snapshot(app) == before

    done = runner.invoke(args=["privacy", "purge"])
    assert done.exit_code == 0, done.output
    assert f"mail bodies: removed or blanked {mails}" in done.output
    assert "sign requests: removed or blanked 5" in done.output
    assert "sessions: removed or blanked 0" in done.output
    assert history.snapshot(app) != before

    again = runner.invoke(args=["privacy", "purge"])
    assert "0 rows in all" in again.output


def test_housekeeping_purges_once_a_night(app, made, monkeypatch):
    age(app, 100)
    # Tomorrow's: the app's own housekeeping may have purged tonight already when the test
    # runs in the purge's hour.
    night = (utcnow() + timedelta(days=1)).replace(hour=nightly.PURGE_HOUR, minute=5)
    monkeypatch.setattr(dispatch, "utcnow", lambda: night)
    dispatch.housekeeping(app)
    assert rows(app, select(func.count()).where(Mail.text_body != ""))[0][0] == 0
    assert rows(app, select(func.count()).where(SignRequest.network.is_not(None)))[0][0] == 2
    assert nightly.nightly_of(app).last_run == night


def test_each_housekeeping_round_purges_a_bounded_piece(app, made, monkeypatch):
    age(app, 100)
    configure(app, purge_batch_size=2)
    monkeypatch.setattr(nightly, "ROUND_SECONDS", 0)
    # Tomorrow's: the app's own housekeeping may have purged tonight already when the test
    # runs in the purge's hour.
    night = (utcnow() + timedelta(days=1)).replace(hour=nightly.PURGE_HOUR, minute=5)
    monkeypatch.setattr(dispatch, "utcnow", lambda: night)
    schedule = nightly.nightly_of(app)
    rounds = 0
    while schedule.last_run is None:
        dispatch.housekeeping(app)
        rounds += 1
        assert rounds < 50
    # One batch of two rows a round: the mails alone take several rounds.
    assert rounds > count(app, Mail) // 2
    assert rows(app, select(func.count()).where(Mail.text_body != ""))[0][0] == 0
    # Done for the night: another round purges nothing more.
    assert schedule.run_if_due(app, night) is None


def test_the_nightly_purge_runs_in_its_hour_once():
    schedule = nightly.NightlyPurge()
    night = utcnow().replace(hour=nightly.PURGE_HOUR, minute=0)
    assert not schedule.due(night - timedelta(hours=1))
    assert schedule.due(night)
    schedule.last_run = night
    assert not schedule.due(night + timedelta(minutes=59))
    assert not schedule.due(night + timedelta(hours=12))
    assert schedule.due(night + DAY)


def test_an_uploaded_roll_file_is_emptied_after_its_retention(app, made):
    then = utcnow()
    with Session(flask_db.engine_of(app)) as session:
        for done in (then, None):
            session.add(
                RollUpload(
                    filename="roll.csv",
                    data=b"member_id,email\nM001,m1@example.org\n",
                    size=35,
                    uploaded_by=history.ORGANISER,
                    done_at=done,
                )
            )
        session.commit()
    assert run(app, 89 * DAY).counts["roll upload files"] == 0
    report = run(app, 91 * DAY)
    assert report.counts["roll upload files"] == 1
    uploads = rows(
        app, select(RollUpload.data, RollUpload.size, RollUpload.done_at).order_by(RollUpload.id)
    )
    # The finished upload is emptied (its size is kept); the one not imported yet is not.
    assert [(data, size) for data, size, _ in uploads] == [
        (b"", 35),
        (b"member_id,email\nM001,m1@example.org\n", 35),
    ]

"""Invitation mailing: who a run reaches, the rate it keeps, the mail each member gets, that
nobody is mailed twice (after a crash, mid-batch or between batches, or with two runs at once),
pause, resume and cancel, closed petitions, and the public opt-out page."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, update
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import (
    AuditEvent,
    Invitation,
    InvitationRun,
    Mail,
    MailOptOut,
    Member,
    Petition,
    Signature,
)
from petitions.invitations import opt_out as invitation_opt_out
from petitions.invitations import runs as invitations
from petitions.lifecycle import rules as lifecycle
from petitions.outbox import work
from petitions.roll.addresses import matching_key
from petitions.signatures import signing
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    petition,
    sent_mail,
    sign_in,
    token_of,
)

OPT_OUT_LINK = re.compile(r"^(http://\S+/invitations/opt-out\?token=(\S+))$", re.MULTILINE)
BODY = "Hold a vote on the new rules.\n\nThe second paragraph is not in the e-mail."


# --- helpers ----------------------------------------------------------------------------------


def member_pk(app, member_id: str) -> int:
    """The database id of the member with membership number ``member_id``."""
    with Session(flask_db.engine_of(app)) as session:
        return session.exec(select(Member.id).where(Member.number == member_id)).one()


REVIEW_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def review(client, region: str = "", rate: int | str = 600, slug: str = "vote"):
    """The review page for a run, as the organiser's form asks for it."""
    return client.get(
        f"/organiser/p/{slug}/invitations/review", query_string={"region": region, "rate": rate}
    )


def confirm(client, token: str, slug: str = "vote"):
    """Press the review page's confirm button, which sends ``token``."""
    return client.post(f"/organiser/p/{slug}/invitations", data={"token": token})


def start(client, region: str = "", rate: int | str = 600, slug: str = "vote"):
    """Start a run from the organiser's page: review it, then confirm; the review page's
    answer instead when it refuses."""
    page = review(client, region, rate, slug)
    if page.status_code != 200:
        return page
    return confirm(client, REVIEW_TOKEN.search(page.get_data(as_text=True)).group(1), slug)


def runs(app) -> list[InvitationRun]:
    """Every run, oldest first."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return list(session.exec(select(InvitationRun).order_by(InvitationRun.id)))


def run_of(app, run_id: int) -> InvitationRun:
    """Run ``run_id`` as stored now."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.get(InvitationRun, run_id)


def make_due(app) -> None:
    """Let the next batch of every run that is waiting go now, as if its wait had passed."""
    with Session(flask_db.engine_of(app)) as session:
        session.exec(
            update(InvitationRun)
            .where(
                InvitationRun.done_at.is_(None),
                InvitationRun.next_attempt_at < invitations.PAUSED_UNTIL,
            )
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def invitation_mail(app) -> list[Mail]:
    """Every invitation mail, oldest first."""
    return [m for m in sent_mail(app) if m.purpose == "invitation"]


def invited_addresses(app) -> list[str]:
    """The address of every invitation mail, sorted (duplicates kept)."""
    return sorted(m.to_address for m in invitation_mail(app))


def invitation_rows(app) -> list[Invitation]:
    """Every Invitation row."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return list(session.exec(select(Invitation).order_by(Invitation.id)))


def sign(app, client, member_id: str, slug: str = "vote") -> None:
    """Sign ``slug`` as member ``member_id`` through the confirm page."""
    link = signing.confirm_url(settings_of(app), petition(app, slug), member_pk(app, member_id))
    response = client.post(f"/p/{slug}/confirm", data={"token": token_of(link)})
    assert response.status_code == 200, response.data


def opt_out(app, email: str) -> None:
    """Record that ``email`` wants no more invitations."""
    with Session(flask_db.engine_of(app)) as session:
        assert invitation_opt_out.record(session, matching_key(email))
        session.commit()


def audit_actions(app) -> list[str]:
    """The audit trail's actions, oldest first."""
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(AuditEvent.action).order_by(AuditEvent.id)))


def drain(app, worker, rounds: int = 50) -> None:
    """Run every batch of every run to its end, skipping the waits between batches."""
    for _ in range(rounds):
        worker.run_pending()
        if all(run.done_at is not None for run in runs(app)):
            return
        make_due(app)
    pytest.fail("the runs did not finish")


def assert_each_invited_once(app, emails) -> None:
    """Every address in ``emails`` got exactly one invitation mail, nobody else got one, and
    every invitation row has its mail."""
    assert invited_addresses(app) == sorted(emails)
    rows = invitation_rows(app)
    assert len(rows) == len(emails)
    assert len({row.member_id for row in rows}) == len(rows)
    assert all(row.mail_id is not None for row in rows)


@pytest.fixture
def roll(app):
    """An open petition, "vote", and a roll: North and South, with members of every kind."""
    add_members(
        app,
        ("N1", "n1@example.org", "active", "North"),
        ("N2", "n2@example.org", "active", "North"),
        ("N3", "n3@example.org", "active", "North"),
        ("N4", "n4@example.org", "lapsed", "North"),
        ("S1", "s1@example.org", "active", "South"),
        ("S2", "s2@example.org", "suspended", "South"),
        ("S3", "s3@example.org", "active", "South"),
        ("X1", "x1@example.org", "active", None),
    )
    with Session(flask_db.engine_of(app)) as session:
        session.exec(update(Member).where(Member.number == "N1").values(name="Nia North"))
        session.commit()
    open_petition(app, "vote", threshold=100, body=BODY)
    return app


@pytest.fixture
def organiser(app, client):
    """``client`` signed in as an organiser."""
    sign_in(app, client, "organiser@example.org", "organiser")
    return client


ACTIVE = ["n1@example.org", "n2@example.org", "n3@example.org", "s1@example.org"]
ACTIVE += ["s3@example.org", "x1@example.org"]


# --- who a run reaches ------------------------------------------------------------------------


def test_reach_counts_active_members_not_yet_invited_signed_or_opted_out(roll, client, worker):
    sign(roll, client, "N2")
    opt_out(roll, "S1@Example.org")
    with Session(flask_db.engine_of(roll)) as session:
        reach = invitations.reach(session, petition(roll))
    assert reach.everyone == 4  # N1, N3, S3, X1
    assert reach.by_region == {"North": 2, "South": 1}
    assert reach.regions == ["North", "South"]
    assert reach.of("South") == 1
    assert reach.of(None) == 4
    assert reach.of("East") == 0


def test_the_page_shows_how_many_each_choice_would_reach(roll, organiser):
    opt_out(roll, "n3@example.org")
    page = organiser.get("/organiser/p/vote/invitations")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "All active members (5 to invite)" in text
    assert "North (2 to invite)" in text
    assert "South (2 to invite)" in text
    assert 'max="600"' in text  # the rate's ceiling, INVITATION_RATE_PER_MINUTE
    assert "invitations.js" in text
    assert "invitations.css" in text


def test_a_run_for_everyone_invites_each_active_member_once(roll, organiser, worker):
    response = start(organiser)
    assert response.status_code == 303
    [run] = runs(roll)
    assert (run.total, run.sent, run.region, run.rate_per_minute) == (6, 0, None, 600)
    assert run.started_by == "organiser@example.org"
    assert audit_actions(roll)[-1] == "invitations.start"
    worker.run_pending()
    assert_each_invited_once(roll, ACTIVE)
    run = run_of(roll, run.id)
    assert run.sent == 6
    assert run.done_at is not None
    assert invitations.state(run) == "finished"
    assert all(m.done_at is not None for m in invitation_mail(roll))  # and the mail went out


def test_a_run_for_one_region_invites_only_its_active_members(roll, organiser, worker):
    assert start(organiser, region="South").status_code == 303
    worker.run_pending()
    assert_each_invited_once(roll, ["s1@example.org", "s3@example.org"])
    # A second run for everyone leaves out those already invited.
    assert start(organiser).status_code == 303
    assert runs(roll)[-1].total == 4
    worker.run_pending()
    assert_each_invited_once(roll, ACTIVE)


def test_signed_opted_out_and_lapsed_members_are_skipped_at_send_time(
    roll, organiser, client, worker
):
    assert start(organiser, rate=12).status_code == 303  # one member a batch
    [run] = runs(roll)
    assert run.total == 6
    # After the run started: N2 signs, N3's address opts out, S1 lapses.
    sign(roll, client, "N2")
    opt_out(roll, "n3@example.org")
    with Session(flask_db.engine_of(roll)) as session:
        session.exec(update(Member).where(Member.number == "S1").values(status="lapsed"))
        session.commit()
    drain(roll, worker)
    assert_each_invited_once(roll, ["n1@example.org", "s3@example.org", "x1@example.org"])
    run = run_of(roll, run.id)
    assert (run.sent, run.total) == (3, 6)
    assert invitations.progress(run)["skipped"] == 3


def test_an_opt_out_during_a_run_is_honoured_by_its_next_batch(roll, organiser, worker):
    start(organiser, rate=24)  # two members a batch: N1, N2 first
    worker.run_pending()
    assert invited_addresses(roll) == ["n1@example.org", "n2@example.org"]
    opt_out(roll, "n3@example.org")
    drain(roll, worker)
    assert "n3@example.org" not in invited_addresses(roll)
    assert len(invited_addresses(roll)) == 5


def test_nobody_left_to_invite_refuses_the_run(roll, organiser, worker):
    start(organiser, region="South")
    worker.run_pending()
    response = start(organiser, region="South")
    assert response.status_code == 400
    assert "invited already" in response.get_data(as_text=True)
    assert len(runs(roll)) == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"region": "", "rate": "0"}, "from 1 to 600"),
        ({"region": "", "rate": "601"}, "from 1 to 600"),
        ({"region": "", "rate": "fast"}, "whole number"),
        ({"region": "", "rate": ""}, "whole number"),
        ({"region": "Atlantis", "rate": "60"}, "Choose a region from the roll"),
    ],
)
def test_bad_choices_get_a_400_page_and_start_nothing(roll, organiser, form, message):
    response = review(organiser, **form)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text
    assert 'aria-invalid="true"' in text
    assert runs(roll) == []
    assert "invitations.start" not in audit_actions(roll)


def test_the_rate_ceiling_is_the_setting(roll, organiser):
    configure(roll, invitation_rate_per_minute=50)
    assert start(organiser, rate=51).status_code == 400
    assert start(organiser, rate=50).status_code == 303


def test_unknown_and_draft_petitions(roll, organiser):
    assert organiser.get("/organiser/p/nowhere/invitations").status_code == 404
    assert start(organiser, slug="nowhere").status_code == 404
    with Session(flask_db.engine_of(roll)) as session:
        lifecycle.create_petition(session, slug="draft", title="Draft", threshold=5)
        session.commit()
    page = organiser.get("/organiser/p/draft/invitations")
    assert page.status_code == 200
    assert "once the petition is open" in page.get_data(as_text=True)
    refused = start(organiser, slug="draft")
    assert refused.status_code == 400
    assert "only be sent while the petition is open" in refused.get_data(as_text=True)
    assert runs(roll) == []


# --- the mail ---------------------------------------------------------------------------------


def test_the_mail_is_personal_with_the_sign_and_opt_out_links_on_lines_of_their_own(
    roll, organiser, worker
):
    start(organiser, region="North")
    worker.run_pending()
    [nia] = sent_mail(roll, "n1@example.org")
    assert nia.purpose == "invitation"
    assert nia.subject == "You are invited to sign: Petition vote"
    text = nia.text_body
    assert text.startswith("Hello Nia North,\n")
    assert '"Petition vote"' in text
    assert "Hold a vote on the new rules." in text
    assert "second paragraph" not in text
    assert "for 72 hours" in text  # CONFIRM_LINK_MAX_AGE
    assert "http://127.0.0.1:5000/p/vote\n" in text
    link = link_in(text)
    assert link.startswith("http://127.0.0.1:5000/p/vote/confirm?token=")
    opt_out_link = OPT_OUT_LINK.search(text)
    assert opt_out_link, text
    assert opt_out_link.group(1).startswith("http://127.0.0.1:5000/invitations/opt-out?token=")
    assert f'href="{link}"' in nia.html_body
    assert "Sign the petition" in nia.html_body
    # Without a name on the roll, no name.
    assert sent_mail(roll, "n2@example.org")[0].text_body.startswith("Hello,\n")


def test_the_mailed_link_confirms_a_signature(roll, organiser, client, worker):
    start(organiser, region="North")
    worker.run_pending()
    link = link_in(sent_mail(roll, "n2@example.org")[0].text_body)
    path = link.removeprefix("http://127.0.0.1:5000")
    assert "Confirm my signature" in client.get(path).get_data(as_text=True)
    assert petition(roll).signature_count == 0  # opening the link counts nothing
    response = client.post("/p/vote/confirm", data={"token": token_of(link)})
    assert response.status_code == 200
    assert petition(roll).signature_count == 1
    with Session(flask_db.engine_of(roll)) as session:
        signer = session.exec(select(Signature.member_id)).one()
    assert signer == member_pk(roll, "N2")


def test_the_mailed_opt_out_link_works(roll, organiser, client, worker):
    start(organiser, region="North")
    worker.run_pending()
    link = OPT_OUT_LINK.search(sent_mail(roll, "n3@example.org")[0].text_body).group(1)
    page = client.get(link.removeprefix("http://127.0.0.1:5000"))
    assert page.status_code == 200
    assert client.post("/invitations/opt-out", data={"token": token_of(link)}).status_code == 303
    with Session(flask_db.engine_of(roll)) as session:
        assert session.exec(select(MailOptOut.email_key)).all() == ["n3@example.org"]
    # The next petition's invitations leave that address out.
    open_petition(roll, "other", threshold=5)
    start(organiser, region="North", slug="other")
    worker.run_pending()
    other = [m.to_address for m in invitation_mail(roll) if m.petition_id != petition(roll).id]
    assert sorted(other) == ["n1@example.org", "n2@example.org"]


# --- the rate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "size", "seconds"),
    [(600, 50, 5.0), (60, 5, 5.0), (12, 1, 5.0), (7, 1, 60 / 7), (1, 1, 60.0), (60000, 1000, 1.0)],
)
def test_a_batch_is_five_seconds_of_the_rate(rate, size, seconds):
    assert invitations.batch_size(rate) == size
    assert invitations.batch_interval(rate).total_seconds() == pytest.approx(seconds)
    # Whatever the rate, a minute of batches sends no more than the rate.
    assert size * 60 / invitations.batch_interval(rate).total_seconds() == pytest.approx(rate)


def test_the_run_sends_one_batch_and_waits_before_the_next(roll, organiser, worker):
    start(organiser, rate=24)  # 2 a batch, a batch every 5 seconds
    [run] = runs(roll)
    before = utcnow()
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2
    run = run_of(roll, run.id)
    assert run.sent == 2
    assert run.done_at is None
    assert run.leased_until is None
    wait = run.next_attempt_at - before
    assert timedelta(seconds=4) < wait <= timedelta(seconds=6)
    worker.run_pending()  # not due yet: nothing more
    assert len(invitation_mail(roll)) == 2
    make_due(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 4
    drain(roll, worker)
    assert_each_invited_once(roll, ACTIVE)
    assert run_of(roll, run.id).sent == 6


# --- crashes and concurrent runs --------------------------------------------------------------


def test_a_crash_mid_batch_sends_nothing_of_it_and_the_retry_mails_each_once(
    roll, organiser, worker, monkeypatch
):
    start(organiser)
    [run] = runs(roll)
    real = invitations.compose_invitation
    calls = []

    def crashing(settings, petition_, member):
        calls.append(member.id)
        if len(calls) == 4:
            raise RuntimeError("worker died mid-batch")
        return real(settings, petition_, member)

    monkeypatch.setattr(invitations, "compose_invitation", crashing)
    worker.run_pending()
    assert invitation_mail(roll) == []
    assert invitation_rows(roll) == []
    run = run_of(roll, run.id)
    assert run.sent == 0
    assert run.done_at is None
    assert invitations.state(run) == "retrying"
    assert "worker died mid-batch" in invitations.progress(run)["error"]
    monkeypatch.setattr(invitations, "compose_invitation", real)
    drain(roll, worker)
    assert_each_invited_once(roll, ACTIVE)
    run = run_of(roll, run.id)
    assert run.sent == 6
    assert invitations.state(run) == "finished"


def test_a_worker_lost_between_batches_is_taken_over_without_duplicates(roll, organiser, worker):
    start(organiser, rate=24)
    [run] = runs(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2
    make_due(roll)
    engine = flask_db.engine_of(roll)
    # A worker claims the next batch and dies before doing it: its lease holds the run ...
    assert work.claim(engine, "invitation_run", run.id)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2
    # ... until the lease runs out and the relay offers the run again.
    with Session(engine) as session:
        session.exec(
            update(InvitationRun)
            .where(InvitationRun.id == run.id)
            .values(leased_until=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    worker.run_pending()
    assert len(invitation_mail(roll)) == 4
    # A duplicate job for a batch already done finds the row not due and does nothing.
    worker.run_pending()
    assert len(invitation_mail(roll)) == 4
    drain(roll, worker)
    assert_each_invited_once(roll, ACTIVE)


def test_a_batch_repeated_after_its_commit_mails_nobody_twice(roll, organiser, worker):
    start(organiser, rate=24)
    [run] = runs(roll)
    engine = flask_db.engine_of(roll)
    # The same run's batch done over and over, whatever the schedule says (a worker that
    # committed, crashed before anyone knew, and was run again): each member is mailed once.
    for _ in range(6):
        invitations.send_batch(engine, settings_of(roll), run.id)
    assert_each_invited_once(roll, ACTIVE)
    assert run_of(roll, run.id).done_at is not None


def test_two_runs_for_one_petition_mail_each_member_once(roll, organiser, worker):
    start(organiser, rate=24)
    start(organiser, rate=36)
    first, second = runs(roll)
    assert first.total == second.total == 6
    drain(roll, worker)
    assert_each_invited_once(roll, ACTIVE)
    first, second = runs(roll)
    assert first.sent + second.sent == 6
    assert {row.run_id for row in invitation_rows(roll)} == {first.id, second.id}


@pytest.fixture
def big_roll(app):
    """300 active members and an open petition."""
    add_members(app, *((f"M{i}", f"m{i}@example.org") for i in range(300)))
    open_petition(app, "vote", threshold=1000)
    return app


# PostgreSQL only: SQLite lets one writer in at a time, so nothing there runs concurrently.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_runs_on_postgresql_mail_each_member_once(big_roll, organiser):
    for rate in (600, 480, 360, 240):
        assert start(organiser, rate=rate).status_code == 303
    engine = flask_db.engine_of(big_roll)
    run_ids = [run.id for run in runs(big_roll)]
    barrier = threading.Barrier(len(run_ids))
    errors = []

    def sender(run_id: int) -> None:
        try:
            barrier.wait(30)
            for _ in range(400):
                invitations.send_batch(engine, settings_of(big_roll), run_id)
                if run_of(big_roll, run_id).done_at is not None:
                    return
            errors.append(f"run {run_id} did not finish")
        except Exception as exc:  # reported below, in the test's own thread
            errors.append(repr(exc))

    threads = [threading.Thread(target=sender, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert_each_invited_once(big_roll, [f"m{i}@example.org" for i in range(300)])
    assert sum(run.sent for run in runs(big_roll)) == 300
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Invitation)).one() == 300


# --- pause, resume, cancel, closed petitions --------------------------------------------------


def test_pause_resume_and_cancel(roll, organiser, worker):
    start(organiser, rate=12)  # one a batch
    [run] = runs(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 1

    response = organiser.post(f"/organiser/p/vote/invitations/{run.id}/pause")
    assert response.status_code == 303
    assert invitations.state(run_of(roll, run.id)) == "paused"
    make_due(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 1  # paused: nothing goes
    page = organiser.get("/organiser/p/vote/invitations").get_data(as_text=True)
    assert f"Run {run.id} is paused." in page

    # Pausing twice is refused, with a message and no audit record.
    again = organiser.post(f"/organiser/p/vote/invitations/{run.id}/pause", follow_redirects=True)
    assert "Only a run that is sending can be paused." in again.get_data(as_text=True)

    organiser.post(f"/organiser/p/vote/invitations/{run.id}/resume")
    assert invitations.state(run_of(roll, run.id)) == "sending"
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2

    organiser.post(f"/organiser/p/vote/invitations/{run.id}/cancel")
    run = run_of(roll, run.id)
    assert invitations.state(run) == "cancelled"
    assert run.cancelled_at is not None
    make_due(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2
    assert run_of(roll, run.id).sent == 2
    resumed = organiser.post(
        f"/organiser/p/vote/invitations/{run.id}/resume", follow_redirects=True
    )
    assert "Only a paused run can be resumed." in resumed.get_data(as_text=True)
    assert audit_actions(roll)[-4:] == [
        "invitations.start",
        "invitations.pause",
        "invitations.resume",
        "invitations.cancel",
    ]


def test_a_retry_scheduled_as_the_run_was_paused_sends_nothing(roll, organiser, worker):
    """A batch failing at the moment of the pause has its retry scheduled by the outbox
    (work.fail), which overwrites the paused run's far-off next try: the run still sends
    nothing until it is resumed."""
    start(organiser, rate=12)
    [run] = runs(roll)
    worker.run_pending()
    organiser.post(f"/organiser/p/vote/invitations/{run.id}/pause")
    with Session(flask_db.engine_of(roll)) as session:
        session.exec(
            update(InvitationRun)
            .where(InvitationRun.id == run.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1), last_error="boom")
        )
        session.commit()
    worker.run_pending()
    assert len(invitation_mail(roll)) == 1
    stored = run_of(roll, run.id)
    assert invitations.state(stored) == "paused"
    assert stored.next_attempt_at == invitations.PAUSED_UNTIL
    organiser.post(f"/organiser/p/vote/invitations/{run.id}/resume")
    worker.run_pending()
    assert len(invitation_mail(roll)) == 2


def test_actions_on_a_run_of_another_petition_or_none_are_404(roll, organiser, worker):
    open_petition(roll, "other", threshold=5)
    start(organiser, slug="other")
    [run] = runs(roll)
    for action in ("pause", "resume", "cancel"):
        assert organiser.post(f"/organiser/p/vote/invitations/{run.id}/{action}").status_code == 404
        assert organiser.post(f"/organiser/p/vote/invitations/999/{action}").status_code == 404
    assert invitations.state(run_of(roll, run.id)) == "sending"


def test_a_closed_petition_stops_its_runs(roll, organiser, worker):
    start(organiser, rate=12)
    start(organiser, rate=12, region="South")
    first, second = runs(roll)
    worker.run_pending()
    sent_before = len(invitation_mail(roll))
    organiser.post(f"/organiser/p/vote/invitations/{second.id}/pause")
    with Session(flask_db.engine_of(roll)) as session:
        lifecycle.close_petition(session, "vote")
        session.commit()
    make_due(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == sent_before
    first = run_of(roll, first.id)
    assert invitations.state(first) == "stopped"
    assert first.done_at is not None
    # Resuming the paused run of a closed petition stops it too.
    resumed = organiser.post(
        f"/organiser/p/vote/invitations/{second.id}/resume", follow_redirects=True
    )
    assert "the petition is closed" in resumed.get_data(as_text=True)
    assert invitations.state(run_of(roll, second.id)) == "stopped"
    page = organiser.get("/organiser/p/vote/invitations").get_data(as_text=True)
    assert "The petition is closed: no more invitations can be sent." in page
    assert "Stopped: the petition closed" in page
    refused = start(organiser)
    assert refused.status_code == 400
    assert "only be sent while the petition is open" in refused.get_data(as_text=True)
    assert len(runs(roll)) == 2


def test_a_petition_past_its_closing_time_stops_its_runs(roll, organiser, worker):
    start(organiser, rate=12)
    [run] = runs(roll)
    worker.run_pending()
    with Session(flask_db.engine_of(roll)) as session:
        session.exec(update(Petition).values(closes_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    make_due(roll)
    worker.run_pending()
    assert len(invitation_mail(roll)) == 1
    assert invitations.state(run_of(roll, run.id)) == "stopped"


# --- live progress ----------------------------------------------------------------------------


def test_progress_is_on_the_page_and_in_json(roll, organiser, worker):
    start(organiser, rate=24)
    [run] = runs(roll)
    worker.run_pending()
    page = organiser.get("/organiser/p/vote/invitations").get_data(as_text=True)
    assert re.search(r'<progress data-field="bar" max="6" value="2"', page)
    assert "2 of 6 sent" in page
    assert 'aria-live="polite"' in page
    assert 'data-progress-url="/organiser/p/vote/invitations/progress"' in page
    answer = organiser.get("/organiser/p/vote/invitations/progress")
    assert answer.status_code == 200
    assert answer.json == {
        "runs": [
            {
                "id": run.id,
                "state": "sending",
                "state_label": "Sending",
                "sent": 2,
                "total": 6,
                "skipped": 0,
                "active": True,
                "error": None,
            }
        ]
    }
    drain(roll, worker)
    [shown] = organiser.get("/organiser/p/vote/invitations/progress").json["runs"]
    assert (shown["state"], shown["sent"], shown["active"]) == ("finished", 6, False)


def test_the_pages_are_for_organisers_only(roll, client):
    assert client.get("/organiser/p/vote/invitations").status_code == 302
    sign_in(roll, client, "scrutineer@example.org", "scrutineer")
    assert client.get("/organiser/p/vote/invitations").status_code == 403
    assert client.get("/organiser/p/vote/invitations/progress").status_code == 403
    assert start(client).status_code == 403
    assert runs(roll) == []


# --- opting out -------------------------------------------------------------------------------


def opt_outs(app) -> list[str]:
    """The opted-out matching keys."""
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(MailOptOut.email_key).order_by(MailOptOut.id)))


def test_opening_the_opt_out_link_shows_a_button_and_changes_nothing(roll, client):
    url = invitation_opt_out.opt_out_url(settings_of(roll), "n1@example.org")
    page = client.get(url.removeprefix("http://127.0.0.1:5000"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Send me no more invitations" in text
    assert f'value="{token_of(url)}"' in text
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert opt_outs(roll) == []


def test_pressing_the_button_records_the_opt_out_once(roll, client):
    token = invitation_opt_out.make_token(settings_of(roll), "n1@example.org")
    response = client.post("/invitations/opt-out", data={"token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/invitations/opt-out/done"
    done = client.get("/invitations/opt-out/done")
    assert done.status_code == 200
    assert "You will get no more invitations" in done.get_data(as_text=True)
    assert client.post("/invitations/opt-out", data={"token": token}).status_code == 303
    assert opt_outs(roll) == ["n1@example.org"]
    again = client.get(f"/invitations/opt-out?token={token}").get_data(as_text=True)
    assert "already gets no invitations" in again


@pytest.mark.parametrize(
    "token",
    [
        "",
        "forged",
        "eyJrIjoibjFAZXhhbXBsZS5vcmcifQ.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_a_forged_opt_out_token_is_refused_with_400(roll, client, token):
    page = client.get(f"/invitations/opt-out?token={token}")
    assert page.status_code == 400
    assert "This link is not valid" in page.get_data(as_text=True)
    assert client.post("/invitations/opt-out", data={"token": token}).status_code == 400
    assert opt_outs(roll) == []


def test_tokens_of_other_purposes_are_not_opt_out_tokens(roll, client):
    confirm = token_of(
        signing.confirm_url(settings_of(roll), petition(roll), member_pk(roll, "N1"))
    )
    assert client.post("/invitations/opt-out", data={"token": confirm}).status_code == 400
    other_key = settings_of(roll).replace(secret_key="another-key")
    foreign = invitation_opt_out.make_token(other_key, "n1@example.org")
    assert client.post("/invitations/opt-out", data={"token": foreign}).status_code == 400
    assert opt_outs(roll) == []


def test_an_opt_out_token_signed_with_a_retired_key_still_works(roll, client):
    retired = invitation_opt_out.make_token(
        settings_of(roll).replace(secret_key="old"), "n1@example.org"
    )
    configure(roll, secret_key_fallbacks=["old"])
    assert client.post("/invitations/opt-out", data={"token": retired}).status_code == 303
    assert opt_outs(roll) == ["n1@example.org"]


def test_a_failure_late_in_a_long_run_waits_a_minute_at_most():
    """Every batch counts as an attempt, so a run that has sent 500 batches fails its 501st
    with 500 attempts behind it: its retry still comes within the minute."""
    from petitions.outbox import work

    assert work.retry_delay("invitation_run", 500) <= timedelta(seconds=60)

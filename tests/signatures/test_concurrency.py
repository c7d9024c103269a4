"""Signatures confirmed at the same instant by separate processes, on PostgreSQL: the count,
the numbering, the one threshold event and the one webhook stay exact (invariants 1 and 2)."""

import contextlib
import multiprocessing
import traceback

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from petitions.config import Settings, settings_of
from petitions.db import flask_db
from petitions.db.engine import make_engine
from petitions.db.models import (
    LogLeaf,
    Member,
    Petition,
    Signature,
    ThresholdEvent,
    WebhookDelivery,
)
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import sequencer, signing, tokens
from tests.helpers import add_members, open_petition, petition

PROCESSES = 8
ROUNDS = 20
SAME_MEMBER_ROUNDS = 5
WAIT = 60


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: row locks between processes are what is tested here."""
    return pg_schema


class _Stopped(Exception):
    """The sequencing step failing, as a request killed between its two commits would."""


def _stop(*_args, **_kwargs):
    raise _Stopped


def _confirmer(settings: Settings, barrier, conn) -> None:
    """A process of its own: its own engine; for each token it is sent, wait for every other
    process at the barrier, then confirm and send back (status, number). A token sent as
    (token, True) is confirmed with the sequencing step failing: ("stopped", None)."""
    engine = make_engine(settings.database_url)
    try:
        while (item := conn.recv()) is not None:
            token, stopped = item if isinstance(item, tuple) else (item, False)
            original = sequencer.sequence
            try:
                barrier.wait(WAIT)
                if stopped:
                    sequencer.sequence = _stop
                result = signing.confirm(engine, settings, token)
                conn.send((result.status, result.number))
            except _Stopped:
                conn.send(("stopped", None))
            except Exception:
                conn.send(("error", traceback.format_exc()))
            finally:
                sequencer.sequence = original
    finally:
        engine.dispose()
        conn.close()


class Confirmers:
    """PROCESSES processes that confirm one token each, all released at the same moment."""

    def __init__(self, settings: Settings):
        # Forked from a server that has imported the service once: quick to start, and no
        # fork of the (threaded) test process itself.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["petitions.signatures.signing", "tests.signatures.test_concurrency"]
        )
        self.barrier = context.Barrier(PROCESSES)
        self.pipes = []
        self.processes = []
        for _ in range(PROCESSES):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_confirmer, args=(settings, self.barrier, theirs), daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def confirm(self, tokens_: list) -> list[tuple]:
        """Confirm ``tokens_[i]`` in process ``i``, all at once; their answers in order."""
        assert len(tokens_) == PROCESSES
        for pipe, token in zip(self.pipes, tokens_, strict=True):
            pipe.send(token)
        results = []
        for pipe in self.pipes:
            assert pipe.poll(WAIT), "a confirming process did not answer"
            results.append(pipe.recv())
        errors = [detail for status, detail in results if status == "error"]
        assert not errors, errors[0]
        return results

    def stop(self) -> None:
        """End every process, killing any that does not stop."""
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        for pipe in self.pipes:
            pipe.close()


@pytest.fixture
def confirmers(app):
    """The confirming processes, stopped (or killed) after the test whatever happens."""
    pool = Confirmers(settings_of(app))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def members(app) -> list[int]:
    """PROCESSES active members; their row ids."""
    add_members(app, *[(f"C{n}", f"c{n}@example.org") for n in range(PROCESSES)])
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(Member.id).order_by(Member.id)))


def token_for(app, petition_id: int, member_id: int) -> str:
    """A fresh confirmation token."""
    return tokens.make_token(app.config["SECRET_KEY"], [], petition_id, member_id)


def count_rows(session: Session, model, *where) -> int:
    """How many rows of ``model`` match."""
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_many_members_crossing_the_threshold_at_once(app, confirmers, members):
    for round_ in range(ROUNDS):
        slug = f"race-{round_}"
        threshold = 1 + round_ % PROCESSES  # crossed by the first, a middle or the last one
        open_petition(app, slug, threshold=threshold)
        target = petition(app, slug)

        results = confirmers.confirm([token_for(app, target.id, m) for m in members])

        assert [status for status, _ in results] == ["confirmed"] * PROCESSES, round_
        assert sorted(number for _, number in results) == list(range(1, PROCESSES + 1))
        with Session(flask_db.engine_of(app)) as session:
            stored = session.get(Petition, target.id)
            numbers = session.exec(
                select(Signature.number)
                .where(Signature.petition_id == target.id)
                .order_by(Signature.number)
            ).all()
            events = session.exec(
                select(ThresholdEvent).where(ThresholdEvent.petition_id == target.id)
            ).all()
            assert stored.signature_count == len(numbers) == PROCESSES, round_
            assert numbers == list(range(1, PROCESSES + 1)), round_
            assert stored.last_number == PROCESSES
            assert stored.state == "triggered", round_
            assert len(events) == 1, round_
            [event] = events
            assert event.count == event.threshold == threshold
            crossing = session.get(Signature, event.signature_id)
            assert crossing.number == threshold, round_
            assert stored.reached_at == event.reached_at
            webhook_ids = session.exec(
                select(WebhookDelivery.webhook_id).where(WebhookDelivery.event_id == event.id)
            ).all()
            assert len(webhook_ids) == 1, round_
    with Session(flask_db.engine_of(app)) as session:
        assert count_rows(session, ThresholdEvent) == ROUNDS
        assert count_rows(session, WebhookDelivery) == ROUNDS
        assert count_rows(session, Signature) == ROUNDS * PROCESSES


def test_one_member_confirming_from_every_process_counts_once(app, confirmers, members):
    for round_ in range(SAME_MEMBER_ROUNDS):
        slug = f"twice-{round_}"
        open_petition(app, slug, threshold=1)
        target = petition(app, slug)
        member = members[round_ % len(members)]
        token = token_for(app, target.id, member)
        # The same link, and links mailed to the member more than once, all at the same moment.
        same = [token] * (PROCESSES // 2)
        fresh = [token_for(app, target.id, member) for _ in range(PROCESSES - len(same))]

        results = confirmers.confirm(same + fresh)

        statuses = sorted(status for status, _ in results)
        assert statuses == ["already_signed"] * (PROCESSES - 1) + ["confirmed"], round_
        assert {number for _, number in results} == {1}
        with Session(flask_db.engine_of(app)) as session:
            stored = session.get(Petition, target.id)
            assert stored.signature_count == 1
            assert stored.last_number == 1
            assert count_rows(session, Signature, Signature.petition_id == target.id) == 1
            assert count_rows(session, ThresholdEvent, ThresholdEvent.petition_id == target.id) == 1
            assert stored.state == "triggered"
    with Session(flask_db.engine_of(app)) as session:
        assert count_rows(session, WebhookDelivery) == SAME_MEMBER_ROUNDS


def test_confirmations_stopped_before_counting_are_counted_once_by_housekeeping(
    app, confirmers, members
):
    """Half the processes stop between recording their signature and counting it, at the same
    moment as the others count theirs: housekeeping counts the rest, nothing is lost or counted
    twice, and the crossing happens once, at the signature numbered the threshold."""
    for round_ in range(ROUNDS // 2):
        slug = f"stopped-{round_}"
        threshold = 1 + round_ % PROCESSES
        open_petition(app, slug, threshold=threshold)
        target = petition(app, slug)

        results = confirmers.confirm(
            [(token_for(app, target.id, m), n % 2 == 1) for n, m in enumerate(members)]
        )

        statuses = sorted(status for status, _ in results)
        assert statuses == ["confirmed"] * (PROCESSES // 2) + ["stopped"] * (PROCESSES // 2)
        housekeeping(app)
        with Session(flask_db.engine_of(app)) as session:
            stored = session.get(Petition, target.id)
            numbers = session.exec(
                select(Signature.number)
                .where(Signature.petition_id == target.id)
                .order_by(Signature.number)
            ).all()
            leaves = count_rows(
                session, LogLeaf, LogLeaf.petition_id == target.id, LogLeaf.kind == "signature"
            )
            events = session.exec(
                select(ThresholdEvent).where(ThresholdEvent.petition_id == target.id)
            ).all()
            assert numbers == list(range(1, PROCESSES + 1)), round_
            assert stored.signature_count == stored.log_size == leaves == PROCESSES, round_
            assert stored.state == "triggered", round_
            assert len(events) == 1, round_
            assert session.get(Signature, events[0].signature_id).number == threshold
            assert (
                count_rows(session, WebhookDelivery, WebhookDelivery.event_id == events[0].id) == 1
            )
        confirmed = sorted(number for status, number in results if status == "confirmed")
        assert len(set(confirmed)) == len(confirmed)


def test_a_petition_opened_meanwhile_is_seen_as_open_once_locked(app):
    """A view reads the petition (a draft), another request opens it, then the view edits or
    opens it: the rules judge the row as it is under the lock, not as first read."""
    from petitions.lifecycle import rules as lifecycle

    with Session(flask_db.engine_of(app)) as setup:
        lifecycle.create_petition(setup, slug="race", title="Race", threshold=5)
        setup.commit()
    with Session(flask_db.engine_of(app)) as view:
        seen = lifecycle.find_petition(view, "race")  # held, as a view holds it
        assert seen.state == "draft"
        with Session(flask_db.engine_of(app)) as other:
            lifecycle.open_petition(other, "race")
            other.commit()
        with pytest.raises(lifecycle.PetitionError):
            lifecycle.update_draft(view, "race", title="Changed after opening")
        view.rollback()
        seen = lifecycle.find_petition(view, "race")
        assert seen.state == "open"
        with pytest.raises(lifecycle.PetitionError):
            lifecycle.open_petition(view, "race")
    assert petition(app, "race").title == "Race"

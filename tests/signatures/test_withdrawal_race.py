"""Withdrawals racing confirmations and the threshold crossing, from separate processes on
PostgreSQL: the count equals the counted signatures, every counted signature is a leaf, the
log verifies, and the petition crosses its threshold exactly once."""

import contextlib
import multiprocessing
import traceback

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from petitions.config import Settings, settings_of
from petitions.db import flask_db
from petitions.db.engine import make_engine
from petitions.db.models import LogLeaf, Member, Petition, Signature, ThresholdEvent
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import signing, tokens, withdrawal
from tests.helpers import add_members, open_petition, petition

PROCESSES = 8
ROUNDS = 6
WAIT = 60


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: row locks between processes are what is tested here."""
    return pg_schema


def _worker(settings: Settings, barrier, conn) -> None:
    """A process of its own: for each (action, slug, token) it is sent, wait for every other
    process at the barrier, then confirm or withdraw, and send back the outcome."""
    engine = make_engine(settings.database_url)
    try:
        while (item := conn.recv()) is not None:
            action, slug, token = item
            try:
                barrier.wait(WAIT)
                if action == "confirm":
                    conn.send(str(signing.confirm(engine, settings, token).status))
                else:
                    conn.send(str(withdrawal.withdraw(engine, settings, token, slug).outcome))
            except Exception:
                conn.send("error: " + traceback.format_exc())
    finally:
        engine.dispose()
        conn.close()


class Racers:
    """PROCESSES processes, each doing one thing per round, all released at the same moment."""

    def __init__(self, settings: Settings):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["petitions.signatures.signing", "tests.signatures.test_withdrawal_race"]
        )
        self.barrier = context.Barrier(PROCESSES)
        self.pipes, self.processes = [], []
        for _ in range(PROCESSES):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker, args=(settings, self.barrier, theirs), daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def run(self, items: list[tuple]) -> list[str]:
        """Do ``items[i]`` in process ``i``, all at once; their outcomes in order."""
        for pipe, item in zip(self.pipes, items, strict=True):
            pipe.send(item)
        results = []
        for pipe in self.pipes:
            assert pipe.poll(WAIT), "a racing process did not answer"
            results.append(pipe.recv())
        errors = [r for r in results if r.startswith("error")]
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
def racers(app):
    """The racing processes, stopped (or killed) after the test whatever happens."""
    pool = Racers(settings_of(app))
    try:
        yield pool
    finally:
        pool.stop()


def test_withdrawals_racing_confirmations_and_the_crossing(app, runner, racers):
    add_members(app, *[(f"R{n}", f"r{n}@example.org") for n in range(PROCESSES)])
    settings = settings_of(app)
    with Session(flask_db.engine_of(app)) as session:
        members = list(session.exec(select(Member.id).order_by(Member.id)))
    for round_ in range(ROUNDS):
        # w members signed before the round withdraw during it while c = PROCESSES - w others
        # confirm; the count ends at c, the threshold, so it is crossed exactly once, whatever
        # the order the lock takes them in.
        withdrawing = 1 + round_ % (PROCESSES - 1)
        confirming = PROCESSES - withdrawing
        slug = f"race-{round_}"
        open_petition(app, slug, threshold=confirming)
        target = petition(app, slug)
        for member_id in members[:withdrawing]:
            token = tokens.make_token(settings.secret_key, [], target.id, member_id)
            assert signing.confirm(flask_db.engine_of(app), settings, token).status == "confirmed"
        items = [
            ("withdraw", slug, withdrawal.manage_token(settings, target.id, m))
            for m in members[:withdrawing]
        ] + [
            ("confirm", slug, tokens.make_token(settings.secret_key, [], target.id, m))
            for m in members[withdrawing:]
        ]

        outcomes = racers.run(items)

        assert outcomes == ["withdrawn"] * withdrawing + ["confirmed"] * confirming, round_
        with Session(flask_db.engine_of(app)) as session:
            stored = session.get(Petition, target.id)
            counted = session.exec(
                select(func.count()).where(
                    Signature.petition_id == target.id,
                    Signature.number.is_not(None),
                    Signature.invalidated_at.is_(None),
                )
            ).one()
            numbers = session.exec(
                select(Signature.number)
                .where(Signature.petition_id == target.id)
                .order_by(Signature.number)
            ).all()
            signature_leaves = session.exec(
                select(func.count()).where(
                    LogLeaf.petition_id == target.id, LogLeaf.kind == "signature"
                )
            ).one()
            events = session.exec(
                select(ThresholdEvent).where(ThresholdEvent.petition_id == target.id)
            ).all()
            assert stored.signature_count == counted == confirming, round_
            assert numbers == list(range(1, PROCESSES + 1)), round_
            assert signature_leaves == PROCESSES, round_
            assert stored.log_size == PROCESSES + withdrawing, round_
            assert stored.state == "triggered", round_
            assert len(events) == 1, round_
            assert events[0].count == events[0].threshold == confirming, round_
        housekeeping(app)
        verified = runner.invoke(args=["log", "verify", "--slug", slug])
        assert verified.exit_code == 0, verified.output


def test_one_member_withdrawing_from_every_process_withdraws_once(app, runner, racers):
    add_members(app, ("S1", "s1@example.org"))
    settings = settings_of(app)
    open_petition(app, "once", threshold=5)
    target = petition(app, "once")
    with Session(flask_db.engine_of(app)) as session:
        member_id = session.exec(select(Member.id)).one()
    token = tokens.make_token(settings.secret_key, [], target.id, member_id)
    assert signing.confirm(flask_db.engine_of(app), settings, token).status == "confirmed"
    items = [
        ("withdraw", "once", withdrawal.manage_token(settings, target.id, member_id))
        for _ in range(PROCESSES)
    ]

    outcomes = racers.run(items)

    assert sorted(outcomes) == ["already_withdrawn"] * (PROCESSES - 1) + ["withdrawn"]
    stored = petition(app, "once")
    assert (stored.signature_count, stored.log_size) == (0, 2)
    housekeeping(app)
    verified = runner.invoke(args=["log", "verify", "--slug", "once"])
    assert verified.exit_code == 0, verified.output

"""Opening a petition while roll imports run, in separate processes on PostgreSQL: the roll
committed is the roll as one moment saw it, never half an import (README, "The committed
roll")."""

import hashlib
import hmac
import io
import multiprocessing
import traceback

import pytest
from sqlmodel import Session, select

from petitions.config import Settings, settings_of
from petitions.db import flask_db
from petitions.db.engine import make_engine
from petitions.db.models import CommittedMember, Member
from petitions.lifecycle import actions
from petitions.roll.importer import import_roll
from petitions.transparency import roll_commitment
from tests.helpers import add_members, petition

IMPORTERS = 3
BATCH = 2000
ROUNDS = 3
WAIT = 120


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: separate processes and their snapshots are what is tested here."""
    return pg_schema


def _batch_file(round_: int, importer: int) -> bytes:
    rows = ["member_id,email,status"]
    rows += [
        f"R{round_}I{importer}N{n},r{round_}i{importer}n{n}@example.org,active"
        for n in range(BATCH)
    ]
    return ("\n".join(rows) + "\n").encode()


def _worker(settings: Settings, barrier, job, conn) -> None:
    """A process of its own: wait for the others, then import a batch of new members or open
    the petition (committing its roll); send back "ok" or the traceback."""
    engine = make_engine(settings.database_url)
    try:
        kind, argument = job
        barrier.wait(WAIT)
        if kind == "import":
            report = import_roll(engine, io.BytesIO(argument), "batch.csv")
            assert report.outcome == "accepted", report.refusal
        else:
            actions.open_petition(
                engine,
                "race",
                argument,
                commit_roll=roll_commitment.committer(settings, "race"),
            )
        conn.send("ok")
    except Exception:
        conn.send(traceback.format_exc())
    finally:
        engine.dispose()
        conn.close()


def _run_round(settings: Settings, round_: int, slug: str) -> list[bytes]:
    context = multiprocessing.get_context("forkserver")
    jobs = [("import", _batch_file(round_, n)) for n in range(IMPORTERS)]
    jobs.insert(IMPORTERS // 2, ("open", slug))
    barrier = context.Barrier(len(jobs))
    pipes, processes = [], []
    for job in jobs:
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker, args=(settings, barrier, job, theirs))
        process.start()
        theirs.close()
        pipes.append(ours)
        processes.append(process)
    try:
        for pipe in pipes:
            assert pipe.poll(WAIT), "a process did not answer"
            answer = pipe.recv()
            assert answer == "ok", answer
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        for pipe in pipes:
            pipe.close()
    return [job[1] for job in jobs if job[0] == "import"]


def test_opening_racing_roll_imports_commits_a_consistent_roll(app):
    add_members(app, *[(f"BASE{n}", f"base{n}@example.org") for n in range(50)])
    settings = settings_of(app)
    engine = flask_db.engine_of(app)
    for round_ in range(ROUNDS):
        slug = f"race-{round_}"
        actions.create_petition(engine, "race", slug=slug, title=f"Race {round_}", threshold=1)
        _run_round(settings, round_, slug)
        opened = petition(app, slug)
        with Session(engine) as session:
            committed = {
                bytes(value)
                for value in session.exec(
                    select(CommittedMember.commitment).where(
                        CommittedMember.petition_id == opened.id
                    )
                )
            }
            numbers = list(session.exec(select(Member.number)))
        key = bytes.fromhex(opened.log_secret)
        by_number = {n: hmac.new(key, n.encode(), hashlib.sha256).digest() for n in numbers}
        # Every member there before this round is in; each import of the round is in whole or
        # not at all: the commitment saw the roll at one moment.
        earlier = [n for n in numbers if not n.startswith(f"R{round_}I")]
        assert {by_number[n] for n in earlier} <= committed
        seen = 0
        for importer in range(IMPORTERS):
            batch = {by_number[n] for n in numbers if n.startswith(f"R{round_}I{importer}N")}
            assert len(batch) == BATCH
            inside = len(batch & committed)
            assert inside in (0, BATCH), f"round {round_}: import {importer} half committed"
            seen += inside
        # The count and the threshold's eligible members are the committed set's own size,
        # and the published root is the root of exactly that set.
        assert opened.eligible_members == len(committed) == len(earlier) + seen
        assert opened.roll_generation == 1
        assert opened.log_size == 1
        with Session(engine) as session:
            (row,) = roll_commitment.generations(session, opened.id)
        assert row.eligible_count == len(committed)
        assert row.root_hash == roll_commitment.roll_root(sorted(committed))

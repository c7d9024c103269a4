"""Committed roll benchmark: opening a petition (which commits the roll) and re-committing it,
on a roll of --members members, on SQLite and on PostgreSQL.

For each database and run: a fresh database at the newest schema, a sample roll imported with
the real importer, then the petition opened through the same use case the command line and the
browser call (its roll committed in the opening transaction), timed; a re-commit, timed; and
the signing check (is this member on the committed roll?) timed over 2,000 members. Beside the
wall time of opening, the CPU time this process spent on it (hashing, sorting, the tree, the
driver), which a machine loaded by other work changes less. Peak memory of this process
(ru_maxrss) is printed at the end.

    python bench/roll_commitment.py [--members 100000] [--runs 3] [--only sqlite|postgres]
"""

import argparse
import base64
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

if not __package__:
    # Run as `python bench/roll_commitment.py`, which puts bench/ on sys.path rather than the
    # repository root that holds the bench package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select

from bench.common import drop_database, recreate_database, sqlalchemy_url
from petitions.db import schema
from petitions.db.engine import make_engine
from petitions.db.models import Member
from petitions.lifecycle import actions, rules
from petitions.roll.importer import import_roll
from petitions.roll.sample import write_sample_roll
from petitions.transparency import roll_commitment

DATABASE = "petitions_bench_roll_commitment"
LOOKUPS = 2000


def _one_run(url: str, roll: Path, settings) -> dict[str, float]:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        with roll.open("rb") as source:
            report = import_roll(engine, source, roll.name)
        assert report.outcome == "accepted", report.refusal
        actions.create_petition(engine, "bench", slug="bench", title="Bench", threshold=10)
        start, cpu = time.perf_counter(), time.process_time()
        actions.open_petition(
            engine, "bench", "bench", commit_roll=roll_commitment.committer(settings, "bench")
        )
        opened = time.perf_counter() - start
        opened_cpu = time.process_time() - cpu
        start = time.perf_counter()
        roll_commitment.recommit(engine, settings, "bench", "bench", "benchmark")
        recommitted = time.perf_counter() - start
        with Session(engine) as session:
            numbers = list(session.exec(select(Member.number).limit(LOOKUPS)))
            petition = rules.find_petition(session, "bench")
            start = time.perf_counter()
            found = sum(roll_commitment.is_committed(session, petition, n) for n in numbers)
            looked = (time.perf_counter() - start) / len(numbers)
        assert found > 0
        return {"open": opened, "cpu": opened_cpu, "recommit": recommitted, "lookup": looked}
    finally:
        engine.dispose()


def _report(name: str, runs: list[dict[str, float]], members: int) -> None:
    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    spread = ", ".join(f"{run['open']:.2f}" for run in runs)
    print(
        f"{name}: open with the roll committed {median('open'):.2f} s (runs: {spread}; "
        f"this process's CPU {median('cpu'):.2f} s), "
        f"re-commit {median('recommit'):.2f} s, membership check "
        f"{median('lookup') * 1e6:.0f} µs; {members:,} members"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    options = parser.parse_args()
    settings = SimpleNamespace(log_signing_key=base64.b64encode(secrets.token_bytes(32)).decode())
    with tempfile.TemporaryDirectory() as scratch:
        roll = Path(scratch) / "roll.csv"
        with roll.open("w", encoding="utf-8") as out:
            write_sample_roll(out, options.members)
        if options.only != "postgres":
            runs = []
            for run in range(options.runs):
                path = Path(scratch) / f"run{run}.db"
                runs.append(_one_run(f"sqlite:///{path}", roll, settings))
                os.unlink(path)
            _report("SQLite", runs, options.members)
        if options.only != "sqlite":
            runs = []
            try:
                for _ in range(options.runs):
                    url = sqlalchemy_url(recreate_database(DATABASE))
                    runs.append(_one_run(url, roll, settings))
            finally:
                drop_database(DATABASE)
            _report("PostgreSQL", runs, options.members)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (import, commit and all): {peak:.0f} MiB")


if __name__ == "__main__":
    main()

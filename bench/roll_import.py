"""Roll import benchmark: the real `flask --app app roll import` into PostgreSQL.

Makes a sample roll of --rows members, then for each run: a fresh database, the import of the
whole roll (every member new), the same file again (every member unchanged), and, as the
ceiling, PostgreSQL's own COPY of the same file into a bare table with no checks or indexes.
Peak memory of the import process is read from the kernel (ru_maxrss) and compared with an
import of a roll a tenth the size: flat memory means about the same peak for both.

    python bench/roll_import.py [--rows 1000000] [--runs 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from petitions.roll.sample import write_sample_roll

if not __package__:
    # Run as `python bench/roll_import.py`, which puts bench/ on sys.path rather than the
    # repository root that holds the bench package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, drop_database, flask_argv, recreate_database, sqlalchemy_url

# Dropped and created without WITH (FORCE) (force=False below), as this script always has.
DATABASE = "petitions_bench"


def _import(url: str, path: Path) -> tuple[float, float]:
    """Import ``path``; return (seconds, peak RSS in MiB) of the command's own process."""
    env = dict(os.environ, DATABASE_URL=sqlalchemy_url(url))
    start = time.perf_counter()
    # Popen and wait4 rather than flask_command: the kernel's peak RSS of this one process.
    process = subprocess.Popen(
        flask_argv("roll", "import", str(path)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"roll import failed: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def _upgrade(url: str) -> None:
    env = dict(os.environ, DATABASE_URL=sqlalchemy_url(url))
    subprocess.run(
        flask_argv("db", "upgrade"),
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _ceiling(url: str, path: Path) -> float:
    """Seconds for PostgreSQL to COPY the file into a bare table: the machine's ceiling."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bare_roll")
        conn.execute(
            "CREATE TABLE bare_roll (member_id text, email text, name text, region text, "
            "status text, joined_on text)"
        )
        start = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bare_roll FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as source,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bare_roll")
    return elapsed


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        big, small = Path(scratch) / "roll.csv", Path(scratch) / "roll-small.csv"
        with big.open("w", encoding="utf-8") as out:
            write_sample_roll(out, options.rows)
        with small.open("w", encoding="utf-8") as out:
            write_sample_roll(out, options.rows // 10)
        size = big.stat().st_size / 2**20
        print(f"roll: {options.rows:,} rows, {size:.0f} MiB; {options.runs} runs; medians")

        fresh, again, ceiling, peak, small_peak = [], [], [], [], []
        for run in range(1, options.runs + 1):
            url = recreate_database(DATABASE, force=False)
            _upgrade(url)
            seconds, rss = _import(url, big)
            fresh.append(seconds)
            peak.append(rss)
            again.append(_import(url, big)[0])
            ceiling.append(_ceiling(url, big))
            url = recreate_database(DATABASE, force=False)
            _upgrade(url)
            small_peak.append(_import(url, small)[1])
            print(
                f"  run {run}: import {seconds:.1f} s, re-import {again[-1]:.1f} s, "
                f"COPY ceiling {ceiling[-1]:.2f} s, peak RSS {rss:.0f} MiB "
                f"({small_peak[-1]:.0f} MiB for a tenth of the rows)"
            )
        drop_database(DATABASE, force=False)

    rate = options.rows / statistics.median(fresh)
    rate_again = options.rows / statistics.median(again)
    rate_ceiling = options.rows / statistics.median(ceiling)
    print(f"import, all new:        {rate:>10,.0f} rows/s")
    print(f"import, all unchanged:  {rate_again:>10,.0f} rows/s")
    print(f"ceiling (bare COPY):    {rate_ceiling:>10,.0f} rows/s")
    print(f"import / ceiling:       {rate / rate_ceiling:>10.0%}  (goal: at least 50%)")
    print(
        f"peak RSS: {statistics.median(peak):.0f} MiB at {options.rows:,} rows, "
        f"{statistics.median(small_peak):.0f} MiB at {options.rows // 10:,} rows"
    )


if __name__ == "__main__":
    main()

"""Live count benchmark: what the count read costs, and how many people can watch a petition
live, under the Procfile's gunicorn settings (4 workers x 4 threads by default), on PostgreSQL.

Everything happens in a scratch PostgreSQL database (created, migrated with `db upgrade`, dropped
at the end) and an empty numbered Redis database (the service runs with REDIS_URL, as in
production):
  1. setup, once: --members members and two open petitions, one with 10 confirmed signatures and
     one with --big (1,000,000) real signature rows, written with generate_series, each
     petition's maintained counter set to match; an organiser account and a signed-in session
     for the dashboard viewers;
  2. per run, the service (`gunicorn 'app:create_app()'`, the Procfile's settings, on a free
     loopback port):
     a. the count read: --connections keep-alive clients (in --client-processes processes)
        GET /api/v1/petitions/<slug>/count back to back for --seconds, on each petition:
        requests per second and latency. (Its answers come from petitions.web.live_wsgi, in front
        of Flask's request handling, so it can beat the bare Flask ceiling.);
     b. viewers: steps of V concurrent viewers, each with its own connection, each polling the
        count of the big petition once a second as the page's script does (the next poll a
        second after the answer), 1% of them (at least 1) dashboards that also poll live.json
        every 5 s. Meanwhile this process confirms a signature every 0.5 s with
        signing.confirm, as a worker elsewhere would. A step holds when 99% of (viewer,
        confirmation) pairs saw the new count within 2 s of its commit and under 1% of
        requests failed; stepping stops at the first step that does not hold;
     c. the ceiling, with the service stopped: a bare Flask app answering GET /hello with
        "hello", under gunicorn with the same workers and threads, driven like (a).

    python bench/live.py [--runs 3] [--big 1000000] [--seconds 5] [--connections 32]
                         [--viewers 250,500,1000,2000,3000,4000] [--step-seconds 8]

Prints each run and then the medians over the runs: the count read against the ceiling (goal:
at least 70%, the same at 10 and at 1,000,000 signatures) and the most viewers held fresh.
All traffic stays on 127.0.0.1. Every process started here is stopped, the scratch database
dropped and the Redis database emptied, at the end, on an error and on Ctrl-C.
"""

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

if not __package__:
    # Run as `python bench/live.py`, which puts bench/ on sys.path rather than the repository
    # root that holds the bench package (gunicorn, importing `bench.live`, has the root already).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import (
    LOOPBACK,
    ROOT,
    START_TIMEOUT,
    BenchError,
    RedisDatabase,
    bounded,
    drop_database,
    flask_command,
    free_port,
    ms,
    percentile,
    recreate_database,
)
from bench.rawhttp import Connection, raise_file_limit, request_bytes
from petitions.config import settings_of

DATABASE = "petitions_bench_live"
REDIS_CLAIM = "petitions-bench-live-claim"
SMALL, BIG = "bench-small", "bench-big"
SMALL_SIGNATURES = 10
WRITER_MEMBERS = 25_000
WRITER_PER_RUN = 1250
POLL_SECONDS = 1.0
DASHBOARD_POLL_SECONDS = 5.0
CONFIRM_EVERY = 0.5
FRESH_WITHIN = 2.0
GOAL_RATIO = 0.70
REQUEST_TIMEOUT = 10.0
# Settings the service reads that this benchmark fixes or must not inherit from the shell: the
# shared ones, and gunicorn's, which --web-concurrency and --web-threads set instead.
SERVICE_SETTINGS = (*common.SERVICE_SETTINGS, "WEB_CONCURRENCY", "WEB_THREADS")


# --- the ceiling: a bare app, served by gunicorn as `bench.live:hello_app()` ------------------


def hello_app():
    """A bare Flask app: GET /hello answers "hello" (and /healthz, to wait for it)."""
    from flask import Flask

    app = Flask(__name__)

    @app.get("/hello")
    def hello():
        return "hello"

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


# --- small helpers ----------------------------------------------------------------------------


def steps(raw: str) -> list[int]:
    """An argparse type: increasing viewer counts, e.g. 250,500,1000."""
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a list of whole numbers") from None
    if not values or values != sorted(set(values)) or values[0] < 1 or values[-1] > 15000:
        raise argparse.ArgumentTypeError("give increasing viewer counts from 1 to 15000")
    return values


# --- PostgreSQL, Redis and the data -----------------------------------------------------------


def service_env(db_url: str, redis_url: str, port: int) -> dict[str, str]:
    """The environment of the service: production settings, everything on loopback."""
    # Nothing is mailed and no threshold is crossed: the SMTP and webhook ports, where nothing
    # listens, only satisfy production's checks.
    return common.service_env(
        db_url, redis_url, port, free_port(), free_port(), cleared=SERVICE_SETTINGS
    )


MEMBERS_SQL = """
INSERT INTO member (member_id, email, email_key, region, status, updated_at)
SELECT 'B' || g, 'b' || g || '@example.org', 'b' || g || '@example.org',
       (ARRAY['North', 'South', 'East', 'West', 'Islands'])[1 + g %% 5], 'active', now()
FROM generate_series(1, %(count)s) AS g
"""
SIGNATURES_SQL = """
INSERT INTO signature (petition_id, member_id, number, nonce, confirmed_at)
SELECT %(petition)s, m.id, row_number() OVER (ORDER BY m.id), md5(m.id::text),
       now() - interval '3 hours' + (m.id %% 10800) * interval '1 second'
FROM (SELECT id FROM member ORDER BY id LIMIT %(count)s) AS m
"""
COUNTER_SQL = """
UPDATE petition SET signature_count = %(count)s, last_number = %(count)s WHERE id = %(petition)s
"""


def prepare(db_url: str, env: dict[str, str], big: int) -> None:
    """Members, the two petitions, their signature rows and counters (see the docstring)."""
    flask_command(env, "db", "upgrade")
    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(MEMBERS_SQL, {"count": big + WRITER_MEMBERS})
    # The threshold stays out of reach: the writer's confirmations must not trigger a webhook.
    for slug, title in ((SMALL, "Ten signatures"), (BIG, f"{big:,} signatures")):
        flask_command(
            env, "petition", "create", slug, "--title", title, "--threshold",
            str(2 * big + 2 * WRITER_MEMBERS), "--open",
        )  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        for slug, count in ((SMALL, SMALL_SIGNATURES), (BIG, big)):
            petition = conn.execute("SELECT id FROM petition WHERE slug = %s", (slug,)).fetchone()
            conn.execute(SIGNATURES_SQL, {"petition": petition[0], "count": count})
            conn.execute(COUNTER_SQL, {"petition": petition[0], "count": count})
        conn.execute("ANALYZE")
        counted = conn.execute(
            "SELECT p.slug, p.signature_count, count(s.id) FROM petition p "
            "LEFT JOIN signature s ON s.petition_id = p.id GROUP BY p.slug, p.signature_count"
        ).fetchall()
    for slug, counter, rows in counted:
        if counter != rows:
            raise BenchError(f"{slug}: counter {counter} but {rows} signature rows")
    print(
        f"setup: {big + WRITER_MEMBERS:,} members, {SMALL} with {SMALL_SIGNATURES} and {BIG} "
        f"with {big:,} signature rows in {time.perf_counter() - started:.0f} s"
    )


def in_app(env: dict[str, str]):
    """The service's app object in this process (for its settings, engine and session cookie)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from app import create_app

        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def dashboard_cookie(app) -> str:
    """A signed-in organiser's session cookie (name=value) for the dashboard viewers."""
    from sqlmodel import Session

    from petitions.accounts import sessions, users
    from petitions.db import flask_db
    from petitions.db.models import Role
    from petitions.web import auth

    with Session(flask_db.engine_of(app)) as session:
        account, _new = users.add_user(session, "bench@example.org", Role.ORGANISER)
        token = sessions.start_session(session, account)
        session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps({auth.SESSION_KEY: token})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


# --- processes --------------------------------------------------------------------------------


class Server:
    """gunicorn with the Procfile's settings serving ``target`` on a loopback port."""

    def __init__(self, options, target: str, env: dict[str, str], port: int, log: Path):
        self.port = port
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                common.gunicorn_argv(options, port, target),
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.log = log

    def wait_healthy(self) -> None:
        """Wait until GET /healthz answers 200."""
        limit = time.monotonic() + START_TIMEOUT
        while time.monotonic() < limit:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            with suppress(requests.RequestException):
                if requests.get(f"http://{LOOPBACK}:{self.port}/healthz", timeout=2).ok:
                    return
            time.sleep(0.2)
        raise BenchError(f"gunicorn not healthy within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period."""
        common.stop_process_groups([self.process])


# --- the load generator: raw HTTP/1.1 keep-alive on asyncio (bench.rawhttp), in child processes


def count_of(body: bytes) -> int:
    """The count in a count endpoint's answer, cheaply (its key order is fixed)."""
    at = body.index(b'"count":') + 8
    return int(body[at : body.index(b",", at)])


async def _hammer(port: int, path: str, connections: int, seconds: float) -> dict:
    request = request_bytes(path)
    end = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        connection = Connection(port)
        while time.monotonic() < end:
            sent = time.monotonic()
            try:
                status, _body = await asyncio.wait_for(connection.get(request), REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                errors += 1
                connection.close()
                continue
            if status != 200:
                errors += 1
            else:
                latencies.append(time.monotonic() - sent)
        connection.close()

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    return {"latencies": latencies, "errors": errors, "seconds": time.monotonic() - began}


def hammer_process(port: int, path: str, connections: int, seconds: float, start: float) -> dict:
    """(In a child process.) Closed-loop GETs of ``path`` over ``connections`` connections for
    ``seconds``, from the monotonic time ``start`` on."""
    time.sleep(max(0.0, start - time.monotonic()))
    return asyncio.run(_hammer(port, path, connections, seconds))


async def _watch(job: dict) -> dict:
    port, begin, end = job["port"], job["begin"], job["end"]
    count_request = request_bytes(job["count_path"])
    live_request = request_bytes(job["live_path"], job["cookie"])
    seen: list[list[tuple[float, int]]] = []
    stats = {"requests": 0, "errors": 0, "dashboard_requests": 0, "dashboard_errors": 0}

    async def viewer(number: int, dashboard: bool) -> None:
        observations: list[tuple[float, int]] = []
        seen.append(observations)
        connection = Connection(port)
        extra = Connection(port) if dashboard else None
        # Viewers arrive spread over the first second, as pages opened at random moments.
        await asyncio.sleep(max(0.0, begin - time.monotonic()) + (number % 997) / 997)
        next_dashboard = time.monotonic()
        while time.monotonic() < end:
            stats["requests"] += 1
            try:
                status, body = await asyncio.wait_for(
                    connection.get(count_request), REQUEST_TIMEOUT
                )
                if status != 200:
                    raise ValueError(status)
                observations.append((time.monotonic(), count_of(body)))
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                stats["errors"] += 1
                connection.close()
            if extra is not None and time.monotonic() >= next_dashboard:
                stats["dashboard_requests"] += 1
                try:
                    status, _body = await asyncio.wait_for(extra.get(live_request), REQUEST_TIMEOUT)
                    if status != 200:
                        raise ValueError(status)
                except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                    stats["dashboard_errors"] += 1
                    extra.close()
                next_dashboard = time.monotonic() + DASHBOARD_POLL_SECONDS
            # As live_count.js does: the next poll a second after the answer.
            await asyncio.sleep(POLL_SECONDS)
        connection.close()
        if extra is not None:
            extra.close()

    await asyncio.gather(
        *(viewer(n, n < job["dashboards"]) for n in range(job["viewers"])), return_exceptions=False
    )
    return {"seen": seen, **stats}


def watch_process(job: dict) -> dict:
    """(In a child process.) ``job["viewers"]`` viewers polling the count once a second."""
    raise_file_limit()
    return asyncio.run(_watch(job))


# --- the phases -------------------------------------------------------------------------------


@dataclass
class Throughput:
    """Closed-loop GETs: requests per second, latencies and errors."""

    per_s: float
    p50: float
    p99: float
    errors: int


def hammer(pool, options, port: int, path: str) -> Throughput:
    """Drive ``path`` with --connections connections across the client processes."""
    per_process = [
        options.connections // options.client_processes
        + (1 if n < options.connections % options.client_processes else 0)
        for n in range(options.client_processes)
    ]
    start = time.monotonic() + 0.5
    # A short warm-up (every worker's first request builds its caches), then the measurement.
    pool.starmap(hammer_process, [(port, path, c, 1.0, start) for c in per_process if c])
    start = time.monotonic() + 0.5
    results = pool.starmap(
        hammer_process, [(port, path, c, options.seconds, start) for c in per_process if c]
    )
    latencies = [value for result in results for value in result["latencies"]]
    seconds = max(result["seconds"] for result in results)
    return Throughput(
        per_s=len(latencies) / seconds,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        errors=sum(result["errors"] for result in results),
    )


@dataclass
class Step:
    """One step of the viewer phase."""

    viewers: int
    dashboards: int
    lags: list[float]
    requests: int
    errors: int
    dashboard_requests: int
    dashboard_errors: int
    polls_per_s: float

    @property
    def error_rate(self) -> float:
        """Failed requests over all requests."""
        total = self.requests + self.dashboard_requests
        return (self.errors + self.dashboard_errors) / total if total else 1.0

    @property
    def held(self) -> bool:
        """Whether 99% of viewers saw each confirmation within 2 s, with under 1% errors."""
        return (
            bool(self.lags)
            and percentile(self.lags, 99) <= FRESH_WITHIN
            and (self.error_rate < 0.01)
        )


class Writer(threading.Thread):
    """Confirms a signature on the big petition every CONFIRM_EVERY seconds with
    signing.confirm, and notes when each commit finished and the count it made."""

    def __init__(self, app, tokens: list[str], count: int):
        super().__init__(daemon=True)
        self.app = app
        self.tokens = iter(tokens)
        self.count = count
        self.commits: list[tuple[float, int]] = []
        self.problems: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        from petitions.db import flask_db
        from petitions.signatures import signing

        engine = flask_db.engine_of(self.app)
        while not self.halt.wait(CONFIRM_EVERY):
            token = next(self.tokens, None)
            if token is None:
                self.problems.append("ran out of members to confirm")
                return
            result = signing.confirm(engine, settings_of(self.app), token)
            if result.status != "confirmed":
                self.problems.append(f"confirm: {result.status}")
                continue
            # Only this thread signs the big petition, so each confirmation adds exactly one.
            self.count += 1
            self.commits.append((time.monotonic(), self.count))


def lags_of(seen: list[list[tuple[float, int]]], commits, begin: float, end: float) -> list[float]:
    """For every viewer and every confirmation committed while all were watching: how long
    after the commit the viewer first saw a count that includes it."""
    judged = [(at, count) for at, count in commits if begin + 1.0 <= at <= end - FRESH_WITHIN]
    lags = []
    for observations in seen:
        position = 0
        for committed, count in judged:
            while position < len(observations) and observations[position][0] < committed:
                position += 1
            found = next((t for t, c in observations[position:] if c >= count), None)
            lags.append((found if found is not None else end) - committed)
    return lags


def watch(pool, options, port: int, viewers: int, cookie: str, writer: Writer) -> Step:
    """One step: ``viewers`` viewers for --step-seconds while the writer confirms."""
    dashboards = max(1, viewers // 100)
    begin = time.monotonic() + 1.0
    end = begin + 1.0 + options.step_seconds
    processes = options.client_processes
    jobs = [
        {
            "port": port,
            "begin": begin,
            "end": end,
            "count_path": f"/api/v1/petitions/{BIG}/count",
            "live_path": f"/organiser/p/{BIG}/live.json",
            "cookie": cookie,
            "viewers": viewers // processes + (1 if n < viewers % processes else 0),
            "dashboards": dashboards // processes + (1 if n < dashboards % processes else 0),
        }
        for n in range(processes)
    ]
    results = pool.map(watch_process, jobs)
    seen = [observations for result in results for observations in result["seen"]]
    commits = list(writer.commits)
    polls = sum(len(observations) for observations in seen)
    return Step(
        viewers=viewers,
        dashboards=dashboards,
        lags=lags_of(seen, commits, begin + 1.0, end),
        requests=sum(r["requests"] for r in results),
        errors=sum(r["errors"] for r in results),
        dashboard_requests=sum(r["dashboard_requests"] for r in results),
        dashboard_errors=sum(r["dashboard_errors"] for r in results),
        polls_per_s=polls / (end - begin),
    )


@dataclass
class RunFigures:
    """One run's figures."""

    counts: dict[str, Throughput]
    ceiling: Throughput
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def held(self) -> int:
        """The most viewers held fresh (0 when even the first step was not)."""
        held = 0
        for step in self.steps:
            if not step.held:
                break
            held = step.viewers
        return held


def writer_for(app, run: int) -> Writer:
    """The writer of run number ``run``: tokens of members who have not signed the big
    petition (the last WRITER_MEMBERS on the roll, WRITER_PER_RUN of them per run)."""
    from sqlalchemy import select
    from sqlmodel import Session

    from petitions.db import flask_db
    from petitions.db.models import Member, Petition
    from petitions.signatures import tokens

    with Session(flask_db.engine_of(app)) as session:
        petition, count = session.execute(
            select(Petition.id, Petition.signature_count).where(Petition.slug == BIG)
        ).one()
        members = session.scalars(
            select(Member.id)
            .order_by(Member.id.desc())
            .offset((run - 1) * WRITER_PER_RUN)
            .limit(WRITER_PER_RUN)
        ).all()
    secret = app.config["SECRET_KEY"]
    return Writer(app, [tokens.make_token(secret, [], petition, m) for m in members], count)


def run_once(number, options, pool, env, app, cookie, logs: Path) -> RunFigures:
    """One run: the count read on both petitions and the viewer steps, then the ceiling."""
    notes: list[str] = []
    port = free_port()
    server = Server(options, "app:create_app()", env, port, logs / "web.log")
    try:
        server.wait_healthy()
        counts = {
            f"{SMALL_SIGNATURES:,}": hammer(
                pool, options, port, f"/api/v1/petitions/{SMALL}/count"
            ),
            f"{options.big:,}": hammer(pool, options, port, f"/api/v1/petitions/{BIG}/count"),
        }
        writer = writer_for(app, number)
        writer.start()
        steps_done = []
        try:
            for viewers in options.viewers:
                step = watch(pool, options, port, viewers, cookie, writer)
                steps_done.append(step)
                print_step(step)
                if not step.held:
                    break
        finally:
            writer.halt.set()
            writer.join(10)
        notes.extend(writer.problems)
    finally:
        server.stop()
    bare_port = free_port()
    bare = Server(options, "bench.live:hello_app()", dict(os.environ), bare_port, logs / "bare.log")
    try:
        bare.wait_healthy()
        ceiling = hammer(pool, options, bare_port, "/hello")
    finally:
        bare.stop()
    return RunFigures(counts=counts, ceiling=ceiling, steps=steps_done, notes=notes)


# --- printing ---------------------------------------------------------------------------------


def print_step(step: Step) -> None:
    """One viewer step."""
    verdict = "held" if step.held else "NOT held"
    print(
        f"    {step.viewers:>6,} viewers ({step.dashboards} dashboards): "
        f"{step.polls_per_s:,.0f} polls/s answered; commit -> on screen p50 "
        f"{percentile(step.lags, 50):.2f} s, p99 {percentile(step.lags, 99):.2f} s, "
        f"max {max(step.lags, default=float('nan')):.2f} s; errors {step.error_rate:.2%}: "
        f"{verdict}",
        flush=True,
    )


def print_run(number: int, figures: RunFigures) -> None:
    """One run's figures."""
    parts = [
        f"count@{size} {t.per_s:,.0f}/s ({t.per_s / figures.ceiling.per_s:.0%}, p50 {ms(t.p50)})"
        for size, t in figures.counts.items()
    ]
    print(
        f"  run {number}: {'; '.join(parts)}; hello {figures.ceiling.per_s:,.0f}/s "
        f"(p50 {ms(figures.ceiling.p50)}); viewers held fresh: {figures.held:,}; "
        f"load average {figures.load:.1f}",
        flush=True,
    )
    errors = {size: t.errors for size, t in figures.counts.items() if t.errors}
    if errors or figures.ceiling.errors:
        print(f"         errors: count {errors}, hello {figures.ceiling.errors}")
    for note in figures.notes:
        print(f"         note: {note}")


def print_summary(options, runs: list[RunFigures]) -> None:
    """The medians over the runs, against the goals."""
    ceiling = statistics.median(run.ceiling.per_s for run in runs)
    print(f"medians over {len(runs)} runs:")
    print(f"  {'GET':<50} {'req/s':>9} {'of ceiling':>11} {'p50':>10} {'p99':>10}")
    print(
        f"  {'/hello (bare Flask, the ceiling)':<50} {ceiling:>9,.0f} {'100%':>11} "
        f"{ms(statistics.median(r.ceiling.p50 for r in runs)):>10} "
        f"{ms(statistics.median(r.ceiling.p99 for r in runs)):>10}"
    )
    ratios = []
    for size in runs[0].counts:
        per_s = statistics.median(run.counts[size].per_s for run in runs)
        ratio = statistics.median(run.counts[size].per_s / run.ceiling.per_s for run in runs)
        ratios.append(ratio)
        label = f"/api/v1/petitions/<slug>/count, {size} signatures"
        print(
            f"  {label:<50} {per_s:>9,.0f} {ratio:>11.0%} "
            f"{ms(statistics.median(r.counts[size].p50 for r in runs)):>10} "
            f"{ms(statistics.median(r.counts[size].p99 for r in runs)):>10}"
        )
    verdict = "met" if min(ratios) >= GOAL_RATIO else "NOT met"
    print(f"  count read / ceiling: at least {GOAL_RATIO:.0%} at every size: {verdict}")
    print(
        f"  count read at {SMALL_SIGNATURES} vs {options.big:,} signatures: "
        f"{ratios[-1] / ratios[0]:.0%} (flat is 100%)"
    )
    held = statistics.median(run.held for run in runs)
    print(
        f"  viewers held with the count fresh within {FRESH_WITHIN:.0f} s "
        f"(p99, each polling once a second, 1% of them dashboards): {held:,.0f} "
        f"(steps {', '.join(f'{v:,}' for v in options.viewers)}; each run "
        f"{', '.join(f'{run.held:,}' for run in runs)})"
    )


# --- main -------------------------------------------------------------------------------------


def parse_options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=bounded(1, 20), default=3)
    parser.add_argument("--big", type=bounded(100, 10_000_000), default=1_000_000)
    parser.add_argument("--seconds", type=bounded(1, 120), default=5, help="per throughput test")
    parser.add_argument("--connections", type=bounded(1, 1024), default=32)
    parser.add_argument("--client-processes", type=bounded(1, 16), default=2)
    parser.add_argument(
        "--viewers", type=steps, default=steps("250,500,1000,2000,3000,4000"), help="steps"
    )
    parser.add_argument("--step-seconds", type=bounded(4, 120), default=8)
    common.add_gunicorn_options(parser)
    parser.add_argument("--logs", type=Path, help="keep gunicorn's output in this folder")
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print its figures."""
    options = parse_options()
    common.interrupt_on_sigterm()
    raise_file_limit()
    with ExitStack() as stack:
        logs = options.logs or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        logs.mkdir(parents=True, exist_ok=True)
        stack.callback(drop_database, DATABASE)
        redis_db = RedisDatabase(REDIS_CLAIM)
        stack.callback(redis_db.release)
        db_url = recreate_database(DATABASE)
        env = service_env(db_url, redis_db.url, 0)
        print(
            f"live: gunicorn {options.web_concurrency} workers x {options.web_threads} threads; "
            f"{options.connections} connections from {options.client_processes} client "
            f"processes for {options.seconds} s per read test; viewer steps of "
            f"{options.step_seconds} s; {options.runs} runs; {os.cpu_count()} CPUs",
            flush=True,
        )
        prepare(db_url, env, options.big)
        app = in_app(env)
        cookie = dashboard_cookie(app)
        pool = stack.enter_context(
            multiprocessing.get_context("spawn").Pool(options.client_processes)
        )
        runs = []
        for number in range(1, options.runs + 1):
            print(f"  run {number}:", flush=True)
            runs.append(run_once(number, options, pool, env, app, cookie, logs))
            print_run(number, runs[-1])
        from petitions.db import flask_db

        flask_db.engine_of(app).dispose()
        print_summary(options, runs)


if __name__ == "__main__":
    common.run_main(main)

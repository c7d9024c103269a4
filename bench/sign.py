"""Signing benchmark: members sign through the e-mailed link against the service as the Procfile
runs it (gunicorn web processes, rq workers, PostgreSQL, Redis, SMTP).

Each run works on a fresh scratch PostgreSQL database and an empty Redis database:
  1. `db upgrade`, `roll import` of a sample roll, `petition create --threshold T --open` with T
     about half of --members, so that the threshold is crossed in the middle of the run;
  2. an SMTP sink (aiosmtpd) and a webhook receiver (http.server) in this process, on free
     loopback ports, and the service: gunicorn with the Procfile's settings and --workers
     `flask --app app worker` processes;
  3. the request phase: --clients concurrent clients ask to sign for --members members on the
     roll (POST /api/v1/petitions/<slug>/signatures); the sink takes each e-mail and the link in
     its text part. Timed: the request's latency, and the e-mail delay (request sent -> message
     at the sink). With --backlog the rq workers start only once every request is in, so the
     e-mails per second are what the workers can answer and send from a backlog with the web
     idle (first e-mail to last), and the delay, which is mostly the wait, is not reported;
  4. the confirm phase, once every link has arrived: the same clients confirm every link
     (POST /api/v1/signatures/confirm). Timed: the latency, confirmations per second over the
     phase, and the time from the request of the crossing confirmation (receipt number T) to the
     threshold webhook's arrival at the receiver (an upper bound: the crossing is counted
     between that request and its answer);
  5. the ceiling, with the service stopped: a bare Flask app under gunicorn with the same workers
     and threads, whose POST does one INSERT and commit into PostgreSQL, driven by the same
     clients for the same number of requests.

    python bench/sign.py [--members 2000] [--clients 16] [--runs 3] [--workers 2] [--timeout 600]
                         [--backlog]

All traffic stays on 127.0.0.1. Every process started here is stopped, and the scratch database
dropped and the Redis database emptied, at the end, on an error and on Ctrl-C.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import requests

if not __package__:
    # Run as `python bench/sign.py`, which puts bench/ on sys.path rather than the repository
    # root that holds the bench package (gunicorn, importing `bench.sign`, has the root already).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, stages
from bench.common import (
    LOOPBACK,
    BenchError,
    RedisDatabase,
    bounded,
    drop_database,
    free_port,
    gunicorn_argv,
    ms,
    percentile,
    recreate_database,
)
from bench.service import (
    Deadline,
    Mailbox,
    Processes,
    WebhookLog,
    add_service_options,
    check_webhook,
    eligible_members,
    prepare_database,
    service_env,
    start_service,
    start_smtp_sink,
    start_webhook_receiver,
    start_workers,
    wait_healthy,
    write_roll,
)

# Named for this process: two benchmarks on one PostgreSQL server (two checkouts) must not drop
# each other's scratch database.
DATABASE = f"petitions_bench_sign_{os.getpid()}"
SLUG = "bench-sign"
REDIS_CLAIM = "petitions-bench-sign-claim"
BARE_TABLE = "bench_bare_insert"
INSERT_BARE = "INSERT INTO bench_bare_insert (email) VALUES (%s)"
HTTP_TIMEOUT = (5, 30)
WEBHOOK_WAIT = 30.0


# --- the ceiling: a bare app, served by gunicorn as `bench.sign:bare_app()` -------------------


def bare_app():
    """A Flask app whose POST /insert does one INSERT and commit into PostgreSQL."""
    from flask import Flask, jsonify, request

    dsn = os.environ["BENCH_BARE_DSN"]
    local = threading.local()
    app = Flask(__name__)

    def connection() -> psycopg.Connection:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(dsn)
        return conn

    @app.post("/insert")
    def insert():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("email"), str):
            return jsonify(error="invalid_json"), 400
        conn = connection()
        conn.execute(INSERT_BARE, (body["email"],))
        conn.commit()
        return jsonify(status="ok"), 202

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


# --- driving clients --------------------------------------------------------------------------


@dataclass
class Phase:
    """What C clients did with a list of items: per-item results, errors and the wall time."""

    results: list = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def drive(items: list, clients: int, step, deadline: Deadline) -> Phase:
    """Run ``step(session, item)`` over ``items`` from ``clients`` threads, each with its own
    requests.Session; ``step`` returns a result or raises (counted as an error by its text)."""
    phase = Phase()
    lock = threading.Lock()
    position = iter(range(len(items)))

    def client() -> None:
        with requests.Session() as session:
            while deadline.left() > 0:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                try:
                    result = step(session, items[index])
                except Exception as exc:
                    with lock:
                        phase.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                    continue
                with lock:
                    phase.results.append(result)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(deadline.left() + HTTP_TIMEOUT[1] + 5)
    phase.seconds = time.perf_counter() - start
    return phase


def post_json(session: requests.Session, url: str, body: dict) -> tuple[float, float, dict]:
    """POST ``body``; return (sent, answered, JSON answer), raising on a non-2xx status."""
    sent = time.perf_counter()
    response = session.post(url, json=body, timeout=HTTP_TIMEOUT)
    answered = time.perf_counter()
    if response.status_code // 100 != 2:
        raise BenchError(f"{response.status_code} {response.text[:100]}")
    return sent, answered, response.json()


# --- one run ----------------------------------------------------------------------------------


@dataclass
class RunFigures:
    """One run's figures (seconds, or per second)."""

    request: list[float]
    mail_delay: list[float]
    confirm: list[float]
    confirms_per_s: float
    requests_per_s: float
    mails_per_s: float
    crossing_to_webhook: float | None
    ceiling_per_s: float
    ceiling: list[float]
    notes: list[str]
    stages: list[str] = field(default_factory=list)
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    # The e-mails waiting when the workers started (--backlog), or 0.
    backlog: int = 0


def run_once(
    options: argparse.Namespace,
    roll: Path,
    members: list[str],
    mailbox: Mailbox,
    hooks: WebhookLog,
    ports: dict[str, int],
    redis_db: RedisDatabase,
    logs: Path,
) -> RunFigures:
    """One run: a fresh database and service, the request and confirm phases, the ceiling."""
    deadline = Deadline(options.timeout)
    threshold = max(1, len(members) // 2)
    notes: list[str] = []
    db_url = recreate_database(DATABASE)
    redis_db.clear()
    env = service_env(db_url, redis_db.url, ports["web"], ports["smtp"], ports["hook"])
    prepare_database(env, roll, SLUG, threshold)
    mailbox.reset(set(members))
    hooks.reset()

    processes = Processes(logs)
    try:
        base = start_service(
            options, processes, env, ports["web"], deadline, workers=not options.backlog
        )

        # The request phase: every member asks to sign; the e-mails arrive at the sink.
        sign_url = f"{base}/api/v1/petitions/{SLUG}/signatures"
        sent_at: dict[str, float] = {}

        def ask(session: requests.Session, address: str) -> float:
            sent, answered, body = post_json(session, sign_url, {"email": address})
            if body.get("status") != "check_email":
                raise BenchError(f"unexpected answer {body}")
            sent_at[address] = sent
            return answered - sent

        requested = drive(members, options.clients, ask, deadline)
        processes.check_alive()
        if requested.errors:
            notes.append(f"request errors: {dict(requested.errors)}")
        first_sent = min(sent_at.values(), default=time.perf_counter())
        if options.backlog:
            # Every request is in, and waits: the workers now answer and mail them all.
            start_workers(options, processes, env)
        while not mailbox.wait_all(min(1.0, deadline.left())):
            processes.check_alive()
            if deadline.left() <= 0:
                break
        arrived = dict(mailbox.links)
        if len(arrived) < len(sent_at):
            notes.append(f"only {len(arrived)} of {len(sent_at)} confirmation e-mails arrived")
        if mailbox.other:
            notes.append(f"other e-mails: {dict(mailbox.other)}")
        delays = (
            [] if options.backlog else [arrived[a][0] - sent_at[a] for a in arrived if a in sent_at]
        )
        mails_per_s = mail_rate(
            [when for when, _link in arrived.values()], first_sent, options.backlog
        )

        # The confirm phase: every link that arrived is confirmed.
        confirm_url = f"{base}/api/v1/signatures/confirm"
        prefix = f"{env['BASE_URL']}/p/{SLUG}/confirm?"
        links = [link for _when, link in arrived.values()]
        crossing: dict[str, float] = {}

        def confirm(session: requests.Session, link: str) -> float:
            if not link.startswith(prefix):
                raise BenchError(f"link {link[:80]} does not start with {prefix}")
            token = parse_qs(urlsplit(link).query)["token"][0]
            sent, answered, body = post_json(session, confirm_url, {"token": token})
            if body.get("status") != "confirmed":
                raise BenchError(f"unexpected answer {body}")
            if body["receipt"]["number"] == threshold:
                # From the request: the crossing is counted between it and its answer, maybe in
                # another request's batch, and the webhook may arrive before the answer does.
                crossing["sent"] = sent
            return answered - sent

        confirmed = drive(links, options.clients, confirm, deadline)
        processes.check_alive()
        if confirmed.errors:
            notes.append(f"confirm errors: {dict(confirmed.errors)}")
        hooks.arrived.wait(min(WEBHOOK_WAIT, deadline.left()))
        time.sleep(0.5)  # a second delivery, if there were one, would show here
        crossing_to_webhook = None
        with hooks.lock:
            arrivals = list(hooks.arrivals)
        if "sent" not in crossing:
            notes.append(f"no confirmation answered with receipt number {threshold}")
        elif not arrivals:
            notes.append("the threshold webhook did not arrive")
        else:
            crossing_to_webhook = arrivals[0][0] - crossing["sent"]
            notes.extend(check_webhook(arrivals, env["BALLOT_WEBHOOK_SECRET"], threshold))
        state = requests.get(f"{base}/api/v1/petitions/{SLUG}", timeout=HTTP_TIMEOUT).json()
        if state.get("count") != len(confirmed.results) or state.get("state") != "triggered":
            notes.append(
                f"petition reports count {state.get('count')} state {state.get('state')}, "
                f"{len(confirmed.results)} confirmations answered"
            )
    finally:
        processes.stop_all()

    # The ceiling has a --timeout of its own: a slow service phase does not cut it short.
    ceiling = run_ceiling(
        options, db_url, len(members), ports["bare"], logs, Deadline(options.timeout)
    )
    if ceiling.errors:
        notes.append(f"ceiling errors: {dict(ceiling.errors)}")
    return RunFigures(
        request=requested.results,
        mail_delay=delays,
        confirm=confirmed.results,
        confirms_per_s=len(confirmed.results) / max(confirmed.seconds, 1e-9),
        requests_per_s=len(requested.results) / max(requested.seconds, 1e-9),
        mails_per_s=mails_per_s,
        crossing_to_webhook=crossing_to_webhook,
        ceiling_per_s=len(ceiling.results) / max(ceiling.seconds, 1e-9),
        ceiling=ceiling.results,
        notes=notes,
        stages=stages.describe(stages.read(processes.worker_logs())),
        backlog=len(sent_at) if options.backlog else 0,
    )


def mail_rate(arrivals: list[float], first_sent: float, backlog: bool) -> float:
    """E-mails per second at the sink: from the first request sent to the last e-mail or,
    from a ``backlog``, from the first e-mail to the last (the workers' start-up is no part
    of what they can send). 0 when there is no span to divide by."""
    if not arrivals:
        return 0.0
    if backlog:
        span = max(arrivals) - min(arrivals)
        return (len(arrivals) - 1) / span if span > 0 else 0.0
    span = max(arrivals) - first_sent
    return len(arrivals) / span if span > 0 else 0.0


def run_ceiling(
    options: argparse.Namespace, db_url: str, count: int, port: int, logs: Path, deadline
) -> Phase:
    """The bare app: one INSERT and commit per POST, same gunicorn settings, same clients."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        conn.execute(
            f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, email text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
    env = dict(os.environ, BENCH_BARE_DSN=db_url, PYTHONUNBUFFERED="1")
    processes = Processes(logs)
    try:
        processes.start("bare", gunicorn_argv(options, port, "bench.sign:bare_app()"), env)
        url = f"http://{LOOPBACK}:{port}"
        wait_healthy(f"{url}/healthz", processes, deadline)

        def insert(session: requests.Session, number: int) -> float:
            sent, answered, _body = post_json(
                session, f"{url}/insert", {"email": f"member{number}@example.org"}
            )
            return answered - sent

        return drive(list(range(count)), options.clients, insert, deadline)
    finally:
        processes.stop_all()


# --- printing ---------------------------------------------------------------------------------


def latency_line(name: str, values: list[float]) -> str:
    """p50 and p99 of ``values`` (n/a when there are none)."""
    if not values:
        return f"{name} n/a"
    return f"{name} p50 {ms(percentile(values, 50))}, p99 {ms(percentile(values, 99))}"


def print_run(number: int, figures: RunFigures) -> None:
    """One run's figures."""
    ratio = figures.confirms_per_s / figures.ceiling_per_s if figures.ceiling_per_s else 0.0
    hook = (
        f"{figures.crossing_to_webhook * 1000:.1f} ms"
        if figures.crossing_to_webhook is not None
        else "n/a"
    )
    print(
        f"  run {number}: {figures.confirms_per_s:,.0f} confirmations/s, ceiling "
        f"{figures.ceiling_per_s:,.0f} req/s ({ratio:.0%}); "
        f"requests {figures.requests_per_s:,.0f}/s, e-mails {figures.mails_per_s:,.0f}/s"
        f"{f' from a backlog of {figures.backlog:,}' if figures.backlog else ''}; "
        f"crossing -> webhook {hook}; load average {figures.load:.1f}"
    )
    print(
        "         "
        + "; ".join(
            [
                latency_line("request", figures.request),
                latency_line("e-mail", figures.mail_delay),
                latency_line("confirm", figures.confirm),
                latency_line("ceiling", figures.ceiling),
            ]
        )
    )
    for line in figures.stages:
        print(f"         workers, {line}")
    for note in figures.notes:
        print(f"         note: {note}")


def print_summary(runs: list[RunFigures]) -> None:
    """Medians over the runs, against the goals."""

    def median(pick) -> float:
        return statistics.median(pick(run) for run in runs)

    confirms = median(lambda r: r.confirms_per_s)
    ceiling = median(lambda r: r.ceiling_per_s)
    print(f"medians over {len(runs)} runs:")
    print(f"  confirmations/s:        {confirms:>10,.0f}")
    print(f"  ceiling (bare INSERT):  {ceiling:>10,.0f} req/s")
    print(f"  confirm / ceiling:      {confirms / ceiling:>10.0%}  (goal: at least 40%)")
    print(f"  sign requests/s:        {median(lambda r: r.requests_per_s):>10,.0f}")
    mails = median(lambda r: r.mails_per_s)
    if runs[0].backlog:
        print(
            f"  e-mails at the sink/s:  {mails:>10,.0f}  from a backlog of "
            f"{runs[0].backlog:,}, the web idle (goal: at least 150)"
        )
    else:
        print(f"  e-mails at the sink/s:  {mails:>10,.0f}  (at most the requests' pace)")
    for name, pick in (
        ("request", lambda r: r.request),
        ("e-mail delay", lambda r: r.mail_delay),
        ("confirm", lambda r: r.confirm),
        ("ceiling request", lambda r: r.ceiling),
    ):
        if not any(pick(r) for r in runs):
            print(f"  {name + ':':<22}  n/a")
            continue
        p50 = median(lambda r, pick=pick: percentile(pick(r), 50))
        p99 = median(lambda r, pick=pick: percentile(pick(r), 99))
        print(f"  {name + ':':<22}  p50 {ms(p50, 8)}   p99 {ms(p99, 8)}")
    hooks = [r.crossing_to_webhook for r in runs if r.crossing_to_webhook is not None]
    if hooks:
        each = ", ".join(f"{value * 1000:.1f}" for value in hooks)
        verdict = "met" if max(hooks) < 1.0 and len(hooks) == len(runs) else "NOT met"
        print(
            f"  crossing -> webhook:     each run {each} ms; median "
            f"{statistics.median(hooks) * 1000:.1f} ms, max {max(hooks) * 1000:.1f} ms "
            f"(goal p99 < 1 s: {verdict})"
        )
    else:
        print("  crossing -> webhook:     no webhook arrived in any run (goal p99 < 1 s: NOT met)")


# --- main -------------------------------------------------------------------------------------


def parse_options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Plain numbers only (no "2,000"), as this script has always taken them.
    parser.add_argument("--members", type=bounded(2, 50_000, separators=False), default=2000)
    parser.add_argument("--clients", type=bounded(1, 256, separators=False), default=16)
    parser.add_argument("--runs", type=bounded(1, 20, separators=False), default=3)
    parser.add_argument(
        "--timeout",
        type=bounded(30, 7200, separators=False),
        default=600,
        help="seconds allowed per run",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="start the rq workers once every request is in: e-mails/s from a backlog",
    )
    add_service_options(parser, separators=False)
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print its figures."""
    options = parse_options()
    common.interrupt_on_sigterm()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sign-")))
        stack.callback(drop_database, DATABASE)
        redis_db = RedisDatabase(REDIS_CLAIM)
        stack.callback(redis_db.release)

        roll = scratch / "roll.csv"
        rows = write_roll(roll, options.members)
        members = eligible_members(roll, options.members)

        ports = {"web": free_port(), "bare": free_port()}
        mailbox = Mailbox(f"https://{LOOPBACK}:{ports['web']}/p/{SLUG}/confirm?")
        hooks = WebhookLog()
        ports["smtp"] = start_smtp_sink(stack, mailbox)
        ports["hook"] = start_webhook_receiver(stack, hooks)

        print(
            f"sign: {options.members:,} members (roll of {rows:,}), threshold "
            f"{max(1, options.members // 2):,}; {options.clients} clients; gunicorn "
            f"{options.web_concurrency} workers x {options.web_threads} threads; "
            f"{options.workers} rq workers; {options.runs} runs; {os.cpu_count()} CPUs"
        )
        runs = []
        for number in range(1, options.runs + 1):
            logs = scratch
            if options.logs:
                logs = options.logs / f"run{number}"
                logs.mkdir(parents=True, exist_ok=True)
            figures = run_once(options, roll, members, mailbox, hooks, ports, redis_db, logs)
            runs.append(figures)
            print_run(number, figures)
            sys.stdout.flush()
        print_summary(runs)


if __name__ == "__main__":
    common.run_main(main)

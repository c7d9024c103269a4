"""What the benchmarks in bench/ share: where the project and the servers are, the scratch
PostgreSQL database and Redis database, the flask and gunicorn commands, the production settings
of a service on loopback, and the small helpers for options, ports and figures.

Each script is run as `python bench/X.py` (and live.py and sign.py are also imported by gunicorn
as `bench.live` and `bench.sign`), so each puts the repository root on sys.path before it imports
this module as `bench.common`.

Where the scripts differed, the difference is a parameter here, with the old behaviour of each
script kept at its call.
"""

import argparse
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import closing, suppress
from math import ceil, inf, isfinite
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
# All the benchmarks' traffic stays on this address.
LOOPBACK = "127.0.0.1"
# How long a served app has to answer /healthz, and how long a stopped one has after SIGTERM.
START_TIMEOUT = 60.0
STOP_GRACE = 10.0
# Settings the service reads that every benchmark running it fixes or must not inherit from the
# shell; a script adds those only it cares about (see its own SERVICE_SETTINGS).
SERVICE_SETTINGS = (
    "PETITIONS_ENV",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "DATABASE_URL",
    "REDIS_URL",
    "BASE_URL",
    "SMTP_URL",
    "BALLOT_WEBHOOK_URL",
    "BALLOT_WEBHOOK_SECRET",
    "LOG_SIGNING_KEY",
    "PORT",
)


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --- the command line ---------------------------------------------------------------------------


def bounded(
    low: int, high: int, *, separators: bool = True, grouped: bool = False
) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``.

    ``separators``: accept "1,000,000" and "1_000_000" (sign.py took plain numbers only).
    ``grouped``: write the numbers in the error message with thousands separators (log.py).
    """

    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", "").replace(",", "") if separators else raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            if grouped:
                message = f"must be from {low:,} to {high:,}, got {value:,}"
            else:
                message = f"must be from {low} to {high}, got {value}"
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


def seconds_between(low: float = 0.0, high: float = inf) -> Callable[[str], float]:
    """An argparse type: a number of seconds from ``low`` to ``high`` (no upper bound by
    default)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
        if not (isfinite(value) and low <= value <= high):
            bound = f"from {low:g} to {high:g}" if isfinite(high) else f"{low:g} or more"
            raise argparse.ArgumentTypeError(f"{raw!r}: the seconds must be {bound}")
        return value

    return parse


def add_gunicorn_options(parser: argparse.ArgumentParser) -> None:
    """--web-concurrency and --web-threads, defaulting as the Procfile does, so that the service
    and its ceiling run with the settings production would."""
    parser.add_argument(
        "--web-concurrency",
        type=bounded(1, 64),
        default=int(os.environ.get("WEB_CONCURRENCY") or 4),
        help="gunicorn workers (default: WEB_CONCURRENCY or 4, as in the Procfile)",
    )
    parser.add_argument(
        "--web-threads",
        type=bounded(1, 64),
        default=int(os.environ.get("WEB_THREADS") or 4),
        help="gunicorn threads per worker (default: WEB_THREADS or 4)",
    )


def _interrupted(_signum, _frame) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM as Ctrl-C, so that a killed benchmark still runs its clean-up (stops its
    processes, drops its scratch database) on the way out."""
    signal.signal(signal.SIGTERM, _interrupted)


def run_main(main: Callable[[], None]) -> None:
    """Run ``main``; end with a one-line message (exit status 1) on a BenchError or Ctrl-C,
    instead of a traceback, once the clean-up in ``main`` has run."""
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; processes stopped and the scratch database dropped")


# --- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, ceil(pct / 100 * len(ordered)) - 1)]


def ms(seconds: float, width: int = 0) -> str:
    """``seconds`` as milliseconds with one decimal, for printing; the number right-aligned in
    ``width`` characters (sign.py's tables use 8; 0 is no padding)."""
    return f"{seconds * 1000:{width}.1f} ms"


# --- loopback, PostgreSQL and Redis -------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form of a libpq URL (the service's DATABASE_URL wants psycopg 3)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _drop_statement(name: str, force: bool) -> str:
    # WITH (FORCE) ends the sessions still connected (a worker, a pool left behind by an error);
    # without it the drop fails while anyone is connected.
    return f'DROP DATABASE IF EXISTS "{name}"' + (" WITH (FORCE)" if force else "")


def admin_connection() -> psycopg.Connection:
    """An autocommit connection to the PostgreSQL server's ``postgres`` database (ADMIN);
    BenchError, in one line, when the server does not answer."""
    try:
        return psycopg.connect(ADMIN, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BenchError(
            f"PostgreSQL does not answer at {ADMIN} ({reason}); start it, or point "
            "BENCH_PG_ADMIN at one"
        ) from None


def recreate_database(name: str, *, force: bool = True) -> str:
    """Drop and create the scratch database; return its libpq URL. ``force``: drop it even while
    others are connected (roll_import.py does not)."""
    with admin_connection() as conn:
        conn.execute(_drop_statement(name, force))
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str, *, force: bool = True) -> None:
    """Drop the scratch database; ``force``: whoever is still connected to it."""
    with admin_connection() as conn:
        conn.execute(_drop_statement(name, force))


class RedisDatabase:
    """An empty numbered Redis database, claimed with the marker key ``claim``, emptied on
    release. Each script claims with its own key, so that two benchmarks running at once take
    different databases and none takes one that holds somebody's data."""

    def __init__(self, claim: str):
        self.claim = claim
        for number in range(15, 0, -1):
            client = redis.Redis.from_url(f"{REDIS_SERVER}/{number}", socket_timeout=5)
            if client.dbsize() == 0 and client.set(claim, "1", nx=True):
                self.url = f"{REDIS_SERVER}/{number}"
                self.client = client
                return
            client.close()
        raise BenchError("no empty Redis database (1-15) to run in")

    def clear(self) -> None:
        """Delete everything but the claim (between runs)."""
        keys = [key for key in self.client.scan_iter(count=1000) if key != self.claim.encode()]
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])

    def release(self) -> None:
        """Empty the database."""
        self.client.flushdb()
        self.client.close()


# --- the service's commands and settings --------------------------------------------------------


def flask_argv(*args: str) -> list[str]:
    """The argv of `flask --app app ARGS` with this interpreter (so, this virtualenv)."""
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def flask_command(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """Run `flask --app app ARGS` from the repository root to completion with ``env``; return
    its output, raise BenchError (with its output) if it fails."""
    result = subprocess.run(
        flask_argv(*args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def gunicorn_argv(options: argparse.Namespace, port: int, app: str) -> list[str]:
    """The Procfile's web command for ``app`` (a gunicorn target), bound to a loopback port,
    with --web-concurrency workers and --web-threads threads (see add_gunicorn_options)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(options.web_concurrency),
        "--threads",
        str(options.web_threads),
        "--bind",
        f"{LOOPBACK}:{port}",
        app,
    ]


def service_env(
    db_url: str,
    redis_url: str,
    web_port: int,
    smtp_port: int,
    hook_port: int,
    *,
    cleared: Iterable[str] = SERVICE_SETTINGS,
) -> dict[str, str]:
    """The environment of a service process: this one's, without the settings in ``cleared``,
    plus production settings with fresh secrets, the scratch databases, and the web server,
    SMTP server and webhook receiver on the given loopback ports."""
    skip = frozenset(cleared)
    env = {key: value for key, value in os.environ.items() if key not in skip}
    env.update(
        PETITIONS_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        BALLOT_WEBHOOK_SECRET="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        LOG_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=sqlalchemy_url(db_url),
        REDIS_URL=redis_url,
        # Production refuses a BASE_URL that is not https: the links name the origin a TLS
        # proxy would serve, while the benchmark itself talks to gunicorn over plain http.
        BASE_URL=f"https://{LOOPBACK}:{web_port}",
        SMTP_URL=f"smtp://{LOOPBACK}:{smtp_port}",
        BALLOT_WEBHOOK_URL=f"http://{LOOPBACK}:{hook_port}/ballot",
        # The logs of the child processes are read after a failure: unbuffered, they are whole.
        PYTHONUNBUFFERED="1",
    )
    return env


def stop_process_groups(processes: list[subprocess.Popen], grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group of each of ``processes`` (started with start_new_session, so
    that gunicorn's and flask's own children go too), in reverse order; then SIGKILL what is
    left after ``grace`` seconds in all, and reap them."""
    for process in reversed(processes):
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    limit = time.monotonic() + grace
    for process in reversed(processes):
        with suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, limit - time.monotonic()))
        # The leader may be gone while a child of it in the group is not.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

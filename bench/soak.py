"""Chaos soak: steady signing for a long while as the service's parts fail and come back.

Members sign at a steady rate through the service as the Procfile runs it (gunicorn, `flask
--app app worker` rq workers, production settings) on a fresh scratch PostgreSQL database and a
Redis server of the soak's own, with mail to an SMTP sink and the threshold webhook to a
stand-in for the ballot system, both in this process. Meanwhile a schedule of faults runs:

  - an rq worker is SIGKILLed (mid-batch or not) and restarted a moment later, --worker-kills;
  - Redis (the soak's own `redis-server`, started here on a free port) is stopped and
    started again, empty, on the same port, --redis-outage;
  - every PostgreSQL connection of the service is terminated, in bursts, --pg-bursts;
  - the SMTP sink stops listening and drops its open sessions, so that sending is refused,
    then listens again, --smtp-outage;
  - the ballot stand-in answers the threshold webhook's first tries with a 500, then hangs
    past the service's WEBHOOK_TIMEOUT, then answers 200 (--webhook-errors, --webhook-hang,
    timed from its first try, so that the crossing, whenever it comes, meets all three).

Member i starts at t0 + i/--rate: it asks to sign (POST /api/v1/petitions/<slug>/signatures),
waits for its e-mail at the sink and confirms the link in it --confirm-after seconds later.
A 503 with Retry-After is retried after that delay (the service's answer to losing its
database); a confirmation that got no answer is sent again (confirming is idempotent), a
request to sign is not (a second one is a second mail). Every answer is recorded: what, when,
its status, and whether it carried Retry-After.

Every fault ends by the end of the arrivals (--duration). Then, in the drain (at most --drain
seconds, less once every member has finished, the webhook is delivered and the outbox is
empty), nothing fails, and the run is checked:

  1. every member who got a link and confirmed is counted exactly once (the database's
     counted signatures, the receipts);
  2. the petition's count (API) == counted signatures (database) == signature leaves of the
     public log (API), the log holding besides them exactly the committed roll's leaf that
     opening the petition wrote;
  3. one threshold webhook id, delivered once (one 2xx answered, and no try after it), every
     try well signed (Standard Webhooks) with the same body;
  4. every mail that was due was sent (each member who was answered "check your e-mail" got
     a link; no mail left unsent or failed in the outbox), none twice to the same recipient
     with the same subject;
  5. no 5xx answers but 503s with Retry-After, and those only during a fault window or within
     --grace seconds after it; every request answered;
  6. `flask --app app log verify --slug <slug> --head <the webhook's body>` passes.

It prints PASS or FAIL for each, and the figures: members confirmed, the e-mail delay (p50,
p99) overall and for the members who asked during the SMTP outage, the webhook's tries and
their answers, every status counted, and the faults as they ran. Exit status 1 when a check
fails (or the soak cannot run: one line saying why), 0 otherwise.

    python bench/soak.py [--rate 5] [--duration 600] [--members 3000] [--threshold 1000]
                         [--workers 2] [--drain 300] [--worker-kills 60,240,510] ...

All traffic stays on 127.0.0.1. Every process started here (the service, Redis) is stopped
and the scratch database dropped at the end, on an error and on Ctrl-C.
"""

import argparse
import asyncio
import base64
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import redis
import requests

if not __package__:
    # Run as `python bench/soak.py`, which puts bench/ on sys.path rather than the repository
    # root that holds the bench package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import (
    LOOPBACK,
    ROOT,
    START_TIMEOUT,
    BenchError,
    admin_connection,
    bounded,
    drop_database,
    free_port,
    percentile,
    recreate_database,
    seconds_between,
)
from bench.rawhttp import FAILURES, Answer, Connection, post_json_bytes
from bench.service import (
    Deadline,
    Processes,
    QuietHandler,
    SmtpSinkProtocol,
    WaitingInbox,
    add_service_options,
    check_webhook,
    confirmation_link,
    eligible_members,
    prepare_database,
    serve_http,
    service_env,
    start_service,
    subject_of,
    write_roll,
)

DATABASE = f"petitions_bench_soak_{os.getpid()}"
SLUG = "bench-soak"
SIGN_PATH = f"/api/v1/petitions/{SLUG}/signatures"
CONFIRM_PATH = "/api/v1/signatures/confirm"
HTTP_TIMEOUT = 30.0
# A confirmation that got no answer is sent again this long after.
RESEND_AFTER = 1.0
# Retry-After given as an HTTP date, or not a number, is waited as this many seconds.
RETRY_AFTER_UNREADABLE = 1.0
# The defaults of the fault schedule, as fractions of --duration, and the windows' lengths.
WORKER_KILLS_AT = (0.10, 0.40, 0.85)
PG_BURSTS_AT = (0.20, 0.50, 0.80)
REDIS_OUTAGE_AT, REDIS_OUTAGE_FOR = 0.25, 30.0
SMTP_OUTAGE_AT, SMTP_OUTAGE_FOR = 0.65, 60.0
# The first arrival comes this long after the service answers /healthz.
LEAD = 2.0
# A hanging stand-in answers nothing, this long past the service's WEBHOOK_TIMEOUT.
HANG_PAST_TIMEOUT = 5.0
# The drain's checks of the outbox, and how long a restarted Redis has to answer.
DRAIN_POLL = 2.0
REDIS_START = 15.0


# --- the fault schedule -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule: its kind ("worker", "postgres", "redis" or "smtp") and its
    window, in seconds after the first arrival."""

    kind: str
    start: float
    length: float

    @property
    def end(self) -> float:
        """When the fault is over."""
        return self.start + self.length


def moments(raw: str) -> list[float]:
    """An argparse type: seconds after the first arrival, comma-separated (empty: none)."""
    try:
        values = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a list of seconds") from None
    if any(not math.isfinite(value) or value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"{raw!r}: the seconds must be 0 or more")
    return sorted(values)


def window(raw: str) -> tuple[float, float]:
    """An argparse type: START+LENGTH in seconds ("150+30"); "0+0" is no outage."""
    start, plus, length = raw.partition("+")
    try:
        values = (float(start), float(length))
    except ValueError:
        values = ()
    if not plus or not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{raw!r} is not START+LENGTH in seconds (150+30)")
    return values


def fault_schedule(options: argparse.Namespace) -> list[Fault]:
    """The faults the options give, in the order they start. A list the options leave out
    (None) takes its default from --duration: worker kills at 10%, 40% and 85% of it,
    PostgreSQL bursts at 20%, 50% and 80%, Redis down from 25% for 30 s and the SMTP sink
    refusing from 65% for 60 s (each outage at most a quarter of --duration)."""
    duration = options.duration
    kills = options.worker_kills
    if kills is None:
        kills = [round(duration * at, 1) for at in WORKER_KILLS_AT]
    bursts = options.pg_bursts
    if bursts is None:
        bursts = [round(duration * at, 1) for at in PG_BURSTS_AT]
    redis_outage = options.redis_outage or (
        round(duration * REDIS_OUTAGE_AT, 1),
        min(REDIS_OUTAGE_FOR, duration / 4),
    )
    smtp_outage = options.smtp_outage or (
        round(duration * SMTP_OUTAGE_AT, 1),
        min(SMTP_OUTAGE_FOR, duration / 4),
    )
    faults = [Fault("worker", at, options.restart_after) for at in kills]
    faults += [Fault("postgres", at, options.pg_burst_rounds - 1.0) for at in bursts]
    for kind, (start, length) in (("redis", redis_outage), ("smtp", smtp_outage)):
        if length > 0:
            faults.append(Fault(kind, start, length))
    return sorted(faults, key=lambda fault: (fault.start, fault.kind))


def schedule_problems(faults: list[Fault], duration: float) -> list[str]:
    """Why a schedule cannot run: a fault that would not be over by the end of the arrivals
    (the drain must see the service whole again)."""
    return [
        f"the {fault.kind} fault at {fault.start:g} s ends at {fault.end:g} s, after "
        f"--duration {duration:g} s"
        for fault in faults
        if fault.end > duration
    ]


@dataclass
class Window:
    """A fault as it ran: its kind and when it began and ended, in seconds after the first
    arrival (``end`` None while it lasts)."""

    kind: str
    start: float
    end: float | None = None


class Timeline:
    """The faults as they ran: their windows, and a line for each thing done."""

    def __init__(self, t0: float):
        self.t0 = t0
        self.events: list[tuple[float, str]] = []
        self.windows: list[Window] = []

    def now(self) -> float:
        """Seconds since the first arrival."""
        return time.perf_counter() - self.t0

    def note(self, text: str) -> None:
        """Record ``text`` as happening now."""
        self.events.append((self.now(), text))

    def begin(self, kind: str, text: str) -> Window:
        """A fault window of ``kind`` begins now."""
        self.note(text)
        opened = Window(kind, self.now())
        self.windows.append(opened)
        return opened

    def end(self, opened: Window, text: str) -> None:
        """The fault window ``opened`` ends now."""
        opened.end = self.now()
        self.note(text)


# --- the ballot system's stand-in -------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How the stand-in answers one try: ``status``, after ``delay`` seconds; a status of None
    answers nothing and closes the connection (a hang, when the delay passes the service's
    WEBHOOK_TIMEOUT)."""

    status: int | None
    delay: float = 0.0

    @property
    def label(self) -> str:
        """The reply in a word or two, for the figures."""
        if self.status is None:
            return f"hung {self.delay:g} s, no answer"
        return str(self.status) + (f" after {self.delay:g} s" if self.delay else "")


def always(reply: Reply) -> Callable[[], Reply]:
    """An answer for the stand-in: ``reply`` to every try."""
    return lambda: reply


class BallotStandIn:
    """The threshold webhook's receiver. ``answer`` (a callable giving each try's Reply) is
    what the soak switches; every try is kept with the reply it got, in the arrivals format
    of bench.service.WebhookLog (time.perf_counter(), headers, body)."""

    def __init__(self):
        self.answer: Callable[[], Reply] = always(Reply(200))
        self.arrivals: list[tuple[float, dict, bytes]] = []
        self.replies: list[Reply] = []
        self.lock = threading.Lock()
        self.first = threading.Event()
        # Set when the soak ends: a hanging reply stops waiting.
        self.stopping = threading.Event()

    def tries(self) -> list[tuple[float, dict, bytes, Reply]]:
        """Every try so far, with its reply."""
        with self.lock:
            return [
                (*arrival, reply)
                for arrival, reply in zip(self.arrivals, self.replies, strict=True)
            ]

    def start(self, stack: ExitStack) -> int:
        """Serve on a free loopback port until the stack closes; return the port."""
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                arrived = time.perf_counter()
                reply = stand_in.answer()
                with stand_in.lock:
                    stand_in.arrivals.append((arrived, dict(self.headers.items()), body))
                    stand_in.replies.append(reply)
                stand_in.first.set()
                if reply.delay:
                    stand_in.stopping.wait(reply.delay)
                if reply.status is None:
                    self.close_connection = True
                    return
                answer = b'{"status": "ok"}' if reply.status < 300 else b'{"error": "down"}'
                self.answer_json(reply.status, answer)

        port = serve_http(stack, Handler, "ballot")
        stack.callback(self.stopping.set)
        return port


# --- the SMTP sink ----------------------------------------------------------------------------


class Inbox(WaitingInbox):
    """What the SMTP sink received: every message counted by recipient and subject, and each
    member waiting on a future for its confirmation link."""

    def __init__(self, link_prefix: str):
        super().__init__(link_prefix)
        self.received: Counter[tuple[str, str]] = Counter()

    def deliver(self, recipients: Iterable[str], content: bytes, arrived: float) -> None:
        """Count a message that arrived at ``arrived``; hand its link to the member waiting."""
        subject = subject_of(content)
        link = confirmation_link(content, self.link_prefix)
        for recipient in recipients:
            address = recipient.lower()
            self.received[(address, subject)] += 1
            future = self.waiting.get(address)
            if link is not None and future is not None and not future.done():
                future.set_result((arrived, link))


class _Session(SmtpSinkProtocol):
    """A sink session that its sink can close."""

    def __init__(self, mailbox, sessions: set):
        super().__init__(mailbox)
        self.sessions = sessions

    def connection_made(self, transport) -> None:
        self.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc) -> None:
        self.sessions.discard(self)
        super().connection_lost(exc)


class RefusingSink:
    """The SMTP sink (bench.service's SmtpSinkProtocol) on one loopback port, which can refuse
    for a while: refuse() stops listening and closes every open session (the workers keep
    theirs open between mails), so that connecting is refused; accept() listens again on the
    same port."""

    def __init__(self, mailbox, port: int):
        self.mailbox = mailbox
        self.port = port
        self.server: asyncio.Server | None = None
        self.sessions: set[_Session] = set()

    async def accept(self) -> None:
        """Listen (again) on the port."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Session(self.mailbox, self.sessions), LOOPBACK, self.port
        )

    async def refuse(self) -> None:
        """Stop listening and close every session. A message already taken was answered
        250 in the same turn, and close() sends what is written before it closes: the
        service never sees a taken message refused."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0)


# --- the members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request and its answer: what it was, when it was sent and answered (seconds after
    the first arrival), the status (None: no answer, ``error`` says why) and the Retry-After
    header (None when absent)."""

    what: str
    sent: float
    answered: float
    status: int | None
    retry_after: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """The answer as counted in the figures."""
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status}" + (" with Retry-After" if self.retry_after is not None else "")


@dataclass
class Member:
    """What happened to one member; times in seconds after the first arrival."""

    address: str
    scheduled: float
    asked: float | None = None
    mailed: float | None = None
    confirm_sent: bool = False
    outcome: str | None = None
    receipt: int | None = None
    problem: str | None = None


def retry_delay(value: str) -> float:
    """The seconds a Retry-After header asks for (a date, or nonsense: a second)."""
    try:
        seconds = float(value)
    except ValueError:
        return RETRY_AFTER_UNREADABLE
    return seconds if math.isfinite(seconds) and seconds >= 0 else RETRY_AFTER_UNREADABLE


class Members:
    """The members, started open loop at --rate from t0, each over connections of its own."""

    def __init__(self, port: int, inbox: Inbox, t0: float, wait_end: float, confirm_after: float):
        self.port = port
        self.inbox = inbox
        self.t0 = t0
        self.wait_end = wait_end
        self.confirm_after = confirm_after
        self.exchanges: list[Exchange] = []

    def at(self, moment: float) -> float:
        """``moment`` (time.perf_counter()) in seconds after the first arrival."""
        return moment - self.t0

    async def call(
        self, what: str, path: str, body: dict, resend: bool
    ) -> tuple[Answer | None, float]:
        """POST ``body``; after a 503 with Retry-After, again after that delay, and after no
        answer again a moment later when ``resend``. The last answer (None when there was
        none) and when its request was sent. A fresh connection per request: one kept alive
        could close under a request that must not be sent twice."""
        while True:
            connection = Connection(self.port)
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(HTTP_TIMEOUT):
                    answer = await connection.send_answer(post_json_bytes(path, body))
            except (*FAILURES, TimeoutError) as exc:
                failed = time.perf_counter()
                error = type(exc).__name__
                self.exchanges.append(
                    Exchange(what, self.at(sent), self.at(failed), None, None, error)
                )
                if not resend or failed + RESEND_AFTER > self.wait_end:
                    return None, sent
                await asyncio.sleep(RESEND_AFTER)
                continue
            finally:
                connection.close()
            retry_after = answer.headers.get("retry-after")
            answered = time.perf_counter()
            self.exchanges.append(
                Exchange(what, self.at(sent), self.at(answered), answer.status, retry_after)
            )
            if answer.status == 503 and retry_after is not None:
                delay = retry_delay(retry_after)
                if answered + delay < self.wait_end:
                    await asyncio.sleep(delay)
                    continue
            return answer, sent

    async def member(self, member: Member) -> None:
        """Ask to sign, wait for the e-mail, confirm its link a moment after it arrives."""
        link_future = self.inbox.expect(member.address)
        answer, sent = await self.call("sign", SIGN_PATH, {"email": member.address}, False)
        if answer is None or answer.status != 202:
            member.problem = "sign: " + (f"HTTP {answer.status}" if answer else "no answer")
            link_future.cancel()
            return
        member.asked = self.at(sent)
        try:
            async with asyncio.timeout(max(0.0, self.wait_end - time.perf_counter())):
                arrived, link = await link_future
        except TimeoutError:
            member.problem = "no e-mail by the end of the drain"
            return
        member.mailed = self.at(arrived)
        await asyncio.sleep(max(0.0, arrived + self.confirm_after - time.perf_counter()))
        token = parse_qs(urlsplit(link).query).get("token", [""])[0]
        member.confirm_sent = True
        answer, _sent = await self.call("confirm", CONFIRM_PATH, {"token": token}, True)
        if answer is None or answer.status != 200:
            member.problem = "confirm: " + (f"HTTP {answer.status}" if answer else "no answer")
            return
        try:
            body = json.loads(answer.body)
        except ValueError:
            member.problem = "confirm: an answer that is not JSON"
            return
        member.outcome = body.get("status")
        member.receipt = (body.get("receipt") or {}).get("number")
        if member.outcome not in ("confirmed", "already_signed"):
            member.problem = f"confirm: answered {member.outcome!r}"


# --- the checks -------------------------------------------------------------------------------


@dataclass
class Check:
    """A check's verdict: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    details: list[str] = field(default_factory=list)


def check_counted_once(members: list[Member], counted: dict[str, list[int]]) -> Check:
    """1. Every member who got a link and confirmed is counted exactly once (``counted``: the
    numbers of each address's counted signatures, from the database), under its receipt's
    number; and nobody is counted who did not confirm."""
    problems = []
    confirmed = [m for m in members if m.outcome in ("confirmed", "already_signed")]
    for member in confirmed:
        numbers = counted.get(member.address, [])
        if len(numbers) != 1:
            problems.append(f"{member.address} confirmed and is counted {len(numbers)} times")
        elif member.receipt is not None and numbers[0] != member.receipt:
            problems.append(
                f"{member.address} has receipt number {member.receipt}, counted as {numbers[0]}"
            )
    receipts = Counter(m.receipt for m in confirmed if m.receipt is not None)
    problems += [f"receipt number {n} given {k} times" for n, k in receipts.items() if k > 1]
    sent = {m.address for m in members if m.confirm_sent}
    problems += [
        f"{address} is counted but never confirmed" for address in sorted(set(counted) - sent)
    ]
    numbers = sorted(n for found in counted.values() for n in found)
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("the counted signatures' numbers are not 1..N without gaps or repeats")
    return Check(
        "every member who confirmed is counted exactly once",
        not problems,
        [f"{len(confirmed):,} members confirmed, {len(numbers):,} signatures counted", *problems],
    )


def check_counts(api_count: int | None, db_count: int, leaf_types: Counter) -> Check:
    """2. The petition's count (API) == counted signatures (database) == signature leaves of
    the public log; the log's only other leaf is the committed roll's, which opening the
    petition wrote, and nothing cancels a signature."""
    signatures = leaf_types["signature"]
    others = {kind: n for kind, n in leaf_types.items() if kind != "signature"}
    problems = []
    if not api_count == db_count == signatures:
        problems.append("the three counts differ")
    if others != {"roll_commitment": 1}:
        problems.append(f"the log's other leaves are {others or 'none'}, not one roll_commitment")
    return Check(
        "count == counted signatures == the log's signature leaves",
        not problems,
        [
            f"petition count {api_count}, counted signatures {db_count}, log: {signatures} "
            f"signature leaves + {sum(others.values())} other ({others}) = "
            f"{sum(leaf_types.values())} leaves",
            *problems,
        ],
    )


def check_webhook_delivered(
    tries: list[tuple[float, dict, bytes, Reply]],
    secret: str,
    threshold: int,
    deliveries: list[tuple[str, str | None]],
) -> Check:
    """3. One threshold webhook id, delivered once: every try of it well signed, with one
    body; exactly one answered 2xx, and no try after it; one delivery row in the database,
    delivered (``deliveries``: webhook id and outcome of each)."""
    if not tries:
        return Check("one threshold webhook, delivered once", False, ["no webhook arrived"])
    problems = check_webhook([t[:3] for t in tries], secret, threshold, retries=True)
    taken = [n for n, t in enumerate(tries) if t[3].status is not None and t[3].status < 300]
    if len(taken) != 1:
        problems.append(f"{len(taken)} tries were answered 2xx")
    elif taken[0] != len(tries) - 1:
        problems.append(f"{len(tries) - 1 - taken[0]} tries came after the one answered 2xx")
    if [outcome for _id, outcome in deliveries] != ["delivered"]:
        problems.append(f"the database's deliveries: {deliveries}")
    ids = {next((v for k, v in t[1].items() if k.lower() == "webhook-id"), None) for t in tries}
    return Check(
        "one threshold webhook, delivered once",
        not problems,
        [f"id {', '.join(map(str, ids))}: {len(tries)} tries", *problems],
    )


def check_mail(
    asked: set[str],
    received: Counter,
    linked: set[str],
    unsent: int,
    failed: list[str],
) -> Check:
    """4. Every mail that was due was sent: each member answered "check your e-mail" got its
    link (``linked``), and the outbox holds no mail unsent (``unsent``) or failed
    (``failed``: their errors); and none twice to one recipient with one subject
    (``received``: the sink's count of each)."""
    problems = [f"{address} asked and got no link" for address in sorted(asked - linked)]
    problems += [
        f"{address} got {count} mails with the subject {subject!r}"
        for (address, subject), count in sorted(received.items())
        if count > 1
    ]
    if unsent:
        problems.append(f"{unsent} mails were never sent")
    problems += [f"a mail failed: {error}" for error in failed]
    return Check(
        "every mail due was sent, none twice",
        not problems,
        [
            f"{len(asked):,} members asked, {len(linked & asked):,} got their link; "
            f"{sum(received.values()):,} mails at the sink",
            *problems,
        ],
    )


def allowed(exchange: Exchange, windows: list[Window], grace: float) -> bool:
    """Whether check 5 accepts an answer: anything below 500, or a 503 with Retry-After
    answered during a fault window or within ``grace`` seconds after it ends."""
    if exchange.status is None:
        return False
    if exchange.status < 500:
        return True
    if exchange.status != 503 or exchange.retry_after is None:
        return False
    return any(
        w.start <= exchange.answered <= (w.end if w.end is not None else math.inf) + grace
        for w in windows
    )


def check_answers(exchanges: list[Exchange], windows: list[Window], grace: float) -> Check:
    """5. No 5xx answers but 503s with Retry-After, and those only during a fault window or
    just after it (``grace`` seconds); every request answered."""
    refused = [exchange for exchange in exchanges if not allowed(exchange, windows, grace)]
    counts = Counter(exchange.label for exchange in exchanges)
    details = [", ".join(f"{label}: {n:,}" for label, n in sorted(counts.items()))]
    details += [
        f"{e.what} sent at {e.sent:.1f} s, answered at {e.answered:.1f} s: {e.label}"
        for e in refused[:20]
    ]
    if len(refused) > 20:
        details.append(f"... and {len(refused) - 20} more")
    return Check("no 5xx but 503 + Retry-After in fault windows", not refused, details)


def check_log_verify(returncode: int, output: str) -> Check:
    """6. `flask --app app log verify` passes."""
    lines = [line for line in output.splitlines() if line.strip()]
    return Check("flask --app app log verify", returncode == 0, lines[-6:])


# --- the soak ---------------------------------------------------------------------------------


@dataclass
class Service:
    """What the faults act on, and where the service is."""

    processes: Processes
    env: dict[str, str]
    redis_port: int
    database: str
    base: str
    workers: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def terminate_connections(database: str) -> int:
    """Terminate every connection to ``database`` but this one; how many were."""
    with admin_connection() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def redis_argv(port: int) -> list[str]:
    """The soak's own Redis: on loopback, keeping nothing on disk, in the foreground (a child
    that can be killed and started again on the same port)."""
    server = shutil.which("redis-server")
    if server is None:
        raise BenchError(
            "redis-server not found on PATH: the soak runs a Redis of its own (Debian: "
            "apt-get install redis-server)"
        )
    return [server, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]


def wait_redis(port: int, limit: float) -> None:
    """Wait until the Redis on ``port`` answers PING."""
    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=1, socket_connect_timeout=1)
    end = time.monotonic() + limit
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError as exc:
                if time.monotonic() > end:
                    raise BenchError(f"Redis on port {port} does not answer: {exc}") from None
                time.sleep(0.1)
    finally:
        client.close()


async def sleep_until(moment: float) -> None:
    """Sleep until time.perf_counter() reaches ``moment``."""
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))


async def run_fault(
    fault: Fault, number: int, service: Service, sink: RefusingSink, timeline: Timeline
) -> None:
    """Run one fault of the schedule at its time (the ``number``th of its kind)."""
    await sleep_until(timeline.t0 + fault.start)
    if fault.kind == "worker":
        name = f"worker{number % service.workers + 1}"
        async with service.lock:
            pid = await asyncio.to_thread(service.processes.kill, name)
        opened = timeline.begin("worker", f"{name} SIGKILLed (pid {pid})")
        await sleep_until(timeline.t0 + fault.end)
        async with service.lock:
            process = await asyncio.to_thread(service.processes.restart, name)
        timeline.end(opened, f"{name} restarted (pid {process.pid})")
    elif fault.kind == "postgres":
        opened = timeline.begin("postgres", "PostgreSQL: terminating the service's connections")
        ended = []
        while True:
            ended.append(await asyncio.to_thread(terminate_connections, service.database))
            # Rounds a second apart while one more fits in the window (half a second late
            # still counts: a round takes a moment), so --pg-burst-rounds of them.
            if time.perf_counter() + 1.0 > timeline.t0 + fault.end + 0.5:
                break
            await asyncio.sleep(1.0)
        timeline.end(opened, f"PostgreSQL: burst over, connections terminated {ended}")
    elif fault.kind == "redis":
        async with service.lock:
            await asyncio.to_thread(service.processes.kill, "redis")
        opened = timeline.begin("redis", "Redis stopped (SIGKILL)")
        await sleep_until(timeline.t0 + fault.end)
        async with service.lock:
            await asyncio.to_thread(service.processes.restart, "redis")
        await asyncio.to_thread(wait_redis, service.redis_port, REDIS_START)
        timeline.end(opened, "Redis started again, empty, on the same port")
    elif fault.kind == "smtp":
        await sink.refuse()
        opened = timeline.begin("smtp", "SMTP sink refusing (not listening, sessions closed)")
        await sleep_until(timeline.t0 + fault.end)
        await sink.accept()
        timeline.end(opened, "SMTP sink listening again")


async def webhook_phases(
    stand_in: BallotStandIn,
    timeline: Timeline,
    errors: float,
    hang: Reply,
    hang_for: float,
    end: float,
) -> None:
    """The stand-in answers 500 until ``errors`` seconds after the webhook's first try, then
    ``hang`` for ``hang_for`` seconds, then 200; 200 at ``end`` (time.perf_counter()) at the
    latest, when every fault stops."""
    stand_in.answer = always(Reply(500))
    while not stand_in.first.is_set() and time.perf_counter() < end:
        await asyncio.sleep(0.1)
    if not stand_in.first.is_set():
        stand_in.answer = always(Reply(200))
        timeline.note("ballot stand-in: answering 200 (no webhook by the end of the faults)")
        return
    with stand_in.lock:
        first = stand_in.arrivals[0][0]
    opened = timeline.begin("webhook", "ballot stand-in: answered 500 to the first try")
    opened.start = first - timeline.t0
    await sleep_until(min(end, first + errors))
    stand_in.answer = always(hang)
    timeline.note(f"ballot stand-in: each try {hang.label}")
    await sleep_until(min(end, first + errors + hang_for))
    stand_in.answer = always(Reply(200))
    timeline.end(opened, "ballot stand-in: answering 200")


def outbox_left(db_url: str) -> int:
    """Work not done yet in the outbox: mails, requests to sign, webhooks."""
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM mail WHERE done_at IS NULL)"
            " + (SELECT count(*) FROM sign_request WHERE done_at IS NULL)"
            " + (SELECT count(*) FROM webhook_delivery WHERE done_at IS NULL)"
        ).fetchone()[0]


@dataclass
class Soaked:
    """What the soak saw: the members, every answer, the mail at the sink (counted by
    recipient and subject), the faults, the drain's length."""

    members: list[Member]
    exchanges: list[Exchange]
    received: Counter
    timeline: Timeline
    drained: float


async def soak(
    options: argparse.Namespace,
    addresses: list[str],
    service: Service,
    smtp_port: int,
    stand_in: BallotStandIn,
    db_url: str,
) -> Soaked:
    """The members, the faults and the drain, on this process's event loop."""
    inbox = Inbox(f"{service.env['BASE_URL']}/p/{SLUG}/confirm?")
    sink = RefusingSink(inbox, smtp_port)
    await sink.accept()
    t0 = time.perf_counter() + LEAD
    end = t0 + options.duration
    wait_end = end + options.drain
    timeline = Timeline(t0)
    driver = Members(
        int(service.base.rsplit(":", 1)[1]), inbox, t0, wait_end, options.confirm_after
    )
    members = [Member(address, n / options.rate) for n, address in enumerate(addresses)]
    kinds: Counter[str] = Counter()
    faults = []
    for fault in fault_schedule(options):
        faults.append(
            asyncio.create_task(run_fault(fault, kinds[fault.kind], service, sink, timeline))
        )
        kinds[fault.kind] += 1
    hang = Reply(None, options.webhook_timeout + HANG_PAST_TIMEOUT)
    phases = asyncio.create_task(
        webhook_phases(stand_in, timeline, options.webhook_errors, hang, options.webhook_hang, end)
    )
    tasks: list[asyncio.Task] = []
    try:
        for member in members:
            await sleep_until(t0 + member.scheduled)
            tasks.append(asyncio.create_task(driver.member(member)))
            if len(tasks) % 50 == 0:
                service.processes.check_alive()
        await sleep_until(end)
        await asyncio.gather(*faults, phases)
        timeline.note("every fault over; draining")
        arrivals_end = timeline.now()
        while time.perf_counter() < wait_end:
            service.processes.check_alive()
            finished = all(task.done() for task in tasks)
            delivered = any(t[3].status == 200 for t in stand_in.tries())
            if finished and delivered and await asyncio.to_thread(outbox_left, db_url) == 0:
                break
            await asyncio.sleep(DRAIN_POLL)
        drained = timeline.now() - arrivals_end
        unfinished = [task for task in tasks if not task.done()]
        timeline.note(f"drain over after {drained:.0f} s; {len(unfinished)} members unfinished")
    finally:
        for task in [*tasks, *faults, phases]:
            task.cancel()
        await asyncio.gather(*tasks, *faults, phases, return_exceptions=True)
        await sink.refuse()
    # Members not started (an interrupted run) have no task.
    for member, task in zip(members, tasks, strict=False):
        if task.cancelled() and member.problem is None:
            member.problem = "unfinished at the end of the drain"
    return Soaked(members, driver.exchanges, inbox.received, timeline, drained)


# --- what the service says at the end ---------------------------------------------------------


@dataclass
class Findings:
    """The service's side at the end: from its API, its database and its log command."""

    api_count: int | None
    counted: dict[str, list[int]]
    leaf_types: Counter
    unsent: int
    failed: list[str]
    deliveries: list[tuple[str, str | None]]
    attempts: list[tuple[int, int | None, str | None, int]]
    verify_status: int
    verify_output: str


def log_leaf_types(base: str) -> Counter:
    """The type of every leaf of the petition's public log, read page by page from the API."""
    types: Counter = Counter()
    start: int | None = 0
    while start is not None:
        page = requests.get(
            f"{base}/api/v1/petitions/{SLUG}/log",
            params={"start": start, "limit": 1000},
            timeout=HTTP_TIMEOUT,
        ).json()
        for leaf in page["leaves"]:
            types[json.loads(base64.b64decode(leaf["leaf_input"]))["type"]] += 1
        start = page["next"]
    return types


def findings(base: str, db_url: str, env: dict[str, str], webhook_body: bytes | None, scratch):
    """Read the count (API), the log's leaves (API), the counted signatures, the outbox and
    the webhook's deliveries (database), and run `log verify` (with the delivered webhook's
    body as a head kept elsewhere, when there is one). BenchError when the service or its
    database cannot be read: the faults are over by now."""
    try:
        return _findings(base, db_url, env, webhook_body, scratch)
    except (requests.RequestException, ValueError, KeyError, psycopg.Error) as exc:
        raise BenchError(
            f"the service could not be read after the drain: {type(exc).__name__}: {exc}"
        ) from None


def _findings(base, db_url, env, webhook_body, scratch) -> Findings:
    count = requests.get(f"{base}/api/v1/petitions/{SLUG}/count", timeout=HTTP_TIMEOUT).json()
    with psycopg.connect(db_url, connect_timeout=10) as conn:
        counted: dict[str, list[int]] = {}
        for address, number in conn.execute(
            "SELECT lower(m.email), s.number FROM signature s"
            " JOIN member m ON m.id = s.member_id JOIN petition p ON p.id = s.petition_id"
            " WHERE p.slug = %s AND s.number IS NOT NULL AND s.invalidated_at IS NULL",
            (SLUG,),
        ):
            counted.setdefault(address, []).append(number)
        unsent = conn.execute("SELECT count(*) FROM mail WHERE done_at IS NULL").fetchone()[0]
        failed = [
            f"to {to}: {error}"
            for to, error in conn.execute(
                "SELECT to_address, last_error FROM mail WHERE transport = 'failed'"
            )
        ]
        deliveries = conn.execute(
            "SELECT webhook_id, outcome FROM webhook_delivery ORDER BY id"
        ).fetchall()
        attempts = conn.execute(
            "SELECT number, status_code, error, duration_ms FROM webhook_attempt ORDER BY id"
        ).fetchall()
    head = []
    if webhook_body is not None:
        path = Path(scratch) / "webhook-body.json"
        path.write_bytes(webhook_body)
        head = ["--head", str(path)]
    verify = subprocess.run(
        common.flask_argv("log", "verify", "--slug", SLUG, *head),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Findings(
        api_count=count.get("count"),
        counted=counted,
        leaf_types=log_leaf_types(base),
        unsent=unsent,
        failed=failed,
        deliveries=[tuple(row) for row in deliveries],
        attempts=[tuple(row) for row in attempts],
        verify_status=verify.returncode,
        verify_output=verify.stdout + verify.stderr,
    )


def run_checks(
    soaked: Soaked,
    found: Findings,
    received: Counter,
    tries: list,
    secret: str,
    threshold: int,
    grace: float,
) -> list[Check]:
    """The six checks, in order."""
    members = soaked.members
    return [
        check_counted_once(members, found.counted),
        check_counts(found.api_count, sum(map(len, found.counted.values())), found.leaf_types),
        check_webhook_delivered(tries, secret, threshold, found.deliveries),
        check_mail(
            {m.address for m in members if m.asked is not None},
            received,
            {m.address for m in members if m.mailed is not None},
            found.unsent,
            found.failed,
        ),
        check_answers(soaked.exchanges, soaked.timeline.windows, grace),
        check_log_verify(found.verify_status, found.verify_output),
    ]


# --- printing ---------------------------------------------------------------------------------


def seconds_figure(values: list[float]) -> str:
    """p50 and p99 of ``values`` in seconds, and how many."""
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.2f} s, p99 {percentile(values, 99):.2f} s ({len(values):,})"
    )


def print_figures(soaked: Soaked, found: Findings, tries: list, t0: float) -> None:
    """Members confirmed, the e-mail delay, the webhook's tries, the answers, the faults."""
    members = soaked.members
    confirmed = sum(1 for m in members if m.outcome in ("confirmed", "already_signed"))
    print(f"members: {len(members):,} arrived, {confirmed:,} confirmed")
    problems = Counter(m.problem for m in members if m.problem is not None)
    for problem, n in problems.most_common():
        print(f"  {n:,} members: {problem}")
    delays = [m.mailed - m.asked for m in members if m.mailed is not None and m.asked is not None]
    print(f"e-mail delay: {seconds_figure(delays)}")
    for opened in soaked.timeline.windows:
        if opened.kind == "smtp":
            during = [
                m.mailed - m.asked
                for m in members
                if m.mailed is not None
                and m.asked is not None
                and opened.start <= m.asked <= (opened.end or math.inf)
            ]
            print(
                f"e-mail delay of members who asked during the SMTP outage "
                f"({opened.start:.0f}-{opened.end or math.nan:.0f} s): {seconds_figure(during)}"
            )
    print("webhook tries at the ballot stand-in (seconds after the first arrival):")
    for number, (arrived, _headers, _body, reply) in enumerate(tries, 1):
        print(f"  {number}. {arrived - t0:7.1f} s: {reply.label}")
    print("webhook tries the service recorded:")
    for number, status, error, duration in found.attempts:
        print(f"  {number}. {status or '-'} in {duration} ms{f': {error}' if error else ''}")
    counts = Counter(exchange.label for exchange in soaked.exchanges)
    print(
        "answers by status: " + ", ".join(f"{label} {n:,}" for label, n in sorted(counts.items()))
    )
    by_what = Counter((e.what, e.label) for e in soaked.exchanges)
    for (what, label), n in sorted(by_what.items()):
        print(f"  {what}: {label} {n:,}")
    five_xx = [e for e in soaked.exchanges if e.status is not None and e.status >= 500]
    if five_xx:
        # When they came, beside the faults below: a burst of them should sit in a window.
        moments = Counter(int(e.answered) for e in five_xx)
        print(
            "5xx answers by the second they were answered in: "
            + ", ".join(f"{second} s: {n}" for second, n in sorted(moments.items()))
        )
    print("faults as they ran (seconds after the first arrival):")
    for moment, text in soaked.timeline.events:
        print(f"  {moment:7.1f} s  {text}")


def print_checks(checks: list[Check]) -> None:
    """PASS or FAIL for each check, with what it found."""
    print("checks:")
    for number, check in enumerate(checks, 1):
        print(f"  {number}. {'PASS' if check.passed else 'FAIL'}  {check.name}")
        for line in check.details[:25]:
            print(f"        {line}")
        if len(check.details) > 25:
            print(f"        ... and {len(check.details) - 25} more")


# --- main -------------------------------------------------------------------------------------


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate", type=bounded(1, 1000), default=5, help="members arriving per second (default 5)"
    )
    parser.add_argument(
        "--duration",
        type=bounded(10, 86_400),
        default=600,
        help="seconds of arrivals, within which every fault runs and ends (default 600)",
    )
    parser.add_argument(
        "--members",
        type=bounded(1, 1_000_000),
        help="members who sign (default: --rate x --duration, 3,000); they arrive at --rate, "
        "so within --duration",
    )
    parser.add_argument(
        "--threshold",
        type=bounded(1, 1_000_000),
        help="the petition's threshold (default 1,000, or a third of the members if fewer "
        "than 3,000): crossed early enough that the webhook's retries meet every answer",
    )
    parser.add_argument(
        "--confirm-after",
        type=seconds_between(),
        default=1.0,
        help="seconds from a member's e-mail to its confirmation (default 1)",
    )
    parser.add_argument(
        "--drain",
        type=bounded(10, 3600),
        default=300,
        help="seconds after the arrivals, with every fault over, for the service to finish "
        "(default 300; less once everything is done)",
    )
    parser.add_argument(
        "--grace",
        type=seconds_between(),
        default=20.0,
        help="seconds after a fault window in which a 503 with Retry-After is still expected "
        "(default 20)",
    )
    faults = parser.add_argument_group(
        "the fault schedule (seconds after the first arrival; defaults scale with --duration)"
    )
    faults.add_argument(
        "--worker-kills",
        type=moments,
        help="when an rq worker is SIGKILLed, one after another (default: at 10%%, 40%% and "
        "85%% of --duration)",
    )
    faults.add_argument(
        "--restart-after",
        type=seconds_between(),
        default=2.0,
        help="seconds from a worker's SIGKILL to its restart (default 2)",
    )
    faults.add_argument(
        "--pg-bursts",
        type=moments,
        help="when the service's PostgreSQL connections are terminated (default: at 20%%, 50%% "
        "and 80%%)",
    )
    faults.add_argument(
        "--pg-burst-rounds",
        type=bounded(1, 60),
        default=3,
        help="terminations per burst, a second apart (default 3)",
    )
    faults.add_argument(
        "--redis-outage",
        type=window,
        help="START+LENGTH of Redis being down (default: from 25%% for 30 s, at most a quarter "
        "of --duration; 0+0: none)",
    )
    faults.add_argument(
        "--smtp-outage",
        type=window,
        help="START+LENGTH of the SMTP sink refusing (default: from 65%% for 60 s, at most a "
        "quarter of --duration; 0+0: none)",
    )
    faults.add_argument(
        "--webhook-errors",
        type=seconds_between(),
        default=20.0,
        help="seconds from the webhook's first try during which the ballot stand-in answers "
        "500 (default 20)",
    )
    faults.add_argument(
        "--webhook-hang",
        type=seconds_between(),
        default=40.0,
        help="seconds after that during which it hangs past WEBHOOK_TIMEOUT, before answering "
        "200 (default 40)",
    )
    faults.add_argument(
        "--webhook-timeout",
        type=bounded(1, 60),
        default=5,
        help="the service's WEBHOOK_TIMEOUT, in seconds (default 5)",
    )
    add_service_options(parser)
    options = parser.parse_args(argv)
    if options.members is None:
        options.members = options.rate * options.duration
    if options.members > options.rate * options.duration:
        parser.error(f"--members {options.members:,} do not all arrive within --duration at --rate")
    if options.threshold is None:
        options.threshold = min(1000, max(1, options.members // 3))
    if options.threshold > options.members:
        parser.error("--threshold must be at most --members: it must be crossed")
    problems = schedule_problems(fault_schedule(options), options.duration)
    if problems:
        parser.error("; ".join(problems))
    return options


def main() -> None:
    """Run the soak, print its checks and figures; exit 1 when a check fails."""
    options = parse_options()
    common.interrupt_on_sigterm()
    redis_port = free_port()
    argv_redis = redis_argv(redis_port)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-soak-")))
        logs = scratch
        if options.logs:
            logs = options.logs
            logs.mkdir(parents=True, exist_ok=True)
        stack.callback(drop_database, DATABASE)
        db_url = recreate_database(DATABASE)
        roll = scratch / "roll.csv"
        rows = write_roll(roll, options.members)
        addresses = eligible_members(roll, options.members)
        stand_in = BallotStandIn()
        ports = {"web": free_port(), "smtp": free_port(), "hook": stand_in.start(stack)}
        env = service_env(
            db_url, f"redis://{LOOPBACK}:{redis_port}/0", ports["web"], ports["smtp"], ports["hook"]
        )
        env["WEBHOOK_TIMEOUT"] = str(options.webhook_timeout)
        processes = Processes(logs)
        stack.callback(processes.stop_all)
        processes.start("redis", argv_redis, env)
        wait_redis(redis_port, REDIS_START)
        prepare_database(env, roll, SLUG, options.threshold)
        deadline = Deadline(START_TIMEOUT)
        base = start_service(options, processes, env, ports["web"], deadline)
        service = Service(processes, env, redis_port, DATABASE, base, options.workers)
        print(
            f"soak: {options.members:,} members (roll of {rows:,}) at {options.rate}/s for "
            f"{options.duration} s, threshold {options.threshold:,}, drain at most "
            f"{options.drain} s; gunicorn {options.web_concurrency} workers x "
            f"{options.web_threads} threads; {options.workers} rq workers; WEBHOOK_TIMEOUT "
            f"{options.webhook_timeout} s; {os.cpu_count()} CPUs",
            flush=True,
        )
        for fault in fault_schedule(options):
            print(f"  planned: {fault.kind} at {fault.start:g} s for {fault.length:g} s")
        print(
            f"  planned: the webhook answered 500 for {options.webhook_errors:g} s from its "
            f"first try, then hanging for {options.webhook_hang:g} s, then 200"
        )
        sys.stdout.flush()
        soaked = asyncio.run(soak(options, addresses, service, ports["smtp"], stand_in, db_url))
        tries = stand_in.tries()
        delivered = next((t[2] for t in tries if t[3].status == 200), None)
        found = findings(base, db_url, env, delivered, scratch)
        processes.stop_all()
    print_figures(soaked, found, tries, soaked.timeline.t0)
    checks = run_checks(
        soaked,
        found,
        soaked.received,
        tries,
        env["BALLOT_WEBHOOK_SECRET"],
        options.threshold,
        options.grace,
    )
    print_checks(checks)
    failed = [number for number, check in enumerate(checks, 1) if not check.passed]
    print(f"soak: {'FAIL (checks ' + ', '.join(map(str, failed)) + ')' if failed else 'PASS'}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    common.run_main(main)

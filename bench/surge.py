"""Surge benchmark: members arrive open loop at a rate stepped up, while viewers poll the count.

Members arrive at a fixed rate for a bounded time, each asking to sign, waiting for its e-mail
and confirming the link a moment after it arrives, while a crowd of viewers polls the live count.

Each step (a rate R of --rates, signers per second) runs on a fresh scratch PostgreSQL database
and an empty Redis database, against the service as the Procfile runs it (gunicorn with
--web-concurrency workers x --web-threads threads, --workers `flask --app app worker` rq
workers, production settings, mail to an SMTP sink and the threshold webhook to a receiver, both
in this process):
  1. `db upgrade`, `roll import` of a sample roll, and an open petition whose threshold is half
     the step's members, so that it is crossed in the middle of the step;
  2. arrivals, open loop: member i of R x --duration starts at t0 + i/R however slow the service
     is. It asks to sign (POST /api/v1/petitions/<slug>/signatures), waits for its e-mail at the
     sink, and --confirm-after seconds after the e-mail arrived confirms the link in it
     (POST /api/v1/signatures/confirm). A member still waiting --drain seconds after the last
     arrival is not confirmed. Timed: the sign request and the confirmation (sent -> answered),
     the e-mail delay (sign request sent -> message at the sink), and the confirmed signers per
     second over the second half of the arrivals;
  3. meanwhile, from 2 s before t0 to the last arrival, --viewers viewers (in
     --viewer-processes child processes, each viewer with its own connection) poll
     GET /api/v1/petitions/<slug>/count, the next poll a second after the answer, as the page's
     script does. Timed: the count read's latency and the polls answered per second;
  4. the threshold webhook must arrive exactly once, well signed, with the threshold's count.
A step is held when every member confirmed, the e-mail delay's p99 is under 10 s, the confirm
latency's p99 under 1 s, and no request had a 5xx answer. After the steps, with the service
stopped, the run measures bench/sign.py's ceiling: a bare Flask app doing one INSERT and commit
per POST under the same gunicorn settings.

The load generator (the members and the SMTP sink on this process's event loop, the viewers on
theirs; HTTP/1.1 from bench/rawhttp.py) shares the machine with the service, so it reports its
own cost: how late it started arrivals and confirmations against their schedule, and the CPU it
used beside the machine's. A step whose arrivals or confirmations started over 100 ms late (p99)
says that the generator may have limited it.

    python bench/surge.py [--rates 25,50,100,150,200] [--duration 60] [--viewers 2000]
                          [--workers 2] [--runs 1] [--stop-after-fail] [--drain 30] [--proxy]

With --proxy, nginx stands in front of the service as a deployment puts it (bench/proxy.py,
docs/nginx/): members and viewers send their requests to it, the live count is answered from its
one-second cache, and its CPU is counted as the proxy's part of the service's.

All traffic stays on 127.0.0.1. Every process started here is stopped, and the scratch database
dropped and the Redis database emptied, at the end, on an error and on Ctrl-C.
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

if not __package__:
    # Run as `python bench/surge.py`, which puts bench/ on sys.path rather than the repository
    # root that holds the bench package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, cpu, sign, stages
from bench.common import (
    RedisDatabase,
    bounded,
    drop_database,
    free_port,
    percentile,
    recreate_database,
    seconds_between,
)
from bench.proxy import nginx_binary, start_proxy
from bench.rawhttp import (
    FAILURES,
    Connection,
    Pool,
    post_json_bytes,
    raise_file_limit,
    request_bytes,
)
from bench.service import (
    Deadline,
    Processes,
    WaitingInbox,
    WebhookLog,
    add_service_options,
    check_webhook,
    confirmation_link,
    crossing_decided_at,
    eligible_members,
    prepare_database,
    serve_smtp_sink,
    service_env,
    start_service,
    start_webhook_receiver,
    write_roll,
)

DATABASE = "petitions_bench_surge"
SLUG = "bench-surge"
REDIS_CLAIM = "petitions-bench-surge-claim"
SIGN_PATH = f"/api/v1/petitions/{SLUG}/signatures"
CONFIRM_PATH = "/api/v1/signatures/confirm"
COUNT_PATH = f"/api/v1/petitions/{SLUG}/count"
HTTP_TIMEOUT = 30.0
WEBHOOK_WAIT = 30.0
STATE_WAIT = 60.0
POLL_SECONDS = 1.0
# From the service answering /healthz to the first arrival: the warm-up, and the viewers
# arriving (spread over a second, from VIEWERS_LEAD before the first arrival).
LEAD = 3.0
VIEWERS_LEAD = 2.0
WARM_UP = 16
# What a step must do to be held, and the goals its figures are compared to.
MAIL_P99_GOAL = 10.0
CONFIRM_P99_GOAL = 1.0
RATE_GOAL = 100
# Arrivals or confirmations started this late (p99) say the generator may have limited a step.
LAG_WARNING = 0.1


# --- the command line -------------------------------------------------------------------------


def rates(raw: str) -> list[int]:
    """An argparse type: increasing rates in signers per second, e.g. 25,50,100."""
    try:
        values = [int(part) for part in raw.replace("_", "").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a list of whole numbers") from None
    if not values or values != sorted(set(values)) or values[0] < 1 or values[-1] > 5000:
        raise argparse.ArgumentTypeError("give increasing rates from 1 to 5000 a second")
    return values


def parse_options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=rates,
        default=rates("25,50,100,150,200"),
        help="the steps: members arriving per second (default 25,50,100,150,200)",
    )
    parser.add_argument(
        "--duration",
        type=bounded(5, 3600),
        default=60,
        help="seconds of arrivals per step (default 60)",
    )
    parser.add_argument(
        "--viewers",
        type=bounded(0, 20_000),
        default=2000,
        help="viewers polling the count (default 2000)",
    )
    parser.add_argument(
        "--viewer-processes",
        type=bounded(1, 16),
        default=1,
        help="processes the viewers run in (default 1)",
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="put nginx in front of the service with docs/nginx/petitions.conf (the live count "
        "cached for a second), as a deployment would; members and viewers go through it",
    )
    parser.add_argument(
        "--confirm-after",
        type=seconds_between(0, 60),
        default=1.0,
        help="seconds from a member's e-mail to its confirmation (default 1)",
    )
    parser.add_argument(
        "--drain",
        type=bounded(5, 3600),
        default=30,
        help="seconds after the last arrival that members may still wait for their e-mail "
        "(default 30)",
    )
    add_service_options(parser)
    parser.add_argument("--runs", type=bounded(1, 20), default=1, help="default 1")
    parser.add_argument(
        "--timeout",
        type=bounded(60, 14_400),
        default=600,
        help="seconds allowed per step for the service to start and the members to finish "
        "(default 600)",
    )
    parser.add_argument(
        "--stop-after-fail",
        action="store_true",
        help="stop stepping up after the first step not held",
    )
    parser.add_argument(
        "--ceiling-requests",
        type=bounded(100, 100_000),
        default=2000,
        help="POSTs to the bare INSERT app (default 2000, as bench/sign.py)",
    )
    parser.add_argument(
        "--ceiling-clients",
        type=bounded(1, 256),
        default=16,
        help="clients driving the bare INSERT app (default 16, as bench/sign.py)",
    )
    options = parser.parse_args()
    needed = options.duration + options.drain + options.confirm_after + HTTP_TIMEOUT + 60
    if options.timeout < needed:
        parser.error(f"--timeout must be at least {needed:.0f} s for this --duration and --drain")
    return options


# --- the machine's CPU ------------------------------------------------------------------------

CPU_PARTS = ["web", "workers", *cpu.SERVERS.values()]
# With --proxy, nginx's share too.
PROXY_PART = "proxy"


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat ((0, 0) without it)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    total = sum(fields[:8])  # without guest time, which is counted in user time already
    return total - idle, total


def own_cpu() -> float:
    """CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the viewers, in child processes ----------------------------------------------------------


async def _view(job: dict) -> dict:
    port, begin, start, end = job["port"], job["begin"], job["start"], job["end"]
    request = request_bytes(job["path"])
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    cpu: dict[str, float] = {}

    async def viewer(number: int) -> None:
        connection = Connection(port)
        # Viewers arrive spread over a second, as pages opened at random moments.
        await asyncio.sleep(max(0.0, begin - time.perf_counter()) + (number % 997) / 997)
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(HTTP_TIMEOUT):
                    status, _body = await connection.get(request)
            except (*FAILURES, TimeoutError) as exc:
                connection.close()
                if sent >= start:
                    errors[f"count: {type(exc).__name__}"] += 1
            else:
                if sent >= start:
                    if status == 200:
                        latencies.append(time.perf_counter() - sent)
                    else:
                        errors[f"count: HTTP {status}"] += 1
            # As live_count.js does: the next poll a second after the answer.
            await asyncio.sleep(POLL_SECONDS)
        connection.close()

    async def clock() -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu["start"] = time.process_time()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["end"] = time.process_time()

    await asyncio.gather(clock(), *(viewer(number) for number in range(job["viewers"])))
    return {"latencies": latencies, "errors": errors, "cpu": cpu["end"] - cpu["start"]}


def view(job: dict) -> dict:
    """(In a child process.) ``job["viewers"]`` viewers polling the count once a second from
    ``job["begin"]`` to ``job["end"]``; what they saw from ``job["start"]`` on: the latency of
    each answered poll, the errors, and the CPU seconds this process used."""
    raise_file_limit()
    return asyncio.run(_view(job))


# --- the members and the SMTP sink, on this process's event loop ------------------------------


class Inbox(WaitingInbox):
    """The SMTP sink's side of a step: each member waits on a future for its link."""

    def __init__(self, link_prefix: str):
        super().__init__(link_prefix)
        self.other: Counter[str] = Counter()

    def deliver(self, recipients, content: bytes, arrived: float) -> None:
        """Hand a message that arrived at ``arrived`` to the member waiting for it."""
        link = confirmation_link(content, self.link_prefix)
        for recipient in recipients:
            future = self.waiting.get(recipient.lower())
            if link is None:
                self.other["e-mails without a confirmation link"] += 1
            elif future is None:
                self.other["links to an address that did not ask"] += 1
            elif future.cancelled():
                self.other["links after the member stopped waiting"] += 1
            elif future.done():
                self.other["second links to the same member"] += 1
            else:
                future.set_result((arrived, link))


@dataclass
class Tally:
    """What the members of one step did (seconds; times from time.perf_counter())."""

    sign: list[float] = field(default_factory=list)
    mail_delay: list[float] = field(default_factory=list)
    confirm: list[float] = field(default_factory=list)
    confirmed_at: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    confirm_lag: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    five_xx: int = 0
    warm_up: Counter = field(default_factory=Counter)
    crossing: float | None = None
    other_mail: Counter = field(default_factory=Counter)
    connections: int = 0
    busy: float = float("nan")
    cores: float = float("nan")
    cpu_per_member: dict[str, float] = field(default_factory=dict)


class Members:
    """The members of one step, driven open loop from ``t0`` at ``rate`` a second."""

    def __init__(
        self,
        options,
        port: int,
        smtp_port: int,
        link_prefix: str,
        threshold: int,
        service_cpu: Callable[[], cpu.Reading],
    ):
        self.options = options
        self.service_cpu = service_cpu
        self.cpu_parts = [*CPU_PARTS, PROXY_PART] if options.proxy else CPU_PARTS
        self.port = port
        self.smtp_port = smtp_port
        self.threshold = threshold
        self.inbox = Inbox(link_prefix)
        self.tally = Tally()
        self.pool: Pool | None = None

    async def post(self, path: str, body: dict, what: str):
        """POST ``body`` once; (sent, answered, the JSON answer or None on any failure, which is
        counted)."""
        request = post_json_bytes(path, body)
        connection = self.pool.take()
        sent = time.perf_counter()
        try:
            async with asyncio.timeout(HTTP_TIMEOUT):
                status, raw = await connection.send(request)
        except (*FAILURES, TimeoutError) as exc:
            connection.close()
            self.tally.errors[f"{what}: {type(exc).__name__}"] += 1
            return sent, time.perf_counter(), None
        except asyncio.CancelledError:
            connection.close()  # the step is over: half a request must not be reused
            raise
        answered = time.perf_counter()
        self.pool.give(connection)
        if status >= 500:
            self.tally.five_xx += 1
        if status // 100 != 2:
            self.tally.errors[f"{what}: HTTP {status}"] += 1
            return sent, answered, None
        try:
            return sent, answered, json.loads(raw)
        except ValueError:
            self.tally.errors[f"{what}: an answer that is not JSON"] += 1
            return sent, answered, None

    async def member(self, address: str, scheduled: float, wait_end: float) -> None:
        """One member: ask to sign, wait for the e-mail, confirm a moment after it arrives."""
        tally = self.tally
        link_future = self.inbox.expect(address)
        sent, answered, answer = await self.post(SIGN_PATH, {"email": address}, "sign")
        tally.lag.append(sent - scheduled)
        if answer is None or answer.get("status") != "check_email":
            if answer is not None:
                tally.errors[f"sign: answered {answer.get('status')!r}"] += 1
            link_future.cancel()
            return
        tally.sign.append(answered - sent)
        try:
            async with asyncio.timeout(max(0.0, wait_end - time.perf_counter())):
                arrived, link = await link_future
        except TimeoutError:
            tally.errors["no e-mail by the end of the drain"] += 1
            return
        tally.mail_delay.append(arrived - sent)
        confirm_at = arrived + self.options.confirm_after
        await asyncio.sleep(max(0.0, confirm_at - time.perf_counter()))
        token = parse_qs(urlsplit(link).query).get("token", [""])[0]
        sent, answered, answer = await self.post(CONFIRM_PATH, {"token": token}, "confirm")
        tally.confirm_lag.append(sent - confirm_at)
        if answer is None:
            return
        if answer.get("status") != "confirmed":
            tally.errors[f"confirm: answered {answer.get('status')!r}"] += 1
            return
        tally.confirm.append(answered - sent)
        tally.confirmed_at.append(answered)
        if (answer.get("receipt") or {}).get("number") == self.threshold:
            # From the request: the crossing is counted between it and its answer, and the
            # webhook may arrive before the answer does.
            tally.crossing = sent

    async def warm_up(self) -> None:
        """Before the clock starts: strangers ask to sign (recorded, mailed to nobody) and a
        damaged link is confirmed, so that each gunicorn worker has served both routes."""

        async def one(path: str, body: dict) -> None:
            connection = self.pool.take()
            try:
                status, _raw = await connection.send(post_json_bytes(path, body))
            except (*FAILURES, TimeoutError) as exc:
                connection.close()
                self.tally.warm_up[type(exc).__name__] += 1
                return
            except asyncio.CancelledError:
                connection.close()
                raise
            self.pool.give(connection)
            self.tally.warm_up[f"HTTP {status}"] += 1

        requests_ = [
            one(SIGN_PATH, {"email": f"surge-warm-up-{number}@example.net"})
            for number in range(WARM_UP)
        ] + [one(CONFIRM_PATH, {"token": f"damaged-{number}"}) for number in range(WARM_UP)]
        try:
            async with asyncio.timeout(LEAD - 0.5):
                await asyncio.gather(*requests_)
        except TimeoutError:
            self.tally.warm_up["unfinished"] += 1

    async def run(self, addresses: list[str], rate: int, t0: float, wait_end: float) -> Tally:
        """Serve the sink, warm up, start each member on schedule, wait for them all."""
        loop = asyncio.get_running_loop()
        server = await serve_smtp_sink(self.inbox, self.smtp_port)
        self.pool = Pool(self.port)
        tasks: list[asyncio.Task] = []
        try:
            await self.warm_up()
            # What exists now is never garbage: no collection pauses the arrivals to scan it.
            gc.collect()
            gc.freeze()
            await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
            busy0, total0 = machine_cpu()
            cpu0 = own_cpu()
            parts0 = self.service_cpu()
            for number, address in enumerate(addresses):
                scheduled = t0 + number / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(loop.create_task(self.member(address, scheduled, wait_end)))
            await asyncio.sleep(max(0.0, t0 + len(addresses) / rate - time.perf_counter()))
            busy1, total1 = machine_cpu()
            window = time.perf_counter() - t0
            self.tally.cores = (own_cpu() - cpu0) / window
            self.tally.busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
            limit = wait_end + self.options.confirm_after + HTTP_TIMEOUT + 5
            _done, pending = await asyncio.wait(tasks, timeout=limit - time.perf_counter())
            if pending:
                self.tally.errors["members unfinished at the end of the step"] += len(pending)
            # Till every member has finished, not just arrived: a backlog is worked off later.
            self.tally.cpu_per_member = cpu.per_item(
                parts0, self.service_cpu(), self.cpu_parts, len(addresses)
            )
        finally:
            gc.unfreeze()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.tally.connections = self.pool.opened
            self.pool.close()
            server.close()
            self.tally.other_mail = self.inbox.other
        return self.tally


# --- one step ---------------------------------------------------------------------------------


@dataclass
class StepFigures:
    """One step's figures (seconds, or per second)."""

    rate: int
    members: int
    confirmed: int
    confirmed_per_s: float
    sign: list[float]
    mail_delay: list[float]
    confirm: list[float]
    count: list[float]
    polls_per_s: float
    errors: Counter
    five_xx: int
    lag: list[float]
    confirm_lag: list[float]
    webhooks: int
    crossing_to_webhook: float | None
    decided_to_webhook: float | None
    busy: float
    members_cores: float
    viewers_cores: float
    cpu_per_member: dict[str, float]
    connections: int
    notes: list[str]
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def shortfalls(self) -> list[str]:
        """Why the step was not held (empty when it was)."""
        reasons = []
        if self.confirmed < self.members:
            reasons.append(f"{self.members - self.confirmed:,} members not confirmed")
        mail_p99 = percentile(self.mail_delay, 99)
        if not mail_p99 < MAIL_P99_GOAL:
            reasons.append(f"e-mail delay p99 {mail_p99:.2f} s, not under {MAIL_P99_GOAL:.0f} s")
        confirm_p99 = percentile(self.confirm, 99)
        if not confirm_p99 < CONFIRM_P99_GOAL:
            reasons.append(
                f"confirm p99 {confirm_p99 * 1000:.0f} ms, not under {CONFIRM_P99_GOAL:.0f} s"
            )
        if self.five_xx:
            reasons.append(f"{self.five_xx:,} answers with a 5xx")
        return reasons

    @property
    def held(self) -> bool:
        """Every member confirmed, e-mail p99 < 10 s, confirm p99 < 1 s, no 5xx."""
        return not self.shortfalls


def check_petition(base: str, confirmed: int, threshold: int, deadline: Deadline) -> list[str]:
    """Notes on the petition's count and state when they are not what the confirmations
    answered say. An overwhelmed service may still be working through requests its clients
    gave up on, so the read may wait up to STATE_WAIT seconds."""
    try:
        response = requests.get(
            f"{base}/api/v1/petitions/{SLUG}", timeout=max(1.0, min(STATE_WAIT, deadline.left()))
        )
        state = response.json()
    except (requests.RequestException, ValueError) as exc:
        return [f"the petition's count could not be read: {type(exc).__name__}"]
    expected = "triggered" if confirmed >= threshold else "open"
    if state.get("count") != confirmed or state.get("state") != expected:
        return [
            f"the petition reports count {state.get('count')} state {state.get('state')}, "
            f"after {confirmed:,} confirmations answered"
        ]
    return []


def run_step(
    options: argparse.Namespace,
    rate: int,
    roll: Path,
    everyone: list[str],
    ports: dict[str, int],
    redis_db: RedisDatabase,
    hooks: WebhookLog,
    viewer_pool,
    logs: Path,
) -> StepFigures:
    """One step at ``rate``: a fresh database and service, the members and the viewers."""
    deadline = Deadline(options.timeout)
    addresses = everyone[: round(rate * options.duration)]
    threshold = max(1, len(addresses) // 2)
    notes: list[str] = []
    db_url = recreate_database(DATABASE)
    redis_db.clear()
    env = service_env(db_url, redis_db.url, ports["web"], ports["smtp"], ports["hook"])
    if options.proxy:
        # The client's address comes from nginx's X-Forwarded-For, as in a deployment.
        env["PROXY_FIX_HOPS"] = "1"
    prepare_database(env, roll, SLUG, threshold)
    hooks.reset()

    processes = Processes(logs)
    try:
        base = start_service(options, processes, env, ports["web"], deadline)
        # Where members and viewers send their requests.
        front = ports["web"]
        if options.proxy:
            start_proxy(processes, ports["web"], ports["proxy"], logs, deadline)
            front = ports["proxy"]
        t0 = time.perf_counter() + LEAD
        end = t0 + len(addresses) / rate
        views = None
        if options.viewers:
            processes_used = min(options.viewer_processes, options.viewers)
            jobs = [
                {
                    "port": front,
                    "path": COUNT_PATH,
                    "begin": t0 - VIEWERS_LEAD,
                    "start": t0,
                    "end": end,
                    "viewers": options.viewers // processes_used
                    + (1 if n < options.viewers % processes_used else 0),
                }
                for n in range(processes_used)
            ]
            views = viewer_pool.map_async(view, jobs)
        members = Members(
            options,
            front,
            ports["smtp"],
            f"{env['BASE_URL']}/p/{SLUG}/confirm?",
            threshold,
            lambda: cpu.used(processes.groups()),
        )
        tally = asyncio.run(members.run(addresses, rate, t0, end + options.drain))
        processes.check_alive()
        viewed = views.get(max(1.0, end - time.perf_counter()) + HTTP_TIMEOUT + 30) if views else []

        # The threshold webhook: once, well signed, with the threshold's count.
        crossing_to_webhook = decided_to_webhook = None
        if tally.crossing is not None:
            hooks.arrived.wait(min(WEBHOOK_WAIT, deadline.left()))
            time.sleep(0.5)  # a second delivery, if there were one, would show here
        with hooks.lock:
            arrivals = list(hooks.arrivals)
        if tally.crossing is None:
            notes.append(f"no confirmation answered with receipt number {threshold}")
        elif not arrivals:
            notes.append("the threshold webhook did not arrive")
        else:
            crossing_to_webhook = arrivals[0][0] - tally.crossing
            decided = crossing_decided_at(db_url)
            if decided is not None:
                # The arrival on this process's wall clock, which the service's shares.
                decided_to_webhook = arrivals[0][0] + time.time() - time.perf_counter() - decided
            notes.extend(check_webhook(arrivals, env["BALLOT_WEBHOOK_SECRET"], threshold))
        notes.extend(check_petition(base, len(tally.confirm), threshold, deadline))
    finally:
        processes.stop_all()
    worker_time = stages.describe(stages.read(processes.worker_logs()))
    notes.extend(f"workers, {line}" for line in worker_time)

    if set(tally.warm_up) - {"HTTP 202", "HTTP 400", "HTTP 404"}:
        notes.append(f"warm-up answers: {dict(tally.warm_up)}")
    if tally.other_mail:
        notes.append(f"other e-mails: {dict(tally.other_mail)}")
    errors = Counter(tally.errors)
    count_latencies: list[float] = []
    for result in viewed:
        count_latencies.extend(result["latencies"])
        errors.update(result["errors"])
    five_xx = tally.five_xx + sum(
        number
        for result in viewed
        for key, number in result["errors"].items()
        if key.startswith("count: HTTP 5")
    )
    half = (len(addresses) / rate) / 2
    steady = sum(1 for at in tally.confirmed_at if t0 + half <= at <= end)
    return StepFigures(
        rate=rate,
        members=len(addresses),
        confirmed=len(tally.confirm),
        confirmed_per_s=steady / half,
        sign=tally.sign,
        mail_delay=tally.mail_delay,
        confirm=tally.confirm,
        count=count_latencies,
        polls_per_s=len(count_latencies) / (end - t0),
        errors=errors,
        five_xx=five_xx,
        lag=tally.lag,
        confirm_lag=tally.confirm_lag,
        webhooks=len(arrivals),
        crossing_to_webhook=crossing_to_webhook,
        decided_to_webhook=decided_to_webhook,
        busy=tally.busy,
        members_cores=tally.cores,
        viewers_cores=sum(result["cpu"] for result in viewed) / (end - t0),
        cpu_per_member=tally.cpu_per_member,
        connections=tally.connections,
        notes=notes,
    )


# --- one run ----------------------------------------------------------------------------------


@dataclass
class RunFigures:
    """One run: its steps and the ceiling measured after them."""

    steps: list[StepFigures]
    ceiling_per_s: float
    ceiling: list[float]
    notes: list[str]

    @property
    def held(self) -> int:
        """The highest rate held with every step below it held too (0 if the first was not)."""
        held = 0
        for step in self.steps:
            if not step.held:
                break
            held = step.rate
        return held


def run_once(options, roll, everyone, ports, redis_db, hooks, viewer_pool, logs) -> RunFigures:
    """One run: the steps (until the first not held, with --stop-after-fail), then the ceiling."""
    print_header()
    steps = []
    for rate in options.rates:
        step = run_step(options, rate, roll, everyone, ports, redis_db, hooks, viewer_pool, logs)
        steps.append(step)
        print_step(step)
        if options.stop_after_fail and not step.held:
            break
    # bench/sign.py's ceiling, with its clients and requests, on a fresh database.
    db_url = recreate_database(DATABASE)
    ceiling_options = argparse.Namespace(
        clients=options.ceiling_clients,
        web_concurrency=options.web_concurrency,
        web_threads=options.web_threads,
    )
    ceiling = sign.run_ceiling(
        ceiling_options,
        db_url,
        options.ceiling_requests,
        ports["bare"],
        logs,
        Deadline(options.timeout),
    )
    notes = [f"ceiling errors: {dict(ceiling.errors)}"] if ceiling.errors else []
    return RunFigures(
        steps=steps,
        ceiling_per_s=len(ceiling.results) / max(ceiling.seconds, 1e-9),
        ceiling=ceiling.results,
        notes=notes,
    )


# --- printing ---------------------------------------------------------------------------------

COLUMNS = (
    ("rate/s", 6),
    ("members", 8),
    ("confirmed", 9),
    ("conf/s", 7),
    ("mail p50", 8),
    ("mail p99", 8),
    ("sign p50", 9),
    ("sign p99", 9),
    ("conf p50", 9),
    ("conf p99", 9),
    ("count p99", 9),
    ("polls/s", 7),
    ("errors", 6),
    ("5xx", 5),
    ("lag p99", 8),
    ("", 8),
)


def row(values: list[str]) -> str:
    """One line of the table."""
    return "  " + " ".join(
        f"{value:>{width}}" for value, (_name, width) in zip(values, COLUMNS, strict=True)
    )


def in_s(value: float) -> str:
    return f"{value:.2f} s"


def in_ms(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value >= 0.1 else f"{value * 1000:.1f} ms"


def print_header() -> None:
    """The table's header (mail: e-mail delay; conf: confirm; lag: arrivals started late)."""
    print(row([name for name, _width in COLUMNS]), flush=True)


def step_values(step: StepFigures) -> list[str]:
    """A step's row of the table."""
    return [
        f"{step.rate:,}",
        f"{step.members:,}",
        f"{step.confirmed:,}",
        f"{step.confirmed_per_s:,.1f}",
        in_s(percentile(step.mail_delay, 50)),
        in_s(percentile(step.mail_delay, 99)),
        in_ms(percentile(step.sign, 50)),
        in_ms(percentile(step.sign, 99)),
        in_ms(percentile(step.confirm, 50)),
        in_ms(percentile(step.confirm, 99)),
        in_ms(percentile(step.count, 99)),
        f"{step.polls_per_s:,.0f}",
        f"{sum(step.errors.values()):,}",
        f"{step.five_xx:,}",
        in_ms(percentile(step.lag, 99)),
        "held" if step.held else "NOT held",
    ]


def cpu_line(per_member: dict[str, float], polls_per_s: float) -> str:
    """Where the service's CPU went per member who arrived, and the rate the machine's cores
    could serve at that cost, were the service alone on them."""
    parts = ", ".join(f"{part} {milliseconds:.1f} ms" for part, milliseconds in per_member.items())
    total = sum(per_member.values())
    cores = os.cpu_count() or 1
    bound = f"{cores * 1000 / total:,.0f}" if total > 0 else "any number of"
    where = "the proxy (from its cache)" if PROXY_PART in per_member else "web"
    viewers = f", with the viewers' {polls_per_s:,.0f} polls/s in {where}" if polls_per_s else ""
    return (
        f"service CPU per member: {parts}; {total:.1f} ms in all{viewers}, so {cores} cores "
        f"could serve at most {bound} members/s"
    )


def print_step(step: StepFigures) -> None:
    """A step's row, then what it says about the webhook, the generator and why not held."""
    print(row(step_values(step)))
    hook = (
        f"{step.webhooks} webhook(s), the first {in_ms(step.crossing_to_webhook)} after the "
        "crossing confirmation was sent"
        + (
            f", {in_ms(step.decided_to_webhook)} after the crossing was decided"
            if step.decided_to_webhook is not None
            else ""
        )
        if step.crossing_to_webhook is not None
        else f"{step.webhooks} webhook(s)"
    )
    print(
        f"         {step.rate}/s: {hook}; machine CPU {step.busy:.0%} busy, load average "
        f"{step.load:.1f}; generator {step.members_cores + step.viewers_cores:.2f} cores "
        f"(members and SMTP sink {step.members_cores:.2f}, viewers {step.viewers_cores:.2f})"
    )
    print(
        f"         arrivals started late p50 {in_ms(percentile(step.lag, 50))}, max "
        f"{in_ms(max(step.lag, default=float('nan')))}; confirmations late p99 "
        f"{in_ms(percentile(step.confirm_lag, 99))}; {step.connections:,} member connections "
        "opened"
    )
    if step.cpu_per_member:
        print(f"         {cpu_line(step.cpu_per_member, step.polls_per_s)}")
    late = max(percentile(step.lag, 99), percentile(step.confirm_lag, 99))
    if late > LAG_WARNING:
        print(
            f"         warning: the generator started requests late (p99 up to {in_ms(late)}): "
            "it may have limited this step"
        )
    if step.errors:
        print(f"         errors: {dict(step.errors.most_common())}")
    for note in step.notes:
        print(f"         note: {note}")
    if not step.held:
        print(f"         not held: {'; '.join(step.shortfalls)}")
    sys.stdout.flush()


def print_run(number: int, figures: RunFigures) -> None:
    """A run's outcome."""
    print(
        f"  run {number}: highest rate held {figures.held:,}/s; bare INSERT ceiling "
        f"{figures.ceiling_per_s:,.0f} req/s (p50 {in_ms(percentile(figures.ceiling, 50))}, "
        f"p99 {in_ms(percentile(figures.ceiling, 99))})"
    )
    for note in figures.notes:
        print(f"         note: {note}")
    sys.stdout.flush()


def print_summary(options: argparse.Namespace, runs: list[RunFigures]) -> None:
    """Medians over the runs per rate, the highest rate held, the ceiling, against the goals."""
    print(f"medians over {len(runs)} runs:")
    print_header()
    for rate in options.rates:
        steps = [step for run in runs for step in run.steps if step.rate == rate]
        if not steps:
            continue

        def median(pick, steps=steps) -> float:
            return statistics.median(pick(step) for step in steps)

        held = sum(step.held for step in steps)
        values = [
            f"{rate:,}",
            f"{steps[0].members:,}",
            f"{median(lambda s: s.confirmed):,.0f}",
            f"{median(lambda s: s.confirmed_per_s):,.1f}",
            in_s(median(lambda s: percentile(s.mail_delay, 50))),
            in_s(median(lambda s: percentile(s.mail_delay, 99))),
            in_ms(median(lambda s: percentile(s.sign, 50))),
            in_ms(median(lambda s: percentile(s.sign, 99))),
            in_ms(median(lambda s: percentile(s.confirm, 50))),
            in_ms(median(lambda s: percentile(s.confirm, 99))),
            in_ms(median(lambda s: percentile(s.count, 99))),
            f"{median(lambda s: s.polls_per_s):,.0f}",
            f"{median(lambda s: sum(s.errors.values())):,.0f}",
            f"{median(lambda s: s.five_xx):,.0f}",
            in_ms(median(lambda s: percentile(s.lag, 99))),
            f"held {held}/{len(steps)}",
        ]
        print(row(values))
        measured = [step.cpu_per_member for step in steps if step.cpu_per_member]
        if measured:
            per_member = {
                part: statistics.median(figures[part] for figures in measured)
                for part in measured[0]
            }
            polls = median(lambda s: s.polls_per_s)
            print(f"         {rate:,}/s: {cpu_line(per_member, polls)}")
    held = statistics.median(run.held for run in runs)
    ceiling = statistics.median(run.ceiling_per_s for run in runs)
    verdict = "met" if held >= RATE_GOAL else "NOT met"
    print(
        f"  highest rate held:        {held:>8,.0f} signers/s (each run "
        f"{', '.join(f'{run.held:,}' for run in runs)}; goal: at least {RATE_GOAL}: {verdict})"
    )
    at_goal = [step for run in runs for step in run.steps if step.rate == RATE_GOAL]
    if at_goal:
        mail = statistics.median(percentile(step.mail_delay, 99) for step in at_goal)
        verdict = "met" if mail < MAIL_P99_GOAL else "NOT met"
        print(
            f"  e-mail delay p99 at {RATE_GOAL}/s:  {mail:>8.2f} s (goal: under "
            f"{MAIL_P99_GOAL:.0f} s: {verdict})"
        )
    else:
        print(f"  e-mail delay p99 at {RATE_GOAL}/s:  not measured ({RATE_GOAL} is not a step)")
    print(
        f"  bare INSERT ceiling:      {ceiling:>8,.0f} req/s (bench/sign.py's, measured in the "
        f"same run{'s' if len(runs) > 1 else ''}; a signer costs two requests and an e-mail)"
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark and print its figures."""
    options = parse_options()
    common.interrupt_on_sigterm()
    raise_file_limit()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-surge-")))
        stack.callback(drop_database, DATABASE)
        redis_db = RedisDatabase(REDIS_CLAIM)
        stack.callback(redis_db.release)

        most = round(max(options.rates) * options.duration)
        roll = scratch / "roll.csv"
        rows = write_roll(roll, most)
        everyone = eligible_members(roll, most)

        ports = {"web": free_port(), "bare": free_port(), "smtp": free_port()}
        if options.proxy:
            nginx_binary()  # before any step: without nginx, say so at once
            ports["proxy"] = free_port()
        hooks = WebhookLog()
        ports["hook"] = start_webhook_receiver(stack, hooks)
        viewer_pool = None
        if options.viewers:
            viewer_pool = stack.enter_context(
                multiprocessing.get_context("spawn").Pool(options.viewer_processes)
            )

        print(
            f"surge: steps of {', '.join(f'{rate:,}' for rate in options.rates)} members a "
            f"second for {options.duration} s each (roll of {rows:,}), confirming "
            f"{options.confirm_after:g} s after the e-mail, {options.drain} s to drain; "
            f"{options.viewers:,} viewers polling once a second; "
            f"{'nginx in front (docs/nginx/petitions.conf); ' if options.proxy else ''}gunicorn "
            f"{options.web_concurrency} workers x {options.web_threads} threads; "
            f"{options.workers} rq workers; {options.runs} runs; {os.cpu_count()} CPUs",
            flush=True,
        )
        runs = []
        for number in range(1, options.runs + 1):
            logs = scratch
            if options.logs:
                logs = options.logs / f"run{number}"
                logs.mkdir(parents=True, exist_ok=True)
            print(f"run {number}:", flush=True)
            figures = run_once(options, roll, everyone, ports, redis_db, hooks, viewer_pool, logs)
            runs.append(figures)
            print_run(number, figures)
        print_summary(options, runs)


if __name__ == "__main__":
    common.run_main(main)

"""What the benchmarks that drive the whole service share (sign.py and surge.py): the service run
as the Procfile runs it (gunicorn web processes and `flask --app app worker` rq workers) with
production settings on loopback, its scratch database prepared with a sample roll and an open
petition, the SMTP sink its mail goes to, the receiver of its threshold webhook, and the time
limit every wait of a run is bounded by.

Imported as `bench.service` by scripts that have put the repository root on sys.path (see
bench/common.py).
"""

import argparse
import asyncio
import csv
import email
import email.policy
import hmac
import json
import os
import quopri
import re
import signal
import subprocess
import threading
import time
from base64 import b64decode
from binascii import Error as BinasciiError
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import requests

from bench import common
from bench.common import (
    LOOPBACK,
    ROOT,
    START_TIMEOUT,
    BenchError,
    bounded,
    flask_command,
    free_port,
    gunicorn_argv,
)

# Settings the service reads that these benchmarks fix or must not inherit from the shell: the
# shared ones, and those of mail, links, webhooks, rate limits and the work queue that their
# figures depend on.
SERVICE_SETTINGS = (
    *common.SERVICE_SETTINGS,
    "MAIL_FROM",
    "CONFIRM_LINK_MAX_AGE",
    "WEBHOOK_TIMEOUT",
    "SIGN_LIMIT_PER_NETWORK",
    "SIGN_LIMIT_PER_ADDRESS",
    "CONFIRM_LIMIT_PER_NETWORK",
    "WORK_LEASE_SECONDS",
)


def service_env(db_url: str, redis_url: str, web_port: int, smtp_port: int, hook_port: int):
    """The environment of every service process: production settings, all on loopback."""
    env = common.service_env(
        db_url, redis_url, web_port, smtp_port, hook_port, cleared=SERVICE_SETTINGS
    )
    env.update(
        # Every simulated member comes from this one loopback address: the limits stay on (their
        # cost is part of each request) but high enough for the whole run.
        SIGN_LIMIT_PER_NETWORK="1000000 per hour",
        SIGN_LIMIT_PER_ADDRESS="1000 per hour",
        CONFIRM_LIMIT_PER_NETWORK="1000000 per hour",
    )
    return env


def add_service_options(parser: argparse.ArgumentParser, *, separators: bool = True) -> None:
    """The options of every benchmark that runs the whole service: --workers (rq worker
    processes), the gunicorn options (see common.add_gunicorn_options) and --logs.
    ``separators``: as common.bounded's (sign.py takes plain numbers only)."""
    parser.add_argument(
        "--workers",
        type=bounded(1, 16, separators=separators),
        default=2,
        help="rq worker processes (default 2)",
    )
    common.add_gunicorn_options(parser)
    parser.add_argument(
        "--logs", type=Path, help="keep the processes' output in this folder (default: discarded)"
    )


# --- the time limit of a run ------------------------------------------------------------------


class Deadline:
    """The time left for one run; every wait in the run is bounded by it."""

    def __init__(self, seconds: float):
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - time.perf_counter())

    def check(self, what: str) -> None:
        """Raise BenchError when the time is up."""
        if self.left() <= 0:
            raise BenchError(f"--timeout reached while {what}")


# --- the sample roll and the scratch database -------------------------------------------------


def write_roll(path: Path, members: int) -> int:
    """Write a sample roll with at least ``members`` members who can sign (see
    eligible_members); return its number of rows."""
    from petitions.roll.sample import write_sample_roll

    rows = members + members // 4 + 100
    with path.open("w", encoding="utf-8") as out:
        write_sample_roll(out, rows)
    return rows


def eligible_members(roll: Path, wanted: int) -> list[str]:
    """``wanted`` addresses of active members who do not share their address."""
    with roll.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    shared = Counter(row["email"].strip().lower() for row in rows)
    chosen = [
        row["email"].strip().lower()
        for row in rows
        if row["status"] == "active" and shared[row["email"].strip().lower()] == 1
    ]
    if len(chosen) < wanted:
        raise BenchError(f"the sample roll has only {len(chosen)} members that can sign")
    return chosen[:wanted]


def prepare_database(env: dict[str, str], roll: Path, slug: str, threshold: int) -> None:
    """`db upgrade`, `roll import` of ``roll`` and an open petition ``slug`` with ``threshold``,
    through the service's own commands."""
    flask_command(env, "db", "upgrade")
    flask_command(env, "roll", "import", str(roll))
    flask_command(
        env,
        "petition",
        "create",
        slug,
        "--title",
        "Benchmark petition",
        "--threshold",
        str(threshold),
        "--open",
    )


# --- the confirmation link in a member's e-mail -----------------------------------------------

_PLAIN_PART = re.compile(rb"^content-type:[ \t]*text/plain\b", re.IGNORECASE | re.MULTILINE)
_BOUNDARY = re.compile(rb'boundary="?([^"\r\n;]+)"?', re.IGNORECASE)
_ENCODING = re.compile(rb"^content-transfer-encoding:[ \t]*([\w-]+)", re.I | re.M)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _plain_text(content: bytes) -> str | None:
    """The first text/plain part of a message, decoded, found by scanning the bytes (a tenth of
    the email package's cost, which matters to a sink taking hundreds of messages a second in
    the process that also drives the load); None when it cannot be found that way."""
    found = _PLAIN_PART.search(content)
    if found is None:
        return None
    blank = _BLANK_LINE.search(content, found.end())
    if blank is None:
        return None
    part_start = max(0, content.rfind(b"\n--", 0, found.start()))
    headers = content[part_start : blank.start()]
    body = content[blank.end() :]
    # The part ends at the next line of the nearest boundary declared before it.
    boundaries = _BOUNDARY.findall(content, 0, found.start())
    if boundaries:
        end = body.find(b"\n--" + boundaries[-1])
        if end >= 0:
            body = body[: end - 1 if body[end - 1 : end] == b"\r" else end]
    encoding = _ENCODING.search(headers)
    kind = encoding.group(1).lower() if encoding else b"7bit"
    try:
        if kind == b"quoted-printable":
            body = quopri.decodestring(body)
        elif kind == b"base64":
            body = b64decode(body)
    except (ValueError, BinasciiError):
        return None
    return body.decode("utf-8", errors="replace")


def _full_parse_text(content: bytes) -> str:
    message = email.message_from_bytes(content, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def confirmation_link(content: bytes, prefix: str) -> str | None:
    """The confirmation link (the line of the text part that starts with ``prefix`` and has a
    token) of a raw message, or None."""

    def find(text: str | None) -> str | None:
        return next(
            (
                line.strip()
                for line in (text or "").splitlines()
                if line.strip().startswith(prefix) and "?token=" in line
            ),
            None,
        )

    return find(_plain_text(content)) or find(_full_parse_text(content))


def subject_of(content: bytes) -> str:
    """A raw message's subject, decoded."""
    return str(email.message_from_bytes(content, policy=email.policy.default)["Subject"])


# --- the SMTP sink and the webhook receiver ---------------------------------------------------


class Mailbox:
    """What the SMTP sink received: per recipient, the arrival time and the confirmation link."""

    def __init__(self, link_prefix: str):
        self.link_prefix = link_prefix
        self._lock = threading.Lock()
        self._all_arrived = threading.Event()
        self.reset(set())

    def reset(self, expected: set[str]) -> None:
        """Start a run expecting one confirmation e-mail for each address in ``expected``."""
        with self._lock:
            self.expected = expected
            self.links: dict[str, tuple[float, str]] = {}
            self.other: Counter[str] = Counter()
            self._all_arrived.clear()

    def deliver(self, recipients: Iterable[str], content: bytes, arrived: float) -> None:
        """Record a message that arrived at ``arrived``."""
        link = confirmation_link(content, self.link_prefix)
        with self._lock:
            for recipient in recipients:
                address = recipient.lower()
                if link is None or address not in self.expected or address in self.links:
                    self.other[subject_of(content).split(":")[0]] += 1
                    continue
                self.links[address] = (arrived, link)
            if self.expected and len(self.links) == len(self.expected):
                self._all_arrived.set()

    def wait_all(self, timeout: float) -> bool:
        """Wait until every expected e-mail has arrived; False on timeout."""
        return self._all_arrived.wait(timeout)


class WaitingInbox:
    """The SMTP sink's side of a run in which each member waits on a future for its link
    (surge.py and soak.py, whose inboxes each count what else arrives in their own way)."""

    def __init__(self, link_prefix: str):
        self.link_prefix = link_prefix
        self.waiting: dict[str, asyncio.Future] = {}

    def expect(self, address: str) -> asyncio.Future:
        """A future that the sink resolves with (arrival time, link) of ``address``'s e-mail."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[address] = future
        return future


class SinkHandler:
    """aiosmtpd handler: every message goes to ``mailbox.deliver(recipients, content,
    arrived)``, ``arrived`` being its time.perf_counter() at the end of DATA."""

    def __init__(self, mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):
        arrived = time.perf_counter()
        self.mailbox.deliver(envelope.rcpt_tos, envelope.original_content, arrived)
        return "250 OK"


def start_smtp_sink(stack: ExitStack, mailbox: Mailbox) -> int:
    """Serve the SMTP sink in a thread of its own on a free loopback port until the stack
    closes; return the port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(SinkHandler(mailbox), hostname=LOOPBACK, port=port)
    controller.start()
    stack.callback(controller.stop)
    return port


class SmtpSinkProtocol(asyncio.Protocol):
    """The least of SMTP that smtplib (the service's mail client) needs, on an asyncio event
    loop: EHLO or HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT. Every message goes to
    ``mailbox.deliver(recipients, content, arrived)`` as SinkHandler's do; ``arrived`` is its
    time.perf_counter() at the end of DATA.

    It costs a tenth of an aiosmtpd session (whose every connection inspects its handler and
    itself), which matters to a load generator taking hundreds of messages a second on the
    machine that runs the service."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.in_data = False
        self.recipients: list[str] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                # The message ends at a line holding a lone dot (the message may be empty).
                if self.buffer.startswith(b".\r\n"):
                    end, rest = 0, 3
                else:
                    end = self.buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        return
                    end, rest = end + 2, end + 5
                content = self.buffer[:end]
                self.buffer = self.buffer[rest:]
                self.in_data = False
                # Dot-stuffing undone: a line starting with a dot was sent with two.
                content = content.replace(b"\r\n..", b"\r\n.")
                if content.startswith(b".."):
                    content = content[1:]
                self.mailbox.deliver(self.recipients, content, time.perf_counter())
                self.recipients = []
                self.transport.write(b"250 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = self.buffer[:end]
            self.buffer = self.buffer[end + 2 :]
            self.command(line)

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.transport.write(b"250-bench-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == b"HELO":
            self.transport.write(b"250 bench-sink\r\n")
        elif verb in (b"MAIL", b"RSET"):
            self.recipients = []
            self.transport.write(b"250 OK\r\n")
        elif verb == b"RCPT":
            address = line[line.find(b"<") + 1 : line.rfind(b">")]
            self.recipients.append(address.decode("utf-8", errors="replace"))
            self.transport.write(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"NOOP":
            self.transport.write(b"250 OK\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            self.transport = None
        else:
            self.transport.write(b"502 Command not implemented\r\n")

    def connection_lost(self, exc) -> None:
        self.transport = None


async def serve_smtp_sink(mailbox, port: int) -> asyncio.Server:
    """Serve SmtpSinkProtocol for ``mailbox`` on the running loop, on the loopback ``port``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SmtpSinkProtocol(mailbox), LOOPBACK, port)


@dataclass
class WebhookLog:
    """Threshold webhooks received: arrival time, headers and body of each."""

    arrivals: list[tuple[float, dict, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Forget what arrived (a new run)."""
        with self.lock:
            self.arrivals = []
            self.arrived.clear()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the benchmark's output free of a line per request, and
    answers in JSON."""

    def log_message(self, *_args):
        pass

    def answer_json(self, status: int, answer: bytes) -> None:
        """Answer with ``status`` and the JSON ``answer``."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def serve_http(stack: ExitStack, handler: type[BaseHTTPRequestHandler], name: str) -> int:
    """Serve ``handler`` on a free loopback port, in a thread named ``name``, until the stack
    closes; return the port."""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return server.server_address[1]


def start_webhook_receiver(stack: ExitStack, log: WebhookLog) -> int:
    """Serve the webhook receiver on a free loopback port until the stack closes."""

    class Handler(QuietHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 20))
            arrived = time.perf_counter()
            with log.lock:
                log.arrivals.append((arrived, dict(self.headers.items()), body))
                log.arrived.set()
            self.answer_json(200, b'{"status": "ok"}')

    return serve_http(stack, Handler, "webhook-receiver")


def signature_problem(secret: str, headers: dict, body: bytes) -> str | None:
    """Why a webhook's Standard Webhooks signature does not verify, or None when it does.

    Its age is not judged, as a receiver must judge it on arrival: the tries of one webhook,
    checked together at the end of a long run, are still the service's signatures."""
    from standardwebhooks.webhooks import Webhook

    lowered = {key.lower(): value for key, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (webhook_id and stamp and signatures):
        return "a webhook-id, webhook-timestamp or webhook-signature header is missing"
    try:
        moment = datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        return f"webhook-timestamp {stamp!r} is not a time"
    expected = Webhook(secret).sign(webhook_id, moment, body)
    if not any(hmac.compare_digest(expected, given) for given in signatures.split(" ")):
        return "no matching signature found"
    return None


def crossing_decided_at(database_url: str) -> float | None:
    """When the service decided the crossing (the threshold event's reached_at, written under
    the petition's lock in the batch that crossed), as time.time() reads; None if there is none.

    Timing the webhook from this moment, rather than from the crossing confirmation's request,
    leaves out the time that request waited for the web's CPU before it was counted."""
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM reached_at) FROM threshold_event ORDER BY id LIMIT 1"
        ).fetchone()
    return None if row is None else float(row[0])


def check_webhook(
    arrivals: list, secret: str, threshold: int, *, retries: bool = False
) -> list[str]:
    """Notes on what arrived at the receiver, when it is not one well-signed crossing event.

    ``retries``: several tries of the same webhook (one id, one body, each well signed) are
    expected, as when the receiver failed the first ones; otherwise a second arrival is noted
    and only the first one's signature is checked, fresh."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    notes = []
    ids = {
        next((v for k, v in headers.items() if k.lower() == "webhook-id"), None)
        for _t, headers, _b in arrivals
    }
    if len(ids) != 1:
        notes.append(f"{len(arrivals)} webhook deliveries with different ids")
    elif len(arrivals) > 1 and not retries:
        notes.append(f"the webhook arrived {len(arrivals)} times")
    _arrived, headers, body = arrivals[0]
    if retries:
        if len({body for _t, _h, body in arrivals}) != 1:
            notes.append("the tries of the webhook carry different bodies")
        for number, (_t, try_headers, try_body) in enumerate(arrivals, 1):
            problem = signature_problem(secret, try_headers, try_body)
            if problem is not None:
                notes.append(f"try {number}: webhook signature does not verify: {problem}")
    else:
        lowered = {key.lower(): value for key, value in headers.items()}
        try:
            Webhook(secret).verify(body, lowered)
        except WebhookVerificationError as exc:
            notes.append(f"webhook signature does not verify: {exc}")
    data = json.loads(body).get("data", {})
    if data.get("threshold") != threshold or data.get("count") != threshold:
        notes.append(f"webhook says threshold {data.get('threshold')} count {data.get('count')}")
    return notes


# --- processes --------------------------------------------------------------------------------


class Processes:
    """Child processes, each in its own process group, stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen, Path]] = []
        # Each log file, and where this start's output begins in it (logs are appended to).
        self.started: dict[str, tuple[Path, int]] = {}
        # What each child was started with, for restart().
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start ``argv`` from the project's folder, its output to a log file."""
        path = self.logs / f"{name}.log"
        self.started[name] = (path, path.stat().st_size if path.exists() else 0)
        with path.open("ab") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append((name, process, path))
        self.commands[name] = (argv, env)
        return process

    def kill(self, name: str) -> int:
        """SIGKILL the child ``name``'s process group at once, as a crash or the kernel's OOM
        killer would (no clean-up of its own), and reap it; return its pid. It is no longer a
        running child (check_alive does not report it) until restart(name)."""
        entry = next((entry for entry in self.running if entry[0] == name), None)
        if entry is None:
            raise BenchError(f"no child process {name!r} is running")
        process = entry[1]
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.running.remove(entry)
        return process.pid

    def restart(self, name: str) -> subprocess.Popen:
        """Start ``name`` again as it was last started (killing it first if it still runs);
        its output goes on in the same log, read from where the first start began."""
        if name not in self.commands:
            raise BenchError(f"no child process {name!r} was started")
        if any(entry[0] == name for entry in self.running):
            self.kill(name)
        first = self.started[name]
        argv, env = self.commands[name]
        process = self.start(name, argv, env)
        self.started[name] = first
        return process

    def worker_logs(self) -> dict[Path, int]:
        """The rq workers' log files, each with where this run's output begins."""
        return dict(where for name, where in self.started.items() if name.startswith("worker"))

    def groups(self) -> dict[str, list[int]]:
        """The process groups of the web processes and of the rq workers (see bench/cpu.py)."""
        parts: dict[str, list[int]] = {}
        for name, process, _path in self.running:
            parts.setdefault("workers" if name.startswith("worker") else name, []).append(
                process.pid
            )
        return parts

    def check_alive(self) -> None:
        """Raise BenchError, with the end of its log, if a child has exited."""
        for name, process, path in self.running:
            if process.poll() is not None:
                raise BenchError(f"{name} exited with status {process.returncode}:\n{tail(path)}")

    def stop_all(self) -> None:
        """SIGTERM each child's process group, then SIGKILL what is left after a grace period."""
        common.stop_process_groups([process for _name, process, _path in self.running])
        self.running = []


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_healthy(url: str, processes: Processes, deadline: Deadline) -> None:
    """Wait until GET ``url`` answers 200."""
    limit = time.perf_counter() + min(START_TIMEOUT, deadline.left())
    last = "no answer"
    while time.perf_counter() < limit:
        processes.check_alive()
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise BenchError(f"{url} not healthy within {START_TIMEOUT:.0f} s: {last}")


def start_service(
    options: argparse.Namespace,
    processes: Processes,
    env: dict[str, str],
    port: int,
    deadline: Deadline,
    *,
    workers: bool = True,
) -> str:
    """Start the Procfile's processes: gunicorn serving the app on ``port`` (--web-concurrency
    workers, --web-threads threads) and, unless ``workers`` is False (see start_workers),
    --workers rq workers; wait until it answers /healthz; return its base URL."""
    processes.start("web", gunicorn_argv(options, port, "app:create_app()"), env)
    if workers:
        start_workers(options, processes, env)
    base = f"http://{LOOPBACK}:{port}"
    wait_healthy(f"{base}/healthz", processes, deadline)
    return base


def start_workers(options: argparse.Namespace, processes: Processes, env: dict[str, str]) -> None:
    """Start the Procfile's --workers rq workers."""
    for number in range(options.workers):
        processes.start(f"worker{number + 1}", common.flask_argv("worker"), env)

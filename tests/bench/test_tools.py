"""The benchmarks' own tools (bench/service.py, bench/rawhttp.py) read what they are sent as
the standard library would: a confirmation link out of a mail, a message out of an SMTP session,
an answer out of HTTP/1.1, the moment of the crossing out of the database; bench/cpu.py finds
the CPU a process group used."""

import asyncio
import os
import smtplib
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import psycopg
import pytest

from bench import cpu, sign
from bench.common import LOOPBACK, free_port
from bench.rawhttp import Connection, Pool, post_json_bytes, request_bytes
from bench.service import confirmation_link, crossing_decided_at, serve_smtp_sink

PREFIX = "https://petitions.example.org/p/demo/confirm?"


def message_of(text: str, multipart: bool) -> EmailMessage:
    """A message as the service composes one (petitions.outbox.mail): a text part, then HTML."""
    message = EmailMessage()
    message["From"] = "petitions@example.org"
    message["To"] = "member1@example.org"
    message["Subject"] = "Confirm your signature"
    message.set_content(text)
    if multipart:
        message.add_alternative(f"<p>{text}</p>", subtype="html")
    return message


def composed(text: str, multipart: bool) -> bytes:
    """The bytes of message_of(text, multipart)."""
    return message_of(text, multipart).as_bytes()


@pytest.mark.parametrize("multipart", [True, False])
@pytest.mark.parametrize("crlf", [True, False])
@pytest.mark.parametrize(
    ("token", "rest"),
    [
        ("short", "Thanks."),  # 7bit
        ("x" * 30 + ".AbCdEf-_" * 12, "blah " * 100),  # long lines: quoted-printable
        ("y" * 200, "Zoë García — ünïcödé " * 50),  # mostly not ASCII: base64
    ],
)
def test_the_link_is_found_as_the_email_package_finds_it(token, rest, crlf, multipart):
    link = f"{PREFIX}token={token}"
    text = f"Hello Zoë,\n\nTo confirm, open:\n\n{link}\n\n-- \n.a line with a dot\n{rest}\n"
    raw = composed(text, multipart)
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    parsed = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()
    assert link in parsed.splitlines()
    assert confirmation_link(raw, PREFIX) == link


def test_no_link_is_none():
    assert confirmation_link(composed("Nothing to confirm here.\n", True), PREFIX) is None


def test_the_sink_takes_what_smtplib_sends():
    received = []

    class Mailbox:
        def deliver(self, recipients, content, arrived):
            received.append((list(recipients), content, arrived))

    loop = asyncio.new_event_loop()
    port = free_port()
    server = loop.run_until_complete(serve_smtp_sink(Mailbox(), port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        # What the service's send_message sends: the message with CRLF line ends.
        first = composed(f"Hello,\n.starts with a dot\n..two\n\n{PREFIX}token=abc\n", True)
        first = first.replace(b"\n", b"\r\n")
        second = composed("A second message on the same connection.\n", False)
        second = second.replace(b"\n", b"\r\n")
        with smtplib.SMTP(LOOPBACK, port, timeout=5) as client:
            client.ehlo()
            client.noop()
            client.sendmail("petitions@example.org", ["a@example.org", "b@example.org"], first)
            client.rset()
            client.sendmail("petitions@example.org", ["c@example.org"], second)
        deadline = time.monotonic() + 5
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert [recipients for recipients, _content, _arrived in received] == [
        ["a@example.org", "b@example.org"],
        ["c@example.org"],
    ]
    for (_recipients, content, _arrived), sent in zip(received, (first, second), strict=True):
        assert content == sent
    assert confirmation_link(received[0][1], PREFIX) == f"{PREFIX}token=abc"


ANSWERS = {
    b"/length": b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"count":1}',
    b"/chunked": b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"a":\r\n3;x=1\r\n1}\n\r\n0\r\n\r\n',
    b"/close": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n{}",
}


async def answering(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            at = lowered.find(b"content-length:")
            if at >= 0:
                await reader.readexactly(int(lowered[at + 15 : lowered.find(b"\r\n", at)]))
            path = head.split(b" ")[1]
            writer.write(ANSWERS[path])
            if path == b"/close":
                return
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def client_session(port: int):
    connection = Connection(port)
    answers = [
        await connection.send(request_bytes("/length")),
        await connection.send(post_json_bytes("/chunked", {"email": "a@example.org"})),
        await connection.get(request_bytes("/length")),
        await connection.send(request_bytes("/close")),
    ]
    closed = connection.writer is None
    pool = Pool(port, max_idle=60)
    taken = pool.take()
    await taken.send(request_bytes("/length"))
    pool.give(taken)
    reused = pool.take() is taken
    pool.give(taken)
    pool.close()
    return answers, closed, reused, pool.opened


def test_the_raw_client_reads_lengths_chunks_and_closes():
    async def main():
        server = await asyncio.start_server(answering, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await client_session(port)
        finally:
            server.close()

    answers, closed, reused, opened = asyncio.run(main())
    assert answers == [
        (200, b'{"count":1}'),
        (202, b'{"a":1}\n'),
        (200, b'{"count":1}'),
        (503, b"{}"),
    ]
    assert closed
    assert reused
    assert opened == 1


BURN = """
import sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_the_cpu_a_process_group_uses_is_counted_for_its_part():
    """bench/cpu.py counts a process group's CPU for the part it names."""
    child = subprocess.Popen(
        [sys.executable, "-c", BURN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout.readline() == "burnt\n"
        reading = cpu.used({"busy": [child.pid]})
    finally:
        child.communicate("", timeout=30)
    assert reading[child.pid][0] == "busy"
    assert reading[child.pid][1] >= 0.25
    assert {part for part, _seconds in reading.values()} <= {"busy", "PostgreSQL", "Redis"}
    parts = ["busy", "idle"]
    # A process seen twice counts what it used in between; one that started in between, all
    # it used; one that ended, nothing.
    before = {1: ("busy", 1.0), 2: ("busy", 7.0)}
    after = {1: ("busy", 1.5), 3: ("busy", 0.5)}
    assert cpu.per_item(before, after, parts, 10) == {"busy": 100.0, "idle": 0.0}
    assert cpu.per_item(before, after, parts, 0) == {}


def test_the_mail_rate_counts_from_the_first_request_or_from_a_backlogs_first_mail():
    arrivals = [11.0, 12.0, 13.0, 15.0]
    # Keeping pace: four e-mails in the 5 s since the first request was sent.
    assert sign.mail_rate(arrivals, 10.0, backlog=False) == pytest.approx(0.8)
    # From a backlog: three gaps in the 4 s from the first e-mail to the last.
    assert sign.mail_rate(arrivals, 10.0, backlog=True) == pytest.approx(0.75)
    assert sign.mail_rate([], 10.0, backlog=False) == 0.0
    assert sign.mail_rate([12.0], 10.0, backlog=True) == 0.0


@pytest.mark.postgres
def test_the_crossing_is_read_on_the_wall_clock_the_benchmark_reads(pg_schema):
    database_url = pg_schema.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE threshold_event (id serial PRIMARY KEY, reached_at timestamptz NOT NULL)"
        )
        assert crossing_decided_at(database_url) is None
        connection.execute(
            "INSERT INTO threshold_event (reached_at) VALUES (to_timestamp(1800000000.25))"
        )

    assert crossing_decided_at(database_url) == pytest.approx(1_800_000_000.25)

"""The chaos soak's own logic (bench/soak.py), without a soak: its checks pass on what a sound
run gives and fail on what a broken one would, its fault schedule, the ballot stand-in's
switchable answers, the SMTP sink's refusing window, the 503 window rule, and the process
helpers it kills and restarts workers with (bench/service.py)."""

import argparse
import asyncio
import json
import smtplib
import subprocess
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from bench import soak
from bench.common import LOOPBACK, BenchError, free_port
from bench.rawhttp import Connection, post_json_bytes
from bench.service import Processes, check_webhook
from bench.soak import (
    BallotStandIn,
    Exchange,
    Inbox,
    Member,
    RefusingSink,
    Reply,
    Window,
    always,
)

SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldA=="
THRESHOLD = 3


def options(*argv: str) -> argparse.Namespace:
    """The soak's options from a command line."""
    return soak.parse_options(list(argv))


# --- the fault schedule -----------------------------------------------------------------------


def test_the_default_schedule_fits_ten_minutes():
    faults = soak.fault_schedule(options())
    kinds = Counter(fault.kind for fault in faults)
    assert kinds == {"worker": 3, "postgres": 3, "redis": 1, "smtp": 1}
    assert [f.start for f in faults] == sorted(f.start for f in faults)
    redis = next(f for f in faults if f.kind == "redis")
    smtp = next(f for f in faults if f.kind == "smtp")
    assert (redis.start, redis.length) == (150, 30)
    assert (smtp.start, smtp.length) == (390, 60)
    assert all(fault.end <= 600 for fault in faults)
    # The outages overlap no other fault, so that an answer is put down to the right one.
    for outage in (redis, smtp):
        others = [f for f in faults if f is not outage]
        assert all(f.end < outage.start or f.start > outage.end for f in others)


def test_a_short_run_compresses_the_schedule():
    chosen = options("--duration", "120")
    faults = soak.fault_schedule(chosen)
    assert chosen.members == 600
    assert chosen.threshold == 200
    assert all(fault.end <= 120 for fault in faults)
    assert next(f for f in faults if f.kind == "smtp").length == 30


def test_the_schedule_is_given_on_the_command_line():
    chosen = options(
        "--duration", "200", "--worker-kills", "50,10", "--pg-bursts", "",
        "--redis-outage", "100+20", "--smtp-outage", "0+0", "--pg-burst-rounds", "2",
    )  # fmt: skip
    assert [(f.kind, f.start, f.length) for f in soak.fault_schedule(chosen)] == [
        ("worker", 10, 2),
        ("worker", 50, 2),
        ("redis", 100, 20),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--duration", "100", "--smtp-outage", "90+20"],  # past the end of the arrivals
        ["--duration", "100", "--worker-kills", "99.5"],  # its restart comes too late
        ["--redis-outage", "30"],
        ["--worker-kills", "ten"],
        ["--grace", "-1"],
        ["--webhook-hang", "nan"],
        ["--members", "6000"],  # more than arrive in --duration at --rate
        ["--members", "100", "--threshold", "101"],
    ],
)
def test_a_schedule_that_cannot_run_is_refused(argv, capsys):
    with pytest.raises(SystemExit):
        options(*argv)
    assert "error:" in capsys.readouterr().err


# --- the 503 window rule ----------------------------------------------------------------------

WINDOWS = [Window("postgres", 100.0, 102.0), Window("redis", 200.0, None)]


@pytest.mark.parametrize(
    ("exchange", "accepted"),
    [
        (Exchange("sign", 10, 10.1, 202), True),
        (Exchange("confirm", 10, 10.1, 409), True),
        (Exchange("sign", 100.5, 101.0, 503, "2"), True),
        (Exchange("sign", 99.9, 100.0, 503, "2"), True),  # answered as the window opened
        (Exchange("sign", 110, 110.0, 503, "2"), True),  # within the grace after it
        (Exchange("sign", 130, 130.0, 503, "2"), False),  # long after it
        (Exchange("sign", 50, 50.0, 503, "2"), False),  # before any fault
        (Exchange("sign", 101, 101.0, 503), False),  # no Retry-After
        (Exchange("sign", 101, 101.0, 500), False),
        (Exchange("sign", 101, 101.0, 502, "2"), False),
        (Exchange("sign", 900, 900.0, 503, "2"), True),  # a window not closed yet
        (Exchange("confirm", 101, 131, None, None, "TimeoutError"), False),
    ],
)
def test_a_503_is_expected_only_with_retry_after_in_a_fault_window(exchange, accepted):
    assert soak.allowed(exchange, WINDOWS, grace=20) is accepted
    assert soak.check_answers([exchange], WINDOWS, 20).passed is accepted


def test_the_answers_are_counted_by_status():
    check = soak.check_answers(
        [Exchange("sign", 1, 1.1, 202), Exchange("sign", 101, 101, 503, "2")] * 2, WINDOWS, 20
    )
    assert check.passed
    assert check.details[0] == "202: 2, 503 with Retry-After: 2"


# --- the checks -------------------------------------------------------------------------------


def signer(address: str, number: int, outcome: str = "confirmed") -> Member:
    """A member who asked, got the link and confirmed with receipt ``number``."""
    return Member(
        address, 0.0, asked=1.0, mailed=2.0, confirm_sent=True, outcome=outcome, receipt=number
    )


MEMBERS = [signer("a@example.org", 1), signer("b@example.org", 2), Member("c@example.org", 0.4)]
COUNTED = {"a@example.org": [1], "b@example.org": [2]}


def test_members_counted_once_pass():
    assert soak.check_counted_once(MEMBERS, COUNTED).passed


@pytest.mark.parametrize(
    "counted",
    [
        {"a@example.org": [1]},  # b confirmed and is not counted
        {"a@example.org": [1, 3], "b@example.org": [2]},  # a counted twice
        {"a@example.org": [2], "b@example.org": [1]},  # not under the receipts' numbers
        {**COUNTED, "c@example.org": [3]},  # c never confirmed
        {"a@example.org": [1], "b@example.org": [3]},  # a gap in the numbers
    ],
)
def test_members_counted_once_fails(counted):
    assert not soak.check_counted_once(MEMBERS, counted).passed


def test_a_receipt_given_twice_fails():
    members = [signer("a@example.org", 1), signer("b@example.org", 1)]
    assert not soak.check_counted_once(members, COUNTED).passed


def test_already_signed_after_a_lost_answer_counts_as_confirmed():
    members = [signer("a@example.org", 1), signer("b@example.org", None, "already_signed")]
    assert soak.check_counted_once(members, COUNTED).passed
    assert not soak.check_counted_once(members, {"a@example.org": [1]}).passed


def test_the_counts_agree():
    leaves = Counter(signature=2, roll_commitment=1)
    check = soak.check_counts(2, 2, leaves)
    assert check.passed
    assert "2 signature leaves + 1 other" in check.details[0]


@pytest.mark.parametrize(
    ("api", "db", "leaves"),
    [
        (3, 2, Counter(signature=2, roll_commitment=1)),
        (2, 3, Counter(signature=2, roll_commitment=1)),
        (2, 2, Counter(signature=3)),  # the committed roll's leaf counted as a signature
        (2, 2, Counter(signature=2)),  # no committed roll's leaf
        (2, 2, Counter(signature=2, roll_commitment=1, withdrawal=1)),
        (None, 2, Counter(signature=2, roll_commitment=1)),
    ],
)
def test_the_counts_differ(api, db, leaves):
    assert not soak.check_counts(api, db, leaves).passed


DELIVERED_REPLY = Reply(200)


def webhook_try(webhook_id="msg_1", count=THRESHOLD, reply=DELIVERED_REPLY, secret=SECRET):
    """One try of the threshold webhook as the service signs it, with the stand-in's reply."""
    body = json.dumps({"data": {"threshold": THRESHOLD, "count": count}}).encode()
    signature = Webhook(secret).sign(webhook_id, datetime.now(UTC), body)
    headers = {
        "Webhook-Id": webhook_id,
        "Webhook-Timestamp": str(int(datetime.now(UTC).timestamp())),
        "Webhook-Signature": signature,
    }
    return (time.perf_counter(), headers, body, reply)


RETRIED = [
    webhook_try(reply=Reply(500)),
    webhook_try(reply=Reply(None, 10)),
    webhook_try(reply=Reply(200)),
]
DELIVERED = [("msg_1", "delivered")]


def test_one_webhook_delivered_after_retries_passes():
    check = soak.check_webhook_delivered(RETRIED, SECRET, THRESHOLD, DELIVERED)
    assert check.passed, check.details


@pytest.mark.parametrize(
    ("tries", "deliveries"),
    [
        ([], DELIVERED),
        ([*RETRIED[:2], webhook_try("msg_2")], DELIVERED),  # a second id
        ([*RETRIED, webhook_try(reply=Reply(200))], DELIVERED),  # delivered twice
        (RETRIED[:2], DELIVERED),  # never answered 2xx
        ([*RETRIED[:2], webhook_try(secret="whsec_b3RoZXI=")], DELIVERED),  # badly signed
        ([*RETRIED[:2], webhook_try(count=THRESHOLD + 1)], DELIVERED),  # another body
        (RETRIED, [("msg_1", "delivered"), ("msg_2", None)]),  # two deliveries in the database
        (RETRIED, [("msg_1", None)]),
    ],
)
def test_the_webhook_check_fails(tries, deliveries):
    assert not soak.check_webhook_delivered(tries, SECRET, THRESHOLD, deliveries).passed


def test_check_webhook_keeps_its_single_delivery_rule_unless_retries_are_expected():
    arrivals = [t[:3] for t in RETRIED]
    assert check_webhook(arrivals[:1], SECRET, THRESHOLD) == []
    assert check_webhook(arrivals, SECRET, THRESHOLD) == ["the webhook arrived 3 times"]
    assert check_webhook(arrivals, SECRET, THRESHOLD, retries=True) == []
    other = [*arrivals, webhook_try("msg_2")[:3]]
    assert "different ids" in check_webhook(other, SECRET, THRESHOLD, retries=True)[0]


ASKED = {"a@example.org", "b@example.org"}
RECEIVED = Counter({("a@example.org", "Confirm"): 1, ("b@example.org", "Confirm"): 1})


def test_every_mail_sent_once_passes():
    assert soak.check_mail(ASKED, RECEIVED, ASKED, 0, []).passed


@pytest.mark.parametrize(
    ("received", "linked", "unsent", "failed"),
    [
        (RECEIVED + Counter({("a@example.org", "Confirm"): 1}), ASKED, 0, []),
        (RECEIVED, {"a@example.org"}, 0, []),
        (RECEIVED, ASKED, 1, []),
        (RECEIVED, ASKED, 0, ["to x: 550 no"]),
    ],
)
def test_the_mail_check_fails(received, linked, unsent, failed):
    assert not soak.check_mail(ASKED, received, linked, unsent, failed).passed


def test_log_verify_check():
    assert soak.check_log_verify(0, "3 leaves\nthe log verifies\n").passed
    failed = soak.check_log_verify(1, "PROBLEM: leaf 2\nError: the log does not verify\n")
    assert not failed.passed
    assert failed.details[-1] == "Error: the log does not verify"


# --- the ballot stand-in ----------------------------------------------------------------------


def test_the_stand_ins_answer_is_switched():
    stand_in = BallotStandIn()
    with ExitStack() as stack:
        url = f"http://{LOOPBACK}:{stand_in.start(stack)}/ballot"
        stand_in.answer = always(Reply(500))
        assert requests.post(url, data=b"{}", timeout=5).status_code == 500
        stand_in.answer = always(Reply(None, 1.0))
        with pytest.raises(requests.Timeout):
            requests.post(url, data=b"{}", timeout=0.2)
        stand_in.answer = always(Reply(200))
        assert requests.post(url, data=b'{"a": 1}', timeout=5).status_code == 200
    tries = stand_in.tries()
    assert [t[3].label for t in tries] == ["500", "hung 1 s, no answer", "200"]
    assert tries[2][2] == b'{"a": 1}'
    assert stand_in.first.is_set()


def test_the_webhook_phases_follow_the_first_try():
    stand_in = BallotStandIn()
    timeline = soak.Timeline(time.perf_counter())
    seen = []

    async def main():
        phases = asyncio.create_task(
            soak.webhook_phases(
                stand_in, timeline, 0.2, Reply(None, 9), 0.2, time.perf_counter() + 5
            )
        )
        await asyncio.sleep(0.05)
        seen.append(stand_in.answer())
        with stand_in.lock:
            stand_in.arrivals.append((time.perf_counter(), {}, b""))
        stand_in.first.set()
        await asyncio.sleep(0.3)
        seen.append(stand_in.answer())
        await phases
        seen.append(stand_in.answer())

    asyncio.run(main())
    assert seen == [Reply(500), Reply(None, 9), Reply(200)]
    assert [w.kind for w in timeline.windows] == ["webhook"]
    assert timeline.windows[0].end is not None


# --- the SMTP sink ----------------------------------------------------------------------------


def test_the_sink_refuses_for_a_while_on_the_same_port():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(5)

    async def inbox():
        return Inbox("https://petitions.example.org/p/x/confirm?")

    mailbox = on_loop(inbox())
    sink = RefusingSink(mailbox, free_port())
    message = b"Subject: Confirm\r\nTo: a@example.org\r\n\r\nHello\r\n"
    try:
        on_loop(sink.accept())
        kept = smtplib.SMTP(LOOPBACK, sink.port, timeout=5)
        kept.sendmail("p@example.org", ["a@example.org"], message)
        on_loop(sink.refuse())
        with pytest.raises(ConnectionRefusedError):
            smtplib.SMTP(LOOPBACK, sink.port, timeout=5)
        # The session a worker kept open is closed too.
        with pytest.raises(smtplib.SMTPServerDisconnected):
            kept.sendmail("p@example.org", ["a@example.org"], message)
        on_loop(sink.accept())
        with smtplib.SMTP(LOOPBACK, sink.port, timeout=5) as again:
            again.sendmail("p@example.org", ["A@example.org"], message)
    finally:
        on_loop(sink.refuse())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert mailbox.received == Counter({("a@example.org", "Confirm"): 2})


# --- the members' requests --------------------------------------------------------------------


def test_a_503_with_retry_after_is_asked_again_after_the_delay():
    answers = [
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}",
    ]

    async def answering(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(answering, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        t0 = time.perf_counter()
        members = soak.Members(port, Inbox(""), t0, t0 + 30, 0)
        try:
            answer, _sent = await members.call("sign", "/s", {"email": "a@example.org"}, False)
        finally:
            server.close()
        return answer, members.exchanges

    answer, exchanges = asyncio.run(main())
    assert answer.status == 202
    assert [(e.status, e.retry_after) for e in exchanges] == [(503, "0"), (202, None)]


def test_the_raw_client_reads_headers():
    async def answering(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 503 X\r\nRetry-After: 2\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(answering, LOOPBACK, 0)
        connection = Connection(server.sockets[0].getsockname()[1])
        try:
            return await connection.send_answer(post_json_bytes("/x", {}))
        finally:
            connection.close()
            server.close()

    answer = asyncio.run(main())
    assert (answer.status, answer.headers["retry-after"], answer.body) == (503, "2", b"{}")


@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0.5", 0.5), ("soon", 1.0)])
def test_retry_after(value, seconds):
    assert soak.retry_delay(value) == seconds


# --- the processes ----------------------------------------------------------------------------


def test_a_child_is_killed_and_restarted(tmp_path):
    processes = Processes(tmp_path)
    try:
        first = processes.start("worker1", ["sleep", "60"], {})
        pid = processes.kill("worker1")
        assert pid == first.pid
        assert first.returncode == -9
        processes.check_alive()  # a killed child is not a crashed one
        with pytest.raises(BenchError):
            processes.kill("worker1")
        second = processes.restart("worker1")
        assert second.pid != first.pid
        assert second.poll() is None
        # Restarting one that runs kills it first.
        third = processes.restart("worker1")
        assert second.returncode == -9
        assert third.poll() is None
        assert [name for name, _p, _path in processes.running] == ["worker1"]
        # Its log is read from where its first start began.
        assert processes.worker_logs() == {tmp_path / "worker1.log": 0}
    finally:
        processes.stop_all()


def test_restarting_a_child_never_started_fails(tmp_path):
    with pytest.raises(BenchError):
        Processes(tmp_path).restart("worker9")


def test_a_missing_redis_server_is_one_line(monkeypatch):
    monkeypatch.setattr(soak.shutil, "which", lambda _name: None)
    with pytest.raises(BenchError, match="redis-server not found"):
        soak.redis_argv(6400)


def test_the_soak_never_starts_without_its_own_redis_on_loopback(monkeypatch):
    monkeypatch.setattr(soak.shutil, "which", lambda _name: "/usr/bin/redis-server")
    argv = soak.redis_argv(6400)
    assert argv[argv.index("--port") + 1] == "6400"
    assert argv[argv.index("--bind") + 1] == LOOPBACK
    assert subprocess.list2cmdline(argv).endswith('--save "" --appendonly no')

"""Witnessing from the service's side, against real witnesses on loopback ports: every new
checkpoint is submitted with its consistency proof, cosignatures are stored and served, a
witness that was down catches up, a garbage answer is recorded and never trusted, and a
petition that requires k witnesses sends its threshold webhook only once they have cosigned,
exactly once."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from sqlmodel import Session, select

from petitions.config import WitnessSetting, settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import WebhookDelivery, WitnessCosignature, WitnessSubmission
from petitions.jobs import dispatch, handlers
from petitions.outbox import work
from petitions.transparency import cosignatures, notes, store, witnessing
from petitions.transparency import witness as witness_state
from petitions.web import witness_app
from tests.helpers import configure, open_petition, petition
from tests.outbox.test_webhooks import confirm_members, deliveries
from tests.receiver import Receiver, free_port


class Witnesses:
    """Witnesses served from threads, each with its own key and state file."""

    def __init__(self, app, tmp_path):
        self.app = app
        self.tmp_path = tmp_path
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.ports: dict[str, int] = {}
        self.servers: dict[str, witness_app.Server] = {}

    def state(self, name: str) -> witness_state.State:
        return witness_state.State(self.tmp_path / f"{name.replace('/', '_')}.db")

    def start(self, name: str, slugs=("vote",)) -> witness_app.Server:
        """Serve witness ``name`` (again, on its old port, with its old key and state)."""
        key = self.keys.setdefault(name, Ed25519PrivateKey.generate())
        settings = settings_of(self.app)
        logs = witness_state.load_logs(witnessing.log_vkey(settings, slug) for slug in slugs)
        witness = witness_state.Witness(cosignatures.Cosigner(name, key), logs, self.state(name))
        server = witness_app.Server(witness, port=self.ports.get(name, 0)).start()
        self.ports[name] = server.port
        self.servers[name] = server
        return server

    def stop(self, name: str) -> None:
        self.servers.pop(name).stop()

    def configure(self, *names: str) -> None:
        """Make ``names`` the service's WITNESSES."""
        configure(
            self.app,
            witnesses=tuple(
                WitnessSetting(
                    name,
                    f"http://127.0.0.1:{self.ports[name]}",
                    notes.raw_public_key(self.keys[name].public_key()),
                )
                for name in names
            ),
        )

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def witnesses(app, tmp_path):
    made = Witnesses(app, tmp_path)
    yield made
    made.close()


def heads_signed(app) -> None:
    """What the housekeeping round does every second: sign a head for each grown log."""
    dispatch.housekeeping(app)


def time_passes(app) -> None:
    """Every waiting submission and delivery is due now, as if its delay had passed."""
    with Session(flask_db.engine_of(app)) as session:
        for model in (WitnessSubmission, WebhookDelivery):
            session.execute(
                update(model).where(model.done_at.is_(None)).values(next_attempt_at=utcnow())
            )
        session.commit()


def submission(app, name: str) -> WitnessSubmission:
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        query = select(WitnessSubmission).where(WitnessSubmission.witness == name)
        return session.exec(query).one()


def cosigned_sizes(app, name: str) -> list[int]:
    with Session(flask_db.engine_of(app)) as session:
        query = select(WitnessCosignature.size).where(WitnessCosignature.witness == name)
        return sorted(session.exec(query).all())


def checkpoint_signers(client, app, slug: str = "vote") -> list[str]:
    """The names of the valid signatures on the served checkpoint (log and witnesses)."""
    answer = client.get(f"/p/{slug}/log/checkpoint")
    assert answer.status_code == 200
    assert answer.content_type == "text/plain; charset=utf-8"
    settings = settings_of(app)
    keys = [witnessing.log_signer(settings, slug).verifier()]
    keys += [witnessing.verifier_of(witness) for witness in settings.witnesses]
    note = notes.parse(answer.text)
    return [sig.name for sig, _key in notes.verified(note, keys)]


def test_each_new_checkpoint_is_cosigned_by_every_witness(app, client, worker, witnesses):
    witnesses.start("w1.example/a")
    witnesses.start("w2.example/b")
    witnesses.configure("w1.example/a", "w2.example/b")
    open_petition(app, "vote", threshold=100)
    confirm_members(app, client, "vote", 3, prefix="A")
    heads_signed(app)
    worker.run_pending()
    size = petition(app).log_size
    assert cosigned_sizes(app, "w1.example/a") == [size]
    assert cosigned_sizes(app, "w2.example/b") == [size]
    origin = witnessing.checkpoint_of(settings_of(app), "vote", witnessing_head(app)).origin
    assert checkpoint_signers(client, app) == [origin, "w1.example/a", "w2.example/b"]

    # More signatures, a new head: submitted with the proof from the size cosigned before.
    confirm_members(app, client, "vote", 2, prefix="B")
    heads_signed(app)
    worker.run_pending()
    grown = petition(app).log_size
    assert grown > size
    assert cosigned_sizes(app, "w1.example/a") == [size, grown]
    assert witnesses.state("w1.example/a").latest(origin)[0] == grown
    assert submission(app, "w2.example/b").done_at is not None


def witnessing_head(app):
    with Session(flask_db.engine_of(app)) as session:
        return store.latest_head(session, petition(app).id)


def test_a_witness_down_for_a_while_catches_up(app, client, worker, witnesses):
    witnesses.start("w1.example/a")
    witnesses.start("w2.example/b")
    witnesses.configure("w1.example/a", "w2.example/b")
    open_petition(app, "vote", threshold=100)
    confirm_members(app, client, "vote", 2, prefix="A")
    heads_signed(app)
    worker.run_pending()
    first = petition(app).log_size
    witnesses.stop("w2.example/b")

    for batch in ("B", "C", "D"):
        confirm_members(app, client, "vote", 2, prefix=batch)
        heads_signed(app)
        time_passes(app)
        worker.run_pending()
    down = submission(app, "w2.example/b")
    assert down.done_at is None
    assert down.last_error
    assert "could not connect to http://127.0.0.1:" in down.last_error
    assert down.next_attempt_at > utcnow()
    assert cosigned_sizes(app, "w2.example/b") == [first]
    with Session(flask_db.engine_of(app)) as session:
        late = {
            status.name: status
            for status in witnessing.statuses(
                session,
                petition(app),
                settings_of(app).replace(witness_stalled_after_seconds=1),
                now=utcnow().replace(year=utcnow().year + 1),
            )
        }
    assert late["w2.example/b"].stalled
    assert not late["w1.example/a"].stalled

    witnesses.start("w2.example/b")  # back, with the state it kept
    time_passes(app)
    worker.run_pending()
    size = petition(app).log_size
    assert cosigned_sizes(app, "w2.example/b") == [first, size]
    assert submission(app, "w2.example/b").done_at is not None
    assert submission(app, "w2.example/b").last_error is None
    origin = witnessing.checkpoint_of(settings_of(app), "vote", witnessing_head(app)).origin
    assert witnesses.state("w2.example/b").latest(origin)[0] == size


class _Scripted(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, content_type, body = self.server.answer(self.server.cosigner)
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args):
        pass


@contextmanager
def scripted_witness(answer):
    """A witness that answers every submission with ``answer(cosigner)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.cosigner = cosignatures.Cosigner("liar.example/w", Ed25519PrivateKey.generate())
    server.answer = answer
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


SOMEONE_ELSE = cosignatures.Cosigner("liar.example/w", Ed25519PrivateKey.generate())


@pytest.mark.parametrize(
    "answer",
    [
        lambda cosigner: (200, "text/plain", "not a cosignature at all\n"),
        # A well-formed cosignature, but of another checkpoint.
        lambda cosigner: (
            200,
            "text/plain",
            cosigner.cosign("other.example/log\n1\n" + "A" * 43 + "=\n", 1700000000).line(),
        ),
        # The right name, but not the configured key.
        lambda cosigner: (
            200,
            "text/plain",
            SOMEONE_ELSE.cosign("other.example/log\n1\n" + "A" * 43 + "=\n", 1).line(),
        ),
        lambda cosigner: (409, "text/x.tlog.size", "many\n"),
    ],
    ids=["garbage", "another-checkpoint", "another-key", "bad-409"],
)
def test_a_witness_answering_garbage_is_recorded_not_trusted(app, client, worker, answer):
    with scripted_witness(answer) as liar:
        configure(
            app,
            witnesses=(
                WitnessSetting(
                    "liar.example/w",
                    f"http://127.0.0.1:{liar.server_port}",
                    liar.cosigner.public_key,
                ),
            ),
        )
        open_petition(app, "vote", threshold=100)
        confirm_members(app, client, "vote", 2)
        heads_signed(app)
        worker.run_pending()
    row = submission(app, "liar.example/w")
    assert row.done_at is None
    assert row.rejected_answers == 1
    assert row.last_rejected_answer
    assert row.last_rejected_at is not None
    assert row.last_error
    assert cosigned_sizes(app, "liar.example/w") == []
    assert checkpoint_signers(client, app) == [
        witnessing.checkpoint_of(settings_of(app), "vote", witnessing_head(app)).origin
    ]


def test_without_witnesses_the_webhook_goes_at_once_without_a_checkpoint(app, client, worker):
    with Receiver(settings_of(app).ballot_webhook_secret) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        open_petition(app, "vote", threshold=2)
        confirm_members(app, client, "vote", 2)
        worker.run_pending()
        assert len(ballot.received) == 1
        assert "checkpoint" not in json.loads(ballot.received[0].body)["data"]


def test_a_webhook_with_k_2_waits_for_two_witnesses_and_goes_out_once(
    app, client, worker, witnesses
):
    witnesses.start("w1.example/a")
    witnesses.start("w2.example/b")
    witnesses.configure("w1.example/a", "w2.example/b")
    witnesses.stop("w2.example/b")
    with Receiver(settings_of(app).ballot_webhook_secret) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        open_petition(app, "vote", threshold=2, witnesses_required=2)
        confirm_members(app, client, "vote", 2)
        crossing = petition(app).log_size
        heads_signed(app)
        worker.run_pending()
        time_passes(app)
        worker.run_pending()
        assert ballot.received == []
        [waiting] = deliveries(app)
        assert waiting.awaiting_witnesses
        assert "waiting for 2 witness cosignatures" in waiting.last_error
        assert waiting.attempts == 0

        # A later signature grows the log; the second witness comes back and cosigns.
        confirm_members(app, client, "vote", 1, prefix="LATE")
        heads_signed(app)
        witnesses.start("w2.example/b")
        time_passes(app)
        worker.run_pending()
        assert len(ballot.received) == 1
        for _ in range(3):
            time_passes(app)
            worker.run_pending()
        assert len(ballot.received) == 1

    [delivery] = deliveries(app)
    assert delivery.outcome == "delivered"
    body = json.loads(ballot.received[0].body)
    assert body == json.loads(delivery.payload)
    data = body["data"]
    assert data["log"]["size"] == crossing  # every field kept as it was
    checkpoint = data["checkpoint"]
    assert checkpoint["size"] >= crossing
    assert checkpoint["witnesses"] == ["w1.example/a", "w2.example/b"]
    settings = settings_of(app)
    keys = [witnessing.log_signer(settings, "vote").verifier()]
    keys += [witnessing.verifier_of(witness) for witness in settings.witnesses]
    signed = notes.verified(notes.parse(checkpoint["note"]), keys)
    assert [sig.name for sig, _key in signed][1:] == ["w1.example/a", "w2.example/b"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_send_the_k_2_webhook_once(app, client, worker, witnesses):
    witnesses.start("w1.example/a")
    witnesses.start("w2.example/b")
    witnesses.configure("w1.example/a", "w2.example/b")
    with Receiver(settings_of(app).ballot_webhook_secret) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        open_petition(app, "vote", threshold=2, witnesses_required=2)
        confirm_members(app, client, "vote", 2)
        heads_signed(app)
        # The witnesses cosign; the webhook is not offered to anyone yet.
        engine = flask_db.engine_of(app)
        settings = settings_of(app)
        for row_id in _ids(app, WitnessSubmission):
            item = work.WorkItem(work.WorkKind.WITNESS_SUBMISSION, row_id, 0)
            assert handlers.perform(engine, settings, item)
        [delivery_id] = _ids(app, WebhookDelivery)
        item = work.WorkItem(work.WorkKind.WEBHOOK, delivery_id, 0)
        start = threading.Barrier(4)
        results = []

        def a_worker():
            start.wait()
            results.append(handlers.perform(engine, settings, item))

        threads = [threading.Thread(target=a_worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results.count(True) == 1
        time_passes(app)
        worker.run_pending()
        assert ballot.wait_for(1)
        assert len(ballot.received) == 1
        assert json.loads(ballot.received[0].body)["data"]["checkpoint"]["witnesses"] == [
            "w1.example/a",
            "w2.example/b",
        ]


def _ids(app, model) -> list[int]:
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(model.id).order_by(model.id)).all())


def test_the_checkpoint_page_refuses_what_it_cannot_show(app, client):
    assert client.get("/p/nothing/log/checkpoint").status_code == 404
    open_petition(app, "vote", threshold=5)
    assert client.get("/p/vote/log/checkpoint").status_code == 404
    confirm_members(app, client, "vote", 1)
    heads_signed(app)
    assert client.get("/p/vote/log/checkpoint?size=abc").status_code == 400
    assert client.get("/p/vote/log/checkpoint?size=999").status_code == 404
    size = petition(app).log_size
    answer = client.get(f"/p/vote/log/checkpoint?size={size}")
    assert answer.status_code == 200
    assert answer.text.split("\n")[1] == str(size)
    assert client.get(f"/p/vote/log/checkpoint?size={size}").text == answer.text


def test_a_down_witness_is_not_asked_at_every_new_head(app, client, worker):
    configure(
        app,
        witnesses=(WitnessSetting("w.example/down", f"http://127.0.0.1:{free_port()}", bytes(32)),),
    )
    open_petition(app, "vote", threshold=100)
    confirm_members(app, client, "vote", 1, prefix="A")
    heads_signed(app)
    worker.run_pending()
    waiting = submission(app, "w.example/down")
    confirm_members(app, client, "vote", 1, prefix="B")
    heads_signed(app)
    assert submission(app, "w.example/down").next_attempt_at == waiting.next_attempt_at

"""The witness (c2sp.org/tlog-witness), served on a loopback port: it cosigns a log's checkpoints
while they stay consistent, and refuses, with the evidence kept, a split view or a rewritten
history."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petitions.transparency import checkpoints, cosignatures, merkle, notes
from petitions.transparency import witness as witness_state
from petitions.web import witness_app

ORIGIN = "127.0.0.1:5000/p/demo/log"


class Log:
    """A log kept in memory and signed as the service signs its checkpoints."""

    def __init__(self, key: Ed25519PrivateKey, leaves: list[bytes]):
        self.tree = merkle.MemoryTree(leaves)
        self.signer = notes.Ed25519Signer(ORIGIN, key)

    def note(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        root = merkle.root(self.tree.get_node, size)
        return checkpoints.signed(checkpoints.Checkpoint(ORIGIN, size, root), self.signer).encode()

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        return merkle.consistency_proof(self.tree.get_node, old, new)

    def body(self, old: int, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return witness_state.encode_request(old, self.proof(old, size), self.note(size))


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def served(tmp_path, log_key):
    cosigner = cosignatures.Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
    state = witness_state.State(tmp_path / "witness.db")
    log_verifier = notes.Ed25519Verifier(ORIGIN, notes.raw_public_key(log_key.public_key()))
    server = witness_app.Server(witness_state.Witness(cosigner, [log_verifier], state)).start()
    yield server, cosigner, state
    server.stop()


def post(server, body: bytes) -> requests.Response:
    return requests.post(f"{server.url}/add-checkpoint", data=body, timeout=5)


def leaves(count: int, tag: str = "a") -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(count)]


def test_consistent_checkpoints_are_cosigned(served, log_key):
    server, cosigner, state = served
    log = Log(log_key, leaves(5))
    first = post(server, log.body(0))
    assert first.status_code == 200
    line = notes.parse_signature_line(first.text.rstrip("\n"))
    assert cosigner.verifier().verify(notes.parse(log.note()).text.encode(), line.signature)
    for i in range(5, 12):
        log.tree.append(f"a-{i}".encode())
    second = post(server, log.body(5))
    assert second.status_code == 200
    assert state.latest(ORIGIN)[0] == 12


def test_a_stale_old_size_gets_409_with_the_size_cosigned(served, log_key):
    server, _cosigner, _state = served
    log = Log(log_key, leaves(5))
    assert post(server, log.body(0)).status_code == 200
    log.tree.append(b"a-5")
    answer = post(server, log.body(0))
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "text/x.tlog.size"
    assert answer.text == "5\n"


def test_split_view_two_logs_of_the_same_size_is_refused(served, log_key):
    server, _cosigner, state = served
    honest = Log(log_key, leaves(8, "a"))
    other = Log(log_key, leaves(8, "b"))  # the same size, the same key, another history
    assert post(server, honest.body(0)).status_code == 200
    refused = post(server, other.body(8))
    assert refused.status_code == 409
    assert "different root hash" in refused.text
    assert state.latest(ORIGIN)[1] == honest.tree.root()
    [evidence] = state.refusals(ORIGIN)
    assert evidence.cosigned_note == honest.note()
    assert other.note() in evidence.request


def test_split_view_rewritten_history_is_refused(served, log_key):
    server, _cosigner, state = served
    honest = Log(log_key, leaves(6, "a"))
    assert post(server, honest.body(0)).status_code == 200
    # The same first five entries, then a rewritten sixth and more: no proof can link them.
    rewritten = Log(log_key, [*leaves(5, "a"), b"rewritten", *leaves(4, "c")])
    body = witness_state.encode_request(6, rewritten.proof(6, 10), rewritten.note())
    refused = post(server, body)
    assert refused.status_code == 422
    assert state.latest(ORIGIN)[0] == 6
    assert "consistency proof" in state.refusals(ORIGIN)[0].reason


def test_unknown_logs_bad_signatures_and_garbage_are_refused(served, log_key):
    server, _cosigner, state = served
    stranger = Log(Ed25519PrivateKey.generate(), leaves(3))
    assert post(server, stranger.body(0)).status_code == 403
    other_origin = notes.Ed25519Signer("elsewhere.example/log", log_key)
    text = checkpoints.Checkpoint("elsewhere.example/log", 1, bytes(32)).text()
    note = notes.sign(text, [other_origin]).encode()
    assert post(server, witness_state.encode_request(0, [], note)).status_code == 404
    honest = Log(log_key, leaves(3))
    too_old = witness_state.encode_request(4, [], honest.note())
    assert post(server, too_old).status_code == 400
    for garbage in (b"", b"hello", b"old 01\n\n" + honest.note().encode(), b"\xff\xfe"):
        assert post(server, garbage).status_code == 400
    assert requests.get(f"{server.url}/add-checkpoint", timeout=5).status_code == 405
    assert state.latest(ORIGIN) is None


def test_the_witness_runs_alone_from_its_console_script(tmp_path, log_key):
    log = Log(log_key, leaves(4))
    script = Path(sys.executable).with_name("petitions-witness")
    command = [
        str(script),
        "serve",
        "--key",
        str(tmp_path / "witness.key"),
        "--name",
        "witness.example/alone",
        "--state",
        str(tmp_path / "state.db"),
        "--log",
        log.signer.verifier().vkey(),
        "--port",
        "0",
    ]
    # No DATABASE_URL, no instance folder: the witness needs nothing of the service.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            vkey = process.stdout.readline().split()[1]
            url = None
            deadline = time.monotonic() + 20
            while url is None and time.monotonic() < deadline:
                found = re.search(r"serving on (\S+)/add-checkpoint", process.stderr.readline())
                url = found.group(1) if found else None
            answer = requests.post(f"{url}/add-checkpoint", data=log.body(0), timeout=5)
            assert answer.status_code == 200
            verifier = cosignatures.CosignatureVerifier.from_vkey(vkey)
            line = notes.parse_signature_line(answer.text.rstrip("\n"))
            assert verifier.verify(notes.parse(log.note()).text.encode(), line.signature)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert not (tmp_path / "instance").exists()

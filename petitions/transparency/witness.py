"""A witness (C2SP tlog-witness): it cosigns a log's checkpoint only when the checkpoint is
signed by the log's key and is consistent with the last one it cosigned for that log.

A scrutineer runs it on their own machine (``petitions-witness serve``, or ``flask witness
serve``) with its own key and a state file: a SQLite database holding, per log origin, the
latest checkpoint cosigned, and every refused submission that could be evidence of a log
showing different histories to different people (README, "Witnesses and checkpoints"). It needs
nothing of the service's database.
"""

import base64
import binascii
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from petitions.transparency import checkpoints, cosignatures, merkle, notes

SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
# The protocol allows at most 63 proof lines: a consistency proof in a tree of 2**63 leaves.
MAX_PROOF_LINES = 63
MAX_BODY = 64 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refusal (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    cosigned_size INTEGER,
    cosigned_note TEXT,
    request TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class Refusal:
    """A submission the witness refused that may be evidence against the log."""

    received_at: str
    origin: str
    reason: str
    cosigned_size: int | None
    cosigned_note: str | None
    request: str


class BadRequest(ValueError):
    """A request body that is not an add-checkpoint request."""


@dataclass(frozen=True)
class Request:
    """A parsed add-checkpoint body: old size, consistency proof and the checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def parse_request(body: bytes) -> Request:
    """Read an add-checkpoint body; BadRequest when it is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise BadRequest("the body needs an empty line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    number = first[4:] if first.startswith("old ") else ""
    if not (number.isascii() and number.isdigit()) or (len(number) > 1 and number[0] == "0"):
        raise BadRequest("the first line must be 'old <size>', in decimal without leading zeroes")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"at most {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except (ValueError, binascii.Error):
            raise BadRequest("each proof line is one hash in base64") from None
        if len(value) != merkle.HASH_SIZE:
            raise BadRequest("each proof line is a 32-byte hash")
        proof.append(value)
    return Request(int(number), tuple(proof), note)


def encode_request(old_size: int, proof: Iterable[bytes], note: str) -> bytes:
    """The add-checkpoint body for ``note`` with the proof from ``old_size``."""
    lines = [f"old {old_size}", *(base64.b64encode(node).decode() for node in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


class State:
    """The witness's memory, in a SQLite file: safe for several threads and processes, since
    every check-and-update runs in one immediate (write-locked) transaction."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 30000")
        return db

    def transaction(self) -> sqlite3.Connection:
        """A connection inside BEGIN IMMEDIATE; the caller commits or rolls back and closes."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        return db

    def latest(self, origin: str) -> tuple[int, bytes, str] | None:
        """(size, root hash, note) of the checkpoint last cosigned for ``origin``."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT size, root_hash, note FROM latest WHERE origin = ?", (origin,)
            ).fetchone()
        return (row[0], bytes(row[1]), row[2]) if row else None

    def refusals(self, origin: str | None = None) -> list[Refusal]:
        """Every refused submission kept as evidence, oldest first."""
        query = (
            "SELECT received_at, origin, reason, cosigned_size, cosigned_note, request FROM refusal"
        )
        arguments: tuple = ()
        if origin is not None:
            query += " WHERE origin = ?"
            arguments = (origin,)
        with closing(self._connect()) as db:
            rows = db.execute(query + " ORDER BY id", arguments).fetchall()
        return [Refusal(*row) for row in rows]


class Witness:
    """Answers add-checkpoint requests for the logs it is configured with."""

    def __init__(
        self,
        cosigner: cosignatures.Cosigner,
        logs: Iterable[notes.Ed25519Verifier],
        state: State,
        clock: Callable[[], float] = time.time,
    ):
        self.cosigner = cosigner
        self.state = state
        self.clock = clock
        self.logs: dict[str, list[notes.Ed25519Verifier]] = {}
        for key in logs:
            self.logs.setdefault(key.name, []).append(key)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Check a submission as c2sp.org/tlog-witness says and cosign it, or say why not."""
        if len(body) > MAX_BODY:
            return _text(413, "the request is too large")
        try:
            request = parse_request(body)
            note = notes.parse(request.note)
            checkpoint = checkpoints.parse(note.text)
        except (BadRequest, notes.NoteError, checkpoints.CheckpointError) as exc:
            return _text(400, str(exc))
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return _text(404, f"this witness does not know the log {checkpoint.origin}")
        try:
            trusted = notes.verified(note, keys)
        except notes.NoteError as exc:
            return _text(403, str(exc))
        if not trusted:
            return _text(403, "no signature on the checkpoint is from the log's key")
        if request.old_size > checkpoint.size:
            return _text(400, "the old size is larger than the checkpoint's")
        if request.old_size == 0 and request.proof:
            return _text(400, "a consistency proof from size 0 must be empty")
        return self._check_and_cosign(request, note, checkpoint)

    def _check_and_cosign(
        self, request: Request, note: notes.Note, checkpoint: checkpoints.Checkpoint
    ) -> Answer:
        db = self.state.transaction()
        try:
            row = db.execute(
                "SELECT size, root_hash, note FROM latest WHERE origin = ?",
                (checkpoint.origin,),
            ).fetchone()
            size, root, kept = (row[0], bytes(row[1]), row[2]) if row else (0, None, None)
            refusal = None
            if request.old_size != size:
                db.execute("ROLLBACK")
                return Answer(409, SIZE_TYPE, f"{size}\n")
            if checkpoint.size == size and size > 0:
                if checkpoint.root_hash != root:
                    refusal = (409, "a different root hash for a size already cosigned")
            elif size > 0 and not merkle.verify_consistency(
                size, checkpoint.size, root, checkpoint.root_hash, list(request.proof)
            ):
                refusal = (422, "the consistency proof from the size cosigned does not verify")
            if refusal is not None:
                status, reason = refusal
                db.execute(
                    "INSERT INTO refusal (received_at, origin, reason, cosigned_size, "
                    "cosigned_note, request) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        datetime.now(UTC).isoformat(timespec="seconds"),
                        checkpoint.origin,
                        reason,
                        size,
                        kept,
                        encode_request(request.old_size, request.proof, note.encode()).decode(),
                    ),
                )
                db.execute("COMMIT")
                return _text(status, reason)
            timestamp = int(self.clock())
            signature = self.cosigner.cosign(note.text, timestamp)
            db.execute(
                "INSERT INTO latest (origin, size, root_hash, note, cosigned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
                "root_hash = excluded.root_hash, note = excluded.note, "
                "cosigned_at = excluded.cosigned_at",
                (
                    checkpoint.origin,
                    checkpoint.size,
                    checkpoint.root_hash,
                    note.encode(),
                    timestamp,
                ),
            )
            db.execute("COMMIT")
            return Answer(200, TEXT_TYPE, signature.line())
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()


def _text(status: int, message: str) -> Answer:
    return Answer(status, TEXT_TYPE, message + "\n")


def load_logs(values: Iterable[str]) -> list[notes.Ed25519Verifier]:
    """Log keys from verifier key strings (``origin+keyid+base64(0x01 || key)``); NoteError for
    a bad one."""
    keys = []
    for value in values:
        key = notes.parse_vkey(value)
        if key.signature_type != notes.ED25519:
            raise notes.NoteError(f"the log key of {key.name} is not an Ed25519 note key (0x01)")
        keys.append(notes.Ed25519Verifier(key.name, key.public_key))
    return keys

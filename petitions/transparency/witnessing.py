"""The service's side of witnessing: each signed head as a checkpoint, submitted to every
configured witness (WITNESSES) with the consistency proof from the size that witness last
cosigned, and the witnesses' cosignatures kept and served with the checkpoint.

A submission is outbox work (one row per petition and witness, reopened at every new head), so
a witness that is down is retried with growing delays and catches up from the size it last
cosigned. An answer that is not a valid cosignature by the configured key is recorded on the
row, counted, and never stored as a cosignature.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, select, update
from sqlmodel import Session

from petitions.config import Settings, WitnessSetting
from petitions.db.engine import utcnow
from petitions.db.models import (
    Petition,
    ThresholdEvent,
    TreeHead,
    WebhookDelivery,
    WitnessCosignature,
    WitnessSubmission,
)
from petitions.transparency import checkpoints, cosignatures, notes, store
from petitions.transparency import witness as protocol

CONNECT_TIMEOUT = 5
TIMEOUT = 15
ANSWER_KEPT = 2000
USER_AGENT = "petitions-witness-client/1"
# How many 409 answers one try follows (each names the size to send the proof from).
MAX_RESENDS = 2


class SubmissionFailed(Exception):
    """The witness did not cosign this time; the submission is tried again later."""


def log_signer(settings: Settings, slug: str) -> notes.Ed25519Signer:
    """The signer of a petition's checkpoints."""
    return checkpoints.log_signer(store.signing_key(settings), settings.base_url, slug)


def log_vkey(settings: Settings, slug: str) -> str:
    """The verifier key a witness is configured with for a petition's log."""
    return log_signer(settings, slug).verifier().vkey()


def checkpoint_of(settings: Settings, slug: str, head: store.Head) -> checkpoints.Checkpoint:
    """The checkpoint stating ``head``."""
    origin = checkpoints.origin(settings.base_url, slug)
    return checkpoints.Checkpoint(origin, head.size, bytes.fromhex(head.root_hash))


def signed_checkpoint(settings: Settings, slug: str, head: store.Head) -> notes.Note:
    """``head`` as a checkpoint signed by the log key (made again, identical, on each call)."""
    return checkpoints.signed(checkpoint_of(settings, slug, head), log_signer(settings, slug))


def verifier_of(witness: WitnessSetting) -> cosignatures.CosignatureVerifier:
    """The cosignature verifier of a configured witness."""
    return cosignatures.CosignatureVerifier(witness.name, witness.public_key)


def valid_cosignatures(
    session: Session, petition: Petition, settings: Settings, head: store.Head
) -> list[tuple[str, notes.Signature, int]]:
    """(witness name, signature line, timestamp) of every stored cosignature of ``head`` that
    verifies against the witness keys configured now, in WITNESSES order."""
    rows = session.scalars(
        select(WitnessCosignature).where(
            WitnessCosignature.petition_id == petition.id,
            WitnessCosignature.size == head.size,
            WitnessCosignature.root_hash == head.root_hash,
        )
    ).all()
    by_name = {row.witness: row for row in rows}
    text = checkpoint_of(settings, petition.slug, head).text().encode()
    found = []
    for witness in settings.witnesses:
        row = by_name.get(witness.name)
        if row is None:
            continue
        try:
            line = notes.parse_signature_line(row.line.rstrip("\n"))
        except notes.NoteError:
            continue
        verifier = verifier_of(witness)
        timestamp = (
            verifier.timestamp(text, line.signature) if line.key_id == verifier.key_id else None
        )
        if timestamp is not None and line.name == witness.name:
            found.append((witness.name, line, timestamp))
    return found


def served_note(
    session: Session, petition: Petition, settings: Settings, head: store.Head
) -> tuple[str, list[str]]:
    """The checkpoint of ``head`` with the log's signature and every valid cosignature, and
    the names of the witnesses that cosigned it."""
    note = signed_checkpoint(settings, petition.slug, head)
    cosigned = valid_cosignatures(session, petition, settings, head)
    signatures = note.signatures + tuple(line for _name, line, _time in cosigned)
    return notes.Note(note.text, signatures).encode(), [name for name, _line, _time in cosigned]


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint carrying at least the cosignatures asked for."""

    head: store.Head
    note: str
    witnesses: list[str]

    def as_json(self) -> dict:
        """The checkpoint as the threshold webhook carries it."""
        return {
            "size": self.head.size,
            "root_hash": self.head.root_hash,
            "note": self.note,
            "witnesses": self.witnesses,
        }


def cosigned_checkpoint(
    session: Session, petition: Petition, settings: Settings, min_size: int, required: int
) -> Cosigned | None:
    """The smallest signed head of at least ``min_size`` leaves with ``required`` valid
    cosignatures from configured witnesses, as a note carrying them; None while there is none."""
    names = [witness.name for witness in settings.witnesses]
    if required > len(names):
        return None
    sizes = session.scalars(
        select(WitnessCosignature.size)
        .where(
            WitnessCosignature.petition_id == petition.id,
            WitnessCosignature.size >= min_size,
            WitnessCosignature.witness.in_(names),
        )
        .group_by(WitnessCosignature.size)
        .having(func.count() >= required)
        .order_by(WitnessCosignature.size)
    ).all()
    for size in sizes:
        head = store.head_at(session, petition.id, size)
        if head is None:
            continue
        note, witnesses = served_note(session, petition, settings, head)
        if len(witnesses) >= required:
            return Cosigned(head, note, witnesses)
    return None


def witness_named(settings: Settings, name: str) -> WitnessSetting | None:
    """The configured witness called ``name``."""
    return next((witness for witness in settings.witnesses if witness.name == name), None)


def _post(url: str, body: bytes) -> requests.Response:
    return requests.post(
        f"{url.rstrip('/')}/add-checkpoint",
        data=body,
        headers={"content-type": "text/plain; charset=utf-8", "user-agent": USER_AGENT},
        timeout=(CONNECT_TIMEOUT, TIMEOUT),
        allow_redirects=False,
    )


def submit(engine, settings: Settings, submission_id: int) -> None:
    """Have the newest head of the submission's petition cosigned by its witness; raise
    SubmissionFailed for a try to be made again later."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(WitnessSubmission, submission_id)
        if row is None or row.done_at is not None:
            return
        witness = witness_named(settings, row.witness)
        petition = session.get(Petition, row.petition_id)
        head = store.latest_head(session, row.petition_id)
        old = row.witness_size
    if witness is None or head is None:
        _finish(engine, submission_id, None, None)
        return
    note = signed_checkpoint(settings, petition.slug, head)
    for _round in range(MAX_RESENDS + 1):
        if old > head.size:
            raise SubmissionFailed(
                f"the witness says it cosigned {old} entries, more than the {head.size} "
                "of the newest head"
            )
        with Session(engine) as session:
            proof = (
                store.consistency_proof(session, petition, old, head.size)
                if 0 < old < head.size
                else []
            )
        try:
            answer = _post(witness.url, protocol.encode_request(old, proof, note.encode()))
        except requests.Timeout:
            raise SubmissionFailed(f"no answer from {witness.url} within {TIMEOUT} s") from None
        except requests.ConnectionError:
            raise SubmissionFailed(f"could not connect to {witness.url}") from None
        except requests.RequestException as exc:
            raise SubmissionFailed(f"{type(exc).__name__}: {exc}"[:ANSWER_KEPT]) from None
        if answer.status_code == 409 and answer.headers.get("content-type", "").startswith(
            protocol.SIZE_TYPE
        ):
            reported = _reported_size(answer.text)
            if reported is None:
                _reject(engine, submission_id, answer)
                raise SubmissionFailed("the witness's 409 answer did not state a tree size")
            if reported == old:
                raise SubmissionFailed(
                    f"the witness refuses: it cosigned another tree of {old} entries"
                )
            _set_witness_size(engine, submission_id, reported)
            old = reported
            continue
        if answer.status_code == 409:
            raise SubmissionFailed(
                "the witness refuses this checkpoint: it conflicts with one it cosigned "
                f"({answer.text.strip()[:200]})"
            )
        if answer.status_code != 200:
            raise SubmissionFailed(f"HTTP {answer.status_code}: {answer.text.strip()[:200]}")
        cosignature = _cosignature_in(answer.text, note.text, witness)
        if cosignature is None:
            _reject(engine, submission_id, answer)
            raise SubmissionFailed("the answer was not a valid cosignature by the witness key")
        line, timestamp = cosignature
        _finish(engine, submission_id, head, (petition.id, line, timestamp))
        return
    raise SubmissionFailed("the witness kept naming other sizes to send the proof from")


def _reported_size(text: str) -> int | None:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    return int(value)


def _cosignature_in(
    answer: str, text: str, witness: WitnessSetting
) -> tuple[notes.Signature, int] | None:
    """The witness's valid cosignature among the answer's signature lines, if there is one."""
    verifier = verifier_of(witness)
    for raw in answer.split("\n"):
        if not raw:
            continue
        try:
            line = notes.parse_signature_line(raw)
        except notes.NoteError:
            continue
        if line.name != witness.name or line.key_id != verifier.key_id:
            continue
        timestamp = verifier.timestamp(text.encode(), line.signature)
        if timestamp is not None:
            return line, timestamp
    return None


def _reject(engine, submission_id: int, answer: requests.Response) -> None:
    shown = f"HTTP {answer.status_code} {answer.headers.get('content-type', '')}\n{answer.text}"
    with Session(engine) as session, session.begin():
        row = session.get(WitnessSubmission, submission_id, with_for_update=True)
        row.rejected_answers += 1
        row.last_rejected_answer = shown[:ANSWER_KEPT]
        row.last_rejected_at = utcnow()


def _set_witness_size(engine, submission_id: int, size: int) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(WitnessSubmission, submission_id, with_for_update=True)
        row.witness_size = size


def _finish(
    engine,
    submission_id: int,
    head: store.Head | None,
    cosignature: tuple[int, notes.Signature, int] | None,
) -> None:
    """Record a cosignature, then mark the submission done unless a newer head has been
    signed meanwhile (then it is due again at once)."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        row = session.get(WitnessSubmission, submission_id, with_for_update=True)
        if head is not None and cosignature is not None:
            petition_id, line, timestamp = cosignature
            _store_cosignature(session, petition_id, row.witness, head, line, timestamp, now)
            row.witness_size = row.cosigned_size = head.size
            row.cosigned_at = now
            row.last_error = None
            _wake_waiting_webhooks(session, petition_id, now)
        newest = session.scalar(
            select(func.max(TreeHead.size)).where(TreeHead.petition_id == row.petition_id)
        )
        row.leased_until = None
        if head is not None and newest is not None and newest > head.size:
            row.next_attempt_at = now
        else:
            row.done_at = now


def _store_cosignature(
    session: Session,
    petition_id: int,
    witness: str,
    head: store.Head,
    line: notes.Signature,
    timestamp: int,
    now: datetime,
) -> None:
    existing = session.scalars(
        select(WitnessCosignature).where(
            WitnessCosignature.petition_id == petition_id,
            WitnessCosignature.witness == witness,
            WitnessCosignature.size == head.size,
        )
    ).first()
    row = existing or WitnessCosignature(
        petition_id=petition_id, witness=witness, size=head.size, root_hash=head.root_hash
    )
    row.root_hash = head.root_hash
    row.line = line.line()
    row.signed_at = datetime.fromtimestamp(timestamp, UTC)
    row.received_at = now
    session.add(row)


def _wake_waiting_webhooks(session: Session, petition_id: int, now: datetime) -> None:
    """A threshold webhook waiting for cosignatures is looked at again now."""
    events = select(ThresholdEvent.id).where(ThresholdEvent.petition_id == petition_id)
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.event_id.in_(events),
            WebhookDelivery.awaiting_witnesses.is_(True),
            WebhookDelivery.done_at.is_(None),
        )
        .values(next_attempt_at=now)
    )


@dataclass(frozen=True)
class WitnessStatus:
    """How one witness stands with one petition's log, for the dashboard and results page."""

    name: str
    url: str
    cosigned_size: int
    cosigned_at: datetime | None
    log_size: int
    stalled: bool
    last_error: str | None
    rejected_answers: int
    last_rejected_at: datetime | None


def statuses(
    session: Session, petition: Petition, settings: Settings, now: datetime | None = None
) -> list[WitnessStatus]:
    """Every configured witness's standing with ``petition``'s log. A witness is stalled when
    the oldest head it has not cosigned was signed more than WITNESS_STALLED_AFTER_SECONDS ago."""
    now = now or utcnow()
    rows = {
        row.witness: row
        for row in session.scalars(
            select(WitnessSubmission).where(WitnessSubmission.petition_id == petition.id)
        )
    }
    newest = store.latest_head(session, petition.id)
    log_size = newest.size if newest is not None else 0
    limit = now - timedelta(seconds=settings.witness_stalled_after_seconds)
    found = []
    for witness in settings.witnesses:
        row = rows.get(witness.name)
        cosigned = row.cosigned_size if row is not None else 0
        waiting_since = session.scalar(
            select(func.min(TreeHead.timestamp)).where(
                TreeHead.petition_id == petition.id, TreeHead.size > cosigned
            )
        )
        found.append(
            WitnessStatus(
                name=witness.name,
                url=witness.url,
                cosigned_size=cosigned,
                cosigned_at=row.cosigned_at if row is not None else None,
                log_size=log_size,
                stalled=waiting_since is not None and waiting_since < limit,
                last_error=(
                    row.last_error.removeprefix(f"{SubmissionFailed.__name__}: ")
                    if row is not None and row.done_at is None and row.last_error
                    else None
                ),
                rejected_answers=row.rejected_answers if row is not None else 0,
                last_rejected_at=row.last_rejected_at if row is not None else None,
            )
        )
    return found

"""Checking a petition's log offline, trusting nothing the server says about it: every head's
signature, every head's root against the leaves (so successive heads are consistent), the leaves'
form and order, no member counted twice, and the count the petition reports."""

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from petitions.transparency import checkpoints, cosignatures, merkle, notes, roll_commitment
from petitions.transparency import leaves as log_leaves
from petitions.transparency.store import head_message


@dataclass
class Report:
    """What verification found; ``problems`` empty means the log checks out."""

    leaves: int = 0
    heads: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    counted: int = 0
    reported: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Each generation of the committed roll found in the log: its leaf's fields, by generation.
    roll_commitments: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def _check_signatures(slug: str, public_key: str, heads: list[dict], report: Report) -> None:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
    except ValueError:
        report.problems.append("the public key is not a base64 Ed25519 key")
        return
    for head in heads:
        try:
            message = head_message(slug, head["size"], head["root_hash"], head["timestamp"])
            key.verify(base64.b64decode(head["signature"], validate=True), message)
        except (InvalidSignature, ValueError, KeyError, TypeError):
            report.problems.append(
                f"the head of size {head.get('size')} does not carry a valid signature"
            )


def _check_checkpoints(header: dict, heads: list[dict], report: Report) -> None:
    """Each checkpoint must be signed by the log key under the log's origin, state a signed
    head, and carry only valid cosignatures from the witnesses named."""
    notes_given = header.get("checkpoints") or []
    if not notes_given:
        return
    origin = header.get("checkpoint_origin", "")
    try:
        log_key = notes.Ed25519Verifier(
            origin, base64.b64decode(header.get("public_key", ""), validate=True)
        )
        witnesses = [
            cosignatures.CosignatureVerifier.from_vkey(vkey)
            for vkey in header.get("witnesses") or []
        ]
    except (ValueError, notes.NoteError) as exc:
        report.problems.append(f"the checkpoints' origin or keys are malformed: {exc}")
        return
    roots = {head.get("size"): head.get("root_hash") for head in heads}
    for number, message in enumerate(notes_given, start=1):
        try:
            note, checkpoint = checkpoints.open_checkpoint(message, [log_key])
            signed = notes.verified(note, [log_key, *witnesses])
        except ValueError as exc:
            report.problems.append(f"checkpoint {number} does not check out: {exc}")
            continue
        if checkpoint.origin != origin:
            report.problems.append(f"checkpoint {number} names another log, {checkpoint.origin}")
        elif roots.get(checkpoint.size) != checkpoint.root_hash.hex():
            report.problems.append(
                f"checkpoint {number} (size {checkpoint.size}) does not match the signed head "
                "of that size"
            )
        report.checkpoints += 1
        report.cosignatures += len(signed) - 1


def verify(header: dict, leaves: Iterable[tuple[int, bytes]], extra_heads=()) -> Report:
    """Verify a log given as an evidence pack's header and its (index, leaf bytes) in order.

    ``extra_heads`` are heads obtained elsewhere (the threshold webhook's, a signer's saved
    one): they must fit the same history.
    """
    report = Report()
    petition = header.get("petition") or {}
    slug = petition.get("slug", "")
    heads = sorted([*header.get("heads", []), *extra_heads], key=lambda head: head.get("size", -1))
    report.heads = len(heads)
    _check_signatures(slug, header.get("public_key", ""), heads, report)
    _check_checkpoints(header, header.get("heads", []), report)
    by_size: dict[int, list[dict]] = {}
    for head in heads:
        by_size.setdefault(head.get("size"), []).append(head)
    previous_time = ""
    for head in heads:
        if head.get("timestamp", "") < previous_time:
            report.problems.append(f"the head of size {head['size']} is dated before a smaller one")
        previous_time = max(previous_time, head.get("timestamp", ""))

    frontier = merkle.Frontier()
    active: dict[bytes, int] = {}  # commitment digest -> leaf index of its counted signature
    signature_leaves: dict[int, bytes] = {}  # leaf index -> commitment digest, while counted
    expected = 0
    for index, data in leaves:
        if index != expected:
            report.problems.append(
                f"leaf {expected} is missing (the next leaf is numbered {index})"
            )
            expected = index
        try:
            fields = log_leaves.decode(data)
        except ValueError as exc:
            report.problems.append(f"leaf {index} is malformed: {exc}")
            fields = None
        if fields is not None:
            if fields["index"] != index:
                report.problems.append(f"leaf {index} says it is leaf {fields['index']}")
            if fields["type"] == "roll_commitment":
                _check_roll_commitment(slug, header.get("public_key", ""), fields, report)
            else:
                _count(fields, index, active, signature_leaves, report)
        frontier.add(merkle.leaf_hash(data))
        expected += 1
        for head in by_size.get(expected, ()):
            _check_root(head, frontier.root(), report)
    report.leaves = expected
    for size, at_size in by_size.items():
        if size is None or size > expected or size < 0:
            for head in at_size:
                report.problems.append(
                    f"a head signs {head.get('size')} leaves but the log has {expected}"
                )
        elif size == 0:
            for head in at_size:
                _check_root(head, merkle.EMPTY_ROOT, report)
    newest = max((head.get("size", 0) for head in heads), default=0)
    if newest < expected:
        report.notes.append(
            f"{expected - newest} leaves are newer than the newest signed head (size {newest})"
        )
    _check_published_commitments(header.get("roll_commitments") or [], report)
    report.counted = len(active)
    report.reported = petition.get("count")
    if report.reported is not None and report.reported != report.counted:
        report.problems.append(
            f"the petition reports {report.reported} signatures but the log counts {report.counted}"
        )
    return report


def _check_roll_commitment(slug: str, public_key: str, fields: dict, report: Report) -> None:
    """A committed roll's leaf: signed by the log's key, generations in order from 1, and a
    re-commit's previous count the count of the generation it replaces."""
    index = fields["index"]
    statement = {k: v for k, v in fields.items() if k not in ("index", "signature")}
    if not roll_commitment.check_signature(public_key, slug, statement, fields["signature"]):
        report.problems.append(f"leaf {index} (roll commitment) does not carry a valid signature")
    previous = report.roll_commitments[-1] if report.roll_commitments else None
    expected = previous["generation"] + 1 if previous else 1
    if fields["generation"] != expected:
        report.problems.append(
            f"leaf {index} commits roll generation {fields['generation']}, expected {expected}"
        )
    if fields.get("previous_count") != (previous["count"] if previous else None):
        report.problems.append(
            f"leaf {index} (roll commitment) gives the previous count as "
            f"{fields.get('previous_count')}, but the generation it replaces counted "
            f"{previous['count'] if previous else 'nothing'}"
        )
    report.roll_commitments.append(fields)


def _check_published_commitments(published: list, report: Report) -> None:
    """The committed rolls the header publishes must be exactly those of the log's leaves."""
    in_log = {fields["index"]: fields for fields in report.roll_commitments}
    named = set()
    for entry in published:
        if not isinstance(entry, dict):
            report.problems.append("the header lists a committed roll that is not an object")
            continue
        at = entry.get("leaf_index")
        named.add(at)
        leaf = in_log.get(at)
        expected = {k: v for k, v in (leaf or {}).items() if k != "index"}
        given = {k: v for k, v in entry.items() if k != "leaf_index"}
        if leaf is None or given != expected:
            report.problems.append(
                f"the header's committed roll generation {entry.get('generation')} does not "
                f"match the log's leaf {at}"
            )
    for index in sorted(set(in_log) - named):
        report.problems.append(
            f"leaf {index} commits a roll (generation {in_log[index]['generation']}) that the "
            "header does not list"
        )
    if report.roll_commitments:
        first = report.roll_commitments[0]
        where = "the log's first entry" if first["index"] == 0 else f"leaf {first['index']}"
        report.notes.append(
            f"the roll was committed at {where} ({first['count']} eligible members); "
            f"{len(report.roll_commitments)} generation(s), the newest counting "
            f"{report.roll_commitments[-1]['count']}"
        )
    else:
        report.notes.append(
            "the log holds no committed roll: this petition opened before rolls were committed"
        )


def _check_root(head: dict, root: bytes, report: Report) -> None:
    if head.get("root_hash") != root.hex():
        report.problems.append(
            f"the head of size {head['size']} signs root {head.get('root_hash')} but the leaves "
            f"give {root.hex()}: the history was changed, or the head belongs to another history"
        )


def _count(fields: dict, index: int, active: dict, signature_leaves: dict, report: Report) -> None:
    digest = hashlib.sha256(fields["commitment"].encode()).digest()
    if fields["type"] == "signature":
        if digest in active:
            report.problems.append(
                f"leaf {index} counts commitment {fields['commitment'][:16]}... again "
                f"(already counted at leaf {active[digest]})"
            )
            return
        active[digest] = index
        signature_leaves[index] = digest
        return
    cancels = fields["cancels"]
    if signature_leaves.get(cancels) != digest:
        report.problems.append(
            f"leaf {index} ({fields['type']}) cancels leaf {cancels}, which is not a counted "
            "signature of the same member"
        )
        return
    del signature_leaves[cancels]
    del active[digest]

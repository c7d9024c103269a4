"""Checking a petition's log offline, trusting nothing the server says about it: every head's
signature, every head's root against the leaves (so successive heads are consistent), the leaves'
form and order, no member counted twice, and the count the petition reports."""

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from petitions.transparency import checkpoints, cosignatures, merkle, notes
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

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


class _Frontier:
    """The right edge of the tree as leaves arrive: the root of every prefix in O(log n)
    memory, so a log of any length is checked without holding it."""

    def __init__(self):
        self.stack: list[tuple[int, bytes]] = []

    def add(self, leaf_hash: bytes) -> None:
        size, value = 1, leaf_hash
        while self.stack and self.stack[-1][0] == size:
            left_size, left = self.stack.pop()
            size, value = left_size + size, merkle.node_hash(left, value)
        self.stack.append((size, value))

    def root(self) -> bytes:
        if not self.stack:
            return merkle.EMPTY_ROOT
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = merkle.node_hash(left, value)
        return value


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

    frontier = _Frontier()
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
    report.counted = len(active)
    report.reported = petition.get("count")
    if report.reported is not None and report.reported != report.counted:
        report.problems.append(
            f"the petition reports {report.reported} signatures but the log counts {report.counted}"
        )
    return report


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

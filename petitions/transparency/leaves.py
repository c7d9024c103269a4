"""The bytes of a log leaf: canonical, so that anyone re-encoding a leaf gets the same bytes and
the same hash, and pseudonymous, so that the public can count signers without naming them."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

KINDS = ("signature", "invalidation", "withdrawal", "roll_commitment")
COUNTING_KINDS = ("signature", "invalidation", "withdrawal")
"""The kinds that count a member or cancel a count; a roll commitment counts nobody."""


def commitment(log_secret: str, member_id: str) -> str:
    """The member's commitment in one petition's log: HMAC-SHA256 of the member number under the
    petition's own secret. The same member always maps to the same value within a petition;
    without the secret the value says nothing about who signed."""
    return hmac.new(bytes.fromhex(log_secret), member_id.encode(), hashlib.sha256).hexdigest()


def encode(fields: dict) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_time(moment: datetime) -> str:
    """A leaf's time: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_leaf(index: int, member_commitment: str, moment: datetime) -> bytes:
    """The leaf recording a confirmed signature."""
    return encode(
        {
            "commitment": member_commitment,
            "index": index,
            "time": leaf_time(moment),
            "type": "signature",
        }
    )


def cancelling_leaf(
    kind: str, index: int, member_commitment: str, cancels: int, reason: str, moment: datetime
) -> bytes:
    """The leaf recording that the signature leaf ``cancels`` no longer counts: an invalidation
    (with a reason code) or a withdrawal by the member."""
    if kind not in ("invalidation", "withdrawal"):
        raise ValueError(f"{kind!r} does not cancel a signature")
    return encode(
        {
            "cancels": cancels,
            "commitment": member_commitment,
            "index": index,
            "reason": reason,
            "time": leaf_time(moment),
            "type": kind,
        }
    )


def roll_commitment_fields(
    generation: int,
    root_hash: str,
    count: int,
    previous_count: int | None,
    moment: datetime,
) -> dict:
    """What a committed roll states (README, "The committed roll"): its generation, the Merkle
    root over its members' sorted commitments, how many they are, the count of the generation
    it replaces (re-commits only) and when. Both its leaf and its signature are made of these."""
    fields = {
        "count": count,
        "generation": generation,
        "root_hash": root_hash,
        "time": leaf_time(moment),
        "type": "roll_commitment",
    }
    if previous_count is not None:
        fields["previous_count"] = previous_count
    return fields


def roll_commitment_leaf(index: int, fields: dict, signature: str) -> bytes:
    """The leaf publishing a committed roll: its fields, its index and its Ed25519 signature."""
    return encode({**fields, "index": index, "signature": signature})


def _check_roll_commitment(fields: dict) -> None:
    for name in ("count", "generation"):
        value = fields.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"a roll commitment has no valid {name}")
    previous = fields.get("previous_count")
    if previous is not None and (not isinstance(previous, int) or isinstance(previous, bool)):
        raise ValueError("a roll commitment has no valid previous_count")
    root = fields.get("root_hash")
    if not isinstance(root, str) or len(root) != 64 or not _is_hex(root):
        raise ValueError("a roll commitment has no valid root_hash")
    for name in ("index", "time", "signature"):
        if not isinstance(fields.get(name), int if name == "index" else str):
            raise ValueError(f"leaf has no valid {name}")


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return text == text.lower()


def decode(data: bytes) -> dict:
    """The fields of a leaf; ValueError if the bytes are not a canonical leaf."""
    try:
        fields = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a JSON leaf: {exc}") from None
    if not isinstance(fields, dict) or fields.get("type") not in KINDS:
        raise ValueError("not a leaf of a known type")
    if encode(fields) != data:
        raise ValueError("leaf bytes are not in canonical form")
    if fields["type"] == "roll_commitment":
        _check_roll_commitment(fields)
        return fields
    for name, kind in (("index", int), ("commitment", str), ("time", str)):
        if not isinstance(fields.get(name), kind):
            raise ValueError(f"leaf has no valid {name}")
    if fields["type"] != "signature" and not isinstance(fields.get("cancels"), int):
        raise ValueError("a cancelling leaf must name the leaf it cancels")
    return fields

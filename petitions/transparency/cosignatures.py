"""Witness cosignatures (C2SP tlog-cosignature, ``cosignature/v1``): a note signature of type
0x04 whose bytes are an 8-byte big-endian POSIX timestamp and an Ed25519 signature of

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text>
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from petitions.transparency import notes

HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1


def message(text: str | bytes, timestamp: int) -> bytes:
    """The bytes a cosignature at ``timestamp`` signs over the checkpoint text ``text``."""
    if isinstance(text, str):
        text = text.encode()
    return f"{HEADER}\ntime {timestamp}\n".encode() + text


class CosignatureVerifier:
    """Checks one witness's cosignatures; ``verify`` fits the note verifier interface."""

    def __init__(self, name: str, public_key: bytes):
        self.name = notes.check_name(name)
        self.public_key = public_key
        self.key_id = notes.key_id(name, notes.COSIGNATURE_V1, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, value: str) -> "CosignatureVerifier":
        """The verifier of a ``name+keyid+base64(0x04 || key)`` verifier key."""
        key = notes.parse_vkey(value)
        if key.signature_type != notes.COSIGNATURE_V1:
            raise notes.NoteError(f"the key of {key.name} is not a cosignature/v1 key (type 0x04)")
        return cls(key.name, key.public_key)

    def timestamp(self, text: bytes, signature: bytes) -> int | None:
        """The time of a valid cosignature of ``text`` (the bytes after the key ID), else None."""
        if len(signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            self._key.verify(signature[8:], message(text, timestamp))
        except InvalidSignature:
            return None
        return timestamp

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid cosignature of ``text`` by this witness."""
        return self.timestamp(text, signature) is not None

    def vkey(self) -> str:
        """This witness's verifier key string."""
        return notes.vkey(self.name, notes.COSIGNATURE_V1, self.public_key)


class Cosigner:
    """A witness's signing half: cosigns checkpoint texts at a time."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey):
        self.name = notes.check_name(name)
        self._key = private_key
        self.public_key = notes.raw_public_key(private_key.public_key())
        self.key_id = notes.key_id(name, notes.COSIGNATURE_V1, self.public_key)

    def cosign(self, text: str, timestamp: int) -> notes.Signature:
        """The cosignature of the checkpoint text ``text`` at POSIX time ``timestamp``."""
        notes.check_text(text)
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError("a cosignature's timestamp is from 0 to 2**63 - 1")
        signed = self._key.sign(message(text, timestamp))
        return notes.Signature(self.name, self.key_id, timestamp.to_bytes(8, "big") + signed)

    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return CosignatureVerifier(self.name, self.public_key)


def timestamp_of(signature: notes.Signature) -> int | None:
    """The timestamp a cosignature line states (unverified), or None if it cannot be one."""
    if len(signature.signature) != 8 + 64:
        return None
    return int.from_bytes(signature.signature[:8], "big")

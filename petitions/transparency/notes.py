"""Signed notes (C2SP signed-note): a text ending in a newline, a blank line, and signature
lines ``— <key name> base64(4-byte key ID || signature)``.

Checkpoints (petitions.transparency.checkpoints) and witness cosignatures
(petitions.transparency.cosignatures) are both signed notes; this module holds the format, the
key IDs, the verifier keys (``vkeys``) and Ed25519 note signatures (type 0x01).
"""

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
# The signed-note text asks verifiers to accept at least 16 signatures; more than this is
# refused as malformed rather than verified one by one.
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note that is malformed, or that no trusted key signed; the message says which."""


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name, its 4-byte key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{DASH} {self.name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signatures, in order."""

    text: str
    signatures: tuple[Signature, ...] = ()

    def encode(self) -> str:
        """The note as published: text, blank line, signature lines."""
        return self.text + "\n" + "".join(sig.line() for sig in self.signatures)


class Verifier(Protocol):
    """A key a note may be verified with: its name, key ID and a check of the bytes after the
    key ID in a signature line."""

    name: str
    key_id: bytes

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's over ``text``."""


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], as the signed-note text recommends."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def check_name(name: str) -> str:
    """``name`` if it may be a key name (non-empty, no spaces, no plus); NoteError if not."""
    if not name or "+" in name or any(ch.isspace() for ch in name) or _has_control(name):
        raise NoteError(f"{name!r} cannot be a key name: it must be non-empty, without spaces or +")
    return name


def _has_control(value: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in value)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def vkey(name: str, signature_type: int, public_key: bytes) -> str:
    """The verifier key string ``name+hex key ID+base64(type || public key)``."""
    check_name(name)
    encoded = base64.b64encode(bytes([signature_type]) + public_key).decode()
    return f"{name}+{key_id(name, signature_type, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class VerifierKey:
    """A parsed verifier key: name, key ID, signature type and public key bytes."""

    name: str
    key_id: bytes
    signature_type: int
    public_key: bytes


def parse_vkey(value: str) -> VerifierKey:
    """Read a verifier key; NoteError when it is malformed or its key ID does not match."""
    parts = value.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is name+keyid+base64key")
    name, hex_id, encoded = parts
    check_name(name)
    try:
        wanted_id = bytes.fromhex(hex_id)
        material = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("a verifier key's ID must be hex and its key base64") from None
    if len(wanted_id) != 4 or len(material) < 2:
        raise NoteError("a verifier key's ID is 8 hex digits, followed by the key")
    signature_type, public_key = material[0], material[1:]
    if signature_type not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"signature type {signature_type:#04x} is not one this service knows")
    if len(public_key) != 32:
        raise NoteError("an Ed25519 verifier key holds 32 bytes of public key")
    if key_id(name, signature_type, public_key) != wanted_id:
        raise NoteError(f"the key ID {hex_id} does not match the key named {name}")
    return VerifierKey(name, wanted_id, signature_type, public_key)


class Ed25519Verifier:
    """Verifies Ed25519 note signatures (type 0x01) over the note text."""

    def __init__(self, name: str, public_key: bytes):
        self.name = check_name(name)
        self.public_key = public_key
        self.key_id = key_id(name, ED25519, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``text``."""
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True

    def vkey(self) -> str:
        """This key as a verifier key string."""
        return vkey(self.name, ED25519, self.public_key)


class Ed25519Signer:
    """Signs note texts with an Ed25519 key under a key name (type 0x01)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey):
        self.name = check_name(name)
        self._key = private_key
        self.public_key = raw_public_key(private_key.public_key())
        self.key_id = key_id(name, ED25519, self.public_key)

    def sign(self, text: str) -> Signature:
        """The signature of ``text`` (the note text, final newline included)."""
        check_text(text)
        return Signature(self.name, self.key_id, self._key.sign(text.encode()))

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return Ed25519Verifier(self.name, self.public_key)


def check_text(text: str) -> str:
    """``text`` if it may be a note text: ends in a newline, no control characters but
    newlines; NoteError if not."""
    if not text.endswith("\n") or _has_control(text):
        raise NoteError("a note text ends in a newline and holds no control characters")
    return text


def sign(text: str, signers: Iterable[Ed25519Signer]) -> Note:
    """A note of ``text`` signed by each of ``signers``."""
    return Note(check_text(text), tuple(signer.sign(text) for signer in signers))


def parse(message: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, checking the format only (no
    signature is verified); NoteError if it is not a signed note."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("a note must be UTF-8") from None
    if _has_control(message) or not message.endswith("\n"):
        raise NoteError("a note ends in a newline and holds no control characters")
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("a note needs a blank line between its text and its signatures")
    text, lines = message[: split + 1], message[split + 2 :]
    signatures = tuple(parse_signature_line(line) for line in lines.split("\n")[:-1])
    if not signatures:
        raise NoteError("a note needs at least one signature line")
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return Note(text, signatures)


def parse_signature_line(line: str) -> Signature:
    """One signature line, without its newline; NoteError if it is not one."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != DASH:
        raise NoteError(f"not a signature line: {line[:80]!r}")
    name = check_name(parts[1])
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except (ValueError, binascii.Error):
        raise NoteError(f"the signature of {name} is not base64") from None
    if len(raw) <= 4:
        raise NoteError(f"the signature of {name} is too short")
    return Signature(name, raw[:4], raw[4:])


def verified(note: Note, verifiers: Iterable[Verifier]) -> list[tuple[Signature, Verifier]]:
    """The signatures of ``note`` from known keys, each with its verifier, once verified.

    Signatures from unknown keys (name and key ID not both known) are ignored, as the format
    requires; a known key's signature that does not verify rejects the note (NoteError).
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    found = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text.encode(), sig.signature):
            raise NoteError(f"the signature of {sig.name} does not verify")
        found.append((sig, verifier))
    return found


def open_note(message: str | bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse ``message`` and require at least one valid signature from ``verifiers``."""
    note = parse(message)
    if not verified(note, list(verifiers)):
        raise NoteError("no signature on the note is from a trusted key")
    return note

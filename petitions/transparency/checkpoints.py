"""Checkpoints (C2SP tlog-checkpoint): a signed head as a signed note whose text is the log's
origin line, its tree size in decimal and its root hash in base64, each ending in a newline.

Each petition's log has its own origin, ``<host and path of BASE_URL>/p/<slug>/log``, and its
checkpoints are signed with LOG_SIGNING_KEY under that origin as key name (README, "Witnesses
and checkpoints"). Ed25519 signatures are deterministic, so the note of a stored head is made
again, byte for byte, whenever it is asked for.
"""

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petitions.transparency import merkle, notes


class CheckpointError(ValueError):
    """A note whose text is not a checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """The text of a checkpoint: origin, tree size, root hash (and extension lines, kept)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text, final newline included."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in [*lines, *self.extensions])


def parse(text: str) -> Checkpoint:
    """The checkpoint a note text states; CheckpointError if it is not one."""
    if not text.endswith("\n"):
        raise CheckpointError("a checkpoint's text ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise CheckpointError("a checkpoint is at least three non-empty lines")
    origin, size_line, hash_line = lines[:3]
    if (
        not size_line.isascii()
        or not size_line.isdigit()
        or (len(size_line) > 1 and size_line[0] == "0")
    ):
        raise CheckpointError("a checkpoint's tree size is a decimal without leading zeroes")
    try:
        root_hash = base64.b64decode(hash_line, validate=True)
    except (ValueError, binascii.Error):
        raise CheckpointError("a checkpoint's root hash is base64") from None
    if len(root_hash) != merkle.HASH_SIZE:
        raise CheckpointError("a checkpoint's root hash is a 32-byte SHA-256 hash")
    return Checkpoint(origin, int(size_line), root_hash, tuple(lines[3:]))


def origin(base_url: str, slug: str) -> str:
    """The origin line of a petition's log: BASE_URL without its scheme, then /p/<slug>/log."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/p/{slug}/log"


def log_signer(private_key: Ed25519PrivateKey, base_url: str, slug: str) -> notes.Ed25519Signer:
    """The note signer of a petition's checkpoints: the log key, named by the log's origin."""
    return notes.Ed25519Signer(origin(base_url, slug), private_key)


def signed(checkpoint: Checkpoint, signer: notes.Ed25519Signer) -> notes.Note:
    """``checkpoint`` as a note signed by ``signer``."""
    return notes.sign(checkpoint.text(), [signer])


def open_checkpoint(
    message: str | bytes, verifiers: list[notes.Verifier]
) -> tuple[notes.Note, Checkpoint]:
    """Verify a checkpoint note against ``verifiers`` and read its text.

    A NoteError when no trusted key signed it, or a known key's signature fails; a
    CheckpointError when its text is not a checkpoint.
    """
    note = notes.open_note(message, verifiers)
    return note, parse(note.text)

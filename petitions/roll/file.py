"""Reading a membership roll export: the file's structure and each row's validity.

A structural fault (not text, not UTF-8, no header, a required column missing) refuses the whole
file with RollFileError. A bad row is not an error here: it comes out as a RollRow with a
``reason``, so the importer can report it with its line number and go on.
"""

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import date
from operator import itemgetter
from typing import NamedTuple

from petitions.db.models import MemberStatus
from petitions.roll.addresses import InvalidAddress, parse_address

REQUIRED_COLUMNS = ("member_id", "email")
OPTIONAL_COLUMNS = ("name", "region", "status", "joined_on")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_MEMBER_ID, MAX_NAME, MAX_REGION = 64, 200, 100
# ``in MemberStatus`` takes only members before Python 3.12; a set takes the file's strings.
_STATUSES = frozenset(MemberStatus)
_SNIFF_BYTES = 8192


class RollFileError(Exception):
    """The file as a whole cannot be read as a roll; the message says why and what to do."""


class RollRow(NamedTuple):
    """One data row: its fields when valid, or the reason it is rejected.

    A tuple in the staging table's column order, because a roll has a million of them.
    """

    line: int
    member_id: str
    email: str = ""
    email_key: str = ""
    name: str | None = None
    region: str | None = None
    status: str = MemberStatus.ACTIVE
    joined_on: date | None = None
    reason: str | None = None


class MeteredReader(io.RawIOBase):
    """Wraps a binary file: hashes every byte read and reports progress in bytes."""

    def __init__(self, raw, on_progress: Callable[[int], None] | None = None):
        super().__init__()
        self._raw = raw
        self._on_progress = on_progress
        self.digest = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        if size:
            self.digest.update(data)
            self.bytes_read += size
            if self._on_progress is not None:
                self._on_progress(size)
        return size

    def drain(self) -> None:
        """Read to the end so that the digest covers the whole file, even when it is refused."""
        chunk = bytearray(1 << 20)
        while self.readinto(chunk):
            pass

    def hexdigest(self) -> str:
        """SHA-256 of everything read so far, as hex."""
        return self.digest.hexdigest()


def _refuse_binary(head: bytes) -> None:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise RollFileError(
            "this is a spreadsheet file, not CSV text: save it as CSV (UTF-8) and import that"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RollFileError("this file is UTF-16 text: export the roll as CSV UTF-8")
    if b"\x00" in head:
        raise RollFileError(
            "this is not a text file (it contains NUL bytes): export the roll as CSV"
        )


def _header(fields: list[str]) -> itemgetter:
    """Check the header; return what picks COLUMNS, in order, out of a padded row."""
    names = [field.strip().lower() for field in fields]
    if not any(names):
        raise RollFileError("the first line is empty: it must name the columns")
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen and name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            raise RollFileError(f"the column {name} is named twice in the header")
        seen.setdefault(name, index)
    missing = [column for column in REQUIRED_COLUMNS if column not in seen]
    if missing:
        if any("@" in field for field in fields):
            raise RollFileError(
                "no header row: the first line looks like data; add a first line naming the "
                "columns, e.g. member_id,email,name,region,status,joined_on"
            )
        raise RollFileError(
            f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)} "
            f"(the header has: {', '.join(name for name in names if name) or 'nothing'})"
        )
    # An absent optional column is read from the padding past the row's last field.
    return itemgetter(*(seen.get(column, len(fields)) for column in COLUMNS))


def _check(line: int, values: tuple[str, ...]) -> RollRow:
    member_id, email, name, region, status, joined = (value.strip() for value in values)
    if not member_id:
        return RollRow(line, "", reason="no member number")
    if len(member_id) > MAX_MEMBER_ID:
        return RollRow(line, member_id[:MAX_MEMBER_ID], reason="member number too long")
    if len(name) > MAX_NAME or len(region) > MAX_REGION:
        column, limit = ("name", MAX_NAME) if len(name) > MAX_NAME else ("region", MAX_REGION)
        return RollRow(line, member_id, reason=f"{column} longer than {limit} characters")
    if not email:
        return RollRow(line, member_id, reason="no e-mail address")
    try:
        address = parse_address(email)
    except InvalidAddress as exc:
        return RollRow(line, member_id, reason=f"invalid e-mail address {email!r}: {exc}")
    if status:
        given, status = status, status.lower()
        if status not in _STATUSES:
            return RollRow(
                line,
                member_id,
                reason=f"unknown status {given!r} (expected active, lapsed or suspended)",
            )
    else:
        status = MemberStatus.ACTIVE
    joined_on = None
    if joined:
        try:
            joined_on = date.fromisoformat(joined)
        except ValueError:
            return RollRow(
                line, member_id, reason=f"joined_on {joined!r} is not a date (YYYY-MM-DD)"
            )
    return RollRow(
        line,
        member_id,
        address.given,
        address.key,
        name or None,
        region or None,
        status,
        joined_on,
    )


def _refuse_undecodable(line: int, fields: list[str]) -> None:
    joined = "".join(fields)
    # The head of the file is checked for NUL bytes before reading; one further on would reach
    # the database, which cannot store it (PostgreSQL refuses NUL in text).
    if "\x00" in joined:
        raise RollFileError(
            f"this is not a text file (line {line} contains a NUL byte): export the roll as CSV"
        )
    if joined.isascii():
        return
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = ord(joined[exc.start]) - 0xDC00
        raise RollFileError(
            f"the file is not UTF-8 text (byte 0x{byte:02x} on line {line}): "
            "export the roll as CSV UTF-8"
        ) from None


def read_roll(reader: MeteredReader) -> Iterator[RollRow]:
    """Yield every data row of a roll file, checked; raise RollFileError on a structural fault.

    Streams: memory does not grow with the file. Blank lines are skipped; line numbers are the
    file's own (a quoted field spanning lines is reported at the line where its row starts).
    """
    buffered = io.BufferedReader(reader, buffer_size=1 << 16)
    head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
    if not head:
        raise RollFileError("the file is empty: it needs a header row and at least one member")
    _refuse_binary(head)
    # Undecodable bytes become lone surrogates so the row that holds them can be named exactly.
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    rows = csv.reader(text, strict=True)
    line = 1
    try:
        header = next(rows, None)
        if header is None:
            raise RollFileError("the file is empty: it needs a header row and at least one member")
        _refuse_undecodable(1, header)
        pick = _header(header)
        width = len(header)
        padding = [""] * (width + 1)
        line = rows.line_num + 1
        for fields in rows:
            start, line = line, rows.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            _refuse_undecodable(start, fields)
            if len(fields) > width:
                yield RollRow(
                    start,
                    pick(fields)[0].strip()[:MAX_MEMBER_ID],
                    reason=f"{len(fields)} fields where the header has {width} "
                    "(is a comma inside a value not quoted?)",
                )
                continue
            fields += padding[: width + 1 - len(fields)]
            yield _check(start, pick(fields))
    except csv.Error as exc:
        raise RollFileError(f"the file is not well-formed CSV at line {line}: {exc}") from None

"""Recounting a petition's eligibility against the membership roll, offline.

A scrutineer holding the petition's commitment key can turn each commitment in the public log
back into a member number: the commitment is HMAC-SHA256(key, member number). The recount
replays the log (signatures minus cancellations), then reads the roll with the importer's own
parser, computing each member's commitment and looking it up among the counted ones. Every
counted signature must belong to exactly one active member on the roll, and the eligible count
must equal the count the log gives and the count the petition reports.

Memory grows with the number of counted signatures (one 32-byte digest and a leaf index each),
never with the roll: the roll is streamed row by row.
"""

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple, TextIO

from petitions.db.models import MemberStatus
from petitions.roll.file import MeteredReader, read_roll
from petitions.spreadsheet import SafeWriter
from petitions.transparency import leaves as log_leaves
from petitions.transparency.roll_commitment import roll_root

KEY_BYTES = 32


def parse_key(text: str) -> bytes:
    """The commitment key as bytes; ValueError saying what a key looks like otherwise."""
    cleaned = text.strip().lower()
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"the commitment key must be {KEY_BYTES * 2} hexadecimal digits "
            "(what `log commitment-key SLUG` or the scrutiny page shows)"
        )
    return key


@dataclass
class Replay:
    """The log replayed: which commitments are counted now, and what cancelled the others."""

    counted: dict[bytes, int] = field(default_factory=dict)  # commitment -> its signature leaf
    leaves: int = 0
    signatures: int = 0
    cancelled: Counter = field(default_factory=Counter)  # leaf type -> how many
    counted_again: int = 0  # signature leaves of a member already counted
    problems: list[str] = field(default_factory=list)
    roll_commitments: list[dict] = field(default_factory=list)  # the committed rolls' leaves


def replay(leaves: Iterable[tuple[int, bytes]]) -> Replay:
    """Replay a log's leaves in order: a signature counts its commitment, an invalidation or a
    withdrawal takes the signature it names out of the count."""
    result = Replay()
    for index, data in leaves:
        result.leaves += 1
        try:
            fields = log_leaves.decode(data)
        except ValueError as exc:
            result.problems.append(f"leaf {index} is malformed ({exc}): run `log verify`")
            continue
        if fields["type"] not in log_leaves.COUNTING_KINDS:
            # A committed roll counts nobody.
            result.roll_commitments.append(fields)
            continue
        commitment = _digest(fields["commitment"])
        if commitment is None:
            result.problems.append(f"leaf {index} carries a commitment that is not 64 hex digits")
            continue
        if fields["type"] == "signature":
            result.signatures += 1
            if commitment in result.counted:
                result.counted_again += 1
                result.problems.append(
                    f"leaf {index} counts a member again (already counted at leaf "
                    f"{result.counted[commitment]})"
                )
                continue
            result.counted[commitment] = index
        elif result.counted.get(commitment) == fields["cancels"]:
            del result.counted[commitment]
            result.cancelled[fields["type"]] += 1
        else:
            result.problems.append(
                f"leaf {index} ({fields['type']}) cancels leaf {fields['cancels']}, which is not "
                "a counted signature of the same member: run `log verify`"
            )
    return result


def _digest(text: str) -> bytes | None:
    # Kept as 32 bytes rather than 64 characters: half the memory per counted signature.
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


class RollEntry(NamedTuple):
    """A roll row whose member number gives a counted commitment (a tuple: there may be as many
    as there are signatures)."""

    line: int
    member_id: str
    status: str
    rejected: str | None  # why the importer would refuse this row, if it would


# One shared string per status rather than one per row.
_STATUSES = {status.value: status for status in MemberStatus}


@dataclass
class RollScan:
    """What reading the roll found: its digest and size, and the rows of counted members, by the
    leaf index of the signature they match."""

    sha256: str = ""
    rows: int = 0
    by_status: Counter = field(default_factory=Counter)  # active/lapsed/suspended/rejected
    matches: dict[int, RollEntry] = field(default_factory=dict)  # the first matching row
    repeated: dict[int, list[RollEntry]] = field(default_factory=dict)  # when more than one
    # The commitments of the members the importer would make active from this file (member
    # numbers given once, on rows it accepts, with status active): a committed roll's set.
    eligible: set[bytes] = field(default_factory=set)

    def entries(self, leaf: int) -> list[RollEntry]:
        """Every roll row matching the signature at ``leaf``."""
        if leaf in self.repeated:
            return self.repeated[leaf]
        return [self.matches[leaf]] if leaf in self.matches else []


def scan_roll(
    source: BinaryIO,
    key: bytes,
    counted: dict[bytes, int],
    on_progress: Callable[[int], None] | None = None,
) -> RollScan:
    """Read a roll file (RollFileError if it is not one), compute every row's commitment under
    ``key`` and keep the rows whose commitment is counted."""
    reader = MeteredReader(source, on_progress)
    scan = RollScan()
    # Member numbers seen, and whether the row made them eligible; a number given twice is
    # rejected on every row by the importer, so it is nobody's.
    seen: dict[str, bool] = {}
    for row in read_roll(reader):
        scan.rows += 1
        scan.by_status["rejected" if row.reason else row.status] += 1
        if not row.member_id:
            continue
        digest = hmac.digest(key, row.member_id.encode(), "sha256")
        if row.member_id in seen:
            if seen[row.member_id]:
                scan.eligible.discard(digest)
            seen[row.member_id] = False
        else:
            eligible = not row.reason and row.status == MemberStatus.ACTIVE
            seen[row.member_id] = eligible
            if eligible:
                scan.eligible.add(digest)
        leaf = counted.get(digest)
        if leaf is None:
            continue
        entry = RollEntry(
            row.line, row.member_id, _STATUSES.get(row.status, MemberStatus.ACTIVE), row.reason
        )
        if leaf in scan.matches:
            scan.repeated.setdefault(leaf, [scan.matches[leaf]]).append(entry)
        else:
            scan.matches[leaf] = entry
    reader.drain()
    scan.sha256 = reader.hexdigest()
    return scan


@dataclass(frozen=True)
class Finding:
    """A counted signature that should not count, and why."""

    leaf: int
    commitment: str
    member_id: str | None
    message: str


@dataclass
class Recount:
    """The recount's outcome; ``ok`` only when every counted signature is an active member on
    the roll and the counts agree."""

    replay: Replay
    scan: RollScan
    reported: int | None
    threshold: int | None
    eligible: int = 0
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The committed roll in force (its leaf's fields), and the root and count this roll file
    # gives for it; ``roll_matches`` whether they are the committed ones.
    committed: dict | None = None
    roll_root: str = ""
    roll_count: int = 0
    roll_matches: bool = False
    # Counted signatures whose commitment is outside the committed roll in force, when the
    # committed set is known (``judged_by_committed``).
    outside: list[Finding] = field(default_factory=list)
    judged_by_committed: bool = False

    @property
    def log_count(self) -> int:
        """Signatures counted by the log (confirmations minus cancellations)."""
        return len(self.replay.counted)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.findings and not self.problems


def _judge(entries: list[RollEntry]) -> tuple[bool, str]:
    """Whether one counted signature is eligible, and the verdict in words."""
    if not entries:
        return False, "matches no member on the roll"
    if len(entries) > 1:
        lines = ", ".join(str(entry.line) for entry in entries)
        return False, (
            f"member {entries[0].member_id} is listed {len(entries)} times on the roll "
            f"(lines {lines}); the importer rejects every such row"
        )
    entry = entries[0]
    if entry.rejected:
        return False, (
            f"member {entry.member_id}'s row (line {entry.line}) is one the importer "
            f"rejects: {entry.rejected}"
        )
    if entry.status != MemberStatus.ACTIVE:
        return False, f"member {entry.member_id} (line {entry.line}) is {entry.status} on the roll"
    return True, "eligible"


def recount(
    header: dict,
    leaves: Iterable[tuple[int, bytes]],
    roll: BinaryIO,
    key: bytes,
    on_progress: Callable[[int], None] | None = None,
    committed_set: set[bytes] | None = None,
) -> Recount:
    """Recount a petition given as an evidence pack's header and leaves, against ``roll`` (a
    binary roll file) with the petition's commitment ``key``.

    When the log holds a committed roll, the roll file's eligible members give a root that is
    compared with the committed root in force; when they match, the file's set is the committed
    one, and every counted signature must be in it (whatever the file says of its member now:
    later imports change nobody's eligibility for the petition). ``committed_set``, the set as
    the service stores it (``--slug``), is checked against the committed root and used to
    find counted signatures outside it even when the roll file is not the committed one.
    """
    petition = header.get("petition") or {}
    replayed = replay(leaves)
    scan = scan_roll(roll, key, replayed.counted, on_progress)
    result = Recount(replayed, scan, petition.get("count"), petition.get("threshold"))
    result.problems.extend(replayed.problems)
    members = _committed_members(result, committed_set)
    result.judged_by_committed = members is not None
    for commitment, leaf in replayed.counted.items():
        entries = scan.entries(leaf)
        eligible, verdict = _judge(entries)
        if members is not None:
            eligible = commitment in members
            verdict = "eligible" if eligible else _outside(result.committed, verdict)
        if eligible:
            result.eligible += 1
        else:
            member = entries[0].member_id if entries else None
            finding = Finding(leaf, commitment.hex(), member, verdict)
            result.findings.append(finding)
            if members is not None:
                result.outside.append(finding)
    if result.log_count and not scan.matches:
        result.problems.append(
            "no counted signature matches anyone on the roll: is the key this petition's "
            "commitment key (each petition has its own), and the roll the right one?"
        )
    if result.eligible != result.log_count:
        result.problems.append(
            f"{result.eligible} eligible signatures, but the log counts {result.log_count}"
        )
    if result.reported is not None and result.reported != result.log_count:
        result.problems.append(
            f"the petition reports {result.reported} signatures but the log counts "
            f"{result.log_count}"
        )
    result.warnings.extend(_snapshot_warnings(header.get("roll"), scan.sha256))
    return result


def _committed_members(result: Recount, stored: set[bytes] | None) -> set[bytes] | None:
    """Compare the roll file's eligible members with the committed roll in force; return the
    committed set to judge counted signatures by (None when the log has no committed roll, or
    when neither the file nor ``stored`` is known to be it)."""
    if not result.replay.roll_commitments:
        return None
    committed = result.replay.roll_commitments[-1]
    result.committed = committed
    from_file = sorted(result.scan.eligible)
    result.roll_root = roll_root(from_file)
    result.roll_count = len(from_file)
    result.roll_matches = result.roll_root == committed["root_hash"]
    if not result.roll_matches:
        result.problems.append(
            f"this roll file's {result.roll_count} eligible members give the root "
            f"{result.roll_root}, not the committed roll's {committed['root_hash']} "
            f"({committed['count']} members, generation {committed['generation']}): it is "
            "not the roll committed for this petition (or the key is not this petition's)"
        )
    if stored is not None:
        if roll_root(sorted(stored)) != committed["root_hash"] or len(stored) != committed["count"]:
            result.problems.append(
                "the committed roll the service stores does not give the published root"
            )
        return stored
    return set(from_file) if result.roll_matches else None


def _outside(committed: dict, verdict: str) -> str:
    """Why a counted signature outside the committed roll is not eligible."""
    note = f"not on the committed roll (generation {committed['generation']})"
    return note if verdict == "eligible" else f"{note}; {verdict}"


def _snapshot_warnings(snapshot: dict | None, sha256: str) -> list[str]:
    if not snapshot:
        return ["the evidence pack names no roll snapshot to compare this roll file with"]
    if snapshot.get("sha256") == sha256:
        return []
    return [
        f"this roll file (SHA-256 {sha256}) is not the roll snapshot the pack names (import "
        f"#{snapshot.get('import_id')} of {snapshot.get('imported_at')}, SHA-256 "
        f"{snapshot.get('sha256')}): the roll may have changed since; members are judged by "
        "this file"
    ]


MATCH_COLUMNS = ("leaf_index", "commitment", "member_id", "roll_line", "status", "verdict")


def write_matches(result: Recount, out: TextIO) -> int:
    """Write one CSV row per counted signature: its leaf, commitment, member and verdict; return
    how many rows were written."""
    writer = SafeWriter(out, lineterminator="\n")
    writer.writerow(MATCH_COLUMNS)
    written = 0
    for commitment, leaf in result.replay.counted.items():
        entries = result.scan.entries(leaf)
        _eligible, verdict = _judge(entries)
        if entries:
            first = entries[0]
            member = (first.member_id, first.line, "rejected" if first.rejected else first.status)
        else:
            member = ("", "", "")
        writer.writerow((leaf, commitment.hex(), *member, verdict))
        written += 1
    return written

"""A sampled audit: drawing counted signatures by a lot that a published head fixes, so that
anyone can draw again and the organisation cannot choose whom scrutineers contact.

The procedure (README, "A sampled audit"), given a signed head of size S with root hash R:

1. Replay leaves 0 .. S-1 (signatures minus the ones invalidations and withdrawals cancel): the
   counted signatures as of that head, each known by its leaf index i.
2. Give each its key SHA-256(R || i), R as its 32 bytes and i as 8 bytes, unsigned big-endian.
3. Order them by key, as unsigned big-endian numbers (bytewise), and take the first N; all of
   them when N is at least their number.

The draw is a pure function of the head's root and the leaves it covers: to steer it, one
would have to change the leaves, which changes the root the head signs.
"""

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import takewhile

from petitions.transparency import leaves as log_leaves
from petitions.transparency import recount
from petitions.transparency import verify as log_verify

INDEX_BYTES = 8
_PROBLEMS_SHOWN = 3

LeafSource = Callable[[], Iterable[tuple[int, bytes]]]


class SampleError(ValueError):
    """A draw that cannot be made, and why, in words for the person who asked."""


def sort_key(root: bytes, index: int) -> bytes:
    """Leaf ``index``'s place in the draw under the head whose root is ``root``."""
    return hashlib.sha256(root + index.to_bytes(INDEX_BYTES, "big")).digest()


def root_bytes(root_hash: str) -> bytes:
    """A head's root hash (64 hex digits) as its 32 bytes; SampleError otherwise."""
    try:
        root = bytes.fromhex(root_hash)
    except (TypeError, ValueError):
        root = b""
    if len(root) != hashlib.sha256().digest_size:
        raise SampleError(f"the head's root hash {root_hash!r} is not 64 hexadecimal digits")
    return root


def draw(root_hash: str, counted: Iterable[int], size: int) -> list[int]:
    """The leaf indices drawn from ``counted`` (leaf indices of counted signatures) under the
    head whose root is ``root_hash``, in the order drawn: the ``size`` smallest keys."""
    root = root_bytes(root_hash)
    # The index breaks a tie between equal keys, which SHA-256 makes a theoretical case.
    return heapq.nsmallest(size, counted, key=lambda index: (sort_key(root, index), index))


def choose_head(heads: list[dict], head_size: int | None) -> dict:
    """The signed head of size ``head_size`` among ``heads``, or the newest when None;
    SampleError when there is none such."""
    heads = [head for head in heads if isinstance(head, dict)]
    if not heads:
        raise SampleError(
            "the petition has no signed head yet: a draw needs a published head (one is signed "
            "within seconds of the first signature)"
        )
    newest = max(heads, key=lambda head: head.get("size", -1))
    if head_size is None:
        return newest
    for head in heads:
        if head.get("size") == head_size:
            return head
    raise SampleError(
        f"there is no signed head of size {head_size}; the newest is of size "
        f"{newest.get('size')} (the evidence pack lists every signed head)"
    )


@dataclass(frozen=True)
class Drawn:
    """One drawn signature: its place in the draw (from 1), leaf, commitment and time."""

    order: int
    index: int
    commitment: str
    time: str

    @property
    def entry(self) -> int:
        """The log entry number as pages count it, from 1."""
        return self.index + 1


@dataclass(frozen=True)
class Sample:
    """A draw and what it was drawn from."""

    slug: str
    head: dict
    counted: int
    cancelled: int
    asked: int
    drawn: list[Drawn]
    threshold: int | None

    @property
    def everything(self) -> bool:
        """True when every counted signature was drawn: a full check, not a sample."""
        return len(self.drawn) == self.counted

    @property
    def indices(self) -> list[int]:
        """The drawn leaf indices, in the order drawn."""
        return [drawn.index for drawn in self.drawn]


def _up_to(leaves: Iterable[tuple[int, bytes]], size: int) -> Iterator[tuple[int, bytes]]:
    return takewhile(lambda leaf: leaf[0] < size, leaves)


def sample(header: dict, leaves: LeafSource, size: int, head_size: int | None = None) -> Sample:
    """Draw ``size`` counted signatures from a log given as an evidence pack's header and a
    source of its (index, leaf bytes) in order (called once per pass over the leaves), under the
    signed head of size ``head_size`` (the newest when None).

    The whole log is verified first, the chosen head's signature and root included; SampleError
    says why when it does not verify or no draw can be made.
    """
    if size <= 0:
        raise SampleError(f"the sample size must be at least 1, not {size}")
    head = choose_head(header.get("heads") or [], head_size)
    report = log_verify.verify(header, leaves())
    if not report.ok:
        shown = "; ".join(report.problems[:_PROBLEMS_SHOWN])
        more = len(report.problems) - _PROBLEMS_SHOWN
        raise SampleError(
            f"the log does not verify, so no draw is made from it: {shown}"
            + (f"; and {more} more (`log verify` lists them)" if more > 0 else "")
        )
    replayed = recount.replay(_up_to(leaves(), head["size"]))
    if replayed.problems:
        raise SampleError(f"the log does not replay: {replayed.problems[0]}")
    if not replayed.counted:
        raise SampleError(
            f"no signature counts as of the head of size {head['size']}: nothing to draw"
        )
    indices = draw(head["root_hash"], replayed.counted.values(), size)
    commitments = {index: commitment.hex() for commitment, index in replayed.counted.items()}
    wanted = set(indices)
    times = {
        index: log_leaves.decode(data)["time"]
        for index, data in _up_to(leaves(), head["size"])
        if index in wanted
    }
    petition = header.get("petition") or {}
    return Sample(
        slug=petition.get("slug", ""),
        head=head,
        counted=len(replayed.counted),
        cancelled=sum(replayed.cancelled.values()),
        asked=size,
        drawn=[
            Drawn(order, index, commitments[index], times[index])
            for order, index in enumerate(indices, start=1)
        ],
        threshold=petition.get("threshold"),
    )

"""Merkle tree of RFC 6962 (Certificate Transparency) over an append-only list of leaves.

A tree of ``n`` leaves is the RFC's Merkle Tree Hash (MTH) of the list: leaves are hashed with a
0x00 prefix, interior nodes with a 0x01 prefix, and a list of more than one leaf splits at the
largest power of two strictly below its length. Because the tree only grows at the right, every
complete, aligned subtree (``2**level`` leaves starting at a multiple of ``2**level``) never
changes once its last leaf is appended. Storing exactly those hashes lets roots and proofs for
any past size be read in O(log n) nodes, without keeping or rebuilding the tree.

Storage is the caller's: functions here take ``get_node(level, index)``, which returns the hash
of the complete subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0
holds the leaf hashes. ``completed_nodes`` says which hashes to store after each append.

The verifiers (``verify_inclusion`` and ``verify_consistency``) follow RFC 9162 sections 2.1.3.2
and 2.1.4.2 and need nothing but the proof, so a reader can check a log without trusting it.
"""

import hashlib
from collections.abc import Callable, Iterable

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)``: the hash of a complete, aligned subtree the store holds."""

HASH_SIZE = 32

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the tree with no leaves: SHA-256 of the empty string (RFC 6962 section 2.1)."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one leaf.

    The 0x00 prefix keeps a leaf from ever hashing like an interior node, so a proof cannot pass
    a subtree off as a leaf (a second-preimage defence).
    """
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node from its children's hashes."""
    digest = hashlib.sha256(b"\x01")
    # update() takes any buffer, so hashes read back from storage as memoryview work unchanged.
    digest.update(left)
    digest.update(right)
    return digest.digest()


def _split(width: int) -> int:
    """The largest power of two strictly less than ``width`` (``width`` >= 2): RFC 6962's k."""
    return 1 << ((width - 1).bit_length() - 1)


def completed_nodes(index: int, leaf: bytes, get_node: GetNode) -> list[tuple[int, int, bytes]]:
    """The (level, index, hash) of every subtree completed by appending leaf hash ``leaf``.

    ``index`` is the new leaf's 0-based position, so the tree had ``index`` leaves before. The
    first entry is always ``(0, index, leaf)``; each further one is the parent of the previous,
    for as long as the previous was a right child. These are exactly the hashes the caller must
    store for later roots and proofs: at most log2(index + 1) + 1 of them, computed by reading
    only left siblings, which are already stored.
    """
    if index < 0:
        raise ValueError(f"leaf index must be >= 0, got {index}")
    nodes = [(0, index, leaf)]
    level, position, value = 0, index, leaf
    # An odd position is a right child: its left sibling is complete, so the parent is too.
    while position & 1:
        value = node_hash(get_node(level, position - 1), value)
        level += 1
        position >>= 1
        nodes.append((level, position, value))
    return nodes


def range_hash(get_node: GetNode, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)``, from at most log2(end - start) + 1 stored nodes.

    The ranges RFC 6962 proofs need are the nodes of the (possibly incomplete) tree, so ``start``
    is a multiple of the largest power of two not above ``end - start``. Such a range is a run
    of complete subtrees, one for each set bit of its width, largest first, and its MTH is
    those hashes folded from the right. Other ranges are refused, because no short
    combination of stored nodes gives their MTH. The empty range hashes to ``EMPTY_ROOT``.
    """
    if start < 0 or end < start:
        raise ValueError(f"range must satisfy 0 <= start <= end, got [{start}, {end})")
    width = end - start
    if width == 0:
        return EMPTY_ROOT
    top = 1 << (width.bit_length() - 1)
    if start % top:
        raise ValueError(
            f"range [{start}, {end}) is not a node of the tree: start must be a multiple of {top}"
        )
    parts: list[bytes] = []
    position, size = start, top
    while size:
        if width & size:
            parts.append(get_node(size.bit_length() - 1, position // size))
            position += size
        size >>= 1
    value = parts.pop()
    while parts:
        value = node_hash(parts.pop(), value)
    return value


def root(get_node: GetNode, size: int) -> bytes:
    """The root hash (MTH) of the first ``size`` leaves; ``EMPTY_ROOT`` for none."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return range_hash(get_node, 0, size)


def inclusion_proof(get_node: GetNode, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 PATH).

    Ordered from the leaf's sibling up to the root's other child, as the RFC lists it. Walking
    down from the root, every sibling is a node of the tree; only the first right sibling met can
    be incomplete, so the proof costs O(log size) stored nodes.
    """
    if size < 1:
        raise ValueError(f"tree size must be >= 1 for an inclusion proof, got {size}")
    if not 0 <= index < size:
        raise ValueError(f"leaf index must satisfy 0 <= index < size ({size}), got {index}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(range_hash(get_node, mid, hi))
            hi = mid
        else:
            path.append(range_hash(get_node, lo, mid))
            lo = mid
    # Collected root-first; the RFC's recursion emits the deepest sibling first.
    path.reverse()
    return path


def consistency_proof(get_node: GetNode, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of that of ``second`` leaves.

    RFC 6962 PROOF(first, D[second]) via SUBPROOF, in the RFC's order; empty when the sizes
    are equal. ``first`` must be at least 1: every tree extends the empty one, so there is
    nothing to prove for it. Like ``inclusion_proof``, at most one incomplete range is hashed,
    so the proof costs O(log second) stored nodes.
    """
    if first < 1:
        raise ValueError(f"first tree size must be >= 1 for a consistency proof, got {first}")
    if second < first:
        raise ValueError(f"second tree size ({second}) must be >= first tree size ({first})")
    proof: list[bytes] = []
    # [lo, hi) is the subtree SUBPROOF is at; the old tree covers its first `m` leaves.
    lo, hi, m = 0, second, first
    # SUBPROOF's b: true while the subtree's left edge is the root's, where the verifier already
    # knows the old subtree hash (it is the old root, or built from the proof's first element).
    on_left_edge = True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(range_hash(get_node, lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(get_node, lo, lo + k))
            lo += k
            m -= k
            on_left_edge = False
    if not on_left_edge:
        proof.append(range_hash(get_node, lo, hi))
    proof.reverse()
    return proof


def _is_size(value: object) -> bool:
    # bool is an int subclass, but True as a tree size is a caller's bug, not a size.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_path(value: object) -> bool:
    return isinstance(value, list | tuple) and all(_is_hash(item) for item in value)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf_hash`` at ``index`` in tree ``root`` of ``size``.

    RFC 9162 section 2.1.3.2, from the proof alone. Any malformed argument gives False rather
    than an exception, since the inputs usually come from an untrusted log or export.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_path(proof)):
        return False
    if not (_is_size(index) and _is_size(size)) or index >= size:
        return False
    # fn is the node's position at the current level and sn the last position there; where
    # they meet the node is on the right edge and may have no right sibling at this level.
    fn, sn = index, size - 1
    value = bytes(leaf_hash)
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            if not fn & 1:
                # Climb past levels where the right-edge node has no sibling to combine with.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``first_root`` of ``first`` leaves is a prefix of the tree
    ``second_root`` of ``second`` leaves.

    RFC 9162 section 2.1.4.2, from the proof alone, extended as ``consistency_proof`` is: equal
    sizes need an empty proof and equal roots, and a first size of 0 is refused. Any malformed
    argument gives False rather than an exception.
    """
    if not (_is_hash(first_root) and _is_hash(second_root) and _is_path(proof)):
        return False
    if not (_is_size(first) and _is_size(second)) or first < 1 or second < first:
        return False
    if first == second:
        return len(proof) == 0 and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    # A power-of-two old tree is itself a node of the new one, so the proof leaves its hash out.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    # Skip the levels where the old tree's last node is a right child already folded into
    # path[0], the largest complete subtree ending at the old tree's last leaf.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_value = second_value = bytes(path[0])
    for item in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first_value = node_hash(item, first_value)
            second_value = node_hash(item, second_value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            # A right sibling belongs to the new tree only: it leaves the old root unchanged.
            second_value = node_hash(second_value, item)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first_value == first_root and second_value == second_root


class Frontier:
    """The right edge of a tree as leaf hashes arrive: the root of every prefix in O(log n)
    memory, so a tree of any size is hashed without holding it."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []

    def add(self, leaf_hash: bytes) -> None:
        """Add the next leaf's hash."""
        size, value = 1, leaf_hash
        while self.stack and self.stack[-1][0] == size:
            left_size, left = self.stack.pop()
            size, value = left_size + size, node_hash(left, value)
        self.stack.append((size, value))

    def root(self) -> bytes:
        """The root of the leaves added so far; ``EMPTY_ROOT`` for none."""
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The RFC 6962 root of the leaves' data, in the order given, hashed a level at a time.

    Pairing neighbours level by level, a last odd node rising unchanged, gives the same tree as
    the RFC's split at the largest power of two, in one pass per level over a list (faster than
    ``Frontier`` for a set already in memory, such as a committed roll).
    """
    level = [leaf_hash(data) for data in leaves]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[at], level[at + 1]) for at in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class MemoryTree:
    """An append-only tree held in a dict of (level, index) -> hash.

    For checking an exported log offline (rebuild it leaf by leaf, then compare roots and
    proofs with what the log published) and for tests. It stores what ``completed_nodes``
    returns and nothing else, so it exercises the same code path as a persistent store.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0
        for data in leaves:
            self.append(data)

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, data: bytes) -> int:
        """Append one leaf's data and return its 0-based index."""
        index = self._size
        for level, position, value in completed_nodes(index, leaf_hash(data), self.get_node):
            self._nodes[(level, position)] = value
        self._size += 1
        return index

    def get_node(self, level: int, index: int) -> bytes:
        """The stored hash of a complete subtree; KeyError if it is not (yet) complete."""
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise KeyError(
                f"no complete subtree at level {level}, index {index} "
                f"in a tree of {self._size} leaves"
            ) from None

    def root(self) -> bytes:
        """The root hash of all leaves appended so far."""
        return root(self.get_node, self._size)

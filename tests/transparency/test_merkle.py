"""The RFC 6962 Merkle tree, checked against a naive reference built from the RFC's definitions.

The reference below works on the plain list of leaves and recomputes every hash from scratch,
exactly as RFC 6962 sections 2.1, 2.1.1 and 2.1.2 define MTH, PATH and PROOF. It shares no code
with the module, so an agreement between the two is evidence, not a tautology.
"""

import hashlib
import math
import random
from functools import cache

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from petitions.transparency import merkle

# --- reference, straight from RFC 6962 -----------------------------------------------------------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return ref_leaf(d[0])
    k = ref_k(n)
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_sides(m: int, n: int) -> list[str]:
    """Which side each PATH element sits on, leaf first: the shape of leaf m's audit path."""
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_sides(m, k), "right"]
    return [*ref_sides(m - k, n - k), "left"]


# --- helpers -------------------------------------------------------------------------------------

BIG = 5_000
HUGE = 100_000


def leaves(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


@cache
def big_tree() -> merkle.MemoryTree:
    return merkle.MemoryTree(leaves(BIG))


@cache
def huge_tree() -> merkle.MemoryTree:
    return merkle.MemoryTree(leaves(HUGE))


def bounded(tree: merkle.MemoryTree, size: int):
    """get_node that fails on any node reaching past the first ``size`` leaves."""

    def get_node(level: int, index: int) -> bytes:
        assert level >= 0
        assert index >= 0
        assert (index + 1) << level <= size, f"read ({level}, {index}) past size {size}"
        return tree.get_node(level, index)

    return get_node


class Counting:
    def __init__(self, get_node):
        self.get_node = get_node
        self.calls = 0

    def __call__(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.get_node(level, index)


def flipped(value: bytes, position: int) -> bytes:
    changed = bytearray(value)
    changed[position] ^= 0x01
    return bytes(changed)


OTHER = hashlib.sha256(b"not in the tree").digest()


# --- known answers -------------------------------------------------------------------------------


def test_empty_tree_hash_is_the_rfc_value():
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.EMPTY_ROOT.hex() == expected
    assert merkle.root(merkle.MemoryTree().get_node, 0).hex() == expected
    assert merkle.MemoryTree().root().hex() == expected


def test_leaf_and_node_hashes_use_the_rfc_prefixes():
    assert merkle.leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    left, right = bytes(range(32)), bytes(range(32, 64))
    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_known_roots_for_one_two_and_three_leaves():
    a = hashlib.sha256(b"\x00" + b"a").digest()
    b = hashlib.sha256(b"\x00" + b"b").digest()
    c = hashlib.sha256(b"\x00" + b"c").digest()
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    abc = hashlib.sha256(b"\x01" + ab + c).digest()
    # Fixed values, so a change to the hashing itself cannot go unnoticed.
    assert a.hex() == "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c"
    assert ab.hex() == "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb"
    assert abc.hex() == "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1"

    tree = merkle.MemoryTree()
    assert tree.append(b"a") == 0
    assert tree.root() == a
    assert tree.append(b"b") == 1
    assert tree.root() == ab
    assert tree.append(b"c") == 2
    assert tree.root() == abc
    assert tree.size == 3
    assert merkle.root(tree.get_node, 1) == a
    assert merkle.root(tree.get_node, 2) == ab
    assert merkle.inclusion_proof(tree.get_node, 2, 3) == [ab]
    assert merkle.inclusion_proof(tree.get_node, 0, 3) == [b, c]
    assert merkle.consistency_proof(tree.get_node, 1, 3) == [b, c]
    assert merkle.consistency_proof(tree.get_node, 2, 3) == [c]


# --- every size up to 100 ------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 101))
def test_proofs_and_roots_match_the_reference(size):
    data = leaves(size)
    tree = merkle.MemoryTree(data)
    get_node = bounded(tree, size)
    assert tree.size == size
    expected_root = ref_mth(data)
    assert tree.root() == expected_root
    assert merkle.root(get_node, size) == expected_root

    for index in range(size):
        proof = merkle.inclusion_proof(get_node, index, size)
        assert proof == ref_path(index, data), (index, size)
        assert merkle.verify_inclusion(ref_leaf(data[index]), index, size, proof, expected_root)

    for first in range(1, size + 1):
        proof = merkle.consistency_proof(get_node, first, size)
        assert proof == ref_proof(first, data), (first, size)
        first_root = ref_mth(data[:first])
        assert merkle.verify_consistency(first, size, first_root, expected_root, proof)


def test_range_hash_matches_the_reference_on_every_node_range():
    data = leaves(64)
    tree = merkle.MemoryTree(data)
    for start in range(64):
        for end in range(start, 65):
            width = end - start
            if width and start % (1 << (width.bit_length() - 1)):
                with pytest.raises(ValueError, match="not a node"):
                    merkle.range_hash(tree.get_node, start, end)
            else:
                assert merkle.range_hash(tree.get_node, start, end) == ref_mth(data[start:end])


def test_completed_nodes_are_exactly_what_later_reads_need():
    nodes: dict[tuple[int, int], bytes] = {}

    def get_node(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    data = leaves(300)
    for index, item in enumerate(data):
        leaf = ref_leaf(item)
        completed = merkle.completed_nodes(index, leaf, get_node)
        assert completed[0] == (0, index, leaf)
        trailing_ones = (index ^ (index + 1)).bit_length() - 1
        assert len(completed) == trailing_ones + 1
        assert len(completed) <= math.log2(index + 1) + 1
        for level, position, value in completed:
            assert (level, position) not in nodes
            span = data[position << level : (position + 1) << level]
            assert len(span) == 1 << level
            assert value == ref_mth(span)
            nodes[(level, position)] = value
        assert merkle.root(get_node, index + 1) == ref_mth(data[: index + 1])
    # Every complete aligned subtree is stored, and nothing else.
    expected = {(level, i) for level in range(9) for i in range(300 >> level)}
    assert set(nodes) == expected


# --- sampled larger sizes ------------------------------------------------------------------------

slow = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@slow
@given(st.integers(1, BIG).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
@example((BIG, BIG - 1))
@example((4096, 4095))
@example((4097, 4096))
@example((4097, 0))
def test_large_inclusion_proofs_match_the_reference(case):
    size, index = case
    data = leaves(size)
    get_node = bounded(big_tree(), size)
    proof = merkle.inclusion_proof(get_node, index, size)
    assert proof == ref_path(index, data)
    root = merkle.root(get_node, size)
    assert root == ref_mth(data)
    assert merkle.verify_inclusion(ref_leaf(data[index]), index, size, proof, root)


@slow
@given(st.integers(1, BIG).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
@example((4096, BIG))
@example((4095, 4097))
@example((1, BIG))
@example((BIG - 1, BIG))
def test_large_consistency_proofs_match_the_reference(case):
    first, second = case
    data = leaves(second)
    get_node = bounded(big_tree(), second)
    proof = merkle.consistency_proof(get_node, first, second)
    assert proof == ref_proof(first, data)
    first_root, second_root = merkle.root(get_node, first), merkle.root(get_node, second)
    assert first_root == ref_mth(data[:first])
    assert merkle.verify_consistency(first, second, first_root, second_root, proof)


# --- cost ----------------------------------------------------------------------------------------


def test_reads_are_logarithmic_at_one_hundred_thousand_leaves():
    tree = huge_tree()
    limit = 2 * (math.log2(HUGE) + 1)
    rng = random.Random(6962)
    indices = {0, 1, 2, HUGE // 2, 65_535, 65_536, HUGE - 2, HUGE - 1}
    indices |= {rng.randrange(HUGE) for _ in range(300)}
    worst = 0
    for index in sorted(indices):
        counter = Counting(tree.get_node)
        proof = merkle.inclusion_proof(counter, index, HUGE)
        worst = max(worst, counter.calls)
        assert counter.calls <= limit, (index, counter.calls)
        leaf = tree.get_node(0, index)
        assert merkle.verify_inclusion(leaf, index, HUGE, proof, tree.root())
    assert worst > 0

    for first in sorted(indices | {HUGE}):
        if first == 0:
            continue
        for second in (first, min(HUGE, first + 1), HUGE):
            counter = Counting(tree.get_node)
            proof = merkle.consistency_proof(counter, first, second)
            assert counter.calls <= limit, (first, second, counter.calls)
            first_root = merkle.root(tree.get_node, first)
            second_root = merkle.root(tree.get_node, second)
            assert merkle.verify_consistency(first, second, first_root, second_root, proof)

    for size in sorted(indices | {HUGE}):
        counter = Counting(tree.get_node)
        merkle.root(counter, size)
        assert counter.calls <= math.log2(HUGE) + 1

    counter = Counting(tree.get_node)
    completed = merkle.completed_nodes(HUGE, merkle.leaf_hash(b"next"), counter)
    assert counter.calls == len(completed) - 1 <= math.log2(HUGE + 1)


def test_huge_root_matches_the_reference():
    assert huge_tree().root() == ref_mth(leaves(HUGE))


# --- verification rejects tampering --------------------------------------------------------------

SMALL = 24


def small_cases():
    for size in range(1, SMALL + 1):
        for index in range(size):
            yield size, index


@pytest.fixture(scope="module")
def small():
    data = leaves(SMALL)
    return data, merkle.MemoryTree(data)


def test_inclusion_rejects_a_flipped_byte_anywhere(small):
    data, tree = small
    for size, index in small_cases():
        proof = merkle.inclusion_proof(tree.get_node, index, size)
        root = merkle.root(tree.get_node, size)
        leaf = ref_leaf(data[index])
        for position in range(len(proof)):
            for byte in (0, 13, 31):
                bad = [*proof]
                bad[position] = flipped(bad[position], byte)
                assert not merkle.verify_inclusion(leaf, index, size, bad, root)
        for byte in (0, 31):
            assert not merkle.verify_inclusion(flipped(leaf, byte), index, size, proof, root)
            assert not merkle.verify_inclusion(leaf, index, size, proof, flipped(root, byte))


def test_inclusion_rejects_a_wrong_index(small):
    data, tree = small
    for size, index in small_cases():
        proof = merkle.inclusion_proof(tree.get_node, index, size)
        root = merkle.root(tree.get_node, size)
        leaf = ref_leaf(data[index])
        for other in [*range(-2, size + 3)]:
            if other != index:
                assert not merkle.verify_inclusion(leaf, other, size, proof, root), (
                    index,
                    other,
                    size,
                )


def test_inclusion_rejects_a_wrong_size_of_a_different_shape(small):
    data, tree = small
    checked = 0
    for size, index in small_cases():
        proof = merkle.inclusion_proof(tree.get_node, index, size)
        root = merkle.root(tree.get_node, size)
        leaf = ref_leaf(data[index])
        assert not merkle.verify_inclusion(leaf, index, 0, proof, root)
        assert not merkle.verify_inclusion(leaf, index, index, proof, root)
        assert not merkle.verify_inclusion(leaf, index, -1, proof, root)
        for other in range(index + 1, 2 * SMALL):
            if other == size:
                continue
            # The proof carries hashes, not the tree's shape: a size whose path to this leaf has
            # the same left/right sides and length is indistinguishable to any RFC 9162 verifier.
            same_shape = ref_sides(index, other) == ref_sides(index, size)
            result = merkle.verify_inclusion(leaf, index, other, proof, root)
            assert result == same_shape, (index, size, other)
            checked += not same_shape
    assert checked > 1000


def test_same_shape_sizes_are_the_rfc_9162_limit():
    # Leaf 4 of 7 and leaf 4 of 8 both have audit path sides right, right, left.
    data = leaves(7)
    tree = merkle.MemoryTree(data)
    proof = merkle.inclusion_proof(tree.get_node, 4, 7)
    assert merkle.verify_inclusion(ref_leaf(data[4]), 4, 8, proof, tree.root())
    # ...while size 6 (right, left) and size 5 (left) do not fit.
    assert not merkle.verify_inclusion(ref_leaf(data[4]), 4, 6, proof, tree.root())
    assert not merkle.verify_inclusion(ref_leaf(data[4]), 4, 5, proof, tree.root())


def test_inclusion_rejects_a_proof_too_short_or_too_long(small):
    data, tree = small
    for size, index in small_cases():
        proof = merkle.inclusion_proof(tree.get_node, index, size)
        root = merkle.root(tree.get_node, size)
        leaf = ref_leaf(data[index])
        assert merkle.verify_inclusion(leaf, index, size, proof, root)
        if proof:
            assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
            assert not merkle.verify_inclusion(leaf, index, size, proof[1:], root)
        for extra in (OTHER, root, leaf):
            assert not merkle.verify_inclusion(leaf, index, size, [*proof, extra], root)
            assert not merkle.verify_inclusion(leaf, index, size, [extra, *proof], root)


def test_inclusion_rejects_a_wrong_root(small):
    data, tree = small
    for size, index in small_cases():
        proof = merkle.inclusion_proof(tree.get_node, index, size)
        leaf = ref_leaf(data[index])
        for other in range(1, SMALL + 1):
            if other != size:
                wrong = merkle.root(tree.get_node, other)
                assert not merkle.verify_inclusion(leaf, index, size, proof, wrong)
        assert not merkle.verify_inclusion(leaf, index, size, proof, OTHER)


def small_pairs():
    for second in range(1, SMALL + 1):
        for first in range(1, second + 1):
            yield first, second


def test_consistency_rejects_tampering(small):
    _, tree = small
    for first, second in small_pairs():
        proof = merkle.consistency_proof(tree.get_node, first, second)
        first_root = merkle.root(tree.get_node, first)
        second_root = merkle.root(tree.get_node, second)
        assert merkle.verify_consistency(first, second, first_root, second_root, proof)

        def accepts(bad, a=first_root, b=second_root, first=first, second=second):
            return merkle.verify_consistency(first, second, a, b, bad)

        for position in range(len(proof)):
            for byte in (0, 13, 31):
                bad = [*proof]
                bad[position] = flipped(bad[position], byte)
                assert not accepts(bad), (first, second, position)
        if proof:
            assert not accepts(proof[:-1])
            assert not accepts(proof[1:])
        for extra in (OTHER, first_root, second_root):
            assert not accepts([*proof, extra])
            assert not accepts([extra, *proof])
        for byte in (0, 31):
            assert not accepts(proof, a=flipped(first_root, byte))
            assert not accepts(proof, b=flipped(second_root, byte))
        for other in range(1, SMALL + 1):
            wrong = merkle.root(tree.get_node, other)
            if other != first:
                assert not accepts(proof, a=wrong)
            if other != second:
                assert not accepts(proof, b=wrong)


def test_consistency_rejects_wrong_sizes(small):
    _, tree = small
    for first, second in small_pairs():
        proof = merkle.consistency_proof(tree.get_node, first, second)
        first_root = merkle.root(tree.get_node, first)
        second_root = merkle.root(tree.get_node, second)
        for other in (first - 1, first + 1, 0, second + 1):
            if other != first:
                assert not merkle.verify_consistency(other, second, first_root, second_root, proof)
        assert not merkle.verify_consistency(second, first, second_root, first_root, proof) or (
            first == second
        )


def test_equal_sizes_need_an_empty_proof_and_equal_roots():
    tree = merkle.MemoryTree(leaves(5))
    r = tree.root()
    assert merkle.consistency_proof(tree.get_node, 5, 5) == []
    assert merkle.verify_consistency(5, 5, r, r, [])
    assert not merkle.verify_consistency(5, 5, r, OTHER, [])
    assert not merkle.verify_consistency(5, 5, r, r, [r])


# --- argument checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size", "message"),
    [(0, 0, "size must be >= 1"), (-1, 3, "0 <= index < size"), (3, 3, "0 <= index < size")],
)
def test_inclusion_proof_refuses_out_of_range_arguments(index, size, message):
    tree = merkle.MemoryTree(leaves(3))
    with pytest.raises(ValueError, match=message):
        merkle.inclusion_proof(tree.get_node, index, size)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [(0, 3, "first tree size must be >= 1"), (-1, 3, ">= 1"), (3, 2, "must be >= first")],
)
def test_consistency_proof_refuses_out_of_range_arguments(first, second, message):
    tree = merkle.MemoryTree(leaves(3))
    with pytest.raises(ValueError, match=message):
        merkle.consistency_proof(tree.get_node, first, second)


def test_other_functions_refuse_out_of_range_arguments():
    tree = merkle.MemoryTree(leaves(3))
    with pytest.raises(ValueError, match="size must be >= 0"):
        merkle.root(tree.get_node, -1)
    with pytest.raises(ValueError, match="start <= end"):
        merkle.range_hash(tree.get_node, 2, 1)
    with pytest.raises(ValueError, match="start <= end"):
        merkle.range_hash(tree.get_node, -1, 1)
    with pytest.raises(ValueError, match="not a node"):
        merkle.range_hash(tree.get_node, 1, 3)
    with pytest.raises(ValueError, match="index must be >= 0"):
        merkle.completed_nodes(-1, merkle.leaf_hash(b"x"), tree.get_node)
    with pytest.raises(KeyError, match="no complete subtree"):
        tree.get_node(2, 0)


def test_a_store_missing_a_node_fails_loudly():
    tree = merkle.MemoryTree(leaves(3))
    with pytest.raises(KeyError):
        merkle.inclusion_proof(tree.get_node, 0, 4)


# --- malformed input to the verifiers ------------------------------------------------------------

H = hashlib.sha256(b"h").digest()

MALFORMED_INCLUSION = [
    (None, 0, 1, [], H),
    (H[:31], 0, 1, [], H[:31]),
    (H + b"\x00", 0, 1, [], H + b"\x00"),
    ("not bytes", 0, 1, [], H),
    (H, 0, 1, [], None),
    (H, 0, 1, None, H),
    (H, 0, 1, b"", H),
    (H, 0, 2, [H[:5]], H),
    (H, 0, 2, [None], H),
    (H, 0, 2, ["x" * 32], H),
    (H, 0, 2, H, H),
    (H, "0", 1, [], H),
    (H, 0, "1", [], H),
    (H, 0.0, 1, [], H),
    (H, None, 1, [], H),
    (H, False, True, [], H),
    (H, -1, 1, [], H),
    (H, 0, 0, [], H),
    (H, 0, -1, [], H),
    (H, 2**70, 2**70 + 1, [H] * 70, H),
    (H, 0, 2**200, [H] * 300, H),
]


@pytest.mark.parametrize("args", MALFORMED_INCLUSION)
def test_verify_inclusion_returns_false_on_malformed_input(args):
    assert merkle.verify_inclusion(*args) is False


MALFORMED_CONSISTENCY = [
    (1, 2, None, H, [H]),
    (1, 2, H, None, [H]),
    (1, 2, H[:31], H, [H]),
    (1, 2, H, H, None),
    (1, 2, H, H, [b"short"]),
    (1, 2, H, H, [None]),
    (1, 2, H, H, H),
    (1, 2, H, H, []),
    (0, 2, H, H, [H]),
    (0, 0, H, H, []),
    (-1, 2, H, H, [H]),
    (2, 1, H, H, [H]),
    (1, None, H, H, [H]),
    ("1", 2, H, H, [H]),
    (True, True, H, H, []),
    (1.0, 1, H, H, []),
    (3, 2**200, H, H, [H] * 300),
]


@pytest.mark.parametrize("args", MALFORMED_CONSISTENCY)
def test_verify_consistency_returns_false_on_malformed_input(args):
    assert merkle.verify_consistency(*args) is False


junk = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.binary(min_size=32, max_size=32),
    st.lists(st.one_of(st.binary(max_size=40), st.binary(min_size=32, max_size=32)), max_size=8),
    st.lists(st.one_of(st.none(), st.integers(), st.text()), max_size=4),
)


@settings(max_examples=300, deadline=None, database=None)
@given(junk, junk, junk, junk, junk)
def test_verifiers_never_raise(a, b, c, d, e):
    assert isinstance(merkle.verify_inclusion(a, b, c, d, e), bool)
    assert isinstance(merkle.verify_consistency(a, b, c, d, e), bool)
    assert isinstance(merkle.verify_inclusion(H, b, c, d, H), bool)
    assert isinstance(merkle.verify_consistency(b, c, H, H, d), bool)

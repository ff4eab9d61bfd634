"""ledger.tlog.merkle against transparency-dev/merkle's vectors and an independent RFC 9162 model.

Known answers come from ../shared/tlog (skipped, with the reason, when that folder is absent);
generated trees are checked proof by proof against tests/support/rfc9162.py, which follows the
RFC's recursive definitions and verification pseudo-code and shares no code with the module.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from ledger.tlog import merkle
from ledger.tlog.merkle import EMPTY_ROOT, Frontier, NodeId, ProofError
from tests.support import rfc9162

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tlog"
MERKLE = SHARED / "merkle"
MISSING = f"reference vectors not found at {SHARED} (the repo is expected beside shared/)"

MAX_SIZE = 100_000
SMALL_SIZES = list(range(1, 301))
LARGE_SIZES = sorted(
    {*random.Random(9162).sample(range(301, MAX_SIZE + 1), 16), 511, 512, 65536, MAX_SIZE}
)


# --- known answers -------------------------------------------------------------------------


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _vector_files(kind: str) -> list:
    folder = MERKLE / "testdata" / kind
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]
    return [pytest.param(p, id=str(p.relative_to(folder))) for p in sorted(folder.rglob("*.json"))]


def _well_formed(*hashes: bytes) -> bool:
    return all(len(h) == merkle.HASH_SIZE for h in hashes)


def _load(path: Path | None) -> dict:
    assert path is not None
    vector = json.loads(path.read_text())
    vector["proof"] = [_b64(p) for p in vector["proof"] or []]  # Go writes a nil slice as null
    return vector


@pytest.mark.skipif(not MERKLE.is_dir(), reason=MISSING)
@pytest.mark.parametrize(("kind", "count"), [("inclusion", 98), ("consistency", 98)])
def test_every_vector_is_found(kind, count):
    assert len(list((MERKLE / "testdata" / kind).rglob("*.json"))) == count


@pytest.mark.parametrize("path", _vector_files("inclusion"))
def test_inclusion_vector(path):
    v = _load(path)
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], v["proof"], _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)
        assert merkle.root_from_inclusion(*args[:4]) == args[4]
    # The literal RFC algorithm agrees wherever every hash is well formed (it has no length
    # checks: it accepts single-entry/empty-root-and-leaf.json, leaf == root == b"").
    if _well_formed(args[0], args[4], *args[3]):
        assert rfc9162.verify_inclusion(*args[1:3], args[0], *args[3:]) is not v["wantErr"]


@pytest.mark.parametrize("path", _vector_files("consistency"))
def test_consistency_vector(path):
    v = _load(path)
    args = (v["size1"], v["size2"], v["proof"], _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)
    if 0 < v["size1"] < v["size2"] and _well_formed(*args[2], *args[3:]):
        assert rfc9162.verify_consistency(*args[:2], *args[3:], args[2]) is not v["wantErr"]


def _go_hexes(src: str, func: str) -> list[bytes]:
    body = src.split(f"func {func}()", 1)[1].split("\n}\n", 1)[0]
    return [bytes.fromhex(h) for h in re.findall(r'hd\("([0-9a-f]*)"\)', body)]


@pytest.fixture(scope="module")
def constants() -> dict:
    path = MERKLE / "constants.go"
    if not path.is_file():
        pytest.skip(MISSING)
    src = path.read_text()
    body = src.split("func CompactTrees()", 1)[1].split("\n}\n", 1)[0]
    compact = [
        [(int(level), int(index)) for level, index in re.findall(r"nh\[(\d+)\]\[(\d+)\]", line)]
        for line in body.splitlines()
        if line.strip().startswith(("nil", "{nh"))
    ]
    nodes = iter(_go_hexes(src, "NodeHashes"))
    node_hashes = {
        (lv, i): next(nodes) for lv, width in enumerate((8, 4, 2, 1)) for i in range(width)
    }
    return {
        "leaves": _go_hexes(src, "LeafInputs"),
        "roots": _go_hexes(src, "EmptyRootHash") + _go_hexes(src, "RootHashes"),
        "nodes": node_hashes,
        "compact": compact,
    }


def test_constants_roots_via_frontier_and_stored_nodes(constants):
    leaves, roots = constants["leaves"], constants["roots"]
    assert len(leaves) == 8 and len(roots) == 9 and len(constants["compact"]) == 9
    assert roots[0] == EMPTY_ROOT
    frontier, stored = Frontier(), {}
    assert frontier.root() == roots[0]
    assert merkle.root(0, _no_getter) == roots[0]
    for size, data in enumerate(leaves, start=1):
        for level, index, h in frontier.append(merkle.leaf_hash(data)):
            stored[(level, index)] = h
        assert frontier.root() == roots[size]
        assert frontier.hashes == [constants["nodes"][n] for n in constants["compact"][size]]
        assert merkle.root(size, Getter(stored, size)) == roots[size]
    assert stored == constants["nodes"]
    reference = rfc9162.Tree(leaves)  # the reference is anchored to the known answers too
    assert [reference.root(size) for size in range(9)] == roots


# --- generated trees -----------------------------------------------------------------------


def _no_getter(ids: Sequence[NodeId]) -> list[bytes]:
    raise AssertionError(f"getter called for {ids}")


class Getter:
    """A NodeGetter over stored nodes that serves only nodes complete at `size` and counts calls."""

    def __init__(self, nodes: dict[NodeId, bytes], size: int) -> None:
        self.nodes, self.size, self.calls = nodes, size, 0

    def __call__(self, ids: Sequence[NodeId]) -> list[bytes]:
        self.calls += 1
        for level, index in ids:
            assert (index + 1) << level <= self.size, (
                f"({level}, {index}) incomplete at {self.size}"
            )
        return [self.nodes[node] for node in ids]


class Log:
    def __init__(self, size: int) -> None:
        self.ref = rfc9162.Tree([b"entry %d" % i for i in range(size)])
        self.nodes: dict[NodeId, bytes] = {}
        frontier = Frontier()
        for i in range(size):
            for level, index, h in frontier.append(merkle.leaf_hash(self.ref.entries[i])):
                self.nodes[(level, index)] = h

    def getter(self, size: int) -> Getter:
        return Getter(self.nodes, size)


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(MAX_SIZE)


def _flipped(proof: list[bytes], i: int) -> list[bytes]:
    bad = list(proof)
    bad[i] = bytes([bad[i][0] ^ 0x01]) + bad[i][1:]
    return bad


def _sample(rng: random.Random, size: int, everything: bool) -> list[int]:
    if everything:
        return list(range(size))
    return sorted({0, size - 1, *rng.sample(range(size), 40)})


@pytest.mark.parametrize("size", SMALL_SIZES + LARGE_SIZES)
def test_inclusion_proofs(log, size):
    ref, root = log.ref, log.ref.root(size)
    get = log.getter(size)
    assert merkle.root(size, get) == root and get.calls == 1
    for index in _sample(random.Random(size), size, size <= 300):
        leaf, get = ref.leaf_hash(index), log.getter(size)
        proof = merkle.inclusion_proof(index, size, get)
        assert get.calls <= 1
        assert proof == ref.path(index, size)
        merkle.verify_inclusion(leaf, index, size, proof, root)
        assert rfc9162.verify_inclusion(index, size, leaf, proof, root)
        for i in range(len(proof)):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(leaf, index, size, _flipped(proof, i), root)
            assert not rfc9162.verify_inclusion(index, size, leaf, _flipped(proof, i), root)
        if size > 1:
            other = index ^ 1 if index ^ 1 < size else index - 1
            with pytest.raises(ProofError):
                merkle.verify_inclusion(leaf, other, size, proof, root)
            assert not rfc9162.verify_inclusion(other, size, leaf, proof, root)
        for bad in (proof[:-1], [*proof, root]) if proof else ([root],):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(leaf, index, size, bad, root)


@pytest.mark.parametrize("size2", SMALL_SIZES + LARGE_SIZES)
def test_consistency_proofs(log, size2):
    ref, root2 = log.ref, log.ref.root(size2)
    rng = random.Random(-size2)
    sizes1 = [s + 1 for s in _sample(rng, size2, size2 <= 64)]
    if size2 > 64:
        sizes1 = sorted({*sizes1, *(1 << k for k in range(size2.bit_length()) if 1 << k <= size2)})
    for size1 in sizes1:
        root1, get = ref.root(size1), log.getter(size2)
        proof = merkle.consistency_proof(size1, size2, get)
        assert get.calls <= 1
        assert proof == ref.proof(size1, size2)
        merkle.verify_consistency(size1, size2, proof, root1, root2)
        if size1 == size2:
            assert proof == [] and get.calls == 0
            continue
        assert rfc9162.verify_consistency(size1, size2, root1, root2, proof)
        for i in range(len(proof)):
            with pytest.raises(ProofError):
                merkle.verify_consistency(size1, size2, _flipped(proof, i), root1, root2)
            assert not rfc9162.verify_consistency(size1, size2, root1, root2, _flipped(proof, i))
        for other in {size1 - 1, size1 + 1} - {0, size2}:
            with pytest.raises(ProofError):
                merkle.verify_consistency(other, size2, proof, ref.root(other), root2)
            assert not rfc9162.verify_consistency(other, size2, ref.root(other), root2, proof)
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, proof, root2, root2)
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, proof[:-1], root1, root2)


def _complete_nodes(size: int, since: int = 0) -> set[NodeId]:
    """Every node complete at `size` that ends after leaf `since` (all of them by default)."""
    return {
        (level, index)
        for level in range(size.bit_length())
        for index in range(max(0, (since >> level) - 1), (size >> level) + 1)
        if since < (index + 1) << level <= size
    }


@pytest.mark.parametrize("start", [0, 1000, 4095, 65535])
def test_frontier_append_returns_exactly_the_new_complete_nodes(log, start):
    ref = log.ref
    frontier = Frontier(
        start, [ref.mth(a << lv, (a + 1) << lv) for lv, a in merkle.root_nodes(start)]
    )
    before = _complete_nodes(start, start)
    for size in range(start + 1, start + 300):
        created = frontier.append(ref.leaf_hash(size - 1))
        after = _complete_nodes(size, start)
        assert [(lv, i) for lv, i, _ in created] == sorted(after - before)  # leaf first, bottom-up
        for level, index, h in created:
            assert h == ref.mth(index << level, (index + 1) << level)
        assert frontier.size == size and frontier.root() == ref.root(size)
        roots = [ref.mth(a << lv, (a + 1) << lv) for lv, a in merkle.root_nodes(size)]
        assert frontier.hashes == roots
        before = after


def test_frontier_serialisation_and_validation(log):
    frontier = Frontier()
    for i in range(37):
        frontier.append(log.ref.leaf_hash(i))
    data = frontier.to_bytes()
    assert len(data) == 3 * 32
    assert Frontier.from_bytes(37, data) == frontier
    assert Frontier.from_bytes(0, b"") == Frontier()
    twin = frontier.copy()
    twin.append(log.ref.leaf_hash(37))
    assert frontier.size == 37 and twin.size == 38 and twin.root() == log.ref.root(38)
    for size, blob in [(37, data[:-1]), (37, data + bytes(32)), (36, data), (-1, b"")]:
        with pytest.raises(ValueError):
            Frontier.from_bytes(size, blob)
    for size, hashes in [(1, []), (2, [bytes(32)] * 2), (1, [bytes(31)]), (-1, [])]:
        with pytest.raises(ValueError):
            Frontier(size, hashes)
    with pytest.raises(ValueError):
        frontier.append(bytes(33))


def test_range_nodes_is_the_minimal_aligned_cover(log):
    for begin in range(0, 130):
        for end in range(begin, 130):
            nodes = merkle.range_nodes(begin, end)
            pos = begin
            for level, index in nodes:
                assert index << level == pos
                pos += 1 << level
            assert pos == end
            for (la, ia), (lb, ib) in itertools.pairwise(nodes):
                assert not (la == lb and ia % 2 == 0 and ib == ia + 1)  # would merge
            if begin == 0 or end - begin <= begin & -begin:  # a range the RFC tree folds
                hashes = [log.ref.mth(i << lv, (i + 1) << lv) for lv, i in nodes]
                assert merkle.fold_right(hashes) == log.ref.mth(begin, end)
    assert merkle.root_nodes(0) == [] and merkle.fold_right([]) == EMPTY_ROOT
    with pytest.raises(ValueError):
        merkle.range_nodes(5, 4)


def test_bad_arguments(log):
    get = log.getter(10)
    for index, size in [(-1, 10), (10, 10), (0, 0)]:
        with pytest.raises(ValueError):
            merkle.inclusion_proof(index, size, get)
    for size1, size2 in [(0, 10), (11, 10), (-1, 10)]:
        with pytest.raises(ValueError):
            merkle.consistency_proof(size1, size2, get)
    assert get.calls == 0
    with pytest.raises(ValueError):
        merkle.root(3, lambda ids: [bytes(32)] * (len(ids) + 1))
    with pytest.raises(ValueError):
        merkle.inclusion_proof(0, 3, lambda ids: [b"short"] * len(ids))


def test_malformed_verifier_inputs_raise_proof_error(log):
    leaf, root = log.ref.leaf_hash(2), log.ref.root(5)
    proof = log.ref.path(2, 5)
    merkle.verify_inclusion(leaf, 2, 5, proof, root)
    assert issubclass(ProofError, ValueError)
    for args in [
        (leaf[:31], 2, 5, proof, root),
        (leaf, 2, 5, [p[:31] for p in proof], root),
        (leaf, 2, 5, [*proof[:-1], "x" * 32], root),
        (leaf, True, 5, proof, root),
        (leaf, -1, 5, proof, root),
        (leaf, 2, 5.0, proof, root),
        (leaf, 2, 5, proof, root.hex()),
    ]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    root3, cproof = log.ref.root(3), log.ref.proof(3, 5)
    merkle.verify_consistency(3, 5, cproof, root3, root)
    for args in [
        (3, 5, cproof, root3[:31], root),
        (3, 5, cproof, root3, root + b"\x00"),
        (3, 5, [p + b"\x00" for p in cproof], root3, root),
        (3, 5, [], root3, root),
        (0, 0, [], EMPTY_ROOT, EMPTY_ROOT),
        (5, 5, [root], root, root),
        (-1, 5, cproof, root3, root),
    ]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)


def test_inclusion_proof_at_a_million_leaves_is_fast():
    hashes = [bytes([i]) * 32 for i in range(64)]
    rng, size, calls = random.Random(1), 1_000_000, []

    def get(ids: Sequence[NodeId]) -> list[bytes]:
        calls.append(len(ids))
        return hashes[: len(ids)]

    start = time.perf_counter()
    for _ in range(1000):
        merkle.inclusion_proof(rng.randrange(size), size, get)
    elapsed = time.perf_counter() - start
    assert len(calls) == 1000 and max(calls) <= 40
    assert elapsed < 1.0, f"{elapsed * 1000:.3f} ms per inclusion proof"

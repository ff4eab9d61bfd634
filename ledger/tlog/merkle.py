"""RFC 9162 Merkle tree: hashing, proofs from stored complete subtrees, and the append frontier.

The database keeps the hash of every complete subtree (level, index) once it exists and never
rewrites it, so proofs are built here from those nodes only: the right-edge (incomplete) parts of
a proof are recomputed from the complete subtrees that cover them. Callers pass a NodeGetter
backed by one query; every function asks it at most once, so a proof costs one round trip.

Verification follows RFC 9162 2.1.3.2 / 2.1.4.2 and matches transparency-dev/merkle on its test
vectors (including that a consistency proof from size 0 is an error).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""(level, index): the complete subtree over leaves [index << level, (index + 1) << level)."""

NodeGetter = Callable[[Sequence[NodeId]], Sequence[bytes]]
"""Returns the hashes of the given nodes in the same order (one database query)."""


class ProofError(ValueError):
    """A proof does not verify, or its inputs are malformed.

    One exception type for both, so a verifier cannot accidentally treat "malformed" as
    "not applicable" and accept.
    """


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash; the 0x00 prefix keeps leaves and interior nodes from colliding."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash (0x01 prefix, see leaf_hash)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The complete subtrees exactly covering leaves [begin, end), left to right.

    Greedy: at each step take the largest aligned subtree that starts at `begin` and still fits,
    which yields the unique minimal ("compact range") decomposition in O(log) steps.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"bad range [{begin}, {end})")
    nodes: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def root_nodes(size: int) -> list[NodeId]:
    """The complete subtrees whose hashes determine the root at `size` (largest first)."""
    return range_nodes(0, size)


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its compact range (largest first).

    Valid when the range starts at 0, or at a multiple of a power of two at least as large as the
    range (every right-edge element of a proof): there the RFC tree splits off the largest
    subtree first, so the hash is the right fold. An empty range gives EMPTY_ROOT.
    """
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h


def _fetch(get: NodeGetter, ids: list[NodeId]) -> list[bytes]:
    """Call the getter once (not at all for no ids) and check its answer's shape."""
    if not ids:
        return []
    hashes = list(get(ids))
    if len(hashes) != len(ids):
        raise ValueError(f"node getter returned {len(hashes)} hashes for {len(ids)} nodes")
    for node, h in zip(ids, hashes, strict=True):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ValueError(f"node getter returned a malformed hash for node {node}")
    return [bytes(h) for h in hashes]


def _path_plan(level: int, index: int, size: int) -> list[list[NodeId]]:
    """The proof path from complete node (level, index) up to the root at `size`, bottom-up.

    Each element is the compact range of one proof hash: a single node, or for the right-edge
    sibling (an incomplete subtree) the nodes to fold. The fork is the highest ancestor of the
    node not containing leaf `size`; it is complete, so the siblings below it are stored nodes,
    its sibling is [end, size), and the siblings above it are the compact range of [0, begin).
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    plan = [[(level + i, (index >> i) ^ 1)] for i in range(inner)]
    fork_level = level + inner
    begin = (index >> inner) << fork_level
    end = begin + (1 << fork_level)
    if end < size:
        plan.append(range_nodes(end, size))
    plan.extend([node] for node in reversed(range_nodes(0, begin)))
    return plan


def _assemble(plan: list[list[NodeId]], get: NodeGetter) -> list[bytes]:
    """Fetch every node of the plan in one getter call and fold each element."""
    hashes = _fetch(get, [node for group in plan for node in group])
    proof: list[bytes] = []
    pos = 0
    for group in plan:
        proof.append(hashes[pos] if len(group) == 1 else fold_right(hashes[pos : pos + len(group)]))
        pos += len(group)
    return proof


def root(size: int, get: NodeGetter) -> bytes:
    """MTH of the first `size` leaves, from the stored nodes of its compact range."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    if size == 0:
        return EMPTY_ROOT
    return fold_right(_fetch(get, root_nodes(size)))


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), from the leaf's sibling up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} not in a tree of size {size}")
    return _assemble(_path_plan(0, index, size), get)


def consistency_proof(size1: int, size2: int, get: NodeGetter) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(size1, D[0:size2]).

    It is the largest complete subtree ending at size1 (omitted when size1 is a power of two,
    as the verifier knows it as root1) followed by that subtree's path to the root at size2.
    """
    if not 1 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return []
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    plan = _path_plan(level, index, size2)
    if index:
        plan.insert(0, [(level, index)])
    return _assemble(plan, get)


def _check_size(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _check_hashes(name: str, values: Sequence[object]) -> None:
    for value in values:
        if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
            raise ProofError(f"{name} must be {HASH_SIZE}-byte hashes")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` claims for `leaf` (a leaf hash) at `index` in a tree of `size`.

    The path splits where leaves `index` and `size - 1` diverge: below, the leaf's index bits give
    each sibling's side; above, the path runs along the right edge, so every sibling is a left one.
    """
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} not in a tree of size {size}")
    _check_hashes("leaf", [leaf])
    _check_hashes("proof", proof)
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    h = bytes(leaf)
    for i in range(inner):
        h = node_hash(proof[i], h) if (index >> i) & 1 else node_hash(h, proof[i])
    for p in proof[inner:]:
        h = node_hash(p, h)
    return h


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise ProofError unless `proof` puts `leaf` at `index` under `root`."""
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 2.1.4.2: raise ProofError unless the tree at size2 extends the one at size1.

    Size 0 is refused (an empty tree is consistent with anything, so a "proof" from it proves
    nothing); equal sizes need an empty proof and equal roots, compared as given (as Go does).
    Otherwise one pass rebuilds both roots from the seed, the largest complete subtree ending at
    size1: hash1 uses only the left siblings (those that exist in the smaller tree).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    _check_hashes("roots", [root1, root2])
    _check_hashes("proof", proof)
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length() - level
    border = (index >> inner).bit_count()
    start = 1 if index else 0
    if len(proof) != start + inner + border:
        want = start + inner + border
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {want}")
    h1 = h2 = bytes(proof[0] if index else root1)
    for i in range(inner):
        p = proof[start + i]
        if (index >> i) & 1:
            h1, h2 = node_hash(p, h1), node_hash(p, h2)
        else:
            h2 = node_hash(h2, p)
    for p in proof[start + inner :]:
        h1, h2 = node_hash(p, h1), node_hash(p, h2)
    if h1 != root1:
        raise ProofError("consistency proof does not lead to root1")
    if h2 != root2:
        raise ProofError("consistency proof does not lead to root2")


class Frontier:
    """The right edge of the tree at `size` (one complete-subtree hash per set bit of size,
    largest first): enough to append and to compute the root without reading anything else.
    Used by the database append path (kept in the head row) and by monitors (kept in their
    state file)."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"bad frontier size {size!r}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a frontier at size {size} has {size.bit_count()} hashes")
        for h in hashes:
            if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
                raise ValueError("frontier hashes must be 32 bytes")
        self.size = size
        self.hashes = [bytes(h) for h in hashes]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return every node it completes, bottom-up, leaf first.

        Each set low bit of the old size is a complete subtree that the new leaf's subtree now
        pairs with, so the merges are exactly the nodes the database must insert.
        """
        if not isinstance(leaf, bytes | bytearray) or len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash must be 32 bytes")
        h, level, index = bytes(leaf), 0, self.size
        created = [(0, index, h)]
        while (self.size >> level) & 1:
            h = node_hash(self.hashes.pop(), h)
            level, index = level + 1, index >> 1
            created.append((level, index, h))
        self.hashes.append(h)
        self.size += 1
        return created

    def root(self) -> bytes:
        """MTH of the whole tree (EMPTY_ROOT at size 0)."""
        return fold_right(self.hashes)

    def to_bytes(self) -> bytes:
        """The hashes concatenated; the size is stored beside them."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Inverse of to_bytes; ValueError unless `data` holds popcount(size) hashes."""
        if size < 0 or len(data) != HASH_SIZE * size.bit_count():
            raise ValueError(f"{len(data)} bytes is not a frontier at size {size}")
        return cls(size, [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)])

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self.size == other.size and self.hashes == other.hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, root={self.root().hex()})"

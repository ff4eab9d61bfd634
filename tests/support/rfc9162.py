"""An independent, deliberately naive RFC 9162 section 2.1 reference, used only by tests.

Transcribed from the RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF) and its
verification pseudo-code (2.1.3.2, 2.1.4.2), over a list of leaf *data* entries. It shares no
code or structure with ledger.tlog.merkle on purpose: tests compare the two, so a mistake must
be made twice, in two different shapes, to go unnoticed. The only concession to speed is a memo
of MTH by leaf range; it does not change any result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), as in RFC 9162 2.1.1."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """D[0:len(entries)] with MTH, PATH and PROOF over any prefix D[0:n]."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.entries = list(entries)
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]), RFC 9162 2.1.1."""
        n = hi - lo
        if n == 0:
            return _sha256(b"")
        if n == 1:
            return _sha256(b"\x00" + self.entries[lo])
        key = (lo, hi)
        if key not in self._memo:
            k = _split(n)
            self._memo[key] = _sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi))
        return self._memo[key]

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def leaf_hash(self, m: int) -> bytes:
        return self.mth(m, m + 1)

    def path(self, m: int, n: int) -> list[bytes]:
        """PATH(m, D[0:n]), RFC 9162 2.1.3.1."""
        return self._path(m, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true), RFC 9162 2.1.4.1."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def _lsb(x: int) -> bool:
    return x & 1 == 1


def verify_inclusion(
    leaf_index: int, tree_size: int, hash_: bytes, inclusion_path: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 2.1.3.2, step by step; `hash_` is the leaf hash."""
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = hash_
    for p in inclusion_path:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            r = _sha256(b"\x01" + p + r)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int,
    second: int,
    first_hash: bytes,
    second_hash: bytes,
    consistency_path: Sequence[bytes],
) -> bool:
    """RFC 9162 2.1.4.2, step by step (defined for 0 < first < second)."""
    if not 0 < first < second:
        return False
    path = list(consistency_path)
    if not path:  # step 1
        return False
    if first & (first - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # step 3
    while _lsb(fn):  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            fr = _sha256(b"\x01" + c + fr)
            sr = _sha256(b"\x01" + c + sr)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0  # step 7

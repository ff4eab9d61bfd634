"""ledger.tlog.tiles: c2sp.org/tlog-tiles paths, bundles, and reading a log through its tiles.

The known-answer tile set is Sunlight's (300 leaves "record %d", from ../shared/tlog; skipped,
with the reason, when that folder is absent); the other trees are generated here and checked
against ledger.tlog.merkle over the stored nodes.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from ledger.tlog import merkle, tiles
from ledger.tlog.merkle import Frontier, NodeId
from ledger.tlog.tiles import TileReader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tlog"
VECTORS = SHARED / "notes" / "vectors.json"
MISSING = f"reference vectors not found at {SHARED} (the repo is expected beside shared/)"


# --- the Sunlight tile set -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sunlight() -> dict:
    if not VECTORS.is_file():
        pytest.skip(MISSING)
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))["tiles"]
    vector["path"] = SHARED / "notes" / vector["dir"]
    return vector


class Fetcher:
    """fetch(path) over a dict or a directory, counting each path."""

    def __init__(self, files: dict[str, bytes] | Path) -> None:
        self.files, self.counts = files, Counter[str]()

    def __call__(self, path: str) -> bytes:
        assert tiles.parse_tile_path(path)  # only canonical paths are ever asked for
        self.counts[path] += 1
        if isinstance(self.files, Path):
            return (self.files / path).read_bytes()
        return self.files[path]


def test_sunlight_tiles_give_the_checkpoint_root(sunlight):
    fetch = Fetcher(sunlight["path"])
    reader = TileReader(fetch, sunlight["size"])
    root = base64.b64decode(sunlight["root_b64"])
    checkpoint = (sunlight["path"] / "checkpoint").read_text().splitlines()
    assert checkpoint[1:3] == ["300", sunlight["root_b64"]]
    assert reader.root() == root
    leaves = reader.leaf_hashes(0, 300)
    assert leaves == [merkle.leaf_hash(b"record %d" % i) for i in range(300)]  # gen.go's leaves
    assert reader.node(8, 0) == (sunlight["path"] / "tile/1/000.p/1").read_bytes()
    assert reader.leaf_hashes(250, 260) == leaves[250:260]
    for index in range(300):
        proof = merkle.inclusion_proof(index, 300, reader.get)
        merkle.verify_inclusion(leaves[index], index, 300, proof, root)
    frontier = Frontier()
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        proof = merkle.consistency_proof(size, 300, reader.get)
        merkle.verify_consistency(size, 300, proof, frontier.root(), root)
    assert frontier.root() == root
    assert fetch.counts == {"tile/0/000": 1, "tile/0/001.p/44": 1, "tile/1/000.p/1": 1}


def test_sunlight_placeholder_bundles_are_refused(sunlight):
    reader = TileReader(Fetcher(sunlight["path"]), sunlight["size"])
    for begin in (0, 299):
        with pytest.raises(ValueError):
            reader.entries(begin, begin + 1)


# --- paths ---------------------------------------------------------------------------------


def test_spec_path_examples():
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(0, 1234067, 5) == "tile/0/x001/x234/067.p/5"
    assert tiles.tile_path(0, 1234, 5) == "tile/0/x001/234.p/5"
    assert tiles.tile_path(1, 0, 1) == "tile/1/000.p/1"
    assert tiles.tile_path(63, 0) == "tile/63/000"
    assert tiles.entries_path(1, 44) == "tile/entries/001.p/44"
    assert tiles.entries_path(1000) == "tile/entries/x001/000"
    assert tiles.parse_tile_path("tile/0/x001/x234/067") == (0, 1234067, 256)
    assert tiles.parse_tile_path("tile/entries/001.p/44") == (-1, 1, 44)


@pytest.mark.parametrize("index", [0, 1, 999, 1000, 1001, 999_999, 10**6, 1234067, 2**63 - 1])
def test_paths_round_trip(index):
    for width in (1, 44, 255, 256):
        for level in (0, 1, 9, 63):
            path = tiles.tile_path(level, index, width)
            assert tiles.parse_tile_path(path) == (level, index, width)
        assert tiles.parse_tile_path(tiles.entries_path(index, width)) == (-1, index, width)


NON_CANONICAL = [
    "",
    "tile",
    "tile/0",
    "tile/0/",
    "tile/00/000",
    "tile/01/000",
    "tile/64/000",
    "tile/100/000",
    "tile/-1/000",
    "tile/+1/000",
    "tile/0/0",
    "tile/0/00",
    "tile/0/0000",
    "tile/0/x000",
    "tile/0/x000/005",
    "tile/0/x001",
    "tile/0/001/234",
    "tile/0/x001/x234",
    "tile/0/X001/234",
    "tile/0/-01",
    "tile/0/ 01",
    "tile/0/\u0660\u0660\u0661",  # Arabic-Indic digits: int() would take them
    "tile/0/000\n",
    "tile/0/000.p/0",
    "tile/0/000.p/00",
    "tile/0/000.p/044",
    "tile/0/000.p/256",
    "tile/0/000.p/1000",
    "tile/0/000.p/",
    "tile/0/000.p",
    "tile/0/000.P/5",
    "tile/0/000.p/5/",
    "tile/0/000.p/5.p/5",
    "tile/0/x001.p/5/234",
    "/tile/0/000",
    "tile//0/000",
    "tile/0//000",
    "tile/0/000/",
    "./tile/0/000",
    "tile/0/../0/000",
    "TILE/0/000",
    "tile/data/000",
    "tile/Entries/000",
    "tile/entries/000.p/256",
    "tile/entries/x000/001",
    "tile/0/x009/x223/x372/x036/x854/x775/808",  # 2**63
    "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    "tile/0/" + "x001/" * 500 + "000",
]


@pytest.mark.parametrize("path", NON_CANONICAL)
def test_non_canonical_paths_are_refused(path):
    with pytest.raises(ValueError):
        tiles.parse_tile_path(path)


def test_bad_path_arguments():
    for args in [(64, 0), (-1, 0), (0, -1), (0, 2**63), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(ValueError):
            tiles.tile_path(*args)
    with pytest.raises(ValueError):
        tiles.entries_path(0, 0)


def test_tile_widths_match_the_spec_examples():
    size = 70_000
    assert [tiles.tile_width(0, n, size) for n in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tiles.tile_width(1, n, size) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tiles.tile_width(2, 0, size), tiles.tile_width(3, 0, size)] == [1, 0]
    assert [tiles.tile_width(0, 0, 256), tiles.tile_width(0, 1, 256)] == [256, 0]
    assert tiles.tile_width(1, 0, 256) == 1
    assert tiles.tile_width(0, 0, 0) == 0


# --- bundles and tile data -----------------------------------------------------------------


def test_bundles_round_trip():
    for entries in [[], [b""], [b"x"], [b"a" * 65535, b"", b"b"], [b"%d" % i for i in range(256)]]:
        data = tiles.encode_bundle(entries)
        assert tiles.decode_bundle(data) == entries
    assert tiles.encode_bundle([b"ab", b""]) == b"\x00\x02ab\x00\x00"


def test_bad_bundles_are_refused():
    with pytest.raises(ValueError):
        tiles.encode_bundle([b"a" * 65536])
    with pytest.raises(ValueError):
        tiles.encode_bundle([b""] * 257)
    good = tiles.encode_bundle([b"abc", b"de"])
    for bad in [good[:-1], good[:1], good[:6], good + b"\x00", good + b"\x00\x02a", b"\x00"]:
        with pytest.raises(ValueError):
            tiles.decode_bundle(bad)
    with pytest.raises(ValueError):
        tiles.decode_bundle(b"\x00\x00" * 257)


def test_hashes_of_tile():
    assert tiles.hashes_of_tile(bytes(32) + b"\x01" * 32) == [bytes(32), b"\x01" * 32]
    for size in (0, 31, 33, 8192 + 32):
        with pytest.raises(ValueError):
            tiles.hashes_of_tile(bytes(size))


# --- generated logs ------------------------------------------------------------------------

MAX_SIZE = 70_000


class Log:
    """Every complete node of a Frontier-built tree, and the tiles of any prefix of it."""

    def __init__(self, size: int) -> None:
        self.entries = [b"entry %d" % i for i in range(size)]
        self.nodes: dict[NodeId, bytes] = {}
        self.roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
        frontier = Frontier()
        for entry in self.entries:
            for level, index, h in frontier.append(merkle.leaf_hash(entry)):
                self.nodes[(level, index)] = h
            self.roots[frontier.size] = frontier.root()

    def get(self, ids: list[NodeId]) -> list[bytes]:
        return [self.nodes[node] for node in ids]

    def files(self, size: int) -> dict[str, bytes]:
        """The tiles and bundles a log of `size` serves, straight from the spec's definition."""
        files = {}
        level = 0
        while size >> (8 * level):
            count = size >> (8 * level)
            for n in range(0, count, 256):
                width = min(256, count - n)
                hashes = [self.nodes[(8 * level, n + i)] for i in range(width)]
                files[tiles.tile_path(level, n // 256, width)] = b"".join(hashes)
                if level == 0:
                    bundle = tiles.encode_bundle(self.entries[n : n + width])
                    files[tiles.entries_path(n // 256, width)] = bundle
            level += 1
        return files


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(MAX_SIZE)


SIZES = sorted(
    {1, 2, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, MAX_SIZE}
    | set(random.Random(6962).sample(range(1, MAX_SIZE), 6))
)


@pytest.mark.parametrize("size", SIZES)
def test_tile_reader_matches_stored_nodes(log, size):
    fetch = Fetcher(log.files(size))
    reader = TileReader(fetch, size)
    root = log.roots[size]
    assert reader.root() == root == merkle.root(size, log.get)
    rng = random.Random(size)
    for index in {0, size - 1, *rng.sample(range(size), min(size, 30))}:
        proof = merkle.inclusion_proof(index, size, reader.get)
        assert proof == merkle.inclusion_proof(index, size, log.get)
        merkle.verify_inclusion(log.nodes[(0, index)], index, size, proof, root)
    for size1 in {1, size, *rng.sample(range(1, size + 1), min(size, 30))}:
        proof = merkle.consistency_proof(size1, size, reader.get)
        assert proof == merkle.consistency_proof(size1, size, log.get)
        merkle.verify_consistency(size1, size, proof, log.roots[size1], root)
    for _ in range(5):
        begin = rng.randrange(size + 1)
        end = rng.randrange(begin, min(size, begin + 600) + 1)
        assert reader.leaf_hashes(begin, end) == [log.nodes[(0, i)] for i in range(begin, end)]
        assert reader.entries(begin, end) == log.entries[begin:end]
    assert set(fetch.counts.values()) == {1}
    assert set(fetch.counts) <= set(fetch.files)


def test_every_node_from_tiles(log):
    size = 3000
    reader = TileReader(Fetcher(log.files(size)), size)
    complete = [(lv, i) for lv in range(12) for i in range(size >> lv)]
    assert reader.get(complete) == log.get(complete)
    for level, index in [(0, 3000), (1, 1500), (11, 1), (12, 0), (-1, 0), (0, -1)]:
        with pytest.raises(ValueError):
            reader.node(level, index)


def _tampered(files: dict[str, bytes], path: str, data: bytes) -> TileReader:
    return TileReader(Fetcher({**files, path: data}), 70_000)


def test_bad_tiles_and_bundles_are_refused(log):
    files = log.files(70_000)
    full, partial, bundle = "tile/0/100", "tile/0/273.p/112", "tile/entries/100"
    assert {full, partial, bundle} <= set(files)
    flipped = bytes([files[full][0] ^ 1]) + files[full][1:]
    with pytest.raises(ValueError, match="tile above"):
        _tampered(files, full, flipped).leaf_hashes(25_600, 25_601)
    with pytest.raises(ValueError, match="bytes"):
        _tampered(files, full, files[full][:-32]).leaf_hashes(25_600, 25_601)
    with pytest.raises(ValueError, match="bytes"):
        _tampered(files, partial, b"").root()
    reader = _tampered(files, partial, bytes(112 * 32))
    assert reader.root() != log.roots[70_000]  # the right edge is checked against the checkpoint
    entries = log.entries[25_600:25_856]
    short = tiles.encode_bundle(entries[:-1])
    with pytest.raises(ValueError, match="255 entries, expected 256"):
        _tampered(files, bundle, short).entries(25_600, 25_601)
    wrong = tiles.encode_bundle([b"forged", *entries[1:]])
    with pytest.raises(ValueError, match="level-0 tile"):
        _tampered(files, bundle, wrong).entries(25_600, 25_601)
    with pytest.raises(ValueError):
        _tampered(files, bundle, b"\x00").entries(25_600, 25_601)
    reader = TileReader(Fetcher(files), 70_000)
    for begin, end in [(-1, 0), (5, 4), (0, 70_001)]:
        with pytest.raises(ValueError):
            reader.leaf_hashes(begin, end)
        with pytest.raises(ValueError):
            reader.entries(begin, end)

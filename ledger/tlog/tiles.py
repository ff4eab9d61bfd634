"""C2SP tlog-tiles (c2sp.org/tlog-tiles): tile paths, entry bundles, and reading a log by tiles.

A tile at level L holds up to 256 consecutive node hashes of tree level 8L; partial tiles sit on
the right edge. Paths are parsed strictly (exactly one spelling per tile), because mirrors and
caches key on them: two spellings of one tile would be two cache entries that can disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ledger.tlog.merkle import HASH_SIZE, NodeId, leaf_hash, node_hash, root

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_ENTRY_SIZE = 65535
MAX_LEVEL = 63
ENTRIES_LEVEL = -1
"""parse_tile_path's level for tile/entries/... bundles."""

_MAX_INDEX = 1 << 63
_PATH_RE = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/){0,6}[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?",
    re.ASCII,
)


def _encode_index(index: int) -> str:
    """The spec's index encoding: 3-digit groups, all but the last prefixed with "x"."""
    if not 0 <= index < _MAX_INDEX:
        raise ValueError(f"tile index {index} out of range")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} not in 1..{TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of a hash tile relative to the log prefix, e.g. "tile/0/x001/234.p/5"."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level {level} not in 0..{MAX_LEVEL}")
    return f"tile/{level}/{_encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of an entry bundle relative to the log prefix, e.g. "tile/entries/001.p/44"."""
    return f"tile/entries/{_encode_index(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """(level, index, width) of a tile path; level ENTRIES_LEVEL (-1) for an entry bundle.

    Only the canonical spelling is accepted (no leading zeros in level or width, no zero
    leading group in the index, width 1..255 after ".p"), checked by re-encoding.
    """
    match = _PATH_RE.fullmatch(path) if isinstance(path, str) else None
    if match is None:
        raise ValueError(f"not a tile path: {path!r}")
    level_text, index_text, width_text = match.groups()
    index = int(index_text.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    level = ENTRIES_LEVEL if level_text == "entries" else int(level_text)
    if level > MAX_LEVEL or (width_text is not None and width >= TILE_WIDTH) or index >= _MAX_INDEX:
        raise ValueError(f"tile path out of range: {path!r}")
    canonical = (
        entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)
    )
    if canonical != path:
        raise ValueError(f"non-canonical tile path: {path!r}")
    return level, index, width


def tile_width(level: int, index: int, size: int) -> int:
    """Width of tile (level, index) in a tree of `size` leaves: 256, 1..255, or 0 if absent.

    Tile level L holds the complete nodes of tree level 8L, of which there are size >> 8L.
    """
    if level < 0 or index < 0 or size < 0:
        raise ValueError("negative tile coordinates or size")
    hashes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def tile_for_node(level: int, index: int) -> tuple[int, int, int, int]:
    """(tile level, tile index, offset, count) of the tile hashes that node (level, index) spans.

    The node is the perfect subtree over `count` = 2**(level % 8) consecutive hashes of tile
    level level // 8; being aligned to its size, it never straddles two tiles.
    """
    tile_level, rest = divmod(level, TILE_HEIGHT)
    first = index << rest
    return tile_level, first // TILE_WIDTH, first % TILE_WIDTH, 1 << rest


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of hashes, paired level by level (a tile's inner levels)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"{len(level)} hashes are not a perfect subtree")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    if len(entries) > TILE_WIDTH:
        raise ValueError(f"a bundle holds at most {TILE_WIDTH} entries, not {len(entries)}")
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """Inverse of encode_bundle; ValueError on truncation, trailing bytes or >256 entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("entry bundle truncated in a length prefix")
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data):
            raise ValueError("entry bundle truncated in an entry")
        entries.append(bytes(data[pos + 2 : end]))
        pos = end
        if len(entries) > TILE_WIDTH:
            raise ValueError(f"entry bundle holds more than {TILE_WIDTH} entries")
    return entries


def hashes_of_tile(data: bytes) -> list[bytes]:
    """Split tile data into its hashes; ValueError unless it is 1..256 whole hashes."""
    if not data or len(data) % HASH_SIZE or len(data) > TILE_WIDTH * HASH_SIZE:
        raise ValueError(f"{len(data)} bytes is not a tile")
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


class TileReader:
    """Reads a log through its tiles only (what a monitor or mirror sees), fetching each tile once.

    `size` must come from a verified checkpoint (the spec forbids fetching partial tiles a
    checkpoint does not require). Every full tile is checked against its hash in the tile above,
    up to the partial right-edge tiles that root() depends on, so everything returned is
    authenticated once the caller has compared root() with the checkpoint's root. Inconsistent
    or wrongly sized data raises ValueError.
    """

    def __init__(self, fetch: Callable[[str], bytes], size: int) -> None:
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        self._fetch = fetch
        self.size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._bundles: dict[int, list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (level, index) at this size, fetched (and checked) once."""
        key = (level, index)
        if key not in self._tiles:
            width = tile_width(level, index, self.size)
            if width == 0:
                raise ValueError(f"tile {level}/{index} does not exist at size {self.size}")
            path = tile_path(level, index, width)
            data = self._fetch(path)
            if len(data) != width * HASH_SIZE:
                raise ValueError(f"{path}: {len(data)} bytes, expected {width * HASH_SIZE}")
            hashes = hashes_of_tile(data)
            if width == TILE_WIDTH:
                parent = self.tile(level + 1, index // TILE_WIDTH)[index % TILE_WIDTH]
                if subtree_hash(hashes) != parent:
                    raise ValueError(f"{path} does not hash to its entry in the tile above")
            self._tiles[key] = hashes
        return self._tiles[key]

    def node(self, level: int, index: int) -> bytes:
        """Any node complete at this size, from the tile at level // 8."""
        if level < 0 or index < 0 or (index + 1) << level > self.size:
            raise ValueError(f"node ({level}, {index}) is not complete at size {self.size}")
        tile_level, tile_index, offset, count = tile_for_node(level, index)
        hashes = self.tile(tile_level, tile_index)
        return subtree_hash(hashes[offset : offset + count])

    def get(self, ids: Sequence[NodeId]) -> list[bytes]:
        """A merkle.NodeGetter over the tiles."""
        return [self.node(level, index) for level, index in ids]

    def root(self) -> bytes:
        """The tree root at this size, to compare with the checkpoint."""
        return root(self.size, self.get)

    def _check_range(self, begin: int, end: int) -> None:
        if not 0 <= begin <= end <= self.size:
            raise ValueError(f"range [{begin}, {end}) not within size {self.size}")

    def leaf_hashes(self, begin: int, end: int) -> list[bytes]:
        """Leaf hashes [begin, end) from the level-0 tiles."""
        self._check_range(begin, end)
        out: list[bytes] = []
        for n in range(begin // TILE_WIDTH, -(-end // TILE_WIDTH)):
            base = n * TILE_WIDTH
            out += self.tile(0, n)[max(begin, base) - base : min(end, base + TILE_WIDTH) - base]
        return out

    def bundle(self, index: int) -> list[bytes]:
        """Entry bundle `index` at this size, fetched once, checked against its level-0 tile."""
        if index not in self._bundles:
            width = tile_width(0, index, self.size)
            if width == 0:
                raise ValueError(f"bundle {index} does not exist at size {self.size}")
            path = entries_path(index, width)
            entries = decode_bundle(self._fetch(path))
            if len(entries) != width:
                raise ValueError(f"{path}: {len(entries)} entries, expected {width}")
            if [leaf_hash(e) for e in entries] != self.tile(0, index):
                raise ValueError(f"{path} does not match its level-0 tile")
            self._bundles[index] = entries
        return self._bundles[index]

    def entries(self, begin: int, end: int) -> list[bytes]:
        """Log entries [begin, end) from the entry bundles."""
        self._check_range(begin, end)
        out: list[bytes] = []
        for n in range(begin // TILE_WIDTH, -(-end // TILE_WIDTH)):
            base = n * TILE_WIDTH
            out += self.bundle(n)[max(begin, base) - base : min(end, base + TILE_WIDTH) - base]
        return out

"""Checkpoint bodies (c2sp.org/tlog-checkpoint) and proofs (c2sp.org/tlog-proof@v1), as text.

Parsing is strict and canonical (decimal without leading zeros, base64 that re-encodes to the
same string, no CR, no trailing junk), so that parse(x).text() == x: a stored or served proof
is byte-for-byte the one that was checked. Signatures are not this module's business: open the
note with ledger.tlog.notes first, then parse its text here.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

MAX_SIZE = 2**63 - 1  # Go's tlog uses int64 tree sizes and indexes
MAX_TEXT = 1 << 20  # same cap as notes.MAX_NOTE_BYTES
MAX_PROOF_HASHES = 63  # an inclusion proof in a tree of < 2^63 leaves has at most 63 hashes
PROOF_HEADER = "c2sp.org/tlog-proof@v1"

_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # [0-9], not \d: int() would take other digits
_BAD_LINE_CHAR = re.compile("[\x00-\x1f\ud800-\udfff]")  # note rules: no controls, valid UTF-8


class CheckpointError(ValueError):
    """A checkpoint body or tlog proof that does not follow its spec exactly."""


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Canonical standard base64 only: one encoding per value keeps round trips exact."""
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:
        raise CheckpointError(f"{what}: bad base64") from exc
    if _b64encode(data) != text:
        raise CheckpointError(f"{what}: non-canonical base64")
    return data


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or len(text) > 19 or int(text) > MAX_SIZE:
        raise CheckpointError(f"{what}: not a decimal in [0, 2^63) without leading zeros")
    return int(text)


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        raise CheckpointError(f"{what} must be an int in [0, 2^63)")


def _check_line(line: object, what: str) -> None:
    """A line of a note text: non-empty, no newline or other control, encodable as UTF-8."""
    if not isinstance(line, str) or not line or _BAD_LINE_CHAR.search(line):
        raise CheckpointError(f"{what} must be a non-empty line without control characters")


def _as_text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("not UTF-8") from exc
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise CheckpointError("expected str or bytes of at most MAX_TEXT characters")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and (discouraged) extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse fields whose body() could not be parsed back to this same checkpoint."""
        _check_line(self.origin, "origin")
        _check_int(self.size, "size")
        if not isinstance(self.root, bytes) or not self.root:
            raise CheckpointError("root must be non-empty bytes")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> str:
        """The note text to sign: "origin\\nsize\\nbase64(root)\\n" plus extension lines."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str | bytes, hash_size: int | None = 32) -> Checkpoint:
        """Parse a checkpoint body (a note's text, without the blank line or signatures).

        hash_size is the root length to insist on (SHA-256); None accepts any non-empty root,
        only for format-only vectors such as formats' "bananas" one.
        """
        text = _as_text(text)
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint body needs origin, size and root lines")
        origin, size, root, *extensions = lines
        root_hash = _b64decode(root, "root hash")
        if hash_size is not None and len(root_hash) != hash_size:
            raise CheckpointError(f"root hash is {len(root_hash)} bytes, expected {hash_size}")
        return cls(origin, _decimal(size, "tree size"), root_hash, tuple(extensions))


@dataclass(frozen=True)
class TlogProof:
    """An offline-verifiable inclusion proof: index, Merkle path, and the signed checkpoint.

    checkpoint is the signed note verbatim (signatures and cosignatures included); extra is
    the optional opaque, unauthenticated application data.
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        """Refuse fields whose text() could not be parsed back to this same proof."""
        _check_int(self.index, "index")
        object.__setattr__(self, "hashes", tuple(self.hashes))
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise CheckpointError("too many proof hashes")
        for h in self.hashes:
            if not isinstance(h, bytes) or len(h) != 32:
                raise CheckpointError("proof hashes must be 32-byte SHA-256 values")
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise CheckpointError("extra must be bytes or None")
        cp = self.checkpoint
        if not isinstance(cp, str) or not cp.endswith("\n") or cp.startswith("\n"):
            raise CheckpointError("checkpoint must be a note: non-empty, ending in a newline")
        for line in cp[:-1].split("\n"):
            if line:  # the note's blank separator line is allowed
                _check_line(line, "checkpoint line")

    def text(self) -> str:
        """The c2sp.org/tlog-proof@v1 serialisation (what a .tlog-proof file holds)."""
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + _b64encode(self.extra))
        lines.append(f"index {self.index}")
        lines.extend(_b64encode(h) for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str | bytes) -> TlogProof:
        """Parse a tlog-proof@v1 text strictly; the checkpoint is kept, not verified, here."""
        text = _as_text(text)
        head, sep, checkpoint = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or lines[0] != PROOF_HEADER:
            raise CheckpointError(f"first line must be {PROOF_HEADER}, then an empty line later")
        extra = None
        position = 1
        if len(lines) > 1 and lines[1].startswith("extra "):
            extra = _b64decode(lines[1][len("extra ") :], "extra data")
            position = 2
        if len(lines) <= position or not lines[position].startswith("index "):
            raise CheckpointError("missing index line")
        index = _decimal(lines[position][len("index ") :], "index")
        hashes = tuple(_b64decode(line, "proof hash") for line in lines[position + 1 :])
        return cls(index, hashes, checkpoint, extra)

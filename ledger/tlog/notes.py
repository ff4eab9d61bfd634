"""Signed notes (c2sp.org/signed-note), note keys, Ed25519 cosignatures (tlog-cosignature).

Semantics are Go's golang.org/x/mod/sumdb/note, so what we accept the Go ecosystem (sum.golang.org,
witnesses, Sunlight) accepts: unknown keys' signatures are ignored, a known key's bad signature
rejects the note, and so does having no verified signature. Added: a MAX_NOTE_BYTES cap, and no
control characters at all in key names (Go's note-wide rule only forbids the ASCII ones).
"""

from __future__ import annotations

import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 20  # ours; Go has no size cap, only the 100-signature one below
MAX_SIGNATURES = 100  # as Go; the spec demands at least 16 be accepted
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: a timestamp MUST NOT exceed 2^63 - 1

_SIG_PREFIX = "— "  # em dash U+2014, space
_SKEY_PREFIX = "PRIVATE+KEY+"
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")  # Go: len 8 and strconv.ParseUint(s, 16, 32)
# The spec forbids ASCII controls other than newline; lone surrogates are not valid UTF-8.
_BAD_NOTE_CHAR = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")
# Names: controls (C0, DEL, C1), Go's unicode.IsSpace set, '+', and lone surrogates.
_BAD_NAME_CHAR = re.compile(
    "[\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+\ud800-\udfff]"
)


class NoteError(ValueError):
    """A malformed note or key, or a note that no trusted key has validly signed."""


class InvalidSignatureError(NoteError):
    """A known key's signature does not verify: Go rejects the whole note (a forgery attempt)."""


class UnverifiedNoteError(NoteError):
    """The note parsed, but no signature came from a trusted key (Go's UnverifiedNoteError)."""


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Standard padded base64 as strict as Go's StdEncoding (strict_mode alone takes "QUJD=")."""
    if len(text) % 4:
        raise NoteError("bad base64 length")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error, and non-ASCII str input
        raise NoteError("bad base64") from exc


def valid_name(name: str) -> bool:
    """Non-empty, no '+' (splits vkeys), no Unicode space (ends the name in a signature line),
    no control character (would let two names look alike in logs and terminals)."""
    return isinstance(name, str) and name != "" and _BAD_NAME_CHAR.search(name) is None


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || alg || key)[:4]: the id that lets a verifier pick its key."""
    if not valid_name(name) or not 0 <= alg <= 0xFF:
        raise NoteError(f"invalid key name or algorithm: {name!r}, {alg}")
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_text(text: str) -> bytes:
    """Return the UTF-8 of a note text, refusing what could not be signed and parsed back."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("note text must be a str ending in a newline")
    if _BAD_NOTE_CHAR.search(text) or len(text) > MAX_NOTE_BYTES:
        raise NoteError("note text has control characters or is too long")
    return text.encode()


def _split_key(key: str) -> tuple[str, bytes, int, bytes]:
    """Split "name+hex(id)+base64(alg||key)" into (name, id, alg, key), as Go's chop() does."""
    if not isinstance(key, str):
        raise NoteError("a key must be a str")
    name, _, rest = key.partition("+")
    hex_id, _, b64 = rest.partition("+")
    if not valid_name(name) or not _HEX_ID.fullmatch(hex_id):
        raise NoteError("malformed key: bad name or key id")
    raw = _b64decode(b64)
    if len(raw) != 33:  # alg byte + 32-byte Ed25519 key or seed: all this module supports
        raise NoteError("malformed key: wrong length")
    return name, bytes.fromhex(hex_id), raw[0], raw[1:]


def _cosigned_message(text: bytes, timestamp: int) -> bytes:
    """tlog-cosignature v1: the header and time lines bind the timestamp to the checkpoint."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: Ed25519 note key (0x01) or Ed25519 cosigner key (0x04)."""

    name: str
    key_id: bytes
    alg: int
    public_key: bytes

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse "<name>+<8 hex>+<base64(alg||key)>", checking the id really is the key's."""
        name, kid, alg, public_key = _split_key(vkey)
        if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise NoteError(f"unsupported vkey algorithm 0x{alg:02x}")
        if key_id(name, alg, public_key) != kid:
            raise NoteError("vkey id does not match its key")
        return cls(name, kid, alg, public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([self.alg]) + self.public_key)}"

    def verify(self, text: str, signature: bytes) -> bool:
        """Check a decoded signature (key id || payload) over a note text; never raises.

        For 0x04 the payload is timestamp(8) || Ed25519(64) over the cosigned message, so
        the timestamp is authenticated along with the checkpoint.
        """
        payload = signature[4:]
        try:
            message = _check_text(text)
            if self.alg == ALG_COSIGNATURE_V1:
                timestamp = int.from_bytes(payload[:8], "big")
                if len(payload) != 72 or timestamp > MAX_TIMESTAMP:
                    return False
                message, payload = _cosigned_message(message, timestamp), payload[8:]
            elif self.alg != ALG_ED25519:  # a Verifier built by hand, not by from_vkey
                return False
            if signature[:4] != self.key_id or len(payload) != 64:
                return False
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(payload, message)
        except (InvalidSignature, ValueError):  # NoteError is a ValueError
            return False
        return True


class _Ed25519Signer:
    """Shared half of Signer and CosignatureSigner: an Ed25519 private key with a name."""

    ALG: ClassVar[int]

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        public_key = private_key.public_key().public_bytes_raw()
        self.name = name
        self.key_id = key_id(name, self.ALG, public_key)  # validates the name
        self.vkey = f"{name}+{self.key_id.hex()}+{_b64encode(bytes([self.ALG]) + public_key)}"
        self._key = private_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"  # never the seed

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        """A key from its 32-byte RFC 8032 seed (deterministic: test vectors, derived keys)."""
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse "PRIVATE+KEY+<name>+<8 hex>+<base64(alg||seed)>" for this class's alg.

        The id is checked against the derived public key: a corrupted seed fails here, not later
        as signatures nobody can verify.
        """
        name, kid, alg, seed = _split_skey(skey)
        if alg != cls.ALG:
            raise NoteError(f"signer key algorithm 0x{alg:02x}, expected 0x{cls.ALG:02x}")
        signer = cls.from_seed(name, seed)
        if signer.key_id != kid:
            raise NoteError("signer key id does not match its key")
        return signer

    def verifier(self) -> Verifier:
        return Verifier.from_vkey(self.vkey)

    def _line(self, payload: bytes) -> str:
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + payload)}\n"


class Signer(_Ed25519Signer):
    """An Ed25519 note key (0x01), as held by a log: signs checkpoints and other notes."""

    ALG = ALG_ED25519

    def sign(self, text: str) -> str:
        """The signature line for text (Ed25519 is deterministic: same text, same line)."""
        return self._line(self._key.sign(_check_text(text)))


class CosignatureSigner(_Ed25519Signer):
    """An Ed25519 cosigner key (0x04), as held by a witness.

    Its skey mirrors Go's note skey with the alg byte 0x04: "PRIVATE+KEY+<name>+<hex id>+
    base64(0x04||seed)", the id being the 0x04 key id. (transparency-dev/formats instead
    reinterprets a 0x01 skey, whose id then differs from the signer's; that is not accepted.)
    """

    ALG = ALG_COSIGNATURE_V1

    def cosign(self, checkpoint_body: str, timestamp: int) -> str:
        """The cosignature line over a checkpoint body at a POSIX time (seconds)."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise NoteError("timestamp must be an int")
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise NoteError("timestamp must be in [0, 2^63)")
        message = _cosigned_message(_check_text(checkpoint_body), timestamp)
        return self._line(struct.pack(">Q", timestamp) + self._key.sign(message))


def _split_skey(skey: str) -> tuple[str, bytes, int, bytes]:
    if not isinstance(skey, str) or not skey.startswith(_SKEY_PREFIX):
        raise NoteError("a signer key starts with PRIVATE+KEY+")
    return _split_key(skey[len(_SKEY_PREFIX) :])


def _generate(cls: type[_Ed25519Signer], name: str) -> str:
    signer = cls(name, Ed25519PrivateKey.generate())
    seed = signer._key.private_bytes_raw()
    return f"{_SKEY_PREFIX}{name}+{signer.key_id.hex()}+{_b64encode(bytes([cls.ALG]) + seed)}"


def generate_signing_key(name: str) -> str:
    """A fresh Ed25519 note skey (Go's note.GenerateKey format); keep it secret."""
    return _generate(Signer, name)


def generate_cosignature_key(name: str) -> str:
    """A fresh cosigner skey (alg 0x04, see CosignatureSigner); keep it secret."""
    return _generate(CosignatureSigner, name)


def vkey_of(skey: str) -> str:
    """The public vkey of a note (0x01) or cosigner (0x04) skey."""
    cls = CosignatureSigner if _split_skey(skey)[2] == ALG_COSIGNATURE_V1 else Signer
    return cls.from_skey(skey).vkey


@dataclass(frozen=True)
class Signature:
    """One parsed signature line; raw is what follows the key id (the algorithm's payload)."""

    name: str
    key_id: bytes
    raw: bytes
    line: str


@dataclass(frozen=True)
class Note:
    """An opened note: its text, every signature line, and those a trusted key verified."""

    text: str
    signatures: list[Signature]
    verified: list[Signature]


def _parse_signature_line(line: str) -> Signature:
    """Parse "— <name> <base64(id||sig)>" (without its newline), as Go's Open does."""
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("malformed note: signature line must start with an em dash and space")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    raw = _b64decode(b64)
    if not valid_name(name) or len(raw) < 5:
        raise NoteError("malformed note: bad signature line")
    return Signature(name, raw[:4], raw[4:], line + "\n")


def parse_note(note: str | bytes) -> tuple[str, list[Signature]]:
    """Split a note at its last blank line into text and signature lines; verifies nothing."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise NoteError("note too long")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not UTF-8") from exc
    if not isinstance(note, str) or len(note) > MAX_NOTE_BYTES:
        raise NoteError("note must be str or bytes, at most MAX_NOTE_BYTES long")
    if _BAD_NOTE_CHAR.search(note) or len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("malformed note: control characters, or too long")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n") or split + 2 == len(note):
        raise NoteError("malformed note: no blank line followed by signatures")
    lines = note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed note: too many signatures")
    return note[: split + 1], [_parse_signature_line(line) for line in lines]


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a note and require a valid signature from at least one trusted verifier.

    Signatures whose (name, key id) is not a verifier's are kept in Note.signatures but otherwise
    ignored, which is what lets logs gain witnesses and rotate keys.
    """
    text, signatures = parse_note(note)
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise NoteError(f"ambiguous verifiers for {v.name}+{v.key_id.hex()}")
    verified: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in signatures:
        ident = (sig.name, sig.key_id)
        if ident not in known or ident in seen:  # Go skips repeats by one key unchecked
            continue
        seen.add(ident)
        if not known[ident].verify(text, sig.key_id + sig.raw):
            raise InvalidSignatureError(f"invalid signature for key {sig.name}+{sig.key_id.hex()}")
        verified.append(sig)
    if not verified:
        raise UnverifiedNoteError("note has no verifiable signatures")
    return Note(text, signatures, verified)


def sign_note(text: str, signers: Sequence[Signer], extra_lines: Sequence[str] = ()) -> str:
    """Sign text with each signer, then append extra signature lines (stored cosignatures).

    Extra lines (newline optional) must be well-formed and are kept verbatim, except one with a
    signer's name and key id: as in Go, the fresh signature replaces it.
    """
    _check_text(text)
    lines = [signer.sign(text) for signer in signers]
    ours = {(signer.name, signer.key_id) for signer in signers}
    for extra in extra_lines:
        if not isinstance(extra, str):
            raise NoteError("extra signature lines must be str")
        sig = _parse_signature_line(extra.removesuffix("\n"))
        if (sig.name, sig.key_id) not in ours:
            lines.append(sig.line)
    note = text + "\n" + "".join(lines)
    parse_note(note)  # at least one line, within the size and count limits
    return note

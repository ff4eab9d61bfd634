"""Checking an entry's proof file offline against a pinned log key (``ledgerbot verify-receipt``).

The same steps as c2sp.org/tlog-proof's "Verifying a tlog proof": the checkpoint must carry a
valid signature by the pinned key (and, when asked, by enough known witnesses); the leaf is
the entry carried in the ``extra`` line, whose SHA-256 must be the entry's hash and whose seq
must match the proof's index; and the inclusion path must lead from that leaf to the signed
root. Nothing here talks to the log: a receipt must stay checkable after the log is gone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ledger.tlog.checkpoint import Checkpoint, CheckpointError, TlogProof
from ledger.tlog.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.tlog.notes import NoteError, Verifier, open_note

HASH_DIGITS = re.compile(r"[0-9a-fA-F]{16,64}")


class ReceiptError(ValueError):
    """The proof does not prove what it claims; the message says which step failed."""


@dataclass(frozen=True)
class VerifiedReceipt:
    entry: dict[str, Any]
    hash: str
    checkpoint: Checkpoint
    witnesses: list[str]


def verify_receipt(
    text: str,
    vkey: str,
    *,
    origin: str | None = None,
    witness_keys: tuple[str, ...] = (),
    quorum: int = 0,
    hash_prefix: str | None = None,
    size: int | None = None,
    root_prefix: str | None = None,
) -> VerifiedReceipt:
    for given in (hash_prefix, root_prefix):
        if given is not None and not HASH_DIGITS.fullmatch(given):
            raise ReceiptError("--hash and --root take the 16 to 64 hex digits the receipt gave")
    try:
        proof = TlogProof.parse(text)
        log = Verifier.from_vkey(vkey)
        # One vote per witness key, however often it is listed.
        witnesses = list(
            {(v.name, v.key_id): v for v in map(Verifier.from_vkey, witness_keys)}.values()
        )
    except (CheckpointError, NoteError) as exc:
        raise ReceiptError(f"not a readable proof or key: {exc}") from None
    try:
        note = open_note(proof.checkpoint, [log])
        checkpoint = Checkpoint.parse(note.text)
    except (NoteError, CheckpointError) as exc:
        raise ReceiptError(f"the checkpoint is not signed by {log.name}: {exc}") from None
    if size is not None and checkpoint.size != size:
        raise ReceiptError(f"the proof is against tree size {checkpoint.size}, not {size}")
    if root_prefix is not None and not checkpoint.root.hex().startswith(root_prefix.lower()):
        raise ReceiptError(f"the signed root is {checkpoint.root.hex()[:16]}…, not {root_prefix}")
    if origin is not None and checkpoint.origin != origin:
        raise ReceiptError(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    cosigned = sorted(set(_witnesses(proof.checkpoint, witnesses)))
    if len(cosigned) < quorum:
        raise ReceiptError(f"{len(cosigned)} of the required {quorum} witnesses cosigned")
    if proof.extra is None:
        raise ReceiptError("the proof carries no entry (no extra line)")
    entry = _entry(proof.extra, proof.index)
    digest = hashlib.sha256(proof.extra).hexdigest()
    if hash_prefix is not None and not digest.startswith(hash_prefix.lower()):
        raise ReceiptError(f"the entry's hash is {digest[:16]}…, not {hash_prefix}")
    try:
        verify_inclusion(
            leaf_hash(proof.extra), proof.index, checkpoint.size, proof.hashes, checkpoint.root
        )
    except ProofError as exc:
        raise ReceiptError(f"the inclusion proof does not reach the signed root: {exc}") from None
    return VerifiedReceipt({**entry, "hash": digest}, digest, checkpoint, cosigned)


def _witnesses(note: str, witnesses: list[Verifier]) -> list[str]:
    """Names of the known witnesses whose cosignature on the checkpoint verifies."""
    names = []
    for witness in witnesses:
        try:
            open_note(note, [witness])
        except NoteError:
            continue
        names.append(witness.name)
    return names


def _entry(data: bytes, index: int) -> dict[str, Any]:
    try:
        entry = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError("the entry in the proof is not JSON") from None
    if not isinstance(entry, dict) or entry.get("seq") != index + 1:
        raise ReceiptError(f"the entry in the proof is not entry {index + 1}")
    return entry

"""What an evidence entry's files must be: the bytes its ``media`` list commits to.

An approved entry lists each published file's SHA-256, size and type. Anyone holding the
bytes — the operator's media store (``ledgerbot verify``), a monitor that downloaded
``/media/<sha256>`` — checks them here, with nothing but hashlib: the type is read from the
bytes' signature, the same way the bot decided it when the file arrived.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

SHA256 = re.compile(r"[0-9a-f]{64}")


def sniff(data: bytes) -> str | None:
    """The type the bytes are, by their signature, or None for anything the ledger accepts not."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def committed(payload: Any) -> list[dict]:
    """The files an entry's payload commits to (its ``media`` list), or none."""
    media = payload.get("media") if isinstance(payload, dict) else None
    return [m for m in media if isinstance(m, dict)] if isinstance(media, list) else []


def problem(entry_seq: int, item: dict, data: bytes | None) -> str | None:
    """What is wrong with ``data`` as the file ``item`` of entry ``entry_seq``, or None."""
    sha256 = str(item.get("sha256", ""))
    where = f"entry #{entry_seq} file {sha256[:16]}"
    if not SHA256.fullmatch(sha256):
        return f"{where}: not a SHA-256"
    if data is None:
        return f"{where}: missing"
    if hashlib.sha256(data).hexdigest() != sha256:
        return f"{where}: bytes do not hash to it"
    if len(data) != item.get("size"):
        return f"{where}: {len(data)} bytes, the entry says {item.get('size')}"
    if sniff(data) != item.get("type"):
        return f"{where}: not the {item.get('type')} the entry says"
    return None

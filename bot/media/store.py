"""The media store: files named by the SHA-256 of their bytes, in one directory tree.

``MEDIA_DIR`` (default ``<instance>/media``) may be a mounted volume shared by every web and
worker machine. A file is written to a temporary name, fsynced, renamed into place and its
directory fsynced, so a crash never leaves a half file under a hash name; writing the same
bytes twice (a retried job) finds the file there and only refreshes its time, which
``bot.media.collect`` reads as "still wanted". Files live at ``ab/cd/abcd…`` so no directory
grows past 65,536 entries.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from bot.config.instance import write_atomic
from ledger.media import SHA256


class MediaStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError("not a SHA-256 in lowercase hex")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Keep ``data``; its SHA-256 (the name it is kept under)."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            os.utime(target)
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        return sha256

    def read(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def files(self) -> Iterator[tuple[str, float]]:
        """Every stored file's hash and modification time (leftover temporaries included, as
        their own names, so the collector can remove those too)."""
        if not self.root.is_dir():
            return
        for first in self.root.iterdir():
            if not first.is_dir():
                continue
            for second in first.iterdir():
                if not second.is_dir():
                    continue
                for entry in second.iterdir():
                    try:
                        yield entry.name, entry.stat().st_mtime
                    except FileNotFoundError:
                        continue

    def remove_temporary(self, name: str, older_than_s: float) -> None:
        """A temporary (dot) file a crashed writer left, once it is clearly abandoned."""
        for first in self.root.glob(f"*/*/{name}"):
            if time.time() - first.stat().st_mtime > older_than_s:
                first.unlink(missing_ok=True)

"""Secrets generated once per instance folder, so the bot runs without any configuration, and
the one way files that must survive a crash are written (``write_atomic``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def instance_secret(
    instance_path: str, name: str, nbytes: int = 32, make: Callable[[], str] | None = None
) -> str:
    """A secret generated once per instance folder, for running without any configuration.

    Used for SECRET_KEY, the local Twilio auth token and the ledger's signing key when they
    are not set, so that pseudonyms, webhook signatures and the log's identity stay stable
    across restarts.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make() if make is not None else secrets.token_hex(nbytes)
    # Written whole under a temporary name, then linked into place: a reader racing the
    # writer sees either no file or the whole secret, never an empty one.
    temporary = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before anything is signed with it
    try:
        os.link(temporary, path)
    except FileExistsError:  # another process won the race; use its value
        return _read_secret(path)
    except OSError:  # a filesystem without hard links: exclusive create, readers wait
        return _create_exclusively(path, value)
    finally:
        temporary.unlink()
    return value


def _create_exclusively(path: Path, value: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _read_secret(path: Path, timeout: float = 2.0) -> str:
    """The secret another process wrote; waits out its write on filesystems without links."""
    deadline = time.monotonic() + timeout
    while True:
        value = path.read_text().strip()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` so that a crash leaves the old file or the new one, never a mix: a temp
    file beside it (same filesystem: os.replace is atomic), fsynced before the rename, and the
    directory fsynced after, so that the rename itself survives a power cut."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)

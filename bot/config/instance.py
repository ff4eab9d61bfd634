"""Secrets generated once per instance folder, so the bot runs without any configuration."""

from __future__ import annotations

import os
import secrets
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

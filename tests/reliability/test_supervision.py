"""``ledgerbot up`` supervises its children: a killed one is restarted, the rest keep serving.

The real ``up`` on defaults (embedded Redis, SQLite, dev mode): its worker is SIGKILLed, then
its gunicorn master; each comes back, a text sent while the worker was dead is still answered,
and SIGTERM to ``up`` then leaves no process of its tree running.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from bot.catalogue.demo import DEMO_SLUG
from bot.ops.redis_embedded import find_running, free_port
from tests.support.processes import (
    UpProcess,
    command_line,
    is_running,
    process_tree,
    up_env,
    wait_http,
)

pytestmark = pytest.mark.slow


def child_running(up: UpProcess, marker: str) -> int:
    """The pid of ``up``'s direct child whose command line contains ``marker``."""
    pid = up.process.pid
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            for child in map(int, handle.read().split()):
                if marker in command_line(child):
                    return child
    raise AssertionError(f"no child of up runs {marker!r}: {up.output[-2000:]}")


class HealthWatch:
    """GET /healthz every 0.1 s until stopped (at most ``limit`` s); records every failure."""

    def __init__(self, url: str, limit: float = 60.0) -> None:
        self.url, self.limit = url + "/healthz", limit
        self.checks, self.failures = 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        end = time.monotonic() + self.limit
        while not self.stop.wait(0.1) and time.monotonic() < end:
            self.checks += 1
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status != 200:
                        self.failures.append(response.status)
            except OSError as exc:
                self.failures.append(repr(exc))

    def finish(self) -> tuple[int, list]:
        self.stop.set()
        self.thread.join(timeout=5)
        return self.checks, self.failures


def text_the_bot(up: UpProcess, env: dict[str, str], sender: str) -> subprocess.CompletedProcess:
    """``ledgerbot text``: a webhook signed as Twilio signs it, then the replies it waits for."""
    argv = [sys.executable, "-m", "bot.cli", "text", "--from", sender, "--url", up.url]
    argv += ["--wait", "30", f"{DEMO_SLUG}|does it raise BDNF in people?"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def reply_statuses(instance, sender: str) -> list[str]:
    with sqlite3.connect(instance / "ledgerbot.sqlite3") as db:
        rows = db.execute("SELECT status FROM outbound_messages WHERE to_number = ?", (sender,))
        return [status for (status,) in rows]


def test_killed_children_are_restarted_and_sigterm_leaves_nothing(tmp_path):
    instance = tmp_path / "instance"
    env = up_env(instance)
    up = UpProcess(free_port(), env)
    try:
        wait_http(up.url + "/healthz", up.process, timeout=60)
        up.wait_for_line("ledgerbot is up")

        # The worker: SIGKILLed; a text sent while it is dead is answered once it is back.
        worker = child_running(up, "-m worker")
        watch = HealthWatch(up.url)
        mark = len(up.lines)
        os.kill(worker, signal.SIGKILL)
        sent = text_the_bot(up, env, "+15553000001")
        died = up.wait_for_line(f"worker (pid {worker}) died", after=mark)
        assert "killed by SIGKILL" in died and "restarting in 1 s" in died
        up.wait_for_line("worker restarted (pid", after=mark)
        checks, failures = watch.finish()
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "[logged]" in sent.stdout, sent.stdout
        assert reply_statuses(instance, "+15553000001") == ["logged"]
        assert checks >= 10 and failures == [], failures  # the web server never stopped
        assert not is_running(worker)

        # The gunicorn master: SIGKILLed; restarted, and its old workers do not linger.
        master = child_running(up, "gunicorn")
        old_web = process_tree(master)
        mark = len(up.lines)
        os.kill(master, signal.SIGKILL)
        died = up.wait_for_line(f"web server (pid {master}) died", after=mark)
        assert "killed by SIGKILL" in died
        up.wait_for_line("web server restarted (pid", after=mark)
        wait_http(up.url + "/healthz", up.process, timeout=30)
        assert child_running(up, "gunicorn") != master
        assert [pid for pid in old_web if is_running(pid)] == []

        tree = process_tree(up.process.pid)
        assert len(tree) >= 6  # up, redis-server, gunicorn + 2 workers, worker (+ scheduler)
    finally:
        returncode = up.stop(signal.SIGTERM)
    assert returncode == 0, up.output[-3000:]
    assert "stopped" in up.output
    assert [(pid, command_line(pid)) for pid in tree if is_running(pid)] == []
    assert find_running(str(instance)) is None  # the embedded Redis `up` started is stopped


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_child_that_cannot_start_is_retried_with_backoff_then_up_gives_up(tmp_path):
    instance = tmp_path / "instance"
    # Every gunicorn start fails at once (exit status 2): a setting it cannot parse.
    env = up_env(instance, GUNICORN_CMD_ARGS="--no-such-flag")
    up = UpProcess(free_port(), env)
    try:
        up.wait_for_line("web server (pid", timeout=60)
        up.wait_for_line("restarting in 8 s", timeout=30)
        spent = cpu_seconds(up.process.pid)  # `up` itself, after 4 failures and ~7 s of waiting
        tree = process_tree(up.process.pid)
        up.process.wait(timeout=30)
    finally:
        returncode = up.stop(signal.SIGTERM)
    assert returncode == 1, up.output[-3000:]
    deaths = [line for line in up.lines if "web server (pid" in line and "died" in line]
    assert len(deaths) == 4 and all("exit status 2" in line for line in deaths), deaths
    delays = [line.split("restarting in ")[1].split(" s")[0] for line in deaths]
    assert delays == ["1", "2", "4", "8"]  # doubling: no spinning
    assert "exited within 10 s of each of its 5 starts (last: exit status 2); giving up" in (
        up.output
    )
    assert spent < 3.0, spent  # start-up (migrations, demo) included
    assert "stopped" in up.output
    assert [(pid, command_line(pid)) for pid in tree if is_running(pid)] == []
    assert find_running(str(instance)) is None

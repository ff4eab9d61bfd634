"""Real processes and servers for tests: workers configured as the test is, apps on ports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server


def service_env(services, **extra: str) -> dict[str, str]:
    settings = services.settings
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "LEDGERBOT_", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL"))
    }
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=services.redis_url,
        TWILIO_ACCOUNT_SID=settings.twilio_account_sid or "",
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token or "",
        TWILIO_SMS_FROM=settings.twilio_sms_from or "",
        TWILIO_WHATSAPP_FROM=settings.twilio_whatsapp_from or "",
        TWILIO_API_URL=settings.twilio_api_url,
        TWILIO_TIMEOUT_S=str(settings.twilio_timeout_s),
        PUBLIC_URL=settings.public_url or "",
        SECRET_KEY=settings.secret_key or "",
        QUEUE_NAME=settings.queue_name,
        INSTANCE_PATH=settings.instance_path,
        MODERATOR_NUMBERS=",".join(settings.moderator_numbers),
    )
    env.update(extra)
    return env


def run_worker(services, *, failpoints: str = "", timeout: float = 120) -> int:
    """One burst worker in its own process; its exit code (-9: a failpoint killed it)."""
    env = service_env(services, LEDGERBOT_FAILPOINTS=failpoints)
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return completed.returncode


def wait_http(
    url: str,
    process: subprocess.Popen | None = None,
    timeout: float = 30.0,
    gone: Callable[[], str | None] | None = None,
) -> None:
    """Until ``url`` answers 200; raises if the server's process exits or ``timeout`` passes.

    ``gone`` says why the server cannot answer any more (None while it still might): the
    benchmarks pass one that reads their child process's log.
    """
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        reason = gone() if gone is not None else None
        if reason:
            raise RuntimeError(reason)
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# -- `ledgerbot up` as a newcomer runs it, and the processes it leaves ------------------------


def up_env(instance_path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything pointing the bot elsewhere: defaults only
    (embedded Redis, SQLite in the instance folder, dev mode), in ``instance_path``."""
    stripped = ("TWILIO_", "REDIS_", "DATABASE_", "TEST_DATABASE", "PUBLIC_URL", "LEDGERBOT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(stripped)}
    env.update(INSTANCE_PATH=str(instance_path), PYTHONUNBUFFERED="1", **extra)
    return env


class UpProcess:
    """``ledgerbot up`` on a port, its merged output read line by line as it comes."""

    def __init__(self, port: int, env: dict[str, str], *args: str) -> None:
        import threading

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "up", "--port", str(port), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 30.0, after: int = 0) -> str:
        """The first line (from index ``after``) containing ``text``; raises after ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if text in line:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} within {timeout}s:\n{self.output[-4000:]}")

    def stop(self, signum: int = 15, timeout: float = 60.0) -> int:
        """Signal ``up`` (SIGTERM by default) and wait for it and its output to end."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        return self.process.returncode


def process_tree(pid: int) -> list[int]:
    """The pid and all its live descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an exited process nobody has reaped yet:
    a container's init may never reap the orphans it adopts)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def stuck_app(environ, start_response):
    """A WSGI app for gunicorn's own tests: ``/stuck`` hangs (two minutes at most), anything
    else answers 200 at once."""
    import time

    if environ.get("PATH_INFO") == "/stuck":
        time.sleep(120)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@contextmanager
def served(app, port: int = 0) -> Iterator[str]:
    """A WSGI app on 127.0.0.1:port (any free port by default; werkzeug, threaded) for as long
    as the block runs; its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()

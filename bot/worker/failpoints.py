"""Failpoints: named places where the reliability tests inject a crash or a stall.

Set ``LEDGERBOT_FAILPOINTS="after_commit=kill,before_send=sleep:2"`` in a worker's
environment and the worker SIGKILLs itself (or sleeps) on reaching that point — the only way
to prove, with a real process and a real database, what a crash at that exact moment leaves
behind. Unset (always, in production) a failpoint costs one dictionary lookup.

The points: ``job_popped`` (``bot.worker.runtime``: RQ has moved the job to its intermediate
list, still "queued", and not yet started it), ``inbound_started`` and ``send_started`` (the
first line of each job: "started", nothing done), ``before_commit`` and ``after_commit``
(``bot.worker.inbound``), ``before_send`` and ``after_send`` (``bot.worker.sending``).
"""

from __future__ import annotations

import os
import signal
import time

_POINTS: dict[str, str] = {}
for _item in os.environ.get("LEDGERBOT_FAILPOINTS", "").split(","):
    if "=" in _item:
        _name, _action = _item.split("=", 1)
        _POINTS[_name.strip()] = _action.strip()


def hit(name: str) -> None:
    action = _POINTS.get(name)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
    elif action == "raise":
        raise RuntimeError(f"failpoint {name}")

"""Where a job's time goes without a profiler's distortion: timers around named functions.

cProfile charges every Python call, so call-heavy code (SQLAlchemy, RQ, requests) looks far
costlier under it than it is. Here a few functions are wrapped with ``perf_counter`` timers
(inclusive wall time; nested ones are inside their callers) while real jobs run in this
process, one at a time, on the benchmark's own stack.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Iterator

# (label, module, attribute path) — a class attribute is "Class.method".
JOB_PHASES = (
    ("process_inbound (all)", "bot.worker.inbound", "process_inbound"),
    ("  look first, no write (_look: read, parse, moderator?)", "bot.worker.inbound", "_look"),
    ("  rate limit (Redis)", "bot.worker.inbound", "_rate_limits"),
    ("  contact upsert (_context)", "bot.worker.inbound", "_context"),
    ("  handler (dispatch)", "bot.worker.inbound", "dispatch"),
    ("    ledger append", "bot.handlers.ask", "append"),
    ("    BM25 answer (relevant_claims)", "bot.handlers.ask", "relevant_claims"),
    ("  outbox insert (_store_outcome)", "bot.worker.inbound", "_store_outcome"),
    ("  queue notices (RQ, one pipeline)", "bot.worker.inbound", "enqueue_new"),
    ("  the replies, sent from the same job", "bot.worker.inbound", "deliver_replies"),
    ("    claim before send (_claim_send)", "bot.worker.sending", "_claim_send"),
    (
        "    twilio client POST",
        "twilio.rest.api.v2010.account.message",
        "MessageList.create",
    ),
    ("COMMITs (DBAPI commit)", "sqlalchemy.engine.default", "DefaultDialect.do_commit"),
)


@contextlib.contextmanager
def timed(phases=JOB_PHASES) -> Iterator[dict[str, list[float]]]:
    """Wrap the named functions for the duration; yields {label: [seconds, calls]}."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    undo = []
    for label, module_name, path in phases:
        owner = importlib.import_module(module_name)
        parts = path.split(".")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        original = getattr(owner, parts[-1])

        def make(original=original, label=label):
            @functools.wraps(original)
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    entry = totals[label]
                    entry[0] += time.perf_counter() - started
                    entry[1] += 1

            return wrapper

        setattr(owner, parts[-1], make())
        undo.append((owner, parts[-1], original))
    try:
        yield totals
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def describe(totals: dict[str, list[float]], per: int, unit: str = "message") -> str:
    parts = []
    for label, *_ in JOB_PHASES:
        if label in totals:
            seconds, _calls = totals[label]
            parts.append(f"{label.strip()} {seconds / per * 1e6:,.0f} µs")
    return f"per {unit}: " + "; ".join(parts)

"""Stage 2, worker: N inbound messages end to end, drained by 2 worker processes.

Before the clock starts: N inbound rows (``semax|<question>``, the 50 labelled questions about
the seed article in turn, from N/5 numbers) are stored and their ``process_inbound`` jobs
queued, exactly as the webhook leaves them. Then two
``bench.worker_proc`` processes (``run_worker(burst=True)``: the project's SimpleWorker with
its scheduler, as ``ledgerbot worker --burst``) get the go at the same moment and drain the
queue: each message is claimed, parsed, becomes a question node and a ledger entry, gets its
reply written to the outbox and committed, and the same job then sends the reply (its claim
committed first) through the official twilio client to the Twilio stand-in. A job also takes
along up to 15 messages whose jobs are still waiting (``bot.worker.take_along``), so a backlog
like this one is drained by fewer jobs than messages. The drain ends
when both workers have found the queue empty. Messages are what users feel: the measure is
messages handled, appended and answered per second (checked against the database and the
stand-in); RQ's finished-job registry counts the jobs that ran, and no job may fail.

Ceiling: 2N no-op jobs (``bench.noop.noop``, same enqueue options) drained by the same worker
class, the same number of processes, the same start signal.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
import time
import uuid
from datetime import UTC, datetime

from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import func, insert, select

from bench import phases, profiling
from bench.config import RunConfig
from bench.harness import BOT_NUMBER, REPO, MachineMeter, Stack, shown
from bench.results import Row, StageResult, Target, run_per_backend

WORKERS = 2
TARGET = Target("ratio>=", 0.45, "≥ 45% of ceiling")
FIX_NOTE = (
    "Applied to the application after earlier profiles: ledger appends as Core statements "
    "built once, upserts built once per table, the rate limiter's two windows in one Redis "
    "round trip, hiredis; one job per message (the reply is sent by the job that wrote it, "
    "through the same claim-before-call path), a look before the write transaction (no Redis "
    "or HTTP under a write lock), one UPDATE to claim, one contact upsert, notices queued in "
    "one pipeline, metrics written at most every 0.25 s per process. Then (#16, this "
    "session): a job takes along up to 15 waiting messages and handles them in one "
    "transaction (each with its own claim), their replies claimed in one commit, sent over "
    "4 connections and recorded in one commit (`bot/worker/take_along.py`); SQLite writers "
    "take turns at a gate instead of oversleeping in SQLite's busy handler; SMS segments "
    "counted without a per-character generator (it was 13% of worker CPU); quoted claim "
    "texts kept with the article's index; the ledger head read once per transaction; the "
    "article, the answer index's head and the batch's moderators looked up once per "
    "transaction. What bounds the rest: a batch's transaction holds the database's write "
    "lock (SQLite) or the ledger head's row lock (PostgreSQL, from its first append to its "
    "commit) while each message is handled, so the two workers' batches take turns; inside "
    "it, about ten statements per message through SQLAlchemy (on PostgreSQL each a network "
    "round trip), the handler's BM25 search and reply text; outside it, the twilio client's "
    "POST per reply."
)


_NUMBER_BLOCKS = itertools.count()


@functools.cache
def _questions() -> list[str]:
    """What askers text: the 50 labelled questions about the seed article. (Bodies used to end
    in the round's hex tag and a counter, "question r0d39431 12": a digit run in nearly every
    message, which the phone-number redaction reads in 50 regions, 0.5 ms each, and no asker
    types.)"""
    path = REPO / "tests" / "fixtures" / "seed-questions.json"
    return [q["q"] for q in json.loads(path.read_text())["questions"]]


def _prepare_messages(stack: Stack, count: int, tag: str, enqueue: bool = True) -> list[int]:
    """Store ``count`` inbound rows as the webhook would, and queue their jobs."""
    from bot.messaging.models import InboundMessage
    from bot.messaging.queueing import enqueue_inbound
    from ledger.db import transaction

    numbers = max(count // 5, 1)
    questions = _questions()
    # Numbers of their own for each call, five messages each, five different questions: the
    # bot's rate limits (20 a number, 5 of one text, per 10 minutes) must not see a round's
    # senders again in the next (they did, and answered them with one notice and silence).
    first = 7_000_000 + next(_NUMBER_BLOCKS) % 100 * 10_000  # below growth_build's 8,000,000
    rows = [
        {
            "message_sid": f"SM{tag}{i:08d}",
            "idempotency_token": None,
            "channel": "sms",
            "from_number": f"+1555{first + i % numbers:07d}",
            "to_number": BOT_NUMBER,
            "body": f"semax|{questions[(i + i // numbers) % len(questions)]}",
            "media": [],
            "status": "received",
            "attempts": 0,
            "received_at": datetime.now(UTC),
        }
        for i in range(count)
    ]
    with transaction(stack.services.sessions) as session:
        session.execute(insert(InboundMessage.__table__), rows)
    with stack.services.read_sessions() as session:
        found = session.execute(
            select(InboundMessage.id, InboundMessage.message_sid).where(
                InboundMessage.message_sid.like(f"SM{tag}%")
            )
        ).all()
    if enqueue:
        for inbound_id, sid in found:
            enqueue_inbound(stack.services.queue, inbound_id, sid)
    return [row.id for row in found]


def _phases(stack: Stack, count: int) -> str:
    """The jobs run here, one at a time and outside RQ, with timers around their parts."""
    from bot.messaging.models import OutboundMessage
    from bot.ops import services as services_module
    from bot.worker import inbound, sending

    services_module.install(stack.services)

    def run(ids: list[int]) -> None:
        for inbound_id in ids:
            inbound.process_inbound(inbound_id)  # looked up each time: timers patch it
            with stack.services.read_sessions() as session:
                outbound_ids = session.scalars(
                    select(OutboundMessage.id).where(OutboundMessage.inbound_id == inbound_id)
                ).all()
            for outbound_id in outbound_ids:
                sending.send_outbound(outbound_id)

    run(_prepare_messages(stack, 10, f"warm{uuid.uuid4().hex[:6]}", enqueue=False))
    ids = _prepare_messages(stack, count, f"ph{uuid.uuid4().hex[:6]}", enqueue=False)
    with phases.timed() as totals:
        started = time.perf_counter()
        run(ids)
        elapsed = time.perf_counter() - started
    stack.flush_redis()  # the send jobs process_inbound queued were run directly above
    return (
        f"Timers around the jobs' parts ({count} messages run one at a time in one process, "
        f"outside RQ; {elapsed / count * 1e6:,.0f} µs wall per message in all): "
        + phases.describe(totals, count)
        + "."
    )


def _prepare_noops(stack: Stack, count: int) -> None:
    from bench.noop import noop
    from bot.messaging.queueing import FAILURE_TTL_S, INBOUND_RETRY, JOB_TIMEOUT_S, RESULT_TTL_S

    queue = stack.services.queue
    tag = uuid.uuid4().hex[:8]
    batch = []
    for i in range(count):
        batch.append(
            queue.prepare_data(
                noop,
                (i,),
                job_id=f"noop-{tag}-{i}",
                retry=INBOUND_RETRY,
                timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
                failure_ttl=FAILURE_TTL_S,
            )
        )
        if len(batch) == 500:
            queue.enqueue_many(batch)
            batch = []
    if batch:
        queue.enqueue_many(batch)


def _registries(stack: Stack) -> tuple[int, int]:
    queue = stack.services.queue
    finished = FinishedJobRegistry(queue=queue).count
    failed = FailedJobRegistry(queue=queue).count
    return finished, failed


def drain(stack: Stack, workers: int = WORKERS, profile_dir=None) -> dict:
    """Start ``workers`` bench.worker_proc processes, give the go, wait until all are done."""
    control = f"bench:ctl:{uuid.uuid4().hex[:8]}"
    conn = stack.redis()
    children = []
    for k in range(workers):
        argv = [sys.executable, "-m", "bench.worker_proc", "--control", control]
        argv += ["--name", f"bench-{control[-8:]}-{k}"]
        if profile_dir is not None:
            argv += ["--profile", str(profile_dir / f"worker-{k}.pstats"), "--cpu"]
        children.append(stack.spawn(f"worker-{control[-8:]}-{k}", argv))
    try:
        for _ in range(workers):
            if conn.blpop([f"{control}:ready"], timeout=120) is None:
                tails = "\n".join(child.log_tail() for child in children)
                raise RuntimeError(f"workers did not get ready:\n{tails}")
        finished0, failed0 = _registries(stack)
        machine = MachineMeter().start()
        go = time.time()
        conn.rpush(f"{control}:go", *["go"] * workers)
        for child in children:
            child.process.wait(timeout=600)
        box = machine.stop()
        done = [json.loads(item) for item in conn.lrange(f"{control}:done", 0, -1)]
        if len(done) != workers:
            tails = "\n".join(child.log_tail() for child in children)
            raise RuntimeError(f"only {len(done)} of {workers} workers finished:\n{tails}")
        finished1, failed1 = _registries(stack)
    finally:
        for child in children:
            stack.stop_child(child)
        conn.close()
    ended = max(item["ended"] for item in done)
    return {
        "seconds": ended - go,
        "jobs": finished1 - finished0,
        "failed": failed1 - failed0,
        "worker_cpu_s": sum(item["cpu_s"] for item in done),
        "machine": box,
    }


def _check_round(stack: Stack, ids: list[int], sent_before: int) -> dict:
    from bot.messaging.models import InboundMessage, OutboundMessage

    with stack.services.read_sessions() as session:
        done = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.id.in_(ids), InboundMessage.status == "done")
        )
        sent = session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.inbound_id.in_(ids), OutboundMessage.twilio_sid.is_not(None))
        )
    recorded = len(stack.standin.messages) - sent_before
    return {"done": done, "sent": sent, "recorded_at_standin": recorded}


def _profile(stack: Stack, cfg: RunConfig, count: int, backend: str) -> str:
    folder = cfg.out_dir / "profiles" / f"worker-{backend}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.pstats"):
        old.unlink()
    ids = _prepare_messages(stack, count, f"prof{uuid.uuid4().hex[:6]}")
    drain(stack, profile_dir=folder)
    stats = profiling.load(folder.glob("*.pstats"))
    if stats is None:
        return ""
    (folder / "top.txt").write_text(profiling.top(stats, "cumulative", 80))
    whole, rows = profiling.breakdown(
        stats,
        ("bot/worker/runtime.py", "run_worker"),
        [
            (
                "process_inbound (its reply's send included)",
                "bot/worker/inbound.py",
                "process_inbound",
            ),
            ("send_outbound (notices)", "bot/worker/sending.py", "send_outbound"),
        ],
    )
    _, inner = profiling.breakdown(
        stats,
        ("bot/worker/runtime.py", "run_worker"),
        [
            (
                "handler (bot.handlers.dispatch: question node, BM25 answer, reply text)",
                "bot/handlers/__init__.py",
                "dispatch",
            ),
            ("ledger append", "ledger/chain.py", "append"),
            (
                "rate limits (Redis, one round trip a batch)",
                "bot/worker/inbound.py",
                "_rate_limits",
            ),
            ("contact upsert (_context)", "bot/worker/inbound.py", "_context"),
            ("outbox insert", "bot/messaging/outbox.py", "add"),
            ("queueing notices (RQ, one pipeline)", "bot/messaging/queueing.py", "enqueue_new"),
            ("twilio client HTTP call", "twilio/base/client_base.py", "request"),
            ("claiming replies before the send (_claim)", "bot/worker/sending.py", "_claim"),
            ("taking waiting messages along", "bot/worker/take_along.py", "take_along"),
            ("COMMITs", "sqlalchemy/orm/session.py", "commit"),
        ],
    )
    jobs_share = sum(share for _, _, share in rows)
    text = profiling.describe(whole, rows, len(ids))
    text_inner = profiling.describe(whole, inner, len(ids))
    return (
        f"CPU profile of both workers ({len(ids)} messages, cProfile, CPU clock; shares of "
        f"`run_worker`, µs per message): {text}; RQ's own bookkeeping (dequeue, job status, "
        f"registries, result storage) is the remaining {1 - jobs_share:.0%}. Inside the jobs: "
        f"{text_inner} (a batch's POSTs run on 4 threads of their own, which cProfile does not "
        f"see: the twilio client's share is that of replies sent alone). "
        f"Full list: `{shown(folder / 'top.txt')}`."
    )


def run_backend(cfg: RunConfig, postgres_url: str | None) -> tuple[list[Row], list[str], dict]:
    backend = "postgresql" if postgres_url else "sqlite"
    count = cfg.pick(100, 1000)
    details: dict = {"backend": backend, "messages": count, "rounds": []}
    notes: list[str] = []
    jobs_rates, msg_rates, noop_rates = [], [], []
    with Stack(postgres_url=postgres_url) as stack:
        for round_no in range(cfg.rounds):
            _prepare_noops(stack, 2 * count)
            ceiling = drain(stack)
            noop_rates.append(ceiling["jobs"] / ceiling["seconds"])

            tag = f"r{round_no}{uuid.uuid4().hex[:6]}"
            ids = _prepare_messages(stack, count, tag)
            sent_before = len(stack.standin.messages)
            measured = drain(stack)
            check = _check_round(stack, ids, sent_before)
            jobs_rates.append(measured["jobs"] / measured["seconds"])
            msg_rates.append(count / measured["seconds"])
            details["rounds"].append({"ceiling": ceiling, "bot": measured, "check": check})
            expected = {"done": count, "sent": count, "recorded_at_standin": count}
            if check != expected or not 0 < measured["jobs"] <= count or measured["failed"]:
                notes.append(
                    f"{backend} round {round_no + 1}: expected {count} messages done, sent and "
                    f"recorded by at most {count} jobs, got {check}, jobs {measured['jobs']}, "
                    f"failed {measured['failed']}"
                )
        rows = [
            Row(
                "worker",
                f"worker {backend}: messages/s end to end (handled, appended, reply accepted "
                f"by the stand-in), {WORKERS} workers",
                "msg/s",
                msg_rates,
                ceiling=noop_rates,
                ceiling_label="no-op RQ jobs/s, same worker class and count",
                target=TARGET,
            ),
            Row(
                "worker",
                f"worker {backend}: RQ jobs/s (a job takes along waiting messages)",
                "jobs/s",
                jobs_rates,
            ),
        ]
        last = details["rounds"][-1]
        cpu_per_msg = last["bot"]["worker_cpu_s"] / count * 1e6
        cpu_per_noop = last["ceiling"]["worker_cpu_s"] / max(last["ceiling"]["jobs"], 1) * 1e6
        notes.append(
            f"{backend}: {count} messages per round, "
            f"{last['bot']['jobs']} jobs in the last. Worker CPU: "
            f"{cpu_per_msg:,.0f} µs per message against "
            f"{cpu_per_noop:,.0f} µs per no-op job; machine busy "
            f"{last['bot']['machine']['busy_cores']:.2f} of {last['bot']['machine']['cores']} "
            f"cores during the last drain (other work: "
            f"{last['bot']['machine']['other_cores']:.2f})."
        )
        notes.append(f"{backend}: " + _phases(stack, cfg.pick(50, 300)))
        if cfg.profile and any(row.passed is False for row in rows):
            summary = _profile(stack, cfg, cfg.pick(100, 400), backend)
            if summary:
                notes.append(f"{backend}: {summary}")
    return rows, notes, details


def run(cfg: RunConfig) -> StageResult:
    result = StageResult("worker", "Worker: inbound messages end to end vs no-op RQ jobs")
    return run_per_backend(cfg, result, run_backend, FIX_NOTE)

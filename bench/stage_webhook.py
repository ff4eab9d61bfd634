"""Stage 1, webhook: signed ``POST /twilio/messages`` under gunicorn, against a bare Flask app.

Both apps run under the same gunicorn configuration (2 sync workers by default) at the same
time, on loopback; rounds alternate ceiling, bot, ceiling, bot, ... so that any other load on
the machine falls on both alike. The load generator (bench/loadgen.py) sends pre-signed
requests, each with its own MessageSid, so every request to the bot stores a row and queues a
job (no worker runs: the queue just fills, and is flushed after each round).

Why sync workers: it is what ``ledgerbot up`` and the README's deployment run (gunicorn's
default), and on this workload it is also the faster choice: with gthread, several threads per
process contend for SQLite's single write lock and the losers sleep in SQLite's busy handler
(1, 2, 5, 10 ms...), which costs throughput and puts 100+ ms into the tail. The bare app gains
from gthread (keep-alive), so sync is also the conservative ceiling. ``--worker-class gthread``
measures the other choice.
"""

from __future__ import annotations

import os
import statistics
import time

from sqlalchemy import func, select

from bench import loadgen, profiling
from bench.config import RunConfig
from bench.harness import (
    ACCOUNT_SID,
    BOT_NUMBER,
    REPO,
    WEBHOOK_PATH,
    CpuMeter,
    MachineMeter,
    Stack,
    process_tree,
    shown,
)
from bench.results import Row, StageResult, Target, run_per_backend

CONCURRENCY = 8
OPEN_RATE = 200.0
THROUGHPUT_TARGET = Target("ratio>=", 0.30, "≥ 30% of ceiling")
DURABLE_TARGET = Target("ratio>=", 0.80, "≥ 80% of ceiling")
P99_TARGET = Target("<=", 50.0, "p99 ≤ 50 ms")
GTHREADS = 4
FIX_NOTE = (
    "Applied to the application after this benchmark's profiles: the upsert statement is "
    "built once per table (`ledger/db.insert_ignoring_conflicts`), the RQ enqueue goes out as "
    "one pipeline (one Redis round trip), redis-py uses hiredis, metrics are written at most "
    "every 0.25 s per process, and (#16) the row is stored on a Core connection rather than "
    "an ORM session, and SQLite writers take turns at a gate (`ledger/writer_gate.py`) "
    "instead of oversleeping in SQLite's busy handler. What bounds the rest, by the profile "
    "above: the RQ enqueue's Python side (its Job object, ~20 fields serialised into one "
    "HSET, a runtime Protocol check of the serializer), SQLAlchemy's execution plumbing "
    "around one INSERT (connection checkout, BEGIN, execution context, COMMIT), and Flask's "
    "and werkzeug's request handling, which the durable-work ceiling does with stdlib "
    "sqlite3 and a two-command pipeline. Every request also fsyncs SQLite's WAL "
    "(synchronous=FULL, kept: a 200 to Twilio must mean the message survives a power cut). "
    "On PostgreSQL the COMMIT is a network round trip plus the server's WAL flush."
)


def _count_inbound(stack: Stack) -> int:
    from bot.messaging.models import InboundMessage

    with stack.services.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage))


def _requests(
    stack: Stack, count: int, offset: int, public_url: str | None = None
) -> list[loadgen.SignedRequest]:
    return loadgen.signed_requests(
        count,
        public_url=public_url or stack.public_url,
        path=WEBHOOK_PATH,
        auth_token=stack.auth_token,
        account_sid=ACCOUNT_SID,
        to=BOT_NUMBER,
        senders=loadgen.senders(500),
        body=lambda i: f"semax|does it raise BDNF in people? {offset + i}",
    )


def _gunicorn_args(cfg: RunConfig) -> dict:
    args = {"workers": 2, "worker_class": cfg.worker_class}
    if cfg.worker_class == "gthread":
        args["threads"] = GTHREADS
    return args


def _components(stack: Stack, count: int) -> dict[str, float]:
    """The webhook's three pieces of work, each timed alone in this process (µs per call)."""
    from datetime import UTC, datetime

    from twilio.request_validator import RequestValidator

    from bot.messaging.models import InboundMessage
    from bot.messaging.queueing import enqueue_inbound
    from ledger.db import insert_ignoring_conflicts, transaction

    services = stack.services
    url = stack.public_url + WEBHOOK_PATH
    params = loadgen.inbound_params("SM" + "0" * 32, "+15551230000", "semax|x", BOT_NUMBER, "AC")
    signature = RequestValidator(stack.auth_token).compute_signature(url, params)
    out: dict[str, float] = {}

    started = time.perf_counter()
    for _ in range(count):
        RequestValidator(stack.auth_token).validate(url, params, signature)
    out["signature"] = (time.perf_counter() - started) / count * 1e6

    stamp = f"{time.time_ns():x}"
    ids = []
    started = time.perf_counter()
    for i in range(count):
        with transaction(services.sessions) as session:
            ids.append(
                insert_ignoring_conflicts(
                    session,
                    InboundMessage.__table__,
                    {
                        "message_sid": f"SMcomp{stamp}{i}",
                        "idempotency_token": None,
                        "channel": "sms",
                        "from_number": "+15551230000",
                        "to_number": BOT_NUMBER,
                        "body": "semax|x",
                        "media": [],
                        "status": "done",  # not for any worker
                        "attempts": 0,
                        "received_at": datetime.now(UTC),
                    },
                )
            )
    out["store"] = (time.perf_counter() - started) / count * 1e6

    started = time.perf_counter()
    for i, inbound_id in enumerate(ids):
        enqueue_inbound(services.queue, inbound_id, f"SMcomp{stamp}{i}")
    out["enqueue"] = (time.perf_counter() - started) / count * 1e6
    stack.flush_redis()
    return out


def _profile(stack: Stack, cfg: RunConfig, label: str, offset: int) -> tuple[str, str]:
    """A separate pass with cProfile (CPU clock) in both gunicorn workers; returns a summary."""
    folder = cfg.out_dir / "profiles" / f"webhook-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.pstats"), *folder.glob("*.count")]:
        old.unlink()
    child, port = stack.start_gunicorn(
        name=f"gunicorn-profile-{label}",
        config=str(REPO / "bench" / "gunicorn_profile.py"),
        extra_env={"BENCH_PROFILE_DIR": str(folder), "BENCH_PROFILE_CLOCK": "cpu"},
        **_gunicorn_args(cfg),
    )
    requests = _requests(stack, 3000, offset, public_url=f"http://127.0.0.1:{port}")
    loadgen.closed_loop(
        "127.0.0.1", port, WEBHOOK_PATH, requests, concurrency=CONCURRENCY, duration_s=4
    )
    stack.stop_child(child)
    stack.flush_redis()
    stats = profiling.load(folder.glob("*.pstats"))
    profiled = sum(int(path.read_text()) for path in folder.glob("*.count"))
    if stats is None or not profiled:
        return "", ""
    (folder / "top.txt").write_text(
        profiling.top(stats, "cumulative", 70) + profiling.top(stats, "tottime", 40)
    )
    whole, rows = profiling.breakdown(
        stats,
        None,
        [
            ("RQ enqueue", "bot/messaging/queueing.py", "enqueue_inbound"),
            ("BEGIN IMMEDIATE + INSERT", "ledger/db.py", "insert_ignoring_conflicts"),
            ("session + COMMIT", "ledger/db.py", "transaction"),
            ("metrics (counter + histogram)", "bot/ops/metrics.py", "record_webhook"),
            ("form parsing", "werkzeug/wrappers/request.py", "_load_form_data"),
            ("signature check", "twilio/request_validator.py", "validate"),
            ("logging", "logging/__init__.py", "info"),
            ("writing the response", "gunicorn/http/wsgi.py", "write"),
        ],
    )
    text = profiling.describe(whole, rows, profiled)
    return (
        f"CPU profile of the bot's gunicorn workers ({profiled} requests after a warm-up, "
        f"cProfile with a CPU clock, inflated by the profiler; {whole / profiled * 1e6:,.0f} µs "
        f"per request in all): {text}. Full list: `{shown(folder / 'top.txt')}`.",
        str(folder),
    )


def run_backend(cfg: RunConfig, postgres_url: str | None) -> tuple[list[Row], list[str], dict]:
    backend = "postgresql" if postgres_url else "sqlite"
    duration = cfg.pick(1.5, 8.0)
    open_count = int(OPEN_RATE * cfg.pick(2.0, 10.0))
    per_round = cfg.pick(6_000, 24_000)
    details: dict = {"backend": backend, "rounds": [], "open_loop": []}
    notes: list[str] = []
    with Stack(postgres_url=postgres_url) as stack:
        bot, port = stack.start_gunicorn(**_gunicorn_args(cfg))
        bare, bare_port = stack.start_gunicorn(
            "bench.bare_app:app", name="gunicorn-bare", **_gunicorn_args(cfg)
        )
        bare_requests = _requests(stack, 4_000, 10**9)
        durable = None
        if backend == "sqlite":  # the same durable work, bare: INSERT + COMMIT, one pipeline
            durable, durable_port = stack.start_gunicorn(
                "bench.durable_app:app",
                name="gunicorn-durable",
                extra_env={"BENCH_DURABLE_DB": str(stack.root / "durable.sqlite3")},
                **_gunicorn_args(cfg),
            )
        durable_rates: list[float] = []
        offset = 0
        # Warm-up: first requests open connections and import lazily; not measured.
        warm = _requests(stack, 200, offset)
        offset += 200
        loadgen.closed_loop("127.0.0.1", port, WEBHOOK_PATH, warm, concurrency=4, duration_s=5)
        loadgen.closed_loop(
            "127.0.0.1", bare_port, WEBHOOK_PATH, bare_requests[:200], concurrency=4, duration_s=5
        )
        stack.flush_redis()
        bot_rates, bare_rates, bot_p99s, open_p99s, open_p50s = [], [], [], [], []
        cpu_bot, cpu_bare = [], []
        for round_no in range(cfg.rounds):
            groups_bare = {"web": process_tree(bare.pid), "loadgen": [os.getpid()]}
            meter, machine = CpuMeter(groups_bare).start(), MachineMeter().start()
            ceiling = loadgen.closed_loop(
                "127.0.0.1",
                bare_port,
                WEBHOOK_PATH,
                _Cycle(bare_requests),
                concurrency=CONCURRENCY,
                duration_s=duration,
            )
            used, box = meter.stop(), machine.stop()
            bare_rates.append(ceiling.rate)
            cpu_bare.append(used["web"] / max(ceiling.ok, 1) * 1e6)
            round_detail = {"ceiling": ceiling.summary(), "ceiling_machine": box}

            if durable is not None:
                durable_requests = _requests(stack, per_round, 2 * 10**9 + offset)
                durable_run = loadgen.closed_loop(
                    "127.0.0.1",
                    durable_port,
                    WEBHOOK_PATH,
                    durable_requests,
                    concurrency=CONCURRENCY,
                    duration_s=duration,
                )
                durable_rates.append(durable_run.rate)
                round_detail["durable"] = durable_run.summary()
                stack.flush_redis()

            requests = _requests(stack, per_round, offset)
            offset += per_round
            stored_before = _count_inbound(stack)
            groups_bot = {
                "web": process_tree(bot.pid),
                "redis": [stack.redis_server.pid],
                "loadgen": [os.getpid()],
            }
            meter, machine = CpuMeter(groups_bot).start(), MachineMeter().start()
            measured = loadgen.closed_loop(
                "127.0.0.1",
                port,
                WEBHOOK_PATH,
                requests,
                concurrency=CONCURRENCY,
                duration_s=duration,
            )
            used, box = meter.stop(), machine.stop()
            stored = _count_inbound(stack) - stored_before
            stack.flush_redis()
            bot_rates.append(measured.rate)
            bot_p99s.append(measured.p(99))
            cpu_bot.append(used["web"] / max(measured.ok, 1) * 1e6)
            round_detail.update(
                bot=measured.summary(),
                bot_machine=box,
                bot_cpu_us_per_request={k: v / max(measured.ok, 1) * 1e6 for k, v in used.items()},
                stored=stored,
            )
            if stored != measured.ok:
                notes.append(
                    f"round {round_no + 1}: {measured.ok} answered 200 but {stored} rows stored"
                )
            details["rounds"].append(round_detail)

        for _ in range(cfg.rounds):
            requests = _requests(stack, open_count, offset)
            offset += open_count
            machine = MachineMeter().start()
            result = loadgen.open_loop(
                "127.0.0.1", port, WEBHOOK_PATH, requests, rate=OPEN_RATE, count=open_count
            )
            box = machine.stop()
            stack.flush_redis()
            open_p99s.append(result.p(99))
            open_p50s.append(result.p(50))
            details["open_loop"].append({**result.summary(), "machine": box})

        components = _components(stack, cfg.pick(200, 1000))
        details["components_us"] = components

        rows = [
            Row(
                "webhook",
                f"webhook {backend}: closed loop, {CONCURRENCY} connections",
                "req/s",
                bot_rates,
                ceiling=bare_rates,
                ceiling_label="bare Flask app, same gunicorn",
                target=THROUGHPUT_TARGET if backend == "sqlite" else None,
                details={"p99_ms": bot_p99s},
            ),
            *(
                [
                    Row(
                        "webhook",
                        f"webhook {backend}: closed loop, vs the same durable work",
                        "req/s",
                        bot_rates,
                        ceiling=durable_rates,
                        ceiling_label="bare Flask app: INSERT + COMMIT (same pragmas), one "
                        "Redis pipeline",
                        target=DURABLE_TARGET,
                    )
                ]
                if durable_rates
                else []
            ),
            Row(
                "webhook",
                f"webhook {backend}: p99 at {OPEN_RATE:.0f} req/s offered (open loop)",
                "ms",
                open_p99s,
                target=P99_TARGET,
                digits=1,
                details={"p50_ms": open_p50s},
            ),
        ]
        other = max(
            [r["bot_machine"]["other_cores"] for r in details["rounds"]]
            + [r["ceiling_machine"]["other_cores"] for r in details["rounds"]]
        )
        median = sorted(cpu_bot)[len(cpu_bot) // 2]
        median_bare = sorted(cpu_bare)[len(cpu_bare) // 2]
        last = details["rounds"][-1]
        busy = last["bot_machine"]["busy_cores"]
        commit_kind = "WAL, synchronous=FULL" if backend == "sqlite" else "PostgreSQL"
        bot_p50 = [r["bot"]["p50_ms"] for r in details["rounds"]]
        bare_p50 = [r["ceiling"]["p50_ms"] for r in details["rounds"]]
        bare_p99 = [r["ceiling"]["p99_ms"] for r in details["rounds"]]
        notes.append(
            f"{backend}: closed-loop latency (median of rounds): bot p50 {_mid(bot_p50):.1f} ms, "
            f"p99 {_mid(bot_p99s):.1f} ms; bare app p50 {_mid(bare_p50):.1f} ms, p99 "
            f"{_mid(bare_p99):.1f} ms. Open loop at {OPEN_RATE:.0f} req/s: p50 "
            f"{_mid(open_p50s):.1f} ms."
        )
        notes.append(
            f"{backend}: gunicorn workers use {median:,.0f} µs of CPU per request against the "
            f"bare app's {median_bare:,.0f} µs; the load generator "
            f"{last['bot_cpu_us_per_request']['loadgen']:,.0f} µs and redis-server "
            f"{last['bot_cpu_us_per_request']['redis']:,.0f} µs per request, on the same "
            f"{last['bot_machine']['cores']} cores (machine busy {busy:.2f} of "
            f"{last['bot_machine']['cores']} cores during the last bot round). Timed alone in one "
            f"process: signature check {components['signature']:,.0f} µs, INSERT + COMMIT "
            f"({commit_kind}) {components['store']:,.0f} µs, RQ enqueue "
            f"{components['enqueue']:,.0f} µs."
        )
        if other > 0.25:
            notes.append(
                f"{backend}: other work on the machine used up to {other:.2f} cores during a "
                "round; rounds alternate ceiling and bot so both see it."
            )
        if cfg.profile and any(row.passed is False for row in rows):
            summary, _ = _profile(stack, cfg, backend, offset)
            if summary:
                notes.append(f"{backend}: {summary}")
    return rows, notes, details


def _mid(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class _Cycle:
    """A request list repeated forever (the bare app does not care about MessageSids)."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return 10**12

    def __getitem__(self, index: int):
        return self.items[index % len(self.items)]


def run(cfg: RunConfig) -> StageResult:
    result = StageResult(
        "webhook",
        f"Webhook under gunicorn ({cfg.worker_class}, 2 workers) vs a bare Flask app",
    )
    return run_per_backend(cfg, result, run_backend, FIX_NOTE)

"""Stage 3, latency: one message from the webhook POST to its reply at the Twilio stand-in.

An idle system: gunicorn (the webhook stage's configuration) and one ``ledgerbot worker``
(long-running, with its scheduler and sweeper, as ``make run`` starts it). Messages are sent one
at a time, each from its own number, each a question (``semax|... i``) so that every one takes
the whole path: signature check, store, queue, claim, parse, question node, ledger append,
BM25 answer, outbox, commit, send job, claim, the twilio client's HTTP call. The latency is
from just before the POST to the moment the stand-in recorded the reply (one clock: both are in
this process). The next message goes once the reply is in and the system is quiet again.

Where the time goes comes from the rows' own timestamps: ``received_at`` (webhook, before
INSERT), ``processed_at`` (the worker's claim), the outbox row's ``created_at`` (reply
written, before COMMIT) and the stand-in's arrival time.
"""

from __future__ import annotations

import http.client
import time
from datetime import UTC, datetime

from sqlalchemy import select

from bench import loadgen
from bench.config import RunConfig
from bench.harness import ACCOUNT_SID, BOT_NUMBER, WEBHOOK_PATH, Stack
from bench.loadgen import percentile
from bench.results import Row, StageResult, Target

P50_TARGET = Target("<=", 150.0, "p50 ≤ 150 ms")
P99_TARGET = Target("<=", 500.0, "p99 ≤ 500 ms")
SETTLE_S = 0.03


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _post(port: int, request: loadgen.SignedRequest) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body, headers = request
        conn.request("POST", WEBHOOK_PATH, body, headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _timeline(stack: Stack, message_sid: str) -> dict[str, datetime | None]:
    from bot.messaging.models import InboundMessage, OutboundMessage

    with stack.services.read_sessions() as session:
        inbound = session.scalar(
            select(InboundMessage).where(InboundMessage.message_sid == message_sid)
        )
        outbound = session.scalar(
            select(OutboundMessage).where(OutboundMessage.inbound_id == inbound.id)
        )
        return {
            "received_at": _aware(inbound.received_at),
            "processed_at": _aware(inbound.processed_at),
            "reply_written": _aware(outbound.created_at) if outbound else None,
        }


def one_round(stack: Stack, port: int, count: int, first: int) -> tuple[list[float], list[dict]]:
    latencies, phases = [], []
    for i in range(first, first + count):
        sender = f"+1555{8_000_000 + i:07d}"
        [request] = loadgen.signed_requests(
            1,
            public_url=stack.public_url,
            path=WEBHOOK_PATH,
            auth_token=stack.auth_token,
            account_sid=ACCOUNT_SID,
            to=BOT_NUMBER,
            senders=[sender],
            body=lambda _i, n=i: f"semax|does it raise BDNF in people? ({n})",
        )
        sid = request[0].split(b"MessageSid=", 1)[1].split(b"&", 1)[0].decode()
        started = time.time()
        status = _post(port, request)
        answered = time.time()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        [reply] = stack.standin.wait_for(lambda m, s=sender: m["to"] == s, timeout=30)
        arrived = reply["received_at"].timestamp()
        latencies.append((arrived - started) * 1000)
        times = _timeline(stack, sid)
        phases.append(
            {
                "webhook_ms": (answered - started) * 1000,
                "to_claim_ms": (times["processed_at"].timestamp() - started) * 1000,
                "handler_ms": (times["reply_written"] - times["processed_at"]).total_seconds()
                * 1000,
                "reply_to_standin_ms": (arrived - times["reply_written"].timestamp()) * 1000,
            }
        )
        time.sleep(SETTLE_S)
    return latencies, phases


def run(cfg: RunConfig) -> StageResult:
    result = StageResult("latency", "Latency: webhook POST to reply at the Twilio stand-in, idle")
    count = cfg.pick(20, 100)
    p50s, p99s, all_phases = [], [], []
    with Stack() as stack:
        _bot, port = stack.start_gunicorn(workers=2, worker_class=cfg.worker_class)
        stack.start_worker()
        one_round(stack, port, 3, 0)  # warm-up: the worker's first job imports and builds
        for round_no in range(cfg.rounds):
            latencies, phases = one_round(stack, port, count, 1000 * (round_no + 1))
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
            all_phases += phases
            result.details.setdefault("rounds", []).append(
                {
                    "latencies_ms": latencies,
                    "p50_ms": p50s[-1],
                    "p99_ms": p99s[-1],
                    "max_ms": max(latencies),
                }
            )
    result.rows = [
        Row(
            "latency",
            f"latency p50, {count} messages one at a time",
            "ms",
            p50s,
            target=P50_TARGET,
            digits=1,
        ),
        Row(
            "latency",
            f"latency p99, {count} messages one at a time",
            "ms",
            p99s,
            target=P99_TARGET,
            digits=1,
        ),
    ]
    medians = {
        key: percentile([p[key] for p in all_phases], 50)
        for key in ("webhook_ms", "to_claim_ms", "handler_ms", "reply_to_standin_ms")
    }
    result.details["phase_medians_ms"] = medians
    result.notes.append(
        f"Medians over all messages: the webhook answers in {medians['webhook_ms']:.1f} ms; the "
        f"worker claims the message {medians['to_claim_ms']:.1f} ms after the POST started "
        f"(store, commit, enqueue, RQ dequeue); the handler writes the reply "
        f"{medians['handler_ms']:.1f} ms later (parse, question node, ledger append, BM25 "
        f"answer); the reply reaches the stand-in {medians['reply_to_standin_ms']:.1f} ms after "
        f"that (commit, queueing the send job, its pickup and claim, the twilio client's POST)."
    )
    return result

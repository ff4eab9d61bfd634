"""``python -m bench.burst``: a burst of signed webhooks, then a count of what became of each.

    python -m bench.burst [--messages 2000 --numbers 200 --workers 2] [--postgres URL]

Starts its own stack (embedded Redis, an SQLite database in a temporary folder, migrated, with
the demo article; gunicorn with 2 sync workers; ``--workers`` long-running ``ledgerbot worker``
processes; a Twilio stand-in), asks one question first so that ingest messages have a question
to attach to, then sends the messages from ``--numbers`` numbers at once over loopback
(``--concurrency`` connections): most are questions (``semax|question i``), one in ten a
``HELP``/``INFO``, one in ten an ``ingest semax|q:N|PMID ...``. It waits until every stored
message is processed and every reply has left, then counts, per MessageSid:

- sent: webhooks answered 200 (anything else is counted as rejected)
- stored: inbound rows; processed: inbound rows with status done
- replied: outbound rows sent (a Twilio sid recorded); recorded: replies the stand-in holds,
  linked back through ``OutboundMessage.twilio_sid`` → ``inbound_id`` → MessageSid
- duplicates: a message with more than one reply recorded, a reply row sent twice, or a send
  at the stand-in that no outbound row accounts for
- lost: answered 200 but not stored, stored but not processed, processed but no reply recorded

and verifies the ledger chain. Exits 1 if anything was rejected, lost or doubled, or the chain
does not verify.

Rate limiting: the bot answers at most RATE_LIMIT_COUNT messages per number per window (20 per
10 minutes by default) and cuts off the same text repeated more than 5 times. The burst runs
the bot with RATE_LIMIT_COUNT=1000000 so that every message is answered and the counts mean
something, and never sends the same text more than 3 times from one number.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlencode

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bench import loadgen
from bench.harness import ACCOUNT_SID, BOT_NUMBER, UNLIMITED, WEBHOOK_PATH, Stack

SETUP_NUMBER = "+15559990000"


def body_for(i: int, numbers: int, node_id: int) -> tuple[str, str]:
    """(kind, body) of message ``i``; the k-th message of a number decides its kind."""
    k = i // numbers
    if k % 10 == 3 and k < 30:
        return "help", ("HELP", "INFO", "help")[(k // 10) % 3]
    if k % 10 == 7:
        return "ingest", (
            f"ingest semax|q:{node_id}|PMID {30_000_000 + i}: intranasal Semax raised serum "
            f"BDNF in 24 healthy volunteers (message {i})"
        )
    return "ask", f"semax|does it raise BDNF in people? question {i}"


def _send_all(port: int, requests: list[loadgen.SignedRequest], concurrency: int) -> list:
    statuses: list[int | None] = [None] * len(requests)
    counter = iter(range(len(requests)))
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            status, conn = loadgen._post(conn, WEBHOOK_PATH, requests[i])
            statuses[i] = status
        conn.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _snapshot(stack: Stack, sids: set[str]) -> dict:
    from bot.messaging.models import InboundMessage, OutboundMessage

    with stack.services.read_sessions() as session:
        inbound = session.execute(
            select(InboundMessage.id, InboundMessage.message_sid, InboundMessage.status)
        ).all()
        inbound = [row for row in inbound if row.message_sid in sids]
        ids = {row.id for row in inbound}
        outbound = session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.inbound_id,
                OutboundMessage.status,
                OutboundMessage.twilio_sid,
                OutboundMessage.kind,
            )
        ).all()
    return {
        "inbound": inbound,
        "outbound": [row for row in outbound if row.inbound_id in ids],
        "all_outbound": outbound,
    }


def _settled(snapshot: dict, stack: Stack) -> bool:
    if any(row.status == "received" for row in snapshot["inbound"]):
        return False
    if any(row.status in ("pending", "sending") for row in snapshot["outbound"]):
        return False
    sent = sum(1 for row in snapshot["all_outbound"] if row.twilio_sid)
    return len(stack.standin.messages) >= sent


def run_burst(
    messages: int = 2000,
    numbers: int = 200,
    workers: int = 2,
    *,
    concurrency: int = 16,
    postgres_url: str | None = None,
    timeout_s: float | None = None,
    log=None,
) -> dict:
    """Run a burst on a private stack and return the counts (see the module docstring)."""
    from bot.messaging.models import InboundMessage
    from ledger.chain import verify
    from ledger.db import reader
    from ledger.models import LedgerEntry, QuestionNode

    say = log or (lambda _msg: None)
    numbers = max(1, min(numbers, messages))
    timeout_s = timeout_s or max(120.0, messages / 5)
    with Stack(postgres_url=postgres_url, rate_limit_count=UNLIMITED) as stack:
        _web, port = stack.start_gunicorn(workers=2)
        for k in range(workers):
            stack.start_worker(name=f"worker-{k}")
        say(f"stack up: gunicorn :{port}, {workers} workers, stand-in {stack.standin.url}")

        # One question first: the ingest messages attach evidence to it.
        [setup] = loadgen.signed_requests(
            1,
            public_url=stack.public_url,
            path=WEBHOOK_PATH,
            auth_token=stack.auth_token,
            account_sid=ACCOUNT_SID,
            to=BOT_NUMBER,
            senders=[SETUP_NUMBER],
            body=lambda _i: "semax|does it raise BDNF in people?",
        )
        if _send_all(port, [setup], 1) != [200]:
            raise RuntimeError("the setup message was not accepted")
        stack.standin.wait_for(lambda m: m["to"] == SETUP_NUMBER, timeout=60)
        with stack.services.read_sessions() as session:
            node_id = session.scalar(select(QuestionNode.id).order_by(QuestionNode.id.desc()))
            entries_before = len(session.scalars(select(LedgerEntry.seq)).all())
        standin_before = {m["sid"] for m in stack.standin.messages}

        senders = loadgen.senders(numbers, start=6_000_000)
        kinds, requests, sids = Counter(), [], []
        url = stack.public_url + WEBHOOK_PATH
        validator = RequestValidator(stack.auth_token)
        kind_of: dict[str, str] = {}
        for i in range(messages):
            kind, body = body_for(i, numbers, node_id)
            kinds[kind] += 1
            sid = "SM" + uuid.uuid4().hex
            params = loadgen.inbound_params(
                sid, senders[i % numbers], body, BOT_NUMBER, ACCOUNT_SID
            )
            headers = {
                "X-Twilio-Signature": validator.compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            requests.append((urlencode(params).encode(), headers))
            sids.append(sid)
            kind_of[sid] = kind

        say(
            f"sending {messages} webhooks from {numbers} numbers ({dict(kinds)}), "
            f"{concurrency} connections"
        )
        started = time.perf_counter()
        statuses = _send_all(port, requests, concurrency)
        send_s = time.perf_counter() - started
        accepted = {sid for sid, status in zip(sids, statuses, strict=True) if status == 200}
        say(f"sent in {send_s:.1f} s ({messages / send_s:.0f}/s); {len(accepted)} answered 200")

        deadline = time.monotonic() + timeout_s
        snapshot = _snapshot(stack, set(sids))
        while not _settled(snapshot, stack) and time.monotonic() < deadline:
            time.sleep(0.25)
            snapshot = _snapshot(stack, set(sids))
        settled = _settled(snapshot, stack)
        time.sleep(0.5)  # anything still in flight would show up now as a duplicate
        snapshot = _snapshot(stack, set(sids))
        drained_s = time.perf_counter() - started
        say(f"{'settled' if settled else 'TIMED OUT'} after {drained_s:.1f} s")

        recorded = [m for m in stack.standin.messages if m["sid"] not in standin_before]
        sid_to_inbound = {
            row.twilio_sid: row.inbound_id for row in snapshot["all_outbound"] if row.twilio_sid
        }
        inbound_by_id = {row.id: row for row in snapshot["inbound"]}
        replies_at_standin: Counter = Counter()
        orphans = 0
        for record in recorded:
            inbound_id = sid_to_inbound.get(record["sid"])
            if inbound_id is None:
                orphans += 1
            elif inbound_id in inbound_by_id:
                replies_at_standin[inbound_by_id[inbound_id].message_sid] += 1
        rows_per_message: Counter = Counter()
        sent_rows_per_message: Counter = Counter()
        for row in snapshot["outbound"]:
            message_sid = inbound_by_id[row.inbound_id].message_sid
            rows_per_message[message_sid] += 1
            if row.twilio_sid:
                sent_rows_per_message[message_sid] += 1

        stored = {row.message_sid for row in snapshot["inbound"]}
        processed = {row.message_sid for row in snapshot["inbound"] if row.status == "done"}
        replied = set(sent_rows_per_message)
        recorded_ok = set(replies_at_standin)
        lost_unstored = accepted - stored
        lost_unprocessed = (accepted & stored) - processed
        lost_unreplied = (accepted & processed) - recorded_ok
        duplicate_messages = {sid for sid, n in replies_at_standin.items() if n > 1}
        duplicate_rows = {sid for sid, n in rows_per_message.items() if n > 1}

        with reader(stack.services.engine).connect() as conn:
            chain = verify(conn)
        with stack.services.read_sessions() as session:
            entries_after = len(session.scalars(select(LedgerEntry.seq)).all())
            status_counts = Counter(
                session.scalars(
                    select(InboundMessage.status).where(InboundMessage.message_sid.in_(sids))
                ).all()
            )
        asks_done = sum(1 for sid in processed if kind_of.get(sid) == "ask")

        result = {
            "messages": messages,
            "numbers": numbers,
            "workers": workers,
            "kinds": dict(kinds),
            "rate_limit_count": UNLIMITED,
            "sent_200": len(accepted),
            "rejected": messages - len(accepted),
            "rejected_statuses": dict(Counter(s for s in statuses if s != 200)),
            "stored": len(stored),
            "processed": len(processed),
            "inbound_statuses": dict(status_counts),
            "replied": len(replied),
            "recorded_at_standin": len(recorded_ok),
            "standin_records": len(recorded),
            "duplicates": len(duplicate_messages) + len(duplicate_rows) + orphans,
            "duplicate_messages": len(duplicate_messages),
            "duplicate_reply_rows": len(duplicate_rows),
            "orphan_sends": orphans,
            "lost": len(lost_unstored) + len(lost_unprocessed) + len(lost_unreplied),
            "lost_unstored": len(lost_unstored),
            "lost_unprocessed": len(lost_unprocessed),
            "lost_unreplied": len(lost_unreplied),
            "ledger_entries_added": entries_after - entries_before,
            "question_entries_expected": asks_done,
            "chain_ok": chain.ok,
            "chain_checked": chain.checked,
            "chain_reason": chain.reason,
            "settled": settled,
            "send_s": send_s,
            "accept_rate_per_s": messages / send_s if send_s else 0.0,
            "all_replied_s": drained_s,
            "messages_per_s_end_to_end": messages / drained_s if drained_s else 0.0,
        }
        result["ok"] = (
            result["lost"] == 0
            and result["duplicates"] == 0
            and result["rejected"] == 0
            and chain.ok
            and settled
            and result["ledger_entries_added"] == asks_done
        )
        return result


def format_result(result: dict) -> str:
    lines = [
        f"burst: {result['messages']} messages from {result['numbers']} numbers "
        f"({', '.join(f'{k} {v}' for k, v in result['kinds'].items())}), "
        f"{result['workers']} workers, RATE_LIMIT_COUNT={result['rate_limit_count']:,}",
        f"  sent (200)     {result['sent_200']:>7}   rejected {result['rejected']} "
        f"{result['rejected_statuses'] or ''}",
        f"  stored         {result['stored']:>7}",
        f"  processed      {result['processed']:>7}   {result['inbound_statuses']}",
        f"  replied        {result['replied']:>7}   (outbound rows sent)",
        f"  recorded       {result['recorded_at_standin']:>7}   (replies at the Twilio stand-in, "
        f"by MessageSid; {result['standin_records']} sends in all)",
        f"  duplicates     {result['duplicates']:>7}   (messages replied twice "
        f"{result['duplicate_messages']}, reply rows twice {result['duplicate_reply_rows']}, "
        f"unaccounted sends {result['orphan_sends']})",
        f"  lost           {result['lost']:>7}   (not stored {result['lost_unstored']}, not "
        f"processed {result['lost_unprocessed']}, no reply {result['lost_unreplied']})",
        f"  ledger         {result['ledger_entries_added']:>7}   entries added for "
        f"{result['question_entries_expected']} questions; chain "
        f"{'ok' if result['chain_ok'] else 'BROKEN: ' + str(result['chain_reason'])} "
        f"({result['chain_checked']} entries)",
        f"  timing         accepted {result['accept_rate_per_s']:.0f} webhooks/s; everything "
        f"replied {result['all_replied_s']:.1f} s after the first send "
        f"({result['messages_per_s_end_to_end']:.0f} messages/s end to end)",
        "  result         " + ("OK" if result["ok"] else "FAILED"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.burst",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16, help="connections sending")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL instead of SQLite")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON too")
    args = parser.parse_args(argv)
    result = run_burst(
        args.messages,
        args.numbers,
        args.workers,
        concurrency=args.concurrency,
        postgres_url=args.postgres,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_result(result))
    if args.json:
        print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench``: every stage, each against a ceiling measured in the same run.

    python -m bench                       # 3 rounds per stage, full sizes (~10 minutes)
    python -m bench --quick               # 1 round, tiny sizes (under a minute)
    python -m bench --stages webhook,ledger
    python -m bench --postgres postgresql://postgres@127.0.0.1:5432/test

Stages: webhook, worker, latency, ledger, verify, tlog, answers, pages, growth (see
bench/stage_*.py).
Nothing shared is used unless asked: Redis is an embedded redis-server started for the run, the
database an SQLite file in a temporary folder (PostgreSQL with --postgres: a private schema,
dropped afterwards). Prints a table and writes bench/results.md (a quick run writes
bench/.out/results-quick.md unless --output says otherwise). Exits 1 if a stage could not run;
a missed target is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.config import RunConfig
from bench.harness import OUT, REPO, MachineMeter, shown
from bench.results import StageResult


def _stages() -> dict[str, tuple[Callable[[RunConfig], StageResult], str]]:
    from bench import (
        stage_answers,
        stage_growth,
        stage_latency,
        stage_ledger,
        stage_pages,
        stage_tlog,
        stage_webhook,
        stage_worker,
    )

    return {
        "webhook": (
            stage_webhook.run,
            "Signed `POST /twilio/messages` (a fresh MessageSid each, pre-signed) from a Python "
            "load generator on loopback (bench/loadgen.py): closed loop with 8 keep-alive "
            "http.client connections for 8 s per round, then an open loop offering 200 req/s "
            "for 10 s (latency counted from each request's due time). gunicorn runs 2 workers; "
            "the ceiling is a bare Flask app returning the same TwiML under the same gunicorn "
            "configuration, running at the same time, rounds alternating. No worker runs: the "
            "queue fills and is flushed after each round. Every 200 is checked against a "
            "stored row.",
        ),
        "worker": (
            stage_worker.run,
            "1,000 inbound rows stored and their jobs queued before the clock starts; two "
            "worker processes (`run_worker(burst=True)`: SimpleWorker with scheduler, as "
            "`ledgerbot worker --burst`) start on one signal after warming up and drain the "
            "queue: process_inbound (claim, parse, question node, ledger append, BM25 answer, "
            "outbox, commit) and send_outbound (claim, the twilio client's POST to the Twilio "
            "stand-in, record). Ceiling: 2,000 no-op jobs with the same enqueue options, same "
            "worker class, count and start signal. Jobs counted from RQ's finished registry; "
            "messages done, replies sent and replies recorded at the stand-in checked.",
        ),
        "latency": (
            stage_latency.run,
            "gunicorn (2 sync workers) and one long-running `ledgerbot worker`; 100 questions "
            "per round sent one at a time, each from its own number; latency from just before "
            "the POST to the Twilio stand-in recording the reply.",
        ),
        "ledger": (
            stage_ledger.run_append,
            "`ledger.chain.append` through the project's engine (WAL, synchronous=FULL, BEGIN "
            "IMMEDIATE): 2,000 appends one transaction each, then 20,000 in one transaction; "
            "ceiling: a raw sqlite3 loop with the same pragmas doing the same head read, "
            "canonical JSON, SHA-256, INSERT, Merkle tree nodes and head UPDATE. Fresh "
            "database each time.",
        ),
        "verify": (
            stage_ledger.run_verify,
            "Chains of 100,000 and 1,000,000 entries generated with the public formula and "
            "bulk-inserted (append-only triggers in place); `ledger.chain.verify` (what "
            "`ledgerbot verify` runs) against the README's ten-line check (json.loads, "
            "json.dumps(sort_keys=True), sha256, link check) over a bare sqlite3 cursor.",
        ),
        "tlog": (
            stage_tlog.run,
            "bench/stage_tlog.py: appends with and without the Merkle tree (same engine, "
            "rounds alternating, SQLite and PostgreSQL); inclusion proofs for random entries of "
            "a 1,000,000-entry ledger; checkpoint signing; the checkpointer's coverage latency "
            "with entries appended at random intervals; the monitor's catch-up against verify.",
        ),
        "answers": (
            stage_answers.run,
            "bench/answers.py's `run()` (50 questions, limit=3, 10 rounds after a warm-up, "
            "100 and 10,000 synthetic claims), run once per round here.",
        ),
        "pages": (
            stage_pages.run,
            "bench/stage_pages.py: /a/<slug>, /api/articles/<slug> and /ledger through Flask's "
            "test client on databases of 100 and 100,000 claims (the seed article plus synthetic "
            "claims), with the ledger head unchanged (cached) and as the first request after an "
            "append; p50 per round.",
        ),
        "growth": (stage_growth.run, stage_growth.METHOD),
    }


STAGE_NAMES = (
    "webhook",
    "worker",
    "latency",
    "ledger",
    "verify",
    "tlog",
    "answers",
    "pages",
    "growth",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ledgerbot benchmarks: each stage against a ceiling measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, tiny sizes (< 1 minute)")
    parser.add_argument("--postgres", metavar="URL", help="also run webhook and worker on it")
    parser.add_argument(
        "--stages",
        default=",".join(STAGE_NAMES),
        help="comma-separated subset of: " + ", ".join(STAGE_NAMES),
    )
    parser.add_argument("--output", type=Path, help="Markdown results file")
    parser.add_argument("--json", type=Path, help="also write all numbers as JSON here")
    parser.add_argument(
        "--no-profile", action="store_true", help="do not profile stages that miss a target"
    )
    parser.add_argument(
        "--worker-class",
        choices=("sync", "gthread"),
        default="sync",
        help="gunicorn worker class for the webhook and latency stages (default: sync)",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.stages.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGE_NAMES]
    if unknown or not names:
        parser.error(f"unknown stage(s) {unknown}; choose from {', '.join(STAGE_NAMES)}")
    args.stage_list = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = RunConfig(
        quick=args.quick,
        postgres_url=args.postgres,
        profile=not args.no_profile,
        worker_class=args.worker_class,
    )
    output = args.output or (
        OUT / "results-quick.md" if args.quick else REPO / "bench" / "results.md"
    )
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m bench" + (
        ""
        if argv is None and len(sys.argv) <= 1
        else " " + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    machine_info = report.machine()
    version_info = report.versions(cfg.postgres_url)
    print(
        f"ledgerbot bench: {'quick' if cfg.quick else 'full'} run, stages "
        f"{', '.join(args.stage_list)}; {machine_info['nproc']} cores, load average "
        f"{machine_info['load average at start']}",
        file=sys.stderr,
        flush=True,
    )
    registry = _stages()
    results: list[StageResult] = []
    machine_meter = MachineMeter().start()
    for name in args.stage_list:
        run, _method = registry[name]
        print(f"[{name}] running...", file=sys.stderr, flush=True)
        stage_started = time.perf_counter()
        try:
            result = run(cfg)
        except Exception as exc:  # report it and go on with the other stages
            result = StageResult(name, name, error=f"{exc!r}\n{traceback.format_exc()}")
            print(f"[{name}] ERROR: {exc!r}", file=sys.stderr, flush=True)
            traceback.print_exc()
        result.seconds = time.perf_counter() - stage_started
        results.append(result)
        for row in result.rows:
            verdict = "" if row.passed is None else (" pass" if row.passed else " FAIL")
            ratio = (
                ""
                if row.ratio is None
                else f" ({row.ratio:.0f}x the ceiling)"
                if row.unit == "ms"
                else f" ({row.ratio:.0%} of ceiling)"
            )
            print(
                f"[{name}] {row.metric}: {row.fmt(row.median)} {row.unit}{ratio}{verdict}",
                file=sys.stderr,
                flush=True,
            )
    seconds = time.perf_counter() - started
    machine_use = machine_meter.stop()
    table = report.console_table(results)
    print(table)
    text = report.markdown(
        results,
        quick=cfg.quick,
        command=command,
        started=started_at,
        seconds=seconds,
        machine_info=machine_info,
        version_info=version_info,
        methods={name: registry[name][1] for name in args.stage_list},
        load_after=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        machine_use=machine_use,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"\nwrote {shown(output)}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "quick": cfg.quick,
                    "machine": machine_info,
                    "versions": version_info,
                    "seconds": seconds,
                    "machine_use": machine_use,
                    "stages": [r.as_dict() for r in results],
                },
                indent=1,
                default=str,
            ),
            encoding="utf-8",
        )
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

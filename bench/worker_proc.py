"""One benchmark worker process: ``ledgerbot worker --burst``, started on a signal.

    python -m bench.worker_proc --control KEY --name NAME [--profile PATH [--cpu]]

It builds the bot's services from the environment (as ``ledgerbot worker`` does), warms up
what a long-running worker has warm anyway (imports, the database and Redis connections, the
Twilio client, the article's answer index), says it is ready (``RPUSH KEY:ready``), waits for
the go (``BLPOP KEY:go``), then runs :func:`bot.worker.runtime.run_worker` in burst mode (the
project's ``SimpleWorker`` with scheduler, as in production) until the queue is empty, and
reports its start and end times (``RPUSH KEY:done``). Process start-up is thus outside the
timed drain, for the bot's jobs and for the no-op ceiling alike.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import time

from sqlalchemy import select

from bot.config import Settings
from bot.ops.services import Services, install


def warm_up(services: Services) -> None:
    import bench.noop  # noqa: F401
    import bot.worker.inbound
    import bot.worker.sending  # noqa: F401  (the job functions and everything they import)

    services.redis.ping()
    with services.read_sessions() as session:
        session.execute(select(1))
    with services.sessions() as session:
        session.execute(select(1))
    if services.twilio is not None:
        services.twilio.messages  # noqa: B018  (loads the API classes)
    from bot.catalogue.answers import article_index
    from ledger.models import Article

    with services.read_sessions() as session:
        for article in session.scalars(select(Article)):
            article_index(session, article)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_proc")
    parser.add_argument("--control", required=True, help="Redis key prefix for ready/go/done")
    parser.add_argument("--name", required=True)
    parser.add_argument("--profile", default=None, help="write cProfile stats here")
    parser.add_argument("--cpu", action="store_true", help="profile CPU time, not wall time")
    parser.add_argument("--go-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    from bot.worker.runtime import run_worker

    services = install(Services(Settings.load()))
    warm_up(services)
    control = services.redis
    control.rpush(f"{args.control}:ready", args.name)
    if control.blpop([f"{args.control}:go"], timeout=args.go_timeout) is None:
        raise SystemExit("no go signal")
    profile = None
    if args.profile:
        profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
        profile.enable()
    started = time.time()
    cpu_started = time.process_time()
    worked = run_worker(services, burst=True, name=args.name)
    ended = time.time()
    cpu = time.process_time() - cpu_started
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    control.rpush(
        f"{args.control}:done",
        json.dumps(
            {
                "name": args.name,
                "pid": os.getpid(),
                "started": started,
                "ended": ended,
                "cpu_s": cpu,
                "worked": worked,
            }
        ),
    )
    services.close()


if __name__ == "__main__":
    main()

"""Gunicorn config for profiling a benchmark: cProfile around requests in each worker.

    gunicorn --config bench/gunicorn_profile.py ...

BENCH_PROFILE_DIR: folder for the dumps (one per worker, written when the worker exits).
BENCH_PROFILE_CLOCK=cpu: count CPU time only (where the cores go, not where requests wait).
BENCH_PROFILE_SKIP: requests per worker left out first (lazy imports, first connections).
Only time inside requests is counted (pre_request to post_request), not waiting in accept().
"""

from __future__ import annotations

import cProfile
import os
import time

SKIP = int(os.environ.get("BENCH_PROFILE_SKIP", "50"))


def post_worker_init(worker):
    clock = time.process_time if os.environ.get("BENCH_PROFILE_CLOCK") == "cpu" else None
    worker.bench_profile = cProfile.Profile(clock) if clock else cProfile.Profile()
    worker.bench_seen = 0
    worker.bench_profiled = 0


def pre_request(worker, req):
    worker.bench_seen += 1
    if worker.bench_seen > SKIP:
        worker.bench_profiled += 1
        worker.bench_profile.enable()


def post_request(worker, req, environ, resp):
    if worker.bench_seen > SKIP:
        worker.bench_profile.disable()


def worker_exit(server, worker):
    profile = getattr(worker, "bench_profile", None)
    if profile is None or not worker.bench_profiled:
        return
    folder = os.environ.get("BENCH_PROFILE_DIR") or "."
    profile.dump_stats(os.path.join(folder, f"gunicorn-worker-{os.getpid()}.pstats"))
    with open(os.path.join(folder, f"gunicorn-worker-{os.getpid()}.count"), "w") as handle:
        handle.write(str(worker.bench_profiled))

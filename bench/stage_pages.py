"""Stage 8, pages: ``/a/<slug>``, ``/api/articles/<slug>`` and ``/ledger`` at 100,000 claims
against the same pages at 100 claims.

The app is driven in-process through Flask's test client (the app's own time: no HTTP, no
gunicorn) over a database from :func:`bench.answers.corpus_database`. Each path is timed
twice: with the ledger head unchanged (what the response cache serves), and as the first
request after an append (a committed question entry, as every ask makes), when the page must
be computed again from the article's fold brought forward by the new entries.
"""

from __future__ import annotations

import cProfile
import gc
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import answers, profiling
from bench.config import RunConfig
from bench.harness import shown
from bench.results import Row, StageResult, Target

PATHS = ("/a/semax", "/api/articles/semax", "/ledger")
P50_TARGET = Target("<=", 50.0, "≤ 50 ms")
GROWTH_TARGET = Target("<=", 3.0, "≤ 3x")
SMALL = 100
PROBES = (
    ("charts.timeline (reads every entry of the article)", "bot/web/charts.py", "timeline"),
    ("fold brought forward (cache.article_ledger)", "bot/web/cache.py", "article_ledger"),
    ("ArticleLedger.stats", "ledger/stats.py", "stats"),
    ("ArticleLedger.source_tiers", "ledger/stats.py", "source_tiers"),
    ("pending_counts", "ledger/stats.py", "pending_counts"),
    ("ledger head read", "ledger/chain.py", "head"),
    ("render_template", "flask/templating.py", "render_template"),
    ("jsonify", "flask/json/__init__.py", "jsonify"),
)

REMEDIES = {
    PROBES[0][0]: "bot/web/charts.py (outside #16's files) selects the seq and month of every "
    "entry of the article for each page it draws; the article's fold could count entries per "
    "month and tier as it grows (its rows would carry created_at) and hand timeline() those "
    "counts, as it hands the page its tallies.",
}


def run(cfg: RunConfig) -> StageResult:
    result = StageResult("pages", "Public pages and API: 100,000 claims against 100")
    large = cfg.pick(2_000, 100_000)
    for postgres_url in cfg.backends:
        backend = "postgresql" if postgres_url else "sqlite"
        measured = {size: _measure(cfg, size, postgres_url) for size in (SMALL, large)}
        result.details[backend] = measured
        for path in PATHS:
            result.rows += _rows(backend, path, measured[SMALL], measured[large], large)
        fold = measured[large]["fold_mib"]
        result.notes.append(
            f"{backend}: the first request of each path in a fresh process took "
            + ", ".join(f"{p} {measured[large]['cold_ms'][p]:,.0f} ms" for p in PATHS)
            + f" at {large:,} claims (folding every entry once); that fold stays in the process, "
            f"{fold:.1f} MiB by tracemalloc, and is only brought forward afterwards."
        )
    failed = {row.details["path"] for row in result.failed_targets}
    if failed and cfg.profile:
        result.notes += _profile(cfg, large, sorted(failed))
    return result


def _rows(backend: str, path: str, small: dict, large: dict, size: int) -> list[Row]:
    rows = []
    for kind, label in (("cached", "head unchanged (cached)"), ("fresh", "after an append")):
        base = {"stage": "pages", "unit": "ms", "digits": 2, "details": {"path": path}}
        rows.append(
            Row(
                metric=f"{path} p50, {backend}, {size:,} claims, {label}",
                values=large[kind][path],
                ceiling=small[kind][path],
                ceiling_label=f"same, {SMALL:,} claims",
                target=P50_TARGET,
                **base,
            )
        )
        growth = [a / b for a, b in zip(large[kind][path], small[kind][path], strict=True)]
        rows.append(
            Row(
                "pages",
                f"{path} p50 growth, {backend}, {size:,} vs {SMALL:,} claims, {label}",
                "x",
                growth,
                digits=2,
                target=GROWTH_TARGET,
                details={"path": path},
            )
        )
    return rows


def _measure(cfg: RunConfig, size: int, postgres_url: str | None) -> dict:
    from ledger.chain import append
    from ledger.db import session_factory, transaction

    requests, appends = cfg.pick(20, 200), cfg.pick(5, 20)
    with answers.corpus_database(size, postgres_url) as engine, _App(engine) as app:
        client = app.client
        cold = {path: _timed(client, path) for path in PATHS}
        sessions = session_factory(engine)
        cached: dict[str, list[float]] = {path: [] for path in PATHS}
        fresh: dict[str, list[float]] = {path: [] for path in PATHS}
        for _ in range(cfg.rounds):
            for path in PATHS:
                cached[path].append(
                    statistics.median(_timed(client, path) for _ in range(requests))
                )
            times: dict[str, list[float]] = {path: [] for path in PATHS}
            for i in range(appends):
                with transaction(sessions) as session:
                    append(session, "question", answers.SLUG, {"node_id": i, "question": "q?"})
                for path in PATHS:
                    times[path].append(_timed(client, path))
            for path in PATHS:
                fresh[path].append(statistics.median(times[path]))
        fold_mib = _fold_mib(engine) if size > SMALL else 0.0
    return {"cold_ms": cold, "cached": cached, "fresh": fresh, "fold_mib": fold_mib}


def _timed(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return elapsed


def _fold_mib(engine) -> float:
    """What one article's fold keeps in a web process (tracemalloc, retained)."""
    from bot.web import cache
    from ledger.chain import head
    from ledger.db import reader, session_factory

    cache._folds.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    with session_factory(reader(engine))() as session:
        cache.article_ledger(session, answers.SLUG, head(session))
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return retained / 2**20


def _profile(cfg: RunConfig, size: int, paths: list[str]) -> list[str]:
    """cProfile of the first request after an append (SQLite), for each path that missed."""
    from ledger.chain import append
    from ledger.db import session_factory, transaction

    notes = []
    with answers.corpus_database(size) as engine, _App(engine) as app:
        sessions = session_factory(engine)
        for path in paths:
            app.client.get(path)
            with transaction(sessions) as session:
                append(session, "question", answers.SLUG, {"node_id": 0, "question": "q?"})
            profiler = cProfile.Profile()
            profiler.enable()
            app.client.get(path)
            profiler.disable()
            out = cfg.out_dir / f"pages{path.replace('/', '-')}.prof"
            profiler.dump_stats(str(out))
            stats = profiling.load([out])
            whole, parts = profiling.breakdown(stats, None, PROBES)
            bound = max(parts, key=lambda part: part[1])[0]
            notes.append(
                f"Profile of {path}, first request after an append at {size:,} claims (SQLite, "
                f"cProfile, {whole * 1000:,.0f} ms under the profiler; {shown(out)}): "
                f"{profiling.describe(whole, parts, 1)}. Bound: {bound}. {REMEDIES.get(bound, '')}"
            )
    return notes


class _App:
    """The web app on ``engine``, in dev mode, with nothing else running."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def __enter__(self) -> _App:
        from bot.config import Settings
        from bot.ops.services import Services
        from bot.web.app import create_app

        self.folder = Path(tempfile.mkdtemp(prefix="ledgerbot-pages-"))
        settings = Settings.load(
            {
                "instance_path": str(self.folder),
                "database_url": self.engine.url.render_as_string(hide_password=False),
                "redis_url": "redis://127.0.0.1:9/0",  # the pages never reach it
                "secret_key": "bench",
            },
            env={},
        )
        self.services = Services(settings, engine=self.engine)
        self.client = create_app(services=self.services).test_client()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

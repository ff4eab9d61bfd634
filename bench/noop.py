"""The worker stage's ceiling: a job that does nothing, run by the same RQ worker class."""

from __future__ import annotations


def noop(index: int) -> str:
    return "ok"

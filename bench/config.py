"""Sizes and switches of one benchmark run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import OUT


@dataclass
class RunConfig:
    quick: bool = False
    postgres_url: str | None = None
    profile: bool = True  # profile a stage that misses its target (a separate, untimed pass)
    worker_class: str = "sync"  # gunicorn worker class for the webhook stages
    out_dir: Path = field(default_factory=lambda: OUT)

    @property
    def rounds(self) -> int:
        return 1 if self.quick else 3

    def pick(self, quick, full):
        return quick if self.quick else full

    @property
    def backends(self) -> list[str | None]:
        """None is SQLite (always); a URL is PostgreSQL (with --postgres)."""
        return [None] + ([self.postgres_url] if self.postgres_url else [])

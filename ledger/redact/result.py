"""What ``publishable`` returns, on its own so every stage can build or name it.

``Redacted`` and ``PLACEHOLDER`` are the package's output types: the moderator's preview shows
``pieces``, the ledger stores ``text``. They live apart from the stages that produce them so
``normalise`` can assemble one without importing the package that re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACEHOLDER = "[number removed]"


@dataclass(frozen=True)
class Redacted:
    """What may be published (``text``) and how it was made, for the moderator's preview."""

    text: str
    pieces: tuple[tuple[str, bool], ...]  # in order; True marks a PLACEHOLDER
    removed: tuple[str, ...]  # the original text of each removed span: never published

    @property
    def count(self) -> int:
        return len(self.removed)

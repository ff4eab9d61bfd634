"""The article page's timeline counts each entry once, grows with the ledger, and starts over
for a ledger that is not the one it counted."""

from __future__ import annotations

from sqlalchemy import text

from bot.web import charts
from ledger.chain import append
from ledger.db import transaction
from tests.test_helpers import load_demo


def total(services) -> int:
    with services.read_sessions() as session:
        drawn = charts.timeline(session, "semax", {})
    return sum(bar["total"] for bar in drawn["bars"]) if drawn else 0


def entries(services) -> int:
    with services.read_sessions() as session:
        return session.execute(
            text("SELECT count(*) FROM ledger_entries WHERE slug = 'semax'")
        ).scalar()


def test_the_timeline_grows_with_each_entry_and_recounts_a_new_ledger(services):
    load_demo(services)
    assert total(services) == entries(services) > 0
    with transaction(services.sessions) as session:
        for n in range(3):
            append(session, "question", "semax", {"node_id": 1000 + n, "question": "q?"})
    assert total(services) == entries(services)
    assert total(services) == entries(services)  # asked again: nothing counted twice
    # Another ledger at the same address (a restore): counted from its own entries.
    key = (services.engine.url.render_as_string(hide_password=True), "semax")
    charts._counted[key].digest = "0" * 64
    assert total(services) == entries(services)

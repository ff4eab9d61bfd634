"""A fold brought forward entry by entry says what a fold of every entry at once says.

The web pages keep each article's :class:`ledger.stats.Fold` and add only the entries
appended since (bot/web/cache.py); that is right only if the result never depends on where
the rows were cut, nor on the tallies the fold keeps instead of counting claims again.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.article_format import parse_article
from ledger.importer import article_payload, source_payload
from ledger.models import TIERS
from ledger.stats import ArticleLedger, Fold, fold
from tests.test_helpers import SEED

_TIER = st.sampled_from([*TIERS, "other", None])
_NODE = st.integers(1, 4)
_ENTRY = st.one_of(
    st.tuples(st.just("article"), st.fixed_dictionaries({"title": st.sampled_from("ab")})),
    st.tuples(
        st.just("source"),
        st.fixed_dictionaries(
            {"sid": st.sampled_from(["s1", "s2", "s3", ""]), "kind": st.sampled_from(["x", "web"])}
        ),
    ),
    st.tuples(
        st.just("claim"),
        st.fixed_dictionaries(
            {"tier": _TIER, "text": st.text(max_size=8), "sid": st.sampled_from(["s1", "s2", ""])}
        ),
    ),
    st.tuples(
        st.just("question"),
        st.fixed_dictionaries({"node_id": _NODE, "question": st.text(max_size=8)}),
    ),
    st.tuples(
        st.just("evidence"),
        st.fixed_dictionaries(
            {"node_id": _NODE, "tier": _TIER, "paste": st.text(max_size=8)},
            optional={"status": st.sampled_from(["approved", "rejected"])},
        ),
    ),
    st.tuples(st.just("moderation"), st.just({"decision": "approved"})),
)


def rows(entries: list[tuple[str, dict]]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(seq=seq, kind=kind, payload=json.dumps(payload))
        for seq, (kind, payload) in enumerate(entries, start=1)
    ]


def same(grown: ArticleLedger, whole: ArticleLedger) -> None:
    assert grown == whole
    assert grown.stats(2) == whole.stats(2)
    assert grown.source_tiers() == whole.source_tiers()
    untallied = ArticleLedger(
        whole.slug, whole.article, whole.article_seq, whole.sources, whole.claims, whole.questions
    )
    assert untallied.stats(2) == whole.stats(2)
    assert untallied.source_tiers() == whole.source_tiers()


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(_ENTRY, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_any_cut_of_the_rows_folds_alike(entries, cuts):
    everything = rows(entries)
    grown = Fold("semax")
    start = 0
    for cut in sorted(cuts):
        grown.add(everything[start:cut])
        start = max(start, cut)
        same(grown.ledger(), fold("semax", everything[:start]))
    grown.add(everything[start:])
    same(grown.ledger(), fold("semax", everything))


def test_a_snapshot_does_not_change_when_the_fold_grows():
    record = parse_article(SEED.read_text(encoding="utf-8"))
    entries = [("article", article_payload(record))]
    entries += [("source", source_payload(s)) for s in record.sources]
    entries += [("question", {"node_id": 1, "question": "does it raise BDNF?", "asker": "p"})]
    grown = Fold("semax").add(rows(entries))
    snapshot = grown.ledger()
    claims, questions = len(snapshot.claims), snapshot.questions
    grown.add(rows([*entries, ("evidence", {"node_id": 1, "tier": "human", "paste": "BDNF"})])[-1:])
    assert len(snapshot.claims) == claims and snapshot.questions == questions
    assert snapshot.questions[0].status == "open"
    assert grown.ledger().questions[0].status == "answered"
    assert grown.ledger().stats().claims["human"] == snapshot.stats().claims["human"] + 1

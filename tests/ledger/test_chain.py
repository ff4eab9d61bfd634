"""The hash chain: links, timestamps, payload rules, and the public entry format."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from ledger.chain import (
    GENESIS_HASH,
    PayloadError,
    append,
    head,
    leaf_bytes,
    public_entry,
    verify,
)
from ledger.db import session_factory, transaction
from ledger.models import LedgerEntry

PUBLIC_KEYS = {"seq", "kind", "slug", "payload", "prev_hash", "created_at", "hash"}


def entries(engine) -> list[LedgerEntry]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def count(engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntry))


def add(engine, payload, kind="note", slug="semax", **kwargs) -> LedgerEntry:
    with transaction(session_factory(engine)) as session:
        return append(session, kind, slug, payload, **kwargs)


def test_append_links_seq_and_prev_hash(engine):
    added = [add(engine, {"n": n}) for n in range(1, 6)]

    rows = entries(engine)
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert [row.seq for row in added] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert len({row.hash for row in rows}) == 5
    with session_factory(engine)() as session:
        assert head(session) == (5, rows[-1].hash)


def test_empty_ledger_verifies(engine):
    with engine.connect() as conn:
        result = verify(conn)
    assert result.ok and result.checked == 0
    assert (result.head_seq, result.head_hash) == (0, GENESIS_HASH)


def test_created_at_is_iso8601_utc(engine):
    before = datetime.now(UTC)
    row = add(engine, {"a": 1})
    after = datetime.now(UTC)

    assert row.created_at.endswith("Z")
    parsed = datetime.fromisoformat(row.created_at)
    assert parsed.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= parsed <= after + timedelta(seconds=1)
    # Also with Z swapped for an explicit offset, for parsers that predate "Z" support.
    assert datetime.fromisoformat(row.created_at[:-1] + "+00:00") == parsed


def test_created_at_from_an_aware_non_utc_clock_is_converted_to_utc(engine):
    tokyo = timezone(timedelta(hours=9))
    row = add(engine, {"a": 1}, now=datetime(2026, 1, 2, 9, 30, 0, 123456, tzinfo=tokyo))
    assert row.created_at == "2026-01-02T00:30:00.123456Z"


@pytest.mark.parametrize(
    "payload",
    [
        {"dose": 1.5},
        {"dose": 1.0},
        {"nested": {"deep": {"x": 0.1}}},
        {"list": [1, 2, 3.0]},
        {"list": [{"x": [float("nan")]}]},
        {"inf": float("inf")},
        {1: "non-string key"},
        {"nested": {2: "non-string key"}},
        {"tuple": (1, 2)},
        {"bytes": b"raw"},
        {"set": {1, 2}},
    ],
    ids=repr,
)
def test_unportable_payload_raises_and_appends_nothing(engine, payload):
    add(engine, {"first": True})
    with pytest.raises(PayloadError):
        add(engine, payload)

    assert count(engine) == 1
    with session_factory(engine)() as session:
        assert head(session)[0] == 1
    assert add(engine, {"after": True}).seq == 2


@pytest.mark.parametrize("payload", [[1, 2], "text", None, 42, [("k", "v")]], ids=repr)
def test_payload_must_be_a_dict(engine, payload):
    with pytest.raises(PayloadError):
        add(engine, payload)
    assert count(engine) == 0


def test_allowed_payload_values_round_trip(engine):
    payload = {
        "str": "s",
        "int": -7,
        "big": 2**62,
        "bool": True,
        "false": False,
        "null": None,
        "list": [1, "two", [3], {"four": 4}],
        "dict": {"z": 1, "a": {"b": []}},
        "empty": {},
    }
    row = add(engine, payload)
    assert public_entry(row)["payload"] == payload
    assert public_entry(entries(engine)[0])["payload"] == payload


def test_failed_transaction_leaves_no_trace(engine):
    add(engine, {"n": 1})
    factory = session_factory(engine)
    with pytest.raises(RuntimeError), transaction(factory) as session:
        append(session, "note", "semax", {"n": 2})
        append(session, "note", "semax", {"n": 3})
        raise RuntimeError("the handler failed after appending")
    assert count(engine) == 1
    assert add(engine, {"n": 2}).seq == 2
    with engine.connect() as conn:
        assert verify(conn).ok


def test_several_appends_in_one_transaction(engine):
    with transaction(session_factory(engine)) as session:
        rows = [append(session, "note", "semax", {"n": n}) for n in range(3)]
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash


NON_ASCII = ["μg", "日本語", "emoji 🧪🧠", "Ünïcödé ß", "RTL עברית", "combining é", 'q"uote\\']


@pytest.mark.parametrize("value", NON_ASCII)
def test_non_ascii_round_trips_and_hashes_per_formula(engine, independent_check, value):
    payload = {"text": value, value: [value, {"k": value}]}
    row = add(engine, payload, slug="semax")

    stored = entries(engine)[0]
    assert public_entry(stored)["payload"] == payload
    # ensure_ascii=False: the characters themselves are stored, not \u escapes.
    if not value.isascii():
        assert value in stored.payload
        assert "\\u" not in stored.payload
    [checked] = independent_check(engine)
    assert checked["hash"] == row.hash == stored.hash
    assert checked["payload"] == payload


def test_public_entry_has_exactly_the_seven_public_keys(engine):
    row = add(engine, {"claim": "x"})
    entry = public_entry(row)
    assert set(entry) == PUBLIC_KEYS
    assert entry == {
        "seq": 1,
        "kind": "note",
        "slug": "semax",
        "payload": {"claim": "x"},
        "prev_hash": GENESIS_HASH,
        "created_at": row.created_at,
        "hash": row.hash,
    }
    # Also from a raw row, which is how a public page or an export would read it.
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT * FROM ledger_entries")).one()
        conn.rollback()
    assert public_entry(raw) == entry
    json.dumps(entry)  # plain JSON data


def test_a_fork_of_the_chain_is_refused(engine):
    """UNIQUE(prev_hash) is the backstop if two appenders ever read the same head."""
    first = add(engine, {"n": 1})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (seq, kind, slug, payload, prev_hash, created_at, hash)"
                " VALUES (2, 'note', 'semax', '{}', :prev, '2026-01-01T00:00:00.000000Z', :h)"
            ),
            {"prev": GENESIS_HASH, "h": "f" * 64},
        )
    assert [row.hash for row in entries(engine)] == [first.hash]


def varied_payload(n: int) -> dict:
    shapes = [
        lambda: {"n": n},
        lambda: {"text": f"entry {n} μg/kg 日本語 🧪", "tags": ["a", "b", n]},
        lambda: {"nested": {"level": {"deeper": [n, None, True, False]}}, "z": "", "a": -n},
        lambda: {},
        lambda: {"big": 10**18 + n, "neg": -(2**40), "quote": 'he said "hi"\n\ttab'},
        lambda: {"list": [[], [{}], [[n]]], "uni\u00e9": "\u0000 nul and \u2028 separator"},
        lambda: {"url": f"https://pubmed.ncbi.nlm.nih.gov/{16635254 + n}/", "tier": "human"},
    ]
    return shapes[n % len(shapes)]()


def test_independent_check_agrees_on_fifty_varied_entries(engine, independent_check):
    factory = session_factory(engine)
    kinds = ["question", "source", "claim", "evidence", "decision"]
    expected = [(kinds[n % len(kinds)], f"compound-{n % 4}", varied_payload(n)) for n in range(50)]
    batches = []
    start = 0
    for size in [1, 1, 3, 1, 7, 1, 1, 10, 2, 1, 1, 5, 1, 15]:  # some share a transaction
        batches.append(expected[start : start + size])
        start += size
    assert start == 50
    for batch in batches:
        with transaction(factory) as session:
            for kind, slug, payload in batch:
                append(session, kind, slug, payload)

    rows = independent_check(engine)
    assert len(rows) == 50
    assert [(row["kind"], row["slug"], row["payload"]) for row in rows] == expected
    with engine.connect() as conn:
        result = verify(conn)
    assert result.ok and result.checked == 50
    assert (result.head_seq, result.head_hash) == (50, rows[-1]["hash"])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(st.text(), _json, max_size=5),
    kind=st.text(min_size=1, max_size=20),
    slug=st.text(min_size=1, max_size=20),
)
def test_the_fast_hash_path_is_the_documented_formula(payload, kind, slug):
    """append assembles the canonical JSON around the payload's text; it must equal json.dumps."""
    from ledger.chain import _hashed_row

    try:
        row, leaf = _hashed_row(7, kind, slug, payload, "f" * 64, "2026-11-25T00:00:00.000000Z")
    except PayloadError:
        return  # lone surrogates are refused before hashing
    entry = {
        "seq": 7,
        "kind": kind,
        "slug": slug,
        "payload": payload,
        "prev_hash": "f" * 64,
        "created_at": "2026-11-25T00:00:00.000000Z",
    }
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row["hash"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert leaf == text.encode("utf-8")  # the Merkle leaf is the very bytes the hash covers
    assert row["payload"] == json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_appends_in_one_transaction_survive_a_refused_entry_and_a_rolled_back_savepoint(engine):
    """After the first append, a transaction's next appends take the head from what the last
    one wrote (ledger.chain._locked_head); a refused entry and a rolled-back savepoint must not
    leave that memo ahead of the database."""
    from ledger import tree
    from ledger.models import LedgerHead
    from ledger.tlog.merkle import Frontier, leaf_hash

    with transaction(session_factory(engine)) as session:
        append(session, "note", "semax", {"n": 1})
        with pytest.raises(PayloadError):
            append(session, "note", "semax", {"n": 1.5})  # floats are refused
        append(session, "note", "semax", {"n": 2})
        savepoint = session.begin_nested()
        append(session, "note", "semax", {"n": "in the savepoint"})
        savepoint.rollback()
        append(session, "note", "semax", {"n": 3})
    rows = entries(engine)
    assert [json.loads(row.payload)["n"] for row in rows] == [1, 2, 3]
    assert [row.seq for row in rows] == [1, 2, 3]
    with engine.connect() as conn:
        assert verify(conn).ok
        stored = conn.execute(LedgerHead.__table__.select()).one()
        assert stored.seq == 3 and stored.hash == rows[-1].hash
        root = tree.root_at(conn, 3)
        assert Frontier.from_bytes(stored.seq, stored.tree).root() == root
    frontier = Frontier.from_bytes(0, b"")
    for row in rows:
        frontier.append(leaf_hash(leaf_bytes(row)))
    assert frontier.root() == root  # the tree holds exactly the three committed entries

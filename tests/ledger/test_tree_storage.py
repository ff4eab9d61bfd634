"""The Merkle tree as stored: kept in the append's transaction, permanent, and the same tree
an independent RFC 9162 transcription computes from the entries' bytes."""

from __future__ import annotations

import json
import random
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.ops.services import Services
from ledger import checkpoints, tree
from ledger.chain import PayloadError, append, append_many, leaf_bytes, verify
from ledger.db import make_engine, session_factory, transaction
from ledger.migrate import upgrade
from ledger.models import LedgerEntry, LedgerHead, SignedCheckpoint
from ledger.tlog.merkle import Frontier, leaf_hash
from tests.support import rfc9162
from tests.support.databases import GENESIS


def payloads(count: int, seed: int = 7) -> list[dict]:
    """Real-shaped payloads: claims with unicode, quotes, newlines, nested lists."""
    rng = random.Random(seed)
    words = ["BDNF", "Семакс", "rats", "«nasal»", 'a "quoted" word', "line\nbreak", "✓", "µg"]
    return [
        {
            "text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))),
            "tier": rng.choice(["human", "preclinical", "anecdotal"]),
            "ids": {"pmids": [str(rng.randint(1, 10**8)) for _ in range(rng.randint(0, 3))]},
            "n": rng.randint(-(2**40), 2**40),
        }
        for _ in range(count)
    ]


def entries(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            LedgerEntry.__table__.select().order_by(LedgerEntry.__table__.c.seq)
        ).all()


def test_the_tree_is_the_rfc_tree_over_the_entries(engine):
    """Appends one at a time and in batches; every size's root, proofs, tiles agree."""
    sessions = session_factory(engine)
    items = payloads(530)
    with transaction(sessions) as session:
        for payload in items[:40]:
            append(session, "claim", "semax", payload)
    for start in range(40, 530, 70):
        with transaction(sessions) as session:
            append_many(session, [("claim", "semax", p) for p in items[start : start + 70]])
    rows = entries(engine)
    reference = rfc9162.Tree([leaf_bytes(row) for row in rows])
    with engine.connect() as conn:
        for size in (1, 2, 3, 255, 256, 257, 511, 512, 530):
            assert tree.root_at(conn, size) == reference.root(size)
        for index in (0, 1, 254, 255, 256, 300, 529):
            assert tree.inclusion(conn, index, 530) == reference.path(index, 530)
        for first in (1, 7, 256, 300, 529):
            assert tree.consistency(conn, first, 530) == reference.proof(first, 530)
        head = conn.execute(LedgerHead.__table__.select()).one()
        assert Frontier.from_bytes(head.seq, head.tree).root() == reference.root(530)
        level0 = tree.tile(conn, 0, 1, 256, 530)
        assert level0 == b"".join(reference.leaf_hash(i) for i in range(256, 512))
        assert tree.tile(conn, 0, 2, 18, 530) is not None  # the partial right edge
        assert tree.tile(conn, 0, 2, 19, 530) is None  # wider than the tree has
    with engine.connect() as conn:
        assert verify(conn).ok  # the chain view is unchanged


def test_an_entry_too_big_for_a_bundle_is_refused_before_it_is_written(engine):
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        append(session, "claim", "semax", {"text": "x" * 65000})  # fits
    with pytest.raises(PayloadError, match="65,535"), transaction(sessions) as session:
        append(session, "claim", "semax", {"text": "é" * 33000})  # 66,000 bytes of UTF-8
    with engine.connect() as conn:
        assert conn.execute(text("SELECT seq FROM ledger_head")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM ledger_tree")).scalar_one() == 1


@pytest.fixture
def signed(engine, tmp_path):
    """A ledger of 20 entries with a checkpoint at 10 and one at 20."""
    services = Services(_settings(tmp_path, engine), engine=engine)
    sessions = session_factory(engine)
    for batch in (payloads(10), payloads(10, seed=8)):
        with transaction(sessions) as session:
            append_many(session, [("claim", "semax", p) for p in batch])
        with transaction(sessions) as session:
            checkpoints.sign_head(session, services.log_key)
    return services


def _settings(tmp_path, engine):
    from bot.config import Settings

    return Settings.load({"instance_path": str(tmp_path / "instance")}, env={})


def test_checkpoints_are_kept_one_per_size_forever(engine, signed):
    with engine.connect() as conn:
        assert [r.size for r in conn.execute(SignedCheckpoint.__table__.select())] == [10, 20]
    other_root = b"\x01" * 32
    with transaction(session_factory(engine)) as session:
        assert checkpoints.add_cosignature(session, 10, "w+00000000", "— w AAAA\n")
        assert not checkpoints.add_cosignature(session, 10, "w+00000000", "— w AAAA\n")
    # A second checkpoint of size 10 with another root: the primary key refuses it.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            SignedCheckpoint.__table__.insert(),
            {"size": 10, "root": other_root, "note": "forged", "signed_at": _now()},
        )
    # Changing or removing a signed checkpoint or a tree node: the database refuses.
    for statement in (
        "UPDATE ledger_checkpoints SET root = :r WHERE size = 10",
        "DELETE FROM ledger_checkpoints WHERE size = 20",
        "UPDATE ledger_tree SET hash = :r WHERE level = 0 AND idx = 3",
        "DELETE FROM ledger_tree WHERE level = 1",
        "DELETE FROM ledger_cosignatures",
        "UPDATE ledger_cosignatures SET line = ''",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"r": other_root})
    # Signing again with nothing new appended is a no-op that returns the latest.
    with transaction(session_factory(engine)) as session:
        assert checkpoints.sign_head(session, signed.log_key).size == 20
    with engine.connect() as conn:
        assert checkpoints.latest(conn).size == 20


def test_two_signers_of_one_size_store_one_checkpoint(engine, signed):
    """Ed25519 is deterministic and the body depends only on the size: a racing second
    signer writes the same bytes, and its insert is a no-op rather than an error; nor can any
    later insert replace the root the first one stored."""
    from ledger.db import ignoring_conflicts
    from ledger.models import SignedCheckpoint as Row
    from ledger.tlog.checkpoint import Checkpoint
    from ledger.tlog.notes import sign_note

    sessions = session_factory(engine)
    with transaction(sessions) as session:
        append(session, "claim", "semax", {"text": "one more"})
    with transaction(sessions) as first:
        a = checkpoints.sign_head(first, signed.log_key)
    with engine.begin() as conn:  # the second signer, which had read no checkpoint at 21
        body = Checkpoint(signed.log_key.origin, 21, tree.root_at(conn, 21)).body()
        note = sign_note(body, [signed.log_key.signer])
        assert note == a.note
        insert = ignoring_conflicts(conn.dialect.name, Row.__table__)
        for root in (a.root, b"\x02" * 32):  # the same bytes, then a forged root
            conn.execute(insert, {"size": 21, "root": root, "note": note, "signed_at": _now()})
    with engine.connect() as conn:
        rows = conn.execute(Row.__table__.select().where(Row.__table__.c.size == 21)).all()
    assert [(r.root, r.note) for r in rows] == [(a.root, a.note)]


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_upgrading_an_existing_ledger_builds_its_tree(blank_url):
    """Migration 0005 on a ledger written before the tree existed."""
    engine = make_engine(blank_url)
    upgrade(engine, "0004")
    prev = GENESIS
    with engine.begin() as conn:
        for seq, payload in enumerate(payloads(300), start=1):
            row = {
                "seq": seq,
                "kind": "claim",
                "slug": "semax",
                "prev_hash": prev,
                "created_at": "2026-11-30T00:00:00.000000Z",
                "payload": json.dumps(
                    payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                ),
            }
            import hashlib

            row["hash"] = hashlib.sha256(leaf_bytes(_Row(row))).hexdigest()
            conn.execute(LedgerEntry.__table__.insert(), row)
            prev = row["hash"]
        conn.execute(text("UPDATE ledger_head SET seq = 300, hash = :h"), {"h": prev})
    upgrade(engine)
    rows = entries(engine)
    reference = rfc9162.Tree([leaf_bytes(r) for r in rows])
    with engine.connect() as conn:
        assert tree.root_at(conn, 300) == reference.root(300)
        assert verify(conn).ok
    with transaction(session_factory(engine)) as session:  # and appends continue the tree
        append(session, "claim", "semax", {"text": "after the upgrade"})
    rows = entries(engine)
    with engine.connect() as conn:
        assert tree.root_at(conn, 301) == rfc9162.Tree([leaf_bytes(r) for r in rows]).root(301)
        assert leaf_hash(leaf_bytes(rows[-1])) == tree.tile(conn, 0, 1, 45, 301)[-32:]
    engine.dispose()


class _Row:
    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


@pytest.fixture
def blank_url(database_url, tmp_path):
    """An empty database of the backend under test, not migrated (a private PG schema)."""
    if database_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "old.sqlite3")
        return
    schema = f"lbmig_{uuid.uuid4().hex[:10]}"
    base = database_url.split("?", 1)[0]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options={quote('-csearch_path=' + schema)}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("damage", ["tampered", "oversized"])
def test_upgrading_refuses_a_ledger_it_could_not_stand_behind(blank_url, damage):
    """The tree commits to exactly what each hash covers, in entries a bundle can hold: an old
    row whose hash no longer matches, or one over 65,535 bytes, stops the upgrade, named."""
    import hashlib

    engine = make_engine(blank_url)
    upgrade(engine, "0004")
    text_value = "x" * 70_000 if damage == "oversized" else "fine"
    row = {
        "seq": 1,
        "kind": "claim",
        "slug": "semax",
        "prev_hash": GENESIS,
        "created_at": "2026-11-30T00:00:00.000000Z",
        "payload": json.dumps({"text": text_value}, separators=(",", ":")),
    }
    row["hash"] = hashlib.sha256(leaf_bytes(_Row(row))).hexdigest()
    if damage == "tampered":
        row["payload"] = json.dumps({"text": "changed"}, separators=(",", ":"))
    with engine.begin() as conn:
        conn.execute(LedgerEntry.__table__.insert(), row)
        conn.execute(text("UPDATE ledger_head SET seq = 1, hash = :h"), {"h": row["hash"]})
    why = "does not match its contents" if damage == "tampered" else "70,183 bytes"
    with pytest.raises(RuntimeError, match=why):
        upgrade(engine)
    engine.dispose()

"""the Merkle tree over the ledger, signed checkpoints and witness cosignatures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00

Existing entries are put into the tree here, a batch at a time in seq order (the same leaf
bytes ``ledger.chain`` hashes, each checked against its stored hash and the 65,535-byte bundle
limit), so an upgraded ledger has the tree it would have had from the start.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.chain import MAX_ENTRY_BYTES, leaf_bytes
from ledger.tlog.merkle import Frontier, leaf_hash

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("ledger_tree", "ledger_checkpoints", "ledger_cosignatures")


def _guards(dialect: str) -> list[str]:
    """The same refusal the entries have (0001): the tree, the signed checkpoints and the
    witnesses' cosignatures are as permanent as the entries they commit to."""
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
               BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
            for table in APPEND_ONLY
            for verb in ("UPDATE", "DELETE")
        ]
    statements = [
        """CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""
    ]
    for table in APPEND_ONLY:
        statements += [
            f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION ledger_append_only()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()""",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "ledger_tree",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
        # Clustered on its key in SQLite (one B-tree, not a rowid table plus a key index):
        # half the pages an append dirties in this table, and a smaller file.
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(length=300), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["size"], ["ledger_checkpoints.size"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("size", "witness"),
    )
    op.create_index(op.f("ix_ledger_cosignatures_size"), "ledger_cosignatures", ["size"])
    # A plain ADD COLUMN (no batch table copy, which would drop ledger_head's CHECK on SQLite).
    op.add_column(
        "ledger_head",
        sa.Column("tree", sa.LargeBinary(), nullable=False, server_default=sa.text("''")),
    )
    _build_tree()
    for statement in _guards(op.get_bind().dialect.name):
        op.execute(statement)


def _build_tree(batch: int = 5000) -> None:
    """Read the entries in seq order, a batch at a time (keyset pages: nothing is held but one
    batch, on either database), and refuse to build a tree the log could not stand behind."""
    bind = op.get_bind()
    columns = ("seq", "kind", "slug", "payload", "prev_hash", "created_at", "hash")
    entries = sa.table("ledger_entries", *(sa.column(name) for name in columns))
    nodes = sa.table("ledger_tree", sa.column("level"), sa.column("idx"), sa.column("hash"))
    frontier = Frontier()
    while True:
        rows = bind.execute(
            sa.select(entries)
            .where(entries.c.seq > frontier.size)
            .order_by(entries.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        pending = []
        for row in rows:
            pending += frontier.append(leaf_hash(_leaf(row, frontier.size + 1)))
        bind.execute(sa.insert(nodes), _as_rows(pending))
    head = sa.table("ledger_head", sa.column("id"), sa.column("seq"), sa.column("tree"))
    seq = bind.execute(sa.select(head.c.seq).where(head.c.id == 1)).scalar_one()
    if seq != frontier.size:
        raise RuntimeError(f"the head says seq {seq}, the entries end at {frontier.size}")
    bind.execute(sa.update(head).where(head.c.id == 1).values(tree=frontier.to_bytes()))


def _leaf(row, expected_seq: int) -> bytes:
    """The entry's leaf, checked: the tree must commit to exactly what each hash covers."""
    if row.seq != expected_seq:
        raise RuntimeError(f"ledger_entries has a gap before seq {row.seq}; run ledgerbot verify")
    data = leaf_bytes(row)
    if hashlib.sha256(data).hexdigest() != row.hash:
        raise RuntimeError(
            f"entry {row.seq}'s hash does not match its contents; run ledgerbot verify and "
            "restore the ledger before upgrading"
        )
    if len(data) > MAX_ENTRY_BYTES:
        raise RuntimeError(
            f"entry {row.seq} is {len(data):,} bytes; the log's entry bundles hold at most "
            f"{MAX_ENTRY_BYTES:,}, so this ledger cannot be served as a transparency log"
        )
    return data


def _as_rows(nodes):
    return [{"level": level, "idx": idx, "hash": digest} for level, idx, digest in nodes]


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_update ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION ledger_append_only()")
    with op.batch_alter_table(
        "ledger_head", table_args=(sa.CheckConstraint("id = 1"),)
    ) as batch_op:
        batch_op.drop_column("tree")
    op.drop_index(op.f("ix_ledger_cosignatures_size"), table_name="ledger_cosignatures")
    op.drop_table("ledger_cosignatures")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_tree")

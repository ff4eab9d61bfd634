"""moderation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:45:48.824381
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderator_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('phone','web')"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("moderator", sa.String(length=32), nullable=False),
        sa.Column("moderator_label", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_seq", sa.Integer(), nullable=True),
        sa.Column("moderation_seq", sa.Integer(), nullable=False),
        sa.CheckConstraint("outcome IN ('approved','rejected')"),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evidence_id"),
    )
    # Plain ADD COLUMN: a batch (table copy) on SQLite would drop the unnamed CHECK constraints.
    for table in ("evidence", "question_nodes"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} ADD COLUMN contact_id INTEGER REFERENCES contacts(id)")
        else:
            op.add_column(table, sa.Column("contact_id", sa.Integer(), nullable=True))
            op.create_foreign_key(
                f"fk_{table}_contact_id", table, "contacts", ["contact_id"], ["id"]
            )


def downgrade() -> None:
    with op.batch_alter_table("question_nodes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_question_nodes_contact_id", type_="foreignkey")
        batch_op.drop_column("contact_id")

    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_constraint("fk_evidence_contact_id", type_="foreignkey")
        batch_op.drop_column("contact_id")

    op.drop_table("decisions")
    op.drop_table("moderators")
    op.drop_table("moderator_alerts")

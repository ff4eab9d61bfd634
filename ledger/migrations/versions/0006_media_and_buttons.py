"""media store and WhatsApp buttons: stored files, their evidence, Twilio copies to delete;
a tapped button's payload on inbound messages, the buttons of outbound ones

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "evidence_media",
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["media_files.sha256"]),
        sa.PrimaryKeyConstraint("evidence_id", "position"),
    )
    op.create_index(op.f("ix_evidence_media_sha256"), "evidence_media", ["sha256"])
    op.create_table(
        "twilio_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending','deleted')"),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_index(op.f("ix_twilio_media_inbound_id"), "twilio_media", ["inbound_id"])
    op.create_index("ix_twilio_media_status_created", "twilio_media", ["status", "created_at"])
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("button_payload", sa.String(length=256), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("buttons", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("buttons")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("button_payload")
    op.drop_index("ix_twilio_media_status_created", table_name="twilio_media")
    op.drop_index(op.f("ix_twilio_media_inbound_id"), table_name="twilio_media")
    op.drop_table("twilio_media")
    op.drop_index(op.f("ix_evidence_media_sha256"), table_name="evidence_media")
    op.drop_table("evidence_media")
    op.drop_table("media_files")

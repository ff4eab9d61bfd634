"""The contact a message comes from: one upsert per message, whatever came before.

``INSERT … ON CONFLICT (channel, number) DO UPDATE SET last_inbound_at … RETURNING`` creates the
row on a first message and otherwise records the new message's time, in one statement that
also takes the row's lock on PostgreSQL (what ``SELECT … FOR UPDATE`` did) — so two messages
from one number handled at once update the conversation memory one after the other. It
replaced an insert-if-missing, a locking select and an update.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.messaging.models import Contact, InboundMessage


def _insert(dialect: str):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


def contact_for(session: Session, inbound: InboundMessage, handle: str) -> Contact:
    insert = _insert(session.get_bind().dialect.name)
    statement = insert(Contact).values(
        channel=inbound.channel,
        number=inbound.from_number,
        pseudonym=handle,
        opted_out=False,
        created_at=datetime.now(UTC),
        last_inbound_at=inbound.received_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Contact.channel, Contact.number],
        set_={"last_inbound_at": statement.excluded.last_inbound_at},
    ).returning(Contact)
    return session.scalars(statement, execution_options={"populate_existing": True}).one()

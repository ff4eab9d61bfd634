"""The contact a message comes from: one upsert per message, whatever came before.

``INSERT … ON CONFLICT (channel, number) DO UPDATE SET last_inbound_at … RETURNING`` creates the
row on a first message and otherwise records the new message's time, in one statement that
also takes the row's lock on PostgreSQL (what ``SELECT … FOR UPDATE`` did) — so two messages
from one number handled at once update the conversation memory one after the other. It
replaced an insert-if-missing, a locking select and an update.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from bot.messaging.models import Contact, InboundMessage


@functools.cache
def _upsert(dialect: str):
    """The statement, built once per dialect (building it cost more than running it)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    statement = insert(Contact).values(
        channel=bindparam("channel"),
        number=bindparam("number"),
        pseudonym=bindparam("pseudonym"),
        opted_out=False,
        created_at=bindparam("created_at"),
        last_inbound_at=bindparam("last_inbound_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[Contact.channel, Contact.number],
        set_={"last_inbound_at": statement.excluded.last_inbound_at},
    ).returning(Contact)


def contact_for(session: Session, inbound: InboundMessage, handle: str) -> Contact:
    values = {
        "channel": inbound.channel,
        "number": inbound.from_number,
        "pseudonym": handle,
        "created_at": datetime.now(UTC),
        "last_inbound_at": inbound.received_at,
    }
    statement = _upsert(session.get_bind().dialect.name)
    return session.scalars(statement, values, execution_options={"populate_existing": True}).one()

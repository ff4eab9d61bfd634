"""Alembic environment: run against the connection the caller hands us (see ledger.migrate)."""

from alembic import context

# Alembic autogenerate compares against every table on the shared metadata, the bot's private
# working tables included; this script is run by Alembic, never imported by ledger code.
import bot.media.models
import bot.messaging.models
import bot.moderation.models  # noqa: F401
from ledger.db import make_engine
from ledger.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

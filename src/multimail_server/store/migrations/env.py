"""Alembic environment: runs against the Store handed in by `multimail_server.store.migrate`."""

from alembic import context

from multimail_server.store.search import outside_metadata
from multimail_server.store.tables import metadata

config = context.config
store = config.attributes["store"]

with store.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=store.is_sqlite,  # SQLite alters tables by copy-and-move
        compare_type=True,
        include_name=outside_metadata,  # the search index is managed by its migration, not declared
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

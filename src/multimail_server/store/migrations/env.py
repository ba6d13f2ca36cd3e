"""Alembic environment: runs against the Store handed in by `multimail_server.store.migrate`."""

from alembic import context

from multimail_server.store.search import outside_metadata
from multimail_server.store.tables import metadata

config = context.config
store = config.attributes["store"]

with store.engine.connect() as connection:
    if store.is_sqlite:
        # SQLite alters a table by copying it, dropping the original and renaming the copy; with
        # foreign keys enforced, dropping a table others point at (mailboxes, messages) fails as
        # soon as it holds rows. So they are off while migrating (set on the raw connection: a
        # PRAGMA inside a transaction is ignored) and checked before they are switched on again.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=store.is_sqlite,  # SQLite alters tables by copy-and-move
        compare_type=True,
        include_name=outside_metadata,  # the search index is managed by its migration, not declared
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if store.is_sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"A migration left rows pointing at nothing: {broken[:5]}")
        connection.commit()
    finally:
        if store.is_sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")

"""Servers started together on an empty database create one first admin key between them."""

import threading

from sqlalchemy import select

from multimail_server.config import Settings
from multimail_server.services import Context
from multimail_server.services.keys import ensure_first_admin_key
from multimail_server.store import open_store
from multimail_server.store.tables import api_keys


def test_concurrent_starters_create_one_first_admin_key(db_url, tmp_path):
    store = open_store(db_url)
    try:
        ctx = Context(store=store, settings=Settings(data_dir=tmp_path))
        barrier = threading.Barrier(8)
        results = []

        def start():
            barrier.wait()
            results.append(ensure_first_admin_key(ctx))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len([r for r in results if r]) == 1
        with store.read() as tx:
            assert len(tx.execute(select(api_keys.c.id)).all()) == 1
    finally:
        store.dispose()

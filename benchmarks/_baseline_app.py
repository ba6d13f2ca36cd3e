"""The baseline HTTP server for the send and webhook benchmarks, run in its own process.

- GET /noop: the HTTP stack alone (FastAPI on uvicorn, as `multimail serve` runs it);
- POST /insert: the floor of a durable write on this stack, a sync FastAPI endpoint that parses
  a JSON body and commits one SQLite insert per request, through SQLAlchemy Core on an engine
  with MultiMail's pragmas (WAL, synchronous=NORMAL; store/engine.make_engine);
- POST /hook: a webhook receiver that counts what it got (GET /hook/count: the count and the
  times of the first and last arrival).

    python benchmarks/_baseline_app.py --port 8000 --db /tmp/floor.db
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import Column, MetaData, String, Table, Text, insert

from multimail_server.store.engine import Store, make_engine


def build(db: str) -> FastAPI:
    store = Store(make_engine(f"sqlite:///{db}"))
    meta = MetaData()
    rows = Table("rows", meta, Column("id", String, primary_key=True), Column("body", Text))
    meta.create_all(store.engine)
    app = FastAPI()
    hooks: dict[str, float] = {"count": 0, "first": 0.0, "last": 0.0}
    lock = threading.Lock()

    @app.get("/noop")
    def noop() -> dict:
        return {"ok": True}

    @app.post("/insert")
    def insert_one(body: dict[str, Any]) -> dict:
        row_id = uuid.uuid4().hex
        with store.write(notify=False) as tx:
            tx.execute(insert(rows).values(id=row_id, body=str(body)))
        return {"id": row_id}

    @app.post("/hook")
    async def hook(request: Request) -> dict:
        await request.body()
        with lock:
            now = time.perf_counter()  # the same clock as the benchmark's (one machine)
            hooks["count"] += 1
            hooks["first"] = hooks["first"] or now
            hooks["last"] = now
        return {"ok": True}

    @app.get("/hook/count")
    def hook_count() -> dict:
        return hooks

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", required=True)
    args = ap.parse_args()
    uvicorn.run(build(args.db), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

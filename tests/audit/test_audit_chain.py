"""The hash-chained audit trail on both databases: intact chains verify; edits, insertions,
deletions and truncations are named; the database itself refuses changes."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, approvals, audit_chain, mailboxes, sending
from multimail_server.store import open_store
from multimail_server.store import tables as t

OP = Principal.local_operator()


@pytest.fixture
def ctx(db_url, tmp_path):
    c = Context(store=open_store(db_url), settings=Settings(data_dir=tmp_path))
    c.db_url = db_url
    yield c
    c.store.dispose()


def some_history(ctx, n=3):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="gated_send")
    ids = []
    for i in range(n):
        m = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="ana@partner.test", subject=f"s{i}", body="b")
        ids.append(m["message_id"])
    approvals.approve_message(ctx, principal=OP, message_id=ids[0])
    approvals.reject_message(ctx, principal=OP, message_id=ids[1])
    return ids


def rows(ctx):
    with ctx.store.read() as tx:
        return [dict(r) for r in tx.execute(select(t.audit_events).order_by(t.audit_events.c.seq)).mappings()]


@contextmanager
def tamper(ctx):
    """An attacker with database access: switch off the append-only guard, change things."""
    with ctx.store.engine.connect() as conn:
        if ctx.store.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        conn.commit()
        yield conn
        conn.commit()


def test_an_untouched_chain_verifies(ctx):
    some_history(ctx)
    result = audit_chain.verify(ctx)
    assert result == {"ok": True, "events": len(rows(ctx))} and result["events"] >= 6
    chain = rows(ctx)
    assert chain[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(chain, chain[1:]))


def test_the_database_refuses_updates_and_deletes(ctx):
    some_history(ctx)
    for stmt in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with ctx.store.engine.begin() as conn:
                conn.exec_driver_sql(stmt)
    assert audit_chain.verify(ctx)["ok"] is True


def test_an_edited_event_is_named(ctx):
    some_history(ctx)
    victim = rows(ctx)[3]
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.update().where(t.audit_events.c.seq == victim["seq"]).values(actor_key_id="someone-else"))
    result = audit_chain.verify(ctx)
    assert result["ok"] is False and result["first_bad_event_id"] == victim["id"] and "edited" in result["reason"]


def test_an_edited_detail_is_named(ctx):
    some_history(ctx)
    victim = rows(ctx)[2]
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.update().where(t.audit_events.c.seq == victim["seq"]).values(details={**victim["details"], "note": "approved by CEO"}))
    assert audit_chain.verify(ctx)["first_bad_event_id"] == victim["id"]


def test_a_deleted_event_breaks_the_link_of_the_next(ctx):
    some_history(ctx)
    chain = rows(ctx)
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.delete().where(t.audit_events.c.seq == chain[2]["seq"]))
    result = audit_chain.verify(ctx)
    assert result["ok"] is False and result["first_bad_event_id"] == chain[3]["id"] and "deleted or inserted" in result["reason"]


def test_an_inserted_event_is_caught(ctx):
    some_history(ctx)
    chain = rows(ctx)
    forged = {**chain[1], "id": "aud_forged", "action": "message.approved"}
    forged.pop("seq")
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.insert().values(**forged))  # appended after the real head
    result = audit_chain.verify(ctx)
    assert result["ok"] is False and result["first_bad_event_id"] == "aud_forged"


def test_removing_events_from_the_end_is_caught_by_the_head(ctx):
    some_history(ctx)
    chain = rows(ctx)
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.delete().where(t.audit_events.c.seq >= chain[-2]["seq"]))
    result = audit_chain.verify(ctx)
    assert result["ok"] is False and "removed from the end" in result["reason"]


def test_cli_verify_exits_non_zero_and_export_writes_jsonl(ctx, tmp_path):
    some_history(ctx)
    url = ctx.store.engine.url.render_as_string(hide_password=False)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "multimail_server.cli", "audit", *args, "--database-url", url],
                              capture_output=True, text=True, timeout=60)

    ok = cli("verify")
    assert ok.returncode == 0 and "intact" in ok.stdout
    exported = cli("export", "--since", "2000-01-01T00:00:00Z", "--format", "jsonl")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["event_id"] for e in lines] == [r["id"] for r in rows(ctx)]
    assert all({"actor", "actor_role", "action", "at", "hash", "prev_hash"} <= set(e) for e in lines)
    future = cli("export", "--since", datetime(2100, 1, 1, tzinfo=UTC).isoformat(), "--format", "jsonl")
    assert future.returncode == 0 and future.stdout == ""
    victim = rows(ctx)[1]
    with tamper(ctx) as conn:
        conn.execute(t.audit_events.update().where(t.audit_events.c.seq == victim["seq"]).values(action="mailbox.deleted"))
    bad = cli("verify")
    assert bad.returncode == 1 and victim["id"] in bad.stderr


def test_events_written_before_the_chain_existed_are_chained_by_the_migration(db_url):
    from multimail_server.store.engine import Store, make_engine
    from multimail_server.store.migrate import upgrade

    store = Store(make_engine(db_url))
    upgrade(store, "0001")
    with store.engine.begin() as conn:
        for i in range(3):
            conn.execute(text(
                "INSERT INTO audit_events (id, at, actor_key_id, actor_role, action, details) "
                "VALUES (:id, :at, 'cli', 'admin', 'mailbox.created', :details)"
            ), {"id": f"aud_old{i}", "at": datetime(2026, 1, 1, 0, 0, i), "details": json.dumps({"n": i})})
    upgrade(store)
    ctx = Context(store=store, settings=Settings())
    assert audit_chain.verify(ctx) == {"ok": True, "events": 3}
    mailboxes.create_mailbox(ctx, principal=OP, address="new@acme.test")
    assert audit_chain.verify(ctx) == {"ok": True, "events": 4}
    store.dispose()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_api_refuses_every_change_to_the_audit_log(admin, method):
    before = admin.ok("GET", "audit_log", limit=5)
    r = admin.session.request(method, f"{admin.base}/v1/audit_log", headers=admin.headers({"Content-Type": "application/json"}),
                              data='{"action": "x"}', timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert admin.ok("GET", "audit_log", limit=5) == before

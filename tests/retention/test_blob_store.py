"""The blob store (store/blobs.py): content-addressed bytes on a file:// or fsspec memory:// store,
written before the commit that references them, read back verified, and garbage-collected after a
grace period; and every reader of raw bytes and attachments working with it on."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from multimail_server.core.errors import StorageUnavailable
from multimail_server.services import reading
from multimail_server.services.receiving import receive
from multimail_server.services.retention import collect_garbage
from multimail_server.store import blobs
from multimail_server.store import messages as message_q
from multimail_server.store import tables as t


def _store(ctx) -> blobs.BlobStore:
    store = blobs.for_engine(ctx.store.engine)
    if store is None:
        pytest.skip("bytes in the database: no blob store")
    return store


def test_a_blob_is_named_by_its_hash_and_written_once_per_content(ctx):
    store = _store(ctx)
    data = b"From: a@b.test\r\n\r\nhello\r\n"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put(data) == digest  # the same bytes again: the same object
    assert [name for name, _ in store.listing()] == [digest]
    assert store.get(digest) == data


def test_altered_or_missing_bytes_are_refused_naming_the_hash(ctx):
    store = _store(ctx)
    digest = store.put(b"the original bytes")
    store.fs.pipe_file(store.path(digest), b"the original bytez")  # bit rot, or someone's edit
    with pytest.raises(StorageUnavailable) as altered:
        store.get(digest)
    assert altered.value.status == 503 and altered.value.code == "blob_unavailable"
    assert altered.value.details["sha256"] == digest and "does not hash to its name" in altered.value.message
    store.delete(digest)
    with pytest.raises(StorageUnavailable) as missing:
        store.get(digest)
    assert missing.value.details["sha256"] == digest and "no object" in missing.value.message


def test_mail_keeps_only_hashes_and_sizes_in_the_database_and_every_reader_gets_the_bytes(ctx, operator, new_mailbox, deliver, db):
    sender, to = new_mailbox(oversight_mode="autonomous"), new_mailbox(oversight_mode="autonomous")
    payload = bytes(range(256)) * 40
    out_id = deliver(sender, to, subject="With a file", attachments=[("data.bin", payload)])
    [inbound] = [m for m in db.rows(t.messages, direction="inbound") if m["subject"] == "With a file"]
    outbound = db.rows(t.messages, id=out_id)[0]
    on = blobs.for_engine(ctx.store.engine) is not None

    # The database: hashes and sizes; the bytes only without a blob store.
    atts = db.rows(t.attachments)
    assert {a["content_sha256"] for a in atts} == {hashlib.sha256(payload).hexdigest()}
    assert all((a["content"] is None) == on for a in atts)
    [raw_row] = db.rows(t.raw_blobs, sha256=inbound["raw_sha256"])
    assert (raw_row["raw"] is None) == on and raw_row["size"] > len(payload)
    assert (outbound["raw"] is None) == on and (outbound["raw_sha256"] is not None) == on

    # Every reader: get_raw (both directions), attachments by id and by name, the delivery's
    # own bytes (what capture mode recorded is what get_raw of the outbound message answers).
    raw_in = reading.get_raw(ctx, principal=operator, message_id=inbound["id"])
    with ctx.store.read() as tx:
        assert raw_in == message_q.raw_of(tx, inbound) and b"With a file" in raw_in
    raw_out = reading.get_raw(ctx, principal=operator, message_id=out_id)
    assert b"data.bin" in raw_out
    view = reading.read_email(ctx, principal=operator, message_id=inbound["id"])
    [att] = view["attachments"]
    assert reading.get_attachment(ctx, principal=operator, message_id=inbound["id"], attachment_id=att["attachment_id"])["content"] == payload
    assert reading.attachment_by_name(ctx, principal=operator, message_id=inbound["id"], filename="data.bin")["content"] == payload
    if on:
        assert {name for name, _ in blobs.for_engine(ctx.store.engine).listing()} >= {
            hashlib.sha256(payload).hexdigest(), inbound["raw_sha256"], outbound["raw_sha256"]}


def test_a_write_that_fails_before_the_commit_leaves_no_row_naming_missing_bytes(ctx, new_mailbox, db):
    """The blob is written inside the transaction, before its commit: if the write fails, the
    whole receive rolls back, so no row ever names bytes the store does not have."""
    store = _store(ctx)
    box = new_mailbox(oversight_mode="autonomous")
    raw = f"From: x@partner.test\r\nTo: {box}\r\nSubject: doomed\r\nMessage-ID: <doomed@partner.test>\r\n\r\nbody\r\n".encode()
    digest = hashlib.sha256(raw).hexdigest()
    # A real failure of the store: a plain file where the blob's folder must go.
    store.fs.pipe_file(f"{store.root}/{digest[:2]}", b"in the way")
    before = db.snapshot()
    with pytest.raises(OSError):  # whatever the filesystem says: here, that a file is in the way
        receive(ctx, raw=raw, mail_from="x@partner.test", rcpt_tos=[box])
    assert db.snapshot() == before
    store.fs.rm_file(f"{store.root}/{digest[:2]}")  # the store works again: so does the same message
    assert receive(ctx, raw=raw, mail_from="x@partner.test", rcpt_tos=[box])
    assert db.count(t.raw_blobs, sha256=digest) == 1 and store.get(digest) == raw


def test_a_blob_whose_transaction_rolled_back_is_an_orphan_that_gc_removes_after_the_grace(ctx, clock, db):
    store = _store(ctx)
    raw = b"Subject: orphan\r\n\r\nnever committed\r\n"
    digest = hashlib.sha256(raw).hexdigest()
    with pytest.raises(RuntimeError):
        with ctx.store.write() as tx:
            message_q.put_raw_blob(tx, digest, raw, ctx.now())
            raise RuntimeError("crash before the commit")
    assert db.count(t.raw_blobs, sha256=digest) == 0 and store.get(digest) == raw  # at worst an orphan
    kept = store.put(b"referenced bytes")
    with ctx.store.write() as tx:
        message_q.put_raw_blob(tx, kept, b"referenced bytes", ctx.now())

    # An interrupted write's temporary file, and files that are not the store's own.
    interrupted = f"{store.path(digest)}.tmp-{'0' * 32}"
    store.fs.pipe_file(interrupted, b"half a mess")
    strangers = [f"{store.root}/README.txt", f"{store.root}/{digest[:2]}/{digest[2:4]}/not-a-hash"]
    for path in strangers:
        store.fs.pipe_file(path, b"the operator's")

    assert collect_garbage(ctx) == 0  # younger than the grace period (60 s here): may be about to commit
    clock.advance(minutes=2)
    assert collect_garbage(ctx) == 2  # the orphan and the temporary file
    assert [name for name, _ in store.listing()] == [kept]  # the referenced one stays
    assert store.get(kept) == b"referenced bytes"
    assert not store.fs.exists(interrupted) and all(store.fs.exists(p) for p in strangers)


def test_gc_without_a_blob_store_does_nothing(ctx, blob_url):
    if blob_url is not None:
        pytest.skip("a blob store is configured")
    assert collect_garbage(ctx) == 0


def test_bytes_in_a_blob_store_without_one_configured_is_a_clear_error(ctx, store, operator, new_mailbox, deliver, db):
    if blobs.for_engine(store.engine) is None:
        pytest.skip("bytes in the database")
    sender, to = new_mailbox(oversight_mode="autonomous"), new_mailbox(oversight_mode="autonomous")
    deliver(sender, to, subject="kept outside")
    [inbound] = [m for m in db.rows(t.messages, direction="inbound") if m["subject"] == "kept outside"]
    blobs.attach(store.engine, None)  # a restart that forgot --blob-store
    with pytest.raises(StorageUnavailable) as exc:
        reading.get_raw(ctx, principal=operator, message_id=inbound["id"])
    assert "--blob-store" in exc.value.message and exc.value.details["sha256"] == inbound["raw_sha256"]
    with ctx.store.read() as tx:
        assert tx.execute(select(t.raw_blobs.c.raw).where(t.raw_blobs.c.sha256 == inbound["raw_sha256"])).scalar() is None

"""The blob store: large raw messages and attachment bytes outside the database.

Off by default (one machine, one file to back up: the bytes stay in `raw_blobs.raw` and
`attachments.content`). With `--blob-store URL` (any fsspec URL: `file:///srv/multimail-blobs`,
`s3://bucket/prefix` with the `s3` extra, `memory://` in tests) the bytes go to the store and the
database keeps their sha256 and size only.

Three rules make it safe without a transaction spanning both:

- Content-addressed: a blob's name is the sha256 of its bytes (`ab/cd/abcd...`), so writing the
  same bytes twice is harmless and two messages with the same bytes share one object.
- Written before the database commit that references it: `put` runs inside the transaction,
  before its commit, so a crash leaves at worst an unreferenced blob (which `gc` removes after
  the grace period), never a row naming bytes that were not written.
- Read back verified: `get` hashes what it read and raises `StorageUnavailable` (a clear 503 for
  the operator, naming the hash) when the bytes are missing or differ, rather than serving them.

`gc` deletes blobs no row references that are older than a grace period: a blob written by a
transaction that has not committed yet is younger than the grace period, and `put` rewrites an
existing blob so its age restarts when a new row is about to reference it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ..core.errors import StorageUnavailable


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Bytes by their sha256 on an fsspec filesystem, under the URL's path."""

    def __init__(self, url: str, **storage_options: Any):
        import fsspec  # the server extra's dependency; imported here so the default path needs none of it

        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        self._local = "file" in _protocols(self.fs)
        self.fs.makedirs(self.root, exist_ok=True)

    def path(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def put(self, data: bytes) -> str:
        """Write `data` under its hash and return the hash. Always written, even when present: the
        object's modification time then shows it is about to be referenced again (gc's grace)."""
        digest = sha256_of(data)
        path = self.path(digest)
        if self._local:
            # A partial file must never carry the final name (a reader would see a hash
            # mismatch): write beside it, then rename, which is atomic on one filesystem.
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                _fsync(f)
            self.fs.mv(tmp, path)
            _fsync_dir(path.rsplit("/", 1)[0])  # the rename itself durable before the commit that names it
        else:  # an object store's PUT is atomic: the object is the whole body or absent
            self.fs.pipe_file(path, data)
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            data = self.fs.cat_file(self.path(sha256))
        except FileNotFoundError:
            raise StorageUnavailable(f"The blob store has no object {sha256}, which the database references; "
                                  "restore it from a backup of the blob store.",
                                  details={"sha256": sha256, "store": self.url}) from None
        except OSError as exc:  # a file system error, or an object store that did not answer
            raise StorageUnavailable(f"The blob store did not give back object {sha256} ({type(exc).__name__}); "
                                     "try again later.", details={"sha256": sha256, "store": self.url}) from None
        if sha256_of(data) != sha256:
            raise StorageUnavailable(f"The blob store's object {sha256} does not hash to its name (its bytes were "
                                  "altered or truncated); it was not served.",
                                  details={"sha256": sha256, "store": self.url})
        return data

    def delete(self, sha256: str) -> None:
        try:
            self.fs.rm_file(self.path(sha256))
        except FileNotFoundError:
            pass

    def modified(self, sha256: str) -> datetime | None:
        try:
            return _modified(self.fs.info(self.path(sha256)))
        except FileNotFoundError:
            return None

    def listing(self) -> Iterator[tuple[str, datetime | None]]:
        """(hash, modification time) of every blob at its place, and of interrupted writes'
        temporary files (`<hash>.tmp-<hex>`, which gc removes once old). Anything else under the
        root is not ours and is never listed, so gc never removes it."""
        for path, info in self.fs.find(self.root, detail=True).items():
            name = path.rsplit("/", 1)[-1]
            if _NAME.fullmatch(name) and path.endswith(f"/{name[:2]}/{name[2:4]}/{name}"):
                yield name, _modified(info)

    def remove_path_named(self, name: str) -> None:
        """Remove an interrupted write's temporary file (`<hash>.tmp-<uuid>`)."""
        sha = name.split(".tmp-", 1)[0]
        try:
            self.fs.rm_file(f"{self.path(sha).rsplit('/', 1)[0]}/{name}")
        except FileNotFoundError:
            pass


_NAME = re.compile(r"[0-9a-f]{64}(\.tmp-[0-9a-f]{32})?")


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _fsync(f: Any) -> None:
    import os

    try:
        os.fsync(f.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file descriptor
        pass


def _fsync_dir(directory: str) -> None:
    import os

    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _modified(info: dict[str, Any]) -> datetime | None:
    """The modification time fsspec reports, which each filesystem names its own way."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# The store of each engine: store/ functions receive only a connection, and reach the blob store
# of its engine here (set once at start-up by `attach`), so no service signature changes.
_stores: weakref.WeakKeyDictionary[Engine, BlobStore] = weakref.WeakKeyDictionary()


def attach(engine: Engine, blobs: BlobStore | None) -> None:
    if blobs is None:
        _stores.pop(engine, None)
    else:
        _stores[engine] = blobs


def of(tx: Connection) -> BlobStore | None:
    return _stores.get(tx.engine)


def for_engine(engine: Engine) -> BlobStore | None:
    return _stores.get(engine)


def open_blob_store(url: str | None) -> BlobStore | None:
    """The store a `--blob-store` setting names; None (or "" / "db"): bytes stay in the database."""
    if not url or url.strip().lower() in ("db", "database"):
        return None
    return BlobStore(url.strip())


def referenced(tx: Connection, hashes: list[str]) -> set[str]:
    """Which of `hashes` a row still needs from the blob store: a raw message kept there
    (`raw_blobs` without bytes), or the content of an attachment not purged."""
    from sqlalchemy import select

    from . import tables as t

    if not hashes:
        return set()
    raw = select(t.raw_blobs.c.sha256).where(t.raw_blobs.c.sha256.in_(hashes), t.raw_blobs.c.raw.is_(None))
    a, m = t.attachments, t.messages
    atts = (select(a.c.content_sha256).join(m, m.c.id == a.c.message_id)
            .where(a.c.content_sha256.in_(hashes), a.c.content.is_(None), m.c.attachments_purged_at.is_(None)))
    return {row[0] for row in tx.execute(raw.union(atts))}

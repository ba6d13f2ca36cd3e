"""What every service function needs: the store, the settings and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config import Settings
from ..store import Store


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    store: Store
    settings: Settings
    clock: Callable[[], datetime] = field(default=_utcnow)

    _prefect: object = field(default=None, repr=False)

    def now(self) -> datetime:
        return self.clock()

    def prefect_api(self):
        """The client for the configured Prefect API (`--prefect-api-url`), or None."""
        if self._prefect is None and self.settings.prefect_api_url:
            from ..prefect_api import PrefectApi

            self._prefect = PrefectApi(self.settings.prefect_api_url, self.settings.prefect_api_key,
                                       timeout=self.settings.prefect_timeout_seconds)
        return self._prefect

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """Open (and migrate) the database the settings name."""
        from ..store import blobs, open_store

        # The SQLite file's folder is made by the engine; a PostgreSQL server makes no data dir.
        store = open_store(settings.resolved_database_url())
        blobs.attach(store.engine, blobs.open_blob_store(settings.blob_store))
        return cls(store=store, settings=settings)

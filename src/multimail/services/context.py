"""What every service function needs: the store, the settings and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..config import Settings
from ..store import Store


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    store: Store
    settings: Settings
    clock: Callable[[], datetime] = field(default=_utcnow)

    def now(self) -> datetime:
        return self.clock()

"""Calling the blocking half of Prefect's dual functions (``pause_flow_run``,
``read_flow_run_input``, ...), which pick sync or async by looking for a running event loop.

A blocking call made from sync code must get the blocking half even when some event loop is
running in the thread (an async flow that calls a sync task inline), so it passes
``_sync=True``: the switch ``async_dispatch`` reads, which the functions' declared signatures
omit. One helper says so once, typed, instead of a type-checker exception at every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def call_sync(dual: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``dual(*args, **kwargs)``, its blocking half."""
    return dual(*args, _sync=True, **kwargs)

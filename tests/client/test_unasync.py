"""The sync client is generated from the async one (scripts/unasync.py): the committed _sync.py
must be exactly what the script writes, so a fix made in one flavour is in both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sync_client_is_generated_from_the_async_one():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-4000:]

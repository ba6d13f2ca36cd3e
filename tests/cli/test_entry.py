"""`python -m multimail_server.entry` runs the `multimail` command (it used to exit 0 doing nothing)."""

import subprocess
import sys


def test_module_entry_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "multimail_server.entry", "serve", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: multimail serve" in done.stdout

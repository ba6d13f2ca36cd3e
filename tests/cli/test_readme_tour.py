"""The README's tour, pasted as a user would: a real server, the real `multimail` command."""

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
TEST_COMMAND = 'pip install -e ".[test]" -e ./integrations/prefect-multimail && python3 -m pytest'


def _block_after(marker: str) -> str:
    text = README.read_text()
    start = text.index(marker)
    m = re.search(r"```bash\n(.*?)```", text[start:], re.DOTALL)
    assert m, f"no bash block after {marker!r}"
    return m.group(1)


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.DOTALL).group(1).splitlines()
    assert first_block[0].startswith('pip install -e ".[server]" && multimail serve')
    assert first_block[1].startswith(TEST_COMMAND)
    ci = (README.parent / ".ci" / "run").read_text()
    assert TEST_COMMAND in ci


def test_tour_works_when_pasted(tmp_path):
    srv = ServerProcess(tmp_path / "multimail-data")
    try:
        env = {**os.environ, "BASE": srv.base, "ADMIN_KEY": srv.admin_key}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _block_after("Then paste this:")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().splitlines()[-1] == "sent approved Quarterly numbers", result.stdout
        assert "agent@acme.test" in result.stdout  # the mailbox was created and shown by `pending`
    finally:
        srv.stop()


def test_readme_lists_every_event_type():
    from multimail_server.core.events import EVENT_TYPES

    text = README.read_text()
    missing = [t for t in EVENT_TYPES if f"| `{t}` |" not in text]
    assert not missing, f"README's event table lacks {missing}"

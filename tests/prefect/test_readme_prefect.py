"""What the Prefect documentation promises runs as written: the main README's "## Prefect"
example as pasted into a file, and examples/prefect/README.md's steps in the order they come.

Each test takes the code out of the Markdown itself, so a README edit that breaks it fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from prefect_multimail import MultiMailCredentials

from multimail_server.testing import start_session_server
from tests.conftest import Api, wait_for

ROOT = Path(__file__).resolve().parents[2]


def section(path: Path, heading: str) -> str:
    """The text of the Markdown section ``heading`` (up to the next heading of its level)."""
    text = path.read_text()
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    following = re.search(rf"^{level} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def multimail_cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "multimail_server.cli", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_readme_prefect_example_runs_as_pasted(prefect_server, prefect_api_url, tmp_path):
    example = code_blocks(section(ROOT / "README.md", "## Prefect"), "python")[0]
    admin = Api(prefect_server.base, prefect_server.admin_key)
    created = admin.post("create_mailbox", {"address": "reports@acme.test", "oversight_mode": "gated_send"})
    assert created.status_code in (200, 409), created.text
    agent = admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": ["reports@acme.test"], "name": "readme"})
    # the README's `python -c '... .save("multimail")'`, with this server's URL and key
    MultiMailCredentials(api_key=agent["api_key"], base_url=prefect_server.base).save("multimail", overwrite=True)
    before = {m["message_id"] for m in admin.ok("GET", "list_pending", mailbox="reports@acme.test")["messages"]}
    script = tmp_path / "quarterly_report.py"
    script.write_text(example)
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PREFECT_LOGGING_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def held() -> str | None:
            items = admin.ok("GET", "list_pending", mailbox="reports@acme.test")["messages"]
            return next((m["message_id"] for m in items if m["message_id"] not in before and m["status"] == "pending"), None)

        message_id = wait_for(held, timeout=90, what="the README flow's held mail")
        # the README's `multimail approve msg_...`, at the terminal of the server's data directory
        multimail_cli("approve", message_id, "--data-dir", str(prefect_server.data_dir))
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"{message_id} went out: telling the team." in out, out
    assert out.rstrip().endswith("sent"), out
    assert admin.ok("GET", "read_email", message_id=message_id)["status"] == "sent"


def test_the_examples_readme_creates_each_mailbox_before_it_is_mailed(tmp_path):
    """On a fresh server, do what "Set up (once)" says to do with MultiMail, then send the mail
    "process_inbox.py" says to send: the server takes it (a missing mailbox would refuse it)."""
    readme = ROOT / "examples" / "prefect" / "README.md"
    server = start_session_server(tmp_path)
    try:
        env = {**os.environ, "MULTIMAIL_BASE_URL": server.base, "MULTIMAIL_ADMIN_KEY": server.admin_key}
        setup = "\n".join(code_blocks(section(readme, "## Set up (once)"), "bash"))
        steps = [line.split("#")[0].strip() for line in setup.splitlines()
                 if line.startswith(("python examples/prefect/_mailboxes.py", "multimail mailboxes create"))]
        assert steps, "Set up (once) creates no mailbox"
        for step in steps:
            command = [sys.executable, *step.split()[1:]] if step.startswith("python ") else \
                [sys.executable, "-m", "multimail_server.cli", *step.split()[1:], "--data-dir", str(server.data_dir)]
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
        send_mail = next(b for b in code_blocks(section(readme, "## process_inbox.py"), "bash") if "smtplib" in b)
        heredoc = send_mail.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]
        done = subprocess.run([sys.executable, "-"], input=heredoc.replace("2525", str(server.smtp_port)),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        admin = Api(server.base, server.admin_key)
        wait_for(lambda: admin.ok("GET", "check_inbox", mailbox="support@acme.test")["messages"], timeout=30,
                 what="the mail in support@acme.test")
    finally:
        server.stop()

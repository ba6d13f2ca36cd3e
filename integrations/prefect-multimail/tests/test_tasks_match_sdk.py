"""The sending tasks take exactly the parameters of the SDK methods they wrap.

tasks.py forwards every argument of a sending task to the SDK call (``_request(locals())``), so
the call cannot leave one out; what remains written by hand is each task's signature. This test
is what keeps it in step: a parameter added to the SDK (as ``approval_timeout`` and ``on_timeout``
once were, for a while only there) fails it until the task takes it too, with the same default
and type. No server: it reads the signatures.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from prefect_multimail import tasks

from multimail_server.client import MultiMail


def _described(params) -> dict[str, tuple[object, object]]:
    return {p.name: (p.default, p.annotation) for p in params}


@pytest.mark.parametrize("verb", ["send_email", "reply_email", "decide_email"])
def test_the_task_takes_each_parameter_of_the_sdk_method_with_its_default_and_type(verb):
    sdk = list(inspect.signature(getattr(MultiMail, verb)).parameters.values())[1:]  # less self
    task = inspect.signature(getattr(tasks, verb).fn).parameters
    assert next(iter(task)) == "credentials"  # the block first, everything else by keyword
    ours = [p for name, p in task.items() if name != "credentials"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours)
    assert _described(ours) == _described(sdk)


@pytest.mark.parametrize("verb", ["send_email", "reply_email", "decide_email"])
def test_the_readme_lists_the_sending_tasks_parameters(verb):
    """The README's table names send_email's parameters in full, the others' first ones then `...`."""
    readme = (Path(tasks.__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{verb}(credentials, "))
    named = [p for p in inspect.signature(getattr(tasks, verb).fn).parameters if p != "credentials"]
    listed = row.split("(credentials, ", 1)[1].split(")`", 1)[0]
    if listed.endswith("..."):
        assert all(f"{p}=" in listed for p in named[: listed.count("=")])
    else:
        assert listed == ", ".join(f"{p}=" for p in named)

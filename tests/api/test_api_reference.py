"""docs/api.md, the API reference that ships with the code, keeps up with the API: every operation
of the committed OpenAPI document (itself checked against the code by test_openapi_current.py)
has its own heading there, no heading names an operation that is gone, and the README points to
it rather than to a contract outside the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "api.md"
OPENAPI = ROOT / "docs" / "openapi.json"
# Sections of docs/api.md that are not operations of the OpenAPI document.
NOT_OPERATIONS = {"Verb routes", "Authentication, roles and scopes", "Oversight", "Errors", "Idempotency",
                  "Pagination", "Long-poll (`wait`)", "Rate limits", "Request limits"}


# The folder beside the repository that held the contract (written in two parts, so that this
# check does not find itself).
OUTSIDE = "../" + "shared/"


def _operation_ids() -> set[str]:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return {op["operationId"] for item in doc["paths"].values() for op in item.values()}


def _headings() -> set[str]:
    return set(re.findall(r"^### (.+?)\s*$", REFERENCE.read_text(encoding="utf-8"), flags=re.M))


def test_every_operation_is_documented():
    missing = sorted(_operation_ids() - _headings())
    assert missing == [], f"docs/api.md has no '### <operationId>' section for: {missing}"


def test_no_section_documents_an_operation_that_is_gone():
    stale = sorted(_headings() - _operation_ids() - NOT_OPERATIONS)
    assert stale == [], f"docs/api.md documents operations the API no longer has: {stale}"


def test_every_operation_section_has_a_curl_example():
    text = REFERENCE.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^##)", text + "\n##", flags=re.M | re.S))
    without = sorted(op for op in _operation_ids() if "curl " not in sections.get(op, ""))
    assert without == [], f"no curl example in: {without}"


def test_readme_links_the_reference_and_no_file_points_outside_the_repository():
    assert "(docs/api.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    tracked = subprocess.run(["git", "-C", str(ROOT), "grep", "-l", "-e", OUTSIDE, "--", ".", ":!tests/api/test_api_reference.py"],
                             capture_output=True, text=True, timeout=60)
    assert tracked.stdout.split() == [], f"files that refer to paths outside the repository: {tracked.stdout}"

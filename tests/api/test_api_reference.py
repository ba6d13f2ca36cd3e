"""docs/api.md, the API reference that ships with the code, keeps up with the API: every operation
of the committed OpenAPI document (itself checked against the code by test_openapi_current.py)
has its own heading there, no heading names an operation that is gone, and the README points to
it rather than to a contract outside the repository.

The hosted dialect's operations (tag `hosted`, api/routes/hosted) are documented the same way in
docs/hosted-api.md instead, each with the verb or service it maps to, and every parameter of theirs
has a description in the OpenAPI document itself."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "api.md"
HOSTED = ROOT / "docs" / "hosted-api.md"
HOSTED_TAG = "hosted"
OPENAPI = ROOT / "docs" / "openapi.json"
# Sections of docs/api.md that are not operations of the OpenAPI document.
NOT_OPERATIONS = {"Verb routes", "Authentication, roles and scopes", "Oversight", "Errors", "Idempotency",
                  "Pagination", "Search", "Long-poll (`wait`)", "Rate limits", "Request limits"}


# The folder beside the repository that held the contract (written in two parts, so that this
# check does not find itself).
OUTSIDE = "../" + "shared/"


def _operations() -> list[dict]:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return [op for item in doc["paths"].values() for op in item.values()]


def _operation_ids(hosted: bool = False) -> set[str]:
    return {op["operationId"] for op in _operations() if (HOSTED_TAG in op.get("tags", [])) == hosted}


def _headings(reference: Path = REFERENCE) -> set[str]:
    return set(re.findall(r"^### (.+?)\s*$", reference.read_text(encoding="utf-8"), flags=re.M))


def _sections(reference: Path) -> dict[str, str]:
    text = reference.read_text(encoding="utf-8")
    return dict(re.findall(r"^### (\S+)\n(.*?)(?=^##)", text + "\n##", flags=re.M | re.S))


def test_every_operation_is_documented():
    missing = sorted(_operation_ids() - _headings())
    assert missing == [], f"docs/api.md has no '### <operationId>' section for: {missing}"
    missing = sorted(_operation_ids(hosted=True) - _headings(HOSTED))
    assert missing == [], f"docs/hosted-api.md has no '### <operationId>' section for: {missing}"


def test_no_section_documents_an_operation_that_is_gone():
    stale = sorted(_headings() - _operation_ids() - NOT_OPERATIONS)
    assert stale == [], f"docs/api.md documents operations the API no longer has: {stale}"
    stale = sorted(_headings(HOSTED) - _operation_ids(hosted=True))
    assert stale == [], f"docs/hosted-api.md documents operations the API no longer has: {stale}"


def test_every_operation_section_has_a_curl_example():
    sections = _sections(REFERENCE)
    without = sorted(op for op in _operation_ids() if "curl " not in sections.get(op, ""))
    assert without == [], f"no curl example in: {without}"
    sections = _sections(HOSTED)
    without = sorted(op for op in _operation_ids(hosted=True) if "curl " not in sections.get(op, ""))
    assert without == [], f"no curl example in docs/hosted-api.md for: {without}"


def test_every_hosted_section_names_its_mapping_and_every_parameter_is_described():
    """Each hosted operation's section says what it maps to (a `Maps to:` line); each of its
    parameters has a description in the OpenAPI document."""
    sections = _sections(HOSTED)
    unmapped = sorted(op for op in _operation_ids(hosted=True) if "Maps to:" not in sections.get(op, ""))
    assert unmapped == [], f"docs/hosted-api.md does not say what these map to: {unmapped}"
    undescribed = sorted(f"{op['operationId']}.{p['name']}" for op in _operations() if HOSTED_TAG in op.get("tags", [])
                         for p in op.get("parameters", []) if not p.get("description"))
    assert undescribed == [], f"hosted parameters without a description: {undescribed}"


def test_readme_links_the_reference_and_no_file_points_outside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/api.md)" in readme and "(docs/hosted-api.md)" in readme
    tracked = subprocess.run(["git", "-C", str(ROOT), "grep", "-l", "-e", OUTSIDE, "--", ".", ":!tests/api/test_api_reference.py"],
                             capture_output=True, text=True, timeout=60)
    assert tracked.stdout.split() == [], f"files that refer to paths outside the repository: {tracked.stdout}"

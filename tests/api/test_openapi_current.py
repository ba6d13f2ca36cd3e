"""docs/openapi.json is the API's OpenAPI document as the code makes it (scripts/export_openapi.py),
and that document describes every answer: each operation has a stable operation id and a
response schema that says more than "any object", and every parameter and request-body field
says what it is for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
# Answers that are not JSON: a message's bytes, an attachment in its own content type, and the
# Prometheus text of GET /metrics.
NOT_JSON = {"get_raw": "message/rfc822", "get_attachment": "*/*", "metrics": "text/plain",
            "hosted_download_attachment": "*/*", "export_mailbox": "application/mbox"}


def test_committed_openapi_document_is_current():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_openapi.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def _schema(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_has_an_id_and_describes_its_answer():
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    problems, ids = [], []
    for name, op in _operations(doc):
        op_id = op.get("operationId")
        ids.append(op_id)
        # The success answer: 200, or the first 2xx the operation declares (the hosted dialect's
        # creations answer 201, its sends 202).
        success = next((c for c in ("200", "201", "202") if c in op["responses"]), "200")
        ok = op["responses"].get(success, {}).get("content", {})
        if op_id in NOT_JSON:
            if NOT_JSON[op_id] not in ok:
                problems.append(f"{name}: no {NOT_JSON[op_id]} answer")
            continue
        schema = _schema(doc, ok.get("application/json", {}).get("schema", {}))
        if not op_id:
            problems.append(f"{name}: no operationId")
        if not schema.get("properties"):  # `{}` or `{"type": "object"}`: any object
            problems.append(f"{name}: its answer is not described ({schema})")
    assert problems == []
    assert len(ids) == len(set(ids)), "operation ids must be unique"


def _undescribed_fields(doc: dict, schema: dict, where: str, seen: set[str]) -> list[str]:
    """Properties without a description in a request body's schema, and in the models it uses."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _undescribed_fields(doc, doc["components"]["schemas"][name], name, seen)
    out = []
    for key, prop in schema.get("properties", {}).items():
        if not prop.get("description"):
            out.append(f"{where}.{key}")
        out += _undescribed_fields(doc, prop, f"{where}.{key}", seen)
    for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
        parts = schema.get(key)
        for part in parts if isinstance(parts, list) else [parts] if isinstance(parts, dict) else []:
            out += _undescribed_fields(doc, part, where, seen)
    return out


def test_every_parameter_and_request_field_is_described():
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    problems, seen = [], set()
    for name, op in _operations(doc):
        problems += [f"{name}: parameter {p['name']}" for p in op.get("parameters", []) if not p.get("description")]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body:
            problems += [f"{name}: field {f}" for f in _undescribed_fields(doc, body, name, seen)]
    assert problems == []

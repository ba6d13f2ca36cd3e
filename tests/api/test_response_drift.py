"""An answer that drifted from its declared model (client/types.py): a 500 in the strict mode the
test servers run in, so drift fails the test that meets it; logged and sent as built otherwise."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from multimail_server.api.app import create_app
from multimail_server.client import types
from multimail_server.config import Settings
from multimail_server.services.context import Context
from multimail_server.store import open_store


@pytest.mark.parametrize("strict,status", [(True, 500), (False, 200)])
def test_a_drifted_answer(tmp_path, strict, status, caplog):
    ctx = Context(store=open_store(f"sqlite:///{tmp_path / 'mm.db'}"), settings=Settings(data_dir=tmp_path, strict_responses=strict))
    app = create_app(ctx)

    @app.get("/drifted", response_model=types.ErrorDetail)
    def drifted() -> dict:
        return {"code": "x", "message": "y", "details": {}, "undeclared": 1}

    with TestClient(app) as client:
        answer = client.get("/drifted")
    ctx.store.dispose()
    assert answer.status_code == status
    if strict:
        assert answer.json()["error"]["code"] == "internal_error"
    else:
        assert answer.json()["undeclared"] == 1
    assert "does not match its declared model" in caplog.text

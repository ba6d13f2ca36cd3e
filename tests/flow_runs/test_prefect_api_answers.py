"""How the server reads Prefect's answers to a resume: which are final, which are retried.
(The live tests cover ACCEPT, a run not paused yet and a run paused for something else against a
real Prefect server; these are the answers that are hard to provoke there.)"""

from __future__ import annotations

import json

import httpx
import pytest

from multimail_server.prefect_api import PrefectApi, valid_name

RUN = "1c7a6f0e-0000-4000-8000-000000000001"
KEY = "multimail-frw-abc"


def api(state: dict | None, resume: tuple[int, dict] | None = None, run_status: int = 200) -> PrefectApi:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(run_status, json={"id": RUN, "state": state} if run_status == 200 else {"detail": "nope"})
        assert json.loads(request.content) == {"run_input": {"kind": "approval"}}
        code, body = resume
        return httpx.Response(code, json=body)

    return PrefectApi("http://prefect.test/api", transport=httpx.MockTransport(handler))


PAUSED = {"type": "PAUSED", "state_details": {"pause_key": KEY}}


@pytest.mark.parametrize("state,resume,run_status,ok,retryable", [
    (PAUSED, (201, {"status": "ACCEPT"}), 200, True, False),
    ({**PAUSED, "state_details": {"pause_key": KEY + "-2"}}, (201, {"status": "ACCEPT"}), 200, True, False),
    (PAUSED, (200, {"status": "REJECT", "details": {"reason": "Run input schema not found."}}), 200, False, True),
    (PAUSED, (200, {"status": "REJECT", "details": {"reason": "Run input validation failed: x"}}), 200, False, False),
    (PAUSED, (200, {"status": "ABORT", "details": {"reason": "Cannot resume a flow run that is not paused."}}), 200, False, True),
    (PAUSED, (503, {"detail": "restarting"}), 200, False, True),
    ({"type": "COMPLETED"}, None, 200, False, False),
    ({"type": "CANCELLING"}, None, 200, False, False),
    ({"type": "RUNNING"}, None, 200, False, True),
    ({"type": "PAUSED", "state_details": {"pause_key": "human-review"}}, None, 200, False, True),
    (None, None, 404, False, False),
    (None, None, 502, False, True),
])
def test_resume_answers(state, resume, run_status, ok, retryable):
    res = api(state, resume, run_status).resume(RUN, {"kind": "approval"}, pause_key=KEY)
    assert (res.ok, res.retryable) == (ok, retryable), res
    assert "human-review" not in (res.error or "")  # another pause's key is never repeated


def test_names_must_stay_one_path_segment():
    assert valid_name("process-inbox") and valid_name("my flow")
    for bad in ("", ".", "..", "a/b", "x\n"):
        assert not valid_name(bad)
    res = PrefectApi("http://prefect.test/api", transport=httpx.MockTransport(lambda r: httpx.Response(500))).deployment("../..")
    assert not res.ok and res.status_code == 404

"""The server's calls to the one Prefect API it was configured with (`--prefect-api-url`).

Three calls: resume a paused flow run with run input, create a flow run of a deployment, and
emit events. The URL and key come only from the server's settings, never from a client: a client
names a flow run or a deployment, and the server decides where to call. Every call answers with
a `CallResult` that says whether trying again may help, so the workers can retry the transient
failures (the run has not paused yet, Prefect is restarting) and stop on the final ones.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

# Prefect state types after which a run can never be resumed.
TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED", "CANCELLING"}


def valid_name(name: str) -> bool:
    """A flow or deployment name that stays one path segment (no '.', '..', slashes, controls)."""
    return bool(name) and name not in (".", "..") and "/" not in name and not any(ord(c) < 32 for c in name)


@dataclass
class CallResult:
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    error: str | None = None
    body: Any = None
    duration_ms: int = 0

    @property
    def rescheduled(self) -> bool:
        """Whether a resume put the run back in Scheduled (a suspended run, which a worker runs
        again from the top) rather than Running (a paused run, whose process goes on)."""
        state = self.body.get("state") if isinstance(self.body, dict) else None
        return isinstance(state, dict) and state.get("type") == "SCHEDULED"


class PrefectApi:
    """A small synchronous client for the Prefect REST API (OSS server or Prefect Cloud)."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        headers = {"User-Agent": "multimail-server"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport,
                                  follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None) -> CallResult:
        start = time.monotonic()
        try:
            r = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            return CallResult(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500],
                              duration_ms=int((time.monotonic() - start) * 1000))
        ms = int((time.monotonic() - start) * 1000)
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = r.text[:1000]
        if r.is_success:
            return CallResult(ok=True, status_code=r.status_code, body=body, duration_ms=ms)
        detail = body.get("detail") if isinstance(body, dict) else body
        retryable = r.status_code in (408, 409, 429) or r.status_code >= 500
        return CallResult(ok=False, retryable=retryable, status_code=r.status_code, body=body, duration_ms=ms,
                          error=f"Prefect answered {r.status_code}: {str(detail)[:300]}")

    # --- resuming a paused run ----------------------------------------------------------------
    def resume(self, flow_run_id: str, run_input: dict[str, Any], *, pause_key: str) -> CallResult:
        """Resume the run with the run input, but only from the pause it made for this wait.

        Paused and suspended runs are both in a PAUSED state, and both are resumed here: Prefect
        sets a paused run Running (its process goes on) and a suspended one (``suspend_flow_run``,
        its process exited) Scheduled, named "Resuming", for a worker of its deployment's pool
        to run again from the top; the answer says which (``CallResult.rescheduled``).

        The run must be PAUSED under `pause_key` (or `pause_key-<n>`), the key prefect-multimail
        pauses with: a client names the run, so without this check an agent could resume some
        other paused run (one waiting for a human in Prefect's UI) by naming it. A run that is
        still running (it registered its wait and is about to pause), or paused for something
        else, is retried; a finished one is final. Prefect answers the resume with an
        orchestration result: ACCEPT resumed the run; REJECT "schema not found" is the moment
        between pausing and saving the input schema (retried); other rejections are final."""
        run = self._call("GET", f"/flow_runs/{flow_run_id}")
        if run.status_code == 404:
            return CallResult(ok=False, status_code=404, error="Prefect does not know this flow run.", duration_ms=run.duration_ms)
        if not run.ok or not isinstance(run.body, dict):
            return CallResult(ok=False, retryable=True, status_code=run.status_code, error=run.error or "no flow run",
                              duration_ms=run.duration_ms)
        state = run.body.get("state") or {}
        kind = state.get("type")
        key = (state.get("state_details") or {}).get("pause_key") or ""
        if kind in TERMINAL_STATES:
            return CallResult(ok=False, error="The flow run has finished; it can no longer be resumed.")
        if kind != "PAUSED":
            return CallResult(ok=False, retryable=True, error="The flow run is not paused yet.")
        if key != pause_key and not key.startswith(pause_key + "-"):
            # (the other pause's key is not repeated: a client could read it in the audit trail)
            return CallResult(ok=False, retryable=True, error="The flow run is paused for something else.")
        res = self._call("POST", f"/flow_runs/{flow_run_id}/resume", json={"run_input": run_input})
        if not res.ok:
            return res
        body = res.body if isinstance(res.body, dict) else {}
        status = str(body.get("status", "")).upper()
        reason = str((body.get("details") or {}).get("reason") or "")
        if status == "ACCEPT":
            return res
        if status == "REJECT" and "schema not found" not in reason.lower():
            return CallResult(ok=False, status_code=res.status_code, error=f"Prefect rejected the run input: {reason}",
                              duration_ms=res.duration_ms)
        return CallResult(ok=False, retryable=True, status_code=res.status_code, duration_ms=res.duration_ms,
                          error=f"Prefect answered {status or 'nothing'}: {reason}")

    # --- starting runs of a deployment --------------------------------------------------------
    def deployment(self, ref: str) -> CallResult:
        """A deployment (body: Prefect's deployment object) by id or by `flow-name/deployment-name`."""
        try:
            res = self._call("GET", f"/deployments/{uuid.UUID(ref)}")
        except ValueError:
            flow_name, _, deployment_name = ref.partition("/")
            if not valid_name(flow_name) or not valid_name(deployment_name):
                return CallResult(ok=False, status_code=404, error=f"{ref!r} is not a deployment id nor flow-name/deployment-name.")
            res = self._call("GET", f"/deployments/name/{quote(flow_name, safe='')}/{quote(deployment_name, safe='')}")
        if res.ok and not (isinstance(res.body, dict) and res.body.get("id")):
            return CallResult(ok=False, retryable=True, status_code=res.status_code, error="Prefect answered without a deployment.",
                              duration_ms=res.duration_ms)
        if res.status_code == 404:
            return CallResult(ok=False, status_code=404, error=f"Prefect has no deployment {ref!r}.", duration_ms=res.duration_ms)
        return res

    @staticmethod
    def parameters_of(deployment: dict[str, Any]) -> set[str] | None:
        """The names of the deployment's flow parameters, or None when Prefect does not say."""
        schema = deployment.get("parameter_openapi_schema")
        props = schema.get("properties") if isinstance(schema, dict) else None
        return set(props) if isinstance(props, dict) else None

    def create_flow_run(self, deployment_id: str, *, parameters: dict[str, Any], idempotency_key: str,
                        tags: list[str] | None = None) -> CallResult:
        """Create a run of the deployment; Prefect returns the same run for the same idempotency
        key, so a retried delivery never starts a second run."""
        res = self._call("POST", f"/deployments/{deployment_id}/create_flow_run",
                         json={"parameters": parameters, "idempotency_key": idempotency_key, "tags": tags or []})
        if not res.ok and res.status_code == 404:
            res.retryable = False
        return res

    # --- events -------------------------------------------------------------------------------
    def emit_events(self, events: list[dict[str, Any]]) -> CallResult:
        return self._call("POST", "/events", json=events)

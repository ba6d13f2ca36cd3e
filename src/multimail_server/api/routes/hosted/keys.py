"""/v1/api-keys[/{key_id}]: create_api_key, list_api_keys and revoke_api_key (services/keys.py) in
the hosted dialect. Scopes are the same words in both dialects; send together with oversight is
refused without admin, so an agent key can never approve its own mail."""

from __future__ import annotations

from fastapi import APIRouter, Path

from ....client.types import HostedApiKeyCreated, HostedApiKeyList, HostedStatus
from ....services import keys as svc
from ...deps import CtxDep, PrincipalDep
from ._bodies import CreateApiKeyBody
from ._common import TAG, errors, key_shape

router = APIRouter(prefix="/v1", tags=[TAG])


@router.get("/api-keys", operation_id="hosted_list_api_keys", response_model=HostedApiKeyList, responses=errors(403))
def list_api_keys(ctx: CtxDep, who: PrincipalDep) -> dict:
    """Every key's id, name, prefix and scopes (admin); never a secret."""
    return {"api_keys": [key_shape(k) for k in svc.list_keys(ctx, principal=who)]}


@router.post("/api-keys", operation_id="hosted_create_api_key", status_code=201, response_model=HostedApiKeyCreated,
             responses=errors(403, body=True))
def create_api_key(body: CreateApiKeyBody, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Create a key with these scopes (admin); the secret is in the answer, once."""
    created = svc.create_key(ctx, principal=who, scopes=list(body.scopes), name=body.name,
                             mailboxes=sorted(who.mailboxes) if who.mailboxes is not None else None)
    assert created is not None  # None only for `serve`'s first-key-if-none-exist call
    return {"id": created["key_id"], "api_key": created["api_key"], "prefix": created["prefix"], "name": created["name"],
            "scopes": created["scopes"]}


@router.delete("/api-keys/{key_id}", operation_id="hosted_revoke_api_key", response_model=HostedStatus,
               responses=errors(403, 404))
def revoke_api_key(ctx: CtxDep, who: PrincipalDep, key_id: str = Path(description="The key's id (key_...), not its secret.")) -> dict:
    """Revoke a key at once (admin); it cannot be undone."""
    done = svc.revoke_key(ctx, principal=who, key_id=key_id)
    return {"id": done["key_id"], "status": "revoked"}

"""GET /v1/whoami: the calling key's role, scopes and mailboxes.

A client that adapts to its key (the MCP server lists only the tools a key may call) asks this
instead of guessing from a 403 after the fact. It reveals nothing the key's holder does not
already have: its own id and rights, never its secret.
"""

from fastapi import APIRouter

from ...client.types import WhoAmI
from ..deps import PrincipalDep
from ..errors import responses

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/whoami", operation_id="whoami", response_model=WhoAmI, responses=responses())
def whoami(who: PrincipalDep) -> dict:
    """The calling key: `key_id`, `role` (agent, approver or admin), `scopes`, and the
    `mailboxes` it may act for (null: all)."""
    return {
        "key_id": who.key_id,
        "role": who.role.value,
        "scopes": sorted(s.value for s in who.scopes),
        "mailboxes": None if who.mailboxes is None else sorted(who.mailboxes),
    }

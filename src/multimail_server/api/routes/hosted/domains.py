"""/v1/domains[/{id}]: the signing domains of services/domains.py (`multimail domains`) in the hosted
dialect. A domain's id is its name. This server does not check DNS: a domain reads `pending`
with nothing verified, and `dns_records` lists what to publish."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from ....client.types import HostedDomain, HostedDomainList
from ....core.errors import BadRequest, NotFound
from ....services import domains as svc
from ...deps import CtxDep, PrincipalDep
from ._bodies import AddDomainBody
from ._common import TAG, errors

router = APIRouter(prefix="/v1", tags=[TAG])


def _shape(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["domain"], "domain": view["domain"], "status": "pending", "dkim_verified": False,
            "spf_verified": False, "mx_verified": False, "return_path_verified": False,
            "dns_records": {"selector": view["selector"], "records": view["dns_records"]},
            "created_at": view["created_at"], "verified_at": None}


@router.get("/domains", operation_id="hosted_list_domains", response_model=HostedDomainList, responses=errors(403))
def list_domains(ctx: CtxDep, who: PrincipalDep) -> dict:
    """Every signing domain (admin)."""
    return {"domains": [_shape(d) for d in svc.list_domains(ctx, principal=who)]}


@router.post("/domains", operation_id="hosted_add_domain", status_code=201, response_model=HostedDomain,
             responses=errors(403, 409, body=True))
def add_domain(body: AddDomainBody, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Make a DKIM key for a domain (admin); the answer lists the DNS records to publish."""
    return _shape(svc.add_domain(ctx, principal=who, domain=body.domain))


@router.get("/domains/{domain_id}", operation_id="hosted_get_domain", response_model=HostedDomain,
            responses=errors(403, 404))
def get_domain(ctx: CtxDep, who: PrincipalDep, domain_id: str = Path(description="The domain's id: its name.")) -> dict:
    """One signing domain (admin); an id that is not even a domain name is unknown too (404)."""
    try:
        name = svc.normalize_domain(domain_id)
    except BadRequest:
        raise NotFound(f"No signing domain {domain_id!r}.", code="domain_not_found", details={"domain": domain_id}) from None
    return _shape(svc.get_domain(ctx, principal=who, domain=name))

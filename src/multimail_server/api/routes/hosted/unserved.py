"""The hosted routes this server does not serve, each answering in the API's error shape (and
changing nothing), so code written for the hosted service learns why and what to do instead:

- the hosted service's account, sign-up, operator-session and billing routes: 404 `hosted_only`,
  naming the self-hosted equivalent (there is no account: the operator runs the server);
- features this server does not have yet (unsubscribe links, the
  trust-ladder upgrade codes, domain verification): 501 `not_implemented`, until they are built.

They are left out of the OpenAPI document: they are not operations of this server. docs/hosted-api.md
lists them with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ._common import HostedOnly, NotServed

router = APIRouter()

NO_ACCOUNT = ("Self-hosted: there is no account to sign up for; `multimail serve` prints the first admin key, "
              "and `multimail keys create` makes more.")
OPERATOR = "Self-hosted: the operator holds an admin key (`multimail keys create --role admin`); there is no dashboard session."
BILLING = "Self-hosted: there is no billing, plan or quota."

HOSTED_ONLY: list[tuple[str, str, str]] = [
    ("GET", "/v1/slug-check/{slug}", "Self-hosted: a mailbox takes any address on your domains (POST /v1/mailboxes)."),
    ("POST", "/v1/account/challenge", NO_ACCOUNT),
    ("POST", "/v1/account", NO_ACCOUNT),
    ("GET", "/v1/account", "Self-hosted: there is no account; GET /v1/mailboxes and GET /health describe this server."),
    ("PATCH", "/v1/account", NO_ACCOUNT),
    ("DELETE", "/v1/account", "Self-hosted: there is no account to delete; stop the server and delete its database."),
    ("POST", "/v1/account/resend-confirmation", NO_ACCOUNT),
    ("GET", "/v1/confirm", NO_ACCOUNT),
    ("POST", "/v1/confirm", NO_ACCOUNT),
    ("GET", "/v1/confirm/{code}", NO_ACCOUNT),
    ("POST", "/v1/operator/start-session", OPERATOR),
    ("POST", "/v1/operator/verify-session", OPERATOR),
    ("POST", "/v1/operator/end-session", OPERATOR),
    ("GET", "/v1/operator/session", OPERATOR),
    ("POST", "/v1/support", "Self-hosted: report problems to the project's issue tracker."),
    ("POST", "/v1/billing/checkout", BILLING),
    ("POST", "/v1/billing/crypto-checkout", BILLING),
    ("POST", "/v1/billing/stripe-webhook", BILLING),
    ("POST", "/v1/billing/pricing-checkout", BILLING),
    ("GET", "/v1/billing/session-key", BILLING),
    ("POST", "/v1/billing/coinbase-webhook", BILLING),
    ("POST", "/v1/billing/cancel", BILLING),
    ("POST", "/v1/billing/portal", BILLING),
    ("POST", "/v1/funnel/event", BILLING),
    ("GET", "/v1/usage", "Self-hosted: there is no quota; the server's counters are at GET /metrics (Prometheus)."),
    ("GET", "/v1/export", "Self-hosted: export a mailbox as mbox or .eml files with GET /v1/export_mailbox (or "
     "`multimail export`); everything else is in your own database: back it up directly."),
    ("POST", "/v1/admin/recover-key", "Self-hosted: make a new key on the server with `multimail keys create`."),
    ("POST", "/v1/webhooks/postmark-inbound", "Self-hosted: mail arrives over SMTP (`multimail serve`), not from Postmark."),
    ("POST", "/v1/webhooks/postmark", "Self-hosted: delivery outcomes come from this server's own SMTP delivery."),
    ("GET", "/v1/approve/{token}", "Self-hosted: decision emails link to /d/{token}; or POST /v1/oversight/decide."),
    ("POST", "/v1/approve/{token}", "Self-hosted: decision emails link to /d/{token}; or POST /v1/oversight/decide."),
]

NOT_YET: list[tuple[str, str, str]] = [
    ("GET", "/v1/unsubscribe/{token}", "Unsubscribe links are not supported by this server yet."),
    ("POST", "/v1/unsubscribe/{token}", "Unsubscribe links are not supported by this server yet."),
    ("GET", "/.well-known/reputation/{hash}", "Mailbox reputation lookups are not supported by this server."),
    ("POST", "/v1/mailboxes/{mailbox_id}/request-upgrade",
     "Upgrade codes by email are not supported yet: an admin key changes the mode (PATCH /v1/mailboxes/{id})."),
    ("POST", "/v1/mailboxes/{mailbox_id}/upgrade",
     "Upgrade codes by email are not supported yet: an admin key changes the mode (PATCH /v1/mailboxes/{id})."),
    ("PATCH", "/v1/api-keys/{key_id}", "Keys cannot be changed here: create a new one and revoke the old (DELETE /v1/api-keys/{id})."),
    ("POST", "/v1/domains/{domain_id}/verify", "DNS verification is not supported yet: `multimail domains dns` lists the records."),
    ("DELETE", "/v1/domains/{domain_id}", "Removing a signing domain is not supported yet."),
    ("GET", "/v1/webhook-deliveries", "Self-hosted: deliveries are listed per webhook, GET /v1/list_webhook_deliveries?webhook_id=..."),
]


def _answer(error: type[HostedOnly] | type[NotServed], message: str):
    async def endpoint(request: Request) -> None:
        raise error(message, details={"route": f"{request.method} {request.scope['route'].path}"})

    return endpoint


for _method, _path, _message in HOSTED_ONLY:
    router.add_api_route(_path, _answer(HostedOnly, _message), methods=[_method], include_in_schema=False)
for _method, _path, _message in NOT_YET:
    router.add_api_route(_path, _answer(NotServed, _message), methods=[_method], include_in_schema=False)

"""The hosted API's resource routes (`/v1/mailboxes/{id}/send`, `/v1/oversight/decide`, ...): thin
adapters, one module per area, over the same services as the verb routes, so code and prompts
written for the hosted MultiMail service (its MCP server, its Python SDK) work against this server.
docs/hosted-api.md maps each route to its verb. `unserved` answers the hosted routes this server
does not serve, with the reason."""

from . import audit, contacts, domains, emails, keys, mailboxes, oversight, sending, suppression, unserved, webhooks

# unserved last: its paths never shadow a served route.
ROUTERS = [m.router for m in (mailboxes, sending, emails, oversight, webhooks, keys, audit, domains, suppression, contacts, unserved)]

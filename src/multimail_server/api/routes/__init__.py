"""One router per area; `multimail_server.api.app` lists them all in one place."""

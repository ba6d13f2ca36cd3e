"""One router per area; `multimail.api.app` lists them all in one place."""

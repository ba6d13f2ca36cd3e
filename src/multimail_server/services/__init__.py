"""Use cases: one module per area. Every interface (REST, CLI, SMTP, MCP, dashboard) calls these;
each function takes keyword-only arguments, owns its transaction and returns plain data."""

from .context import Context

__all__ = ["Context"]

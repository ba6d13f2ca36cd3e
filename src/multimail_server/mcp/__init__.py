"""MultiMail's MCP server: the API as tools for agents on any MCP client (Claude, OpenAI, ...).

Tools are named and parametrised as the official hosted MultiMail MCP server's, so a prompt
written for the hosted service works here; each calls the API through the SDK
(`multimail_server.client`) with the caller's key, and lists only what that key may use.
`multimail mcp` runs it over stdio (stdio.py); `multimail serve` mounts it at `/mcp` (http.py).
"""

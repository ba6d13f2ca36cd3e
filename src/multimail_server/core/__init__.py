"""Pure rules of MultiMail: no I/O, no web, no database, no SMTP.

Everything in here can be tested exhaustively and is shared by every way in (REST, MCP, SMTP,
dashboard) through the services layer.
"""

"""Email on the wire: composing RFC 5322/MIME, parsing it, transports and the SMTP receiver."""

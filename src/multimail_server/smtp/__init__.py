"""The inbound SMTP interface (aiosmtpd): an adapter over services.receiving, like api/ over HTTP."""

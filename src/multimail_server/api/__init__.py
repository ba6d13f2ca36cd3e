"""The HTTP API (FastAPI): verb routes of the API reference over the services."""

"""The HTTP API (FastAPI): verb routes of API.md over the services."""

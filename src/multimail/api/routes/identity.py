"""Sender verification without an API key: the identity signing key and verify_message."""

from fastapi import APIRouter

router = APIRouter(tags=["identity"])

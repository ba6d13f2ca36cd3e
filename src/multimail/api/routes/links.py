"""One-click decision links from decide_email messages (no API key: the link is the credential)."""

from fastapi import APIRouter

router = APIRouter(tags=["decisions"])

"""The credentials block: where the MultiMail server is and which API key the flows use."""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from multimail_server.client import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL, AsyncMultiMail, MultiMail


class MultiMailCredentials(Block):
    """Credentials for a MultiMail server: its URL and an API key.

    Give the flows an **agent** key (send, reply, decide, read, tag, cancel its own pending
    mail): an agent key can never approve a message, so a flow that misbehaves cannot approve
    its own mail. Fields left empty fall back to the ``MULTIMAIL_API_KEY`` and
    ``MULTIMAIL_BASE_URL`` environment variables of the process that uses the block (a worker),
    then to ``http://127.0.0.1:8025``.

    Attributes:
        api_key: A MultiMail API key (``mm_live_…``).
        base_url: The MultiMail server, e.g. ``https://mail.example.com``.

    Example:
        Load stored credentials and send:
        ```python
        from prefect_multimail import MultiMailCredentials

        credentials = MultiMailCredentials.load("BLOCK_NAME")
        with credentials.get_client() as client:
            client.send_email(sender="agent@acme.test", to="ana@partner.test", subject="Hi", body="Hello")
        ```
    """

    _block_type_name = "MultiMail Credentials"
    _block_type_slug = "multimail-credentials"
    _description = "Credentials for a MultiMail server (email for AI agents, with a human in the loop): its URL and an API key."

    api_key: SecretStr | None = Field(
        default=None,
        title="API key",
        description=f"A MultiMail API key (mm_live_...); an agent key for flows. Falls back to ${ENV_API_KEY} when empty.",
    )
    base_url: str | None = Field(
        default=None,
        title="Base URL",
        description=f"The MultiMail server's URL. Falls back to ${ENV_BASE_URL}, then {DEFAULT_BASE_URL}, when empty.",
        examples=["http://127.0.0.1:8025"],
    )

    def resolved_api_key(self) -> str | None:
        """The key the clients use: the block's, else ``$MULTIMAIL_API_KEY``, else none."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        return os.environ.get(ENV_API_KEY) or None

    def resolved_base_url(self) -> str:
        """The server the clients talk to: the block's URL, else ``$MULTIMAIL_BASE_URL``, else the SDK default."""
        return self.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL

    def get_client(self, **kwargs: Any) -> MultiMail:
        """A synchronous MultiMail client for these credentials (close it, or use it in ``with``).

        Args:
            **kwargs: Passed to :class:`multimail_server.client.MultiMail` (``timeout``, ``max_retries``, ...).

        Returns:
            The client.

        Example:
            ```python
            with MultiMailCredentials.load("BLOCK_NAME").get_client() as client:
                client.check_inbox("agent@acme.test")
            ```
        """
        return MultiMail(api_key=self.resolved_api_key(), base_url=self.resolved_base_url(), **kwargs)

    def get_async_client(self, **kwargs: Any) -> AsyncMultiMail:
        """An asynchronous MultiMail client for these credentials (use it in ``async with``).

        Args:
            **kwargs: Passed to :class:`multimail_server.client.AsyncMultiMail`.

        Returns:
            The client.

        Example:
            ```python
            async with MultiMailCredentials.load("BLOCK_NAME").get_async_client() as client:
                await client.check_inbox("agent@acme.test")
            ```
        """
        return AsyncMultiMail(api_key=self.resolved_api_key(), base_url=self.resolved_base_url(), **kwargs)

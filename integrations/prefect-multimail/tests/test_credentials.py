"""The credentials block: environment fallback, the clients it makes, Prefect's block checks, and
`prefect block register -m prefect_multimail`."""

from __future__ import annotations

import asyncio

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from prefect_multimail import MultiMailCredentials

from multimail_server.client import DEFAULT_BASE_URL, AsyncMultiMail, MultiMail


class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return MultiMailCredentials

    def test_has_a_documentation_url(self, block):
        pytest.skip("the project has no public documentation URL yet")

    def test_has_a_valid_image(self, block):
        pytest.skip("no logo yet")


def test_fields_fall_back_to_the_environment_then_the_sdk_default(monkeypatch):
    monkeypatch.delenv("MULTIMAIL_API_KEY", raising=False)
    monkeypatch.delenv("MULTIMAIL_BASE_URL", raising=False)
    empty = MultiMailCredentials()
    assert empty.resolved_api_key() is None and empty.resolved_base_url() == DEFAULT_BASE_URL

    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_from_env")
    monkeypatch.setenv("MULTIMAIL_BASE_URL", "http://env.test:8025")
    with empty.get_client() as client:
        assert isinstance(client, MultiMail)
        assert client.api_key == "mm_live_from_env" and client.base_url == "http://env.test:8025"

    own = MultiMailCredentials(api_key="mm_live_block", base_url="http://block.test/v1")
    with own.get_client(max_retries=0) as client:
        assert client.api_key == "mm_live_block" and client.base_url == "http://block.test" and client.max_retries == 0


def test_the_async_client_uses_the_same_resolution(monkeypatch):
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_from_env")
    monkeypatch.setenv("MULTIMAIL_BASE_URL", "http://env.test:8025")

    async def main():
        async with MultiMailCredentials(base_url="http://block.test").get_async_client() as client:
            assert isinstance(client, AsyncMultiMail)
            assert client.api_key == "mm_live_from_env" and client.base_url == "http://block.test"

    asyncio.run(main())


def test_the_key_is_a_secret(monkeypatch):
    creds = MultiMailCredentials(api_key="mm_live_secret")
    assert "mm_live_secret" not in repr(creds) and "mm_live_secret" not in str(creds.model_dump())
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_live_env")
    assert MultiMailCredentials(api_key="").resolved_api_key() == "mm_live_env"  # an empty field means "not set"


def test_prefect_discovers_the_collection_through_its_entry_point():
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_multimail"]
    assert ep.value == "prefect_multimail"


def test_block_register_registers_the_block_type(prefect_api_url):
    """`prefect block register -m prefect_multimail`, run in-process (Prefect's own CLI test
    runner) against the session's Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.testing.cli import invoke_and_assert

    invoke_and_assert(["block", "register", "-m", "prefect_multimail"], expected_code=0,
                      expected_output_contains="MultiMail Credentials", echo=False)
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("multimail-credentials")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert block_type.name == "MultiMail Credentials"
    assert {"api_key", "base_url"} <= set(schema.fields["properties"])
    assert schema.fields["secret_fields"] == ["api_key"]


def test_a_saved_block_loads_with_its_secret(prefect_api_url):
    name = "test-creds-roundtrip"
    MultiMailCredentials(api_key="mm_live_saved", base_url="http://saved.test").save(name, overwrite=True)
    loaded = MultiMailCredentials.load(name)
    assert loaded.resolved_api_key() == "mm_live_saved" and loaded.resolved_base_url() == "http://saved.test"

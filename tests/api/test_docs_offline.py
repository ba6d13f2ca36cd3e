"""/docs and /redoc work on a server without internet access: every asset the pages reference is
served by the server itself (api/docs.py), and answers with the right content type."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from .helpers import assert_error


class _Refs(HTMLParser):
    """Every URL a page makes the browser load or link: src/href attributes, and the `url: '...'`
    the inline script passes to Swagger UI / ReDoc (the OpenAPI document)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]
        self._script = tag == "script"

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script:
            self.urls += [part.split("'")[1] for part in data.split("url:")[1:] if "'" in part]


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json", "": "text/html"}


@pytest.mark.parametrize("page,assets", [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}), ("/redoc", {"redoc.standalone.js"})])
def test_docs_pages_load_nothing_from_outside(server, page, assets):
    r = requests.get(server.base + page, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    refs = _refs(r.text)
    assert refs, r.text
    outside = [u for u in refs if urlsplit(u).scheme or urlsplit(u).netloc]
    assert outside == [], f"{page} loads from outside the server: {outside}"
    assert "googleapis" not in r.text and "cdn." not in r.text, r.text
    names = {u.rsplit("/", 1)[-1] for u in refs}
    assert assets <= names, refs
    for url in refs:
        asset = requests.get(urljoin(server.base + page, url), timeout=30)
        assert asset.status_code == 200, (url, asset.status_code)
        ext = "." + url.rsplit(".", 1)[-1] if "." in url.rsplit("/", 1)[-1] else ""
        assert EXPECTED_TYPES[ext] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100, url


def test_unknown_asset_is_a_404_in_the_error_shape(server):
    assert_error(requests.get(f"{server.base}/docs/assets/no-such-file.js", timeout=10), 404, "route_not_found")


def test_docs_pages_are_not_operations(server):
    paths = requests.get(f"{server.base}/openapi.json", timeout=10).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))], list(paths)

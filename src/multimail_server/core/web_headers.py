"""The response headers of an HTML page meant for one person's eyes: the dashboard's pages, the
HTML part of a held message it frames, and the approval and decision link pages (api/ and
dashboard/ are one layer and may not import each other, so the rule lives here, below both).

Whatever else differs between those pages, each one carries: no caching (a page shows mail, and
the link pages are reached by a credential in the URL), no MIME sniffing, a referrer policy (so a
link in the page does not hand its URL, and a link page's token, to another site) and a
Content-Security-Policy of its own.
"""

from __future__ import annotations


def private_page_headers(csp: str, *, referrer_policy: str = "no-referrer", frame_options: str | None = None,
                         noindex: bool = False) -> dict[str, str]:
    """The headers of such a page with Content-Security-Policy `csp`; `frame_options` adds
    X-Frame-Options (for browsers that predate frame-ancestors), `noindex` asks robots to keep
    the page out of any index."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": referrer_policy,
        "Content-Security-Policy": csp,
    }
    if frame_options is not None:
        headers["X-Frame-Options"] = frame_options
    if noindex:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    return headers

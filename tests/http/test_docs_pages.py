"""The API's documentation pages work on a network without internet access.

FastAPI's own ``/docs`` and ``/redoc`` pages load Swagger UI and ReDoc from a CDN, so a
dealer's server without a way out showed a blank page. Here every script, stylesheet and
icon the pages load comes from the server itself, out of the installed package — read as a
browser would: each ``src``/``href`` of the page is fetched from the same server.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest


class Loads(HTMLParser):
    """What a browser fetches to show the page: scripts, stylesheets, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"])
        if tag == "link" and found.get("href"):
            self.urls.append(found["href"])


def loads_of(html: str) -> list[str]:
    parser = Loads()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(("page", "needs"), [("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                                             ("/redoc", ("redoc.standalone.js",))])
def test_the_documentation_page_loads_everything_from_this_server(api, page, needs):
    answer = api.get(page)
    assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
    urls = loads_of(answer.text)
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls  # no other host
    assert not re.search(r"https?://", "".join(urls))
    for name in needs:
        assert any(url.endswith(name) for url in urls), (name, urls)
    for url in urls:
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > (100_000 if url.endswith(".js") else 1_000), url  # the real thing, not a stub


def test_the_pages_point_at_the_servers_own_openapi_document(api):
    assert "/openapi.json" in api.get("/docs").text and "/openapi.json" in api.get("/redoc").text
    assert api.get("/openapi.json").json()["info"]["title"] == "dealercrm"

"""The official MCP Python SDK client connecting to the example's MCP server, with the user's
part done in a real browser (Debian's Chromium through Playwright): the SDK opens the
authorization URL, the user logs in on the provider's login page, reads the consent page
(which says the client registered itself) and presses Allow; the browser lands on the
client's loopback redirect URI, where the SDK's callback takes the code. Then a tool call.

Skipped like the other browser tests when Chromium, Playwright or the ``mcp`` package is
missing (``OAUTH_PROVIDER_BROWSER_TESTS=required`` makes the first two a failure).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.example_sites import ExampleSites, new_sites

from .test_walkthrough import A11Y_SCRIPT, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, _skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REDIRECT = "http://127.0.0.1:33419/callback"
#: the redirect URI with any query (Playwright globs are not used: the query is the point)
ARRIVAL = re.compile(r"^http://127\.0\.0\.1:33419/callback(\?.*)?$")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleSites]:
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.async_api", reason="the playwright package is missing")
    pytest.importorskip("mcp.client.auth", reason="the MCP Python SDK (mcp) is not installed")
    example = new_sites(tmp_path_factory.mktemp("browser_mcp"))
    example.prepare()
    with example.running(consumer=False):
        yield example


class ChromiumUser:
    """The SDK's redirect and callback handlers, played by a person in Chromium."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.callback: str | None = None
        self.consent_text = ""

    async def redirect(self, authorization_url: str) -> None:
        page = self.page

        async def arrive(route: Any) -> None:  # nothing listens on the loopback port: answer for it
            self.callback = route.request.url
            await route.fulfill(status=200, content_type="text/html",
                                body="<!doctype html><html lang=en><title>Done</title><h1>You can close this tab</h1>")

        await page.route(ARRIVAL, arrive)
        await page.goto(authorization_url)
        await page.locator("input[name=username]").fill("demo")
        await page.locator("input[name=password]").fill("demo-password")
        await page.locator("form button[type=submit]").click()
        await page.get_by_role("button", name="Allow").wait_for()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "mcp-consent.png"), full_page=True)
        assert await page.evaluate(A11Y_SCRIPT) == []
        self.consent_text = await page.locator("main, body").first.inner_text()
        await page.get_by_role("button", name="Allow").click()
        await page.wait_for_url(ARRIVAL)

    async def callback_handler(self) -> Any:
        from mcp.client.auth import AuthorizationCodeResult

        params = {k: v[0] for k, v in parse_qs(urlsplit(self.callback or "").query).items()}
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


async def connect(url: str) -> tuple[str, str]:
    import httpx2
    from mcp import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata
    from playwright.async_api import async_playwright

    from tests.e2e.test_mcp import MemoryStorage

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1100, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        user = ChromiumUser(await context.new_page())
        provider = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(client_name="Notes agent (browser test)", redirect_uris=[REDIRECT]),
            storage=MemoryStorage(), redirect_handler=user.redirect, callback_handler=user.callback_handler,
        )
        try:
            async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    added = await client.call_tool("add_note", {"text": "from Chromium via MCP"})
        finally:
            await browser.close()
    return added.content[0].text, user.consent_text


def test_mcp_sdk_with_the_user_in_chromium(sites: ExampleSites) -> None:
    text, consent = asyncio.run(connect(sites.provider + "/mcp"))
    assert text == "Added the note: from Chromium via MCP"
    assert "Notes agent (browser test)" in consent
    assert "registered itself" in consent

"""The example, walked in a real browser: Debian's Chromium driven by Playwright.

The consumer site -> "Log in with Example" -> the provider's login page -> the consent page
-> back on the consumer, logged in, the ID token's claims and the notes API's data shown;
then the provider's connected-apps page -> Revoke -> the consumer is signed out (back-channel
logout), or its next API call fails.
Also the provider's error, logout confirmation and signed-out pages, a phone-sized consent
page and the consent page in French.

Both sites run as subprocesses on free loopback ports (tests/support/example_sites.py), each with
its own database and session; the browser keeps one cookie jar for both, as it would. Each
page is screenshotted to test-artifacts/browser/ and checked for basic accessibility: the
document's language, a single h1, a label on every field, a name on every button, link and
image, text contrast, and a sensible keyboard focus order on the consent page.

Skipped, with the reason, when /usr/bin/chromium or the playwright package is missing;
``OAUTH_PROVIDER_BROWSER_TESTS=required`` (set by .ci/run) makes that a failure instead.
Playwright's own browser downloads are never used (no ``playwright install``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.example_sites import ExampleSites, new_sites

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
TIMEOUT_MS = 20_000

#: the accessibility rules, run in the page (WCAG 2.2: 3.1.1 language, 1.3.1 and 2.4.6
#: headings and labels, 4.1.2 names, 1.1.1 text alternatives, 1.4.3 contrast)
A11Y_SCRIPT = """
() => {
  const problems = [];
  const lang = (document.documentElement.getAttribute('lang') || '').trim();
  if (!lang) problems.push('<html> has no lang');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} h1 elements, expected one`);
  const skip = ['hidden', 'submit', 'button', 'reset', 'image'];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.tagName === 'INPUT' && skip.includes((el.getAttribute('type') || 'text').toLowerCase())) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!named) problems.push(`no label: ${el.outerHTML}`);
  }
  const textOf = (el) => (el.innerText || el.value || el.getAttribute('aria-label') || el.getAttribute('title')
    || [...el.querySelectorAll('img[alt]')].map(i => i.alt).join(' ') || '').trim();
  for (const el of document.querySelectorAll('button, input[type=submit], input[type=button], a[href]')) {
    if (!textOf(el)) problems.push(`no accessible name: ${el.outerHTML}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`no alt: ${img.outerHTML}`);
  }
  // contrast of text against the nearest opaque background
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] === 1)) return c;
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  for (const el of document.querySelectorAll('h1, h2, p, li, label, legend, button, a, td, th, code, span, strong')) {
    if (!el.offsetParent || !(el.innerText || '').trim()) continue;
    const style = getComputedStyle(el);
    const fg = rgb(style.color), bg = background(el);
    const [a, b] = [lum(fg.slice(0, 3)), lum(bg.slice(0, 3))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && +style.fontWeight >= 700);
    const key = `${style.color}/${bg}`;
    if (ratio < (large ? 3 : 4.5) && !seen.has(key)) {
      seen.add(key);
      problems.push(`contrast ${ratio.toFixed(2)} for ${el.tagName} "${el.innerText.trim().slice(0, 40)}"`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push('horizontal scrolling');
  return problems;
}
"""


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("OAUTH_PROVIDER_BROWSER_TESTS") == "required":
        pytest.fail(f"OAUTH_PROVIDER_BROWSER_TESTS=required, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is missing (pip install playwright; no browser download needed)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


#: extra users, so each test meets the consent page whatever the others approved
USERS = ("phone", "francais")
PASSWORD = "browser-test-password"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[ExampleSites]:
    example = new_sites(tmp_path_factory.mktemp("browser_example"))
    example.prepare()
    for username in USERS:
        example.manage("createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com",
                       env=example.env(DJANGO_SUPERUSER_PASSWORD=PASSWORD))
    with example.running():
        yield example


@pytest.fixture
def page_factory(chromium: Any, sites: ExampleSites, request: pytest.FixtureRequest) -> Iterator[Any]:
    """New browser contexts (each a fresh cookie jar), closed after the test; on failure the
    servers' logs are attached to the report."""
    contexts: list[Any] = []

    def new_page(**options: Any) -> Any:
        context = chromium.new_context(**{"viewport": {"width": 1100, "height": 900}, **options})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(sites.logs())


def look(page: Any, name: str) -> None:
    """Screenshot the page as test-artifacts/browser/<name>.png and check its accessibility."""
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    problems = page.evaluate(A11Y_SCRIPT)
    assert problems == [], f"{name} ({page.url}): {problems}"


def log_in(page: Any, username: str = "demo", password: str = "demo-password") -> None:
    # by field name: the labels follow the browser's language
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()


def focus_order(page: Any, presses: int = 25) -> list[str]:
    """What keyboard focus lands on, Tab after Tab from the top of the page."""
    page.locator("body").focus()
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? `${e.tagName.toLowerCase()}:${e.name || e.value || e.innerText || ''}`.trim() : ''; }"
        ))
    return seen


def test_log_in_consent_api_revoke(page_factory: Any, sites: ExampleSites) -> None:
    page = page_factory()
    page.goto(sites.consumer + "/")
    look(page, "01-consumer-home")

    page.get_by_role("link", name="Log in with Example").click()
    page.wait_for_url(re.compile(re.escape(sites.provider) + r"/accounts/login/"))
    look(page, "02-provider-login")

    log_in(page)
    page.wait_for_url(re.compile(re.escape(sites.provider) + r"/o/authorize/"))
    look(page, "03-consent")
    assert page.get_by_role("heading", level=1).inner_text() == "Consumer site wants to access your account"
    logo = page.locator("img.logo")
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0"), "the client's logo did not load"
    assert page.get_by_role("link", name="Privacy policy").get_attribute("href") == sites.consumer + "/privacy/"
    order = focus_order(page)
    positions = [next(i for i, f in enumerate(order) if f.startswith(p)) for p in
                 ("input:scope", "input:remember", "button:allow", "button:deny")]
    assert positions == sorted(positions), order
    assert page.get_by_label(re.compile("Remember my decision")).is_checked()

    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(sites.consumer + "/")
    look(page, "04-consumer-signed-in")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Dana"
    claims = dict(zip(page.locator("table th").all_inner_texts(), page.locator("table td").all_inner_texts(),
                      strict=True))
    assert claims["email"] == "demo@example.com" and claims["iss"] == sites.provider + "/o"
    assert claims["preferred_username"] == "demo" and claims["sub"]
    assert "Buy milk" in page.locator("ul.notes").inner_text()

    page.get_by_label("Add a note").fill("Written from Chromium")
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").click()
    assert page.get_by_role("status").inner_text() == "Note added through the API."
    assert page.locator("ul.notes li").first.inner_text() == "Written from Chromium"
    look(page, "05-consumer-note-added")

    page.goto(sites.provider + "/o/connected-apps/")
    look(page, "06-connected-apps")
    assert "Consumer site" in page.get_by_role("heading", level=2).all_inner_texts()
    with page.expect_navigation():
        page.get_by_role("button", name="Revoke access for Consumer site").click()
    look(page, "06b-connected-apps-confirm")
    assert page.get_by_role("heading", level=1).inner_text() == "Revoke access for Consumer site?"
    page.get_by_role("button", name="Revoke access", exact=True).click()
    page.wait_for_url(re.compile(r".*/o/connected-apps/\?revoked="))
    look(page, "07-connected-apps-revoked")
    assert "Consumer site can no longer access your account." in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name=re.compile("Revoke access")).count() == 0

    # Example told the consumer at once (OpenID Connect Back-Channel Logout, from a background
    # thread): its session is gone. Had the logout token not arrived yet, the consumer's next API
    # call would be refused and it would say so; either way the user is signed out there.
    page.goto(sites.consumer + "/")
    look(page, "08-consumer-after-revoke")
    assert page.get_by_role("link", name="Log in with Example").is_visible()
    assert page.locator("ul.notes").count() == 0
    alerts = page.get_by_role("alert")
    if alerts.count():
        alert = alerts.inner_text()
        assert "no longer accepts this site's tokens" in alert and "access was revoked" in alert


def test_logout_error_and_phone_pages(page_factory: Any, sites: ExampleSites) -> None:
    page = page_factory()
    page.goto(sites.provider + "/o/authorize/?client_id=no-such-client&response_type=code")
    look(page, "09-error")
    assert page.get_by_role("heading", level=1).inner_text() == "This request cannot be completed"

    page.goto(sites.consumer + "/login/")
    log_in(page, "admin", "admin-password")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(sites.consumer + "/")
    # RP-initiated logout from the consumer: the ID token proves who asks, so no question
    with page.expect_navigation(url=sites.consumer + "/"):
        page.get_by_role("button", name="Log out").click()
    look(page, "10-consumer-signed-out")
    assert page.get_by_role("status").inner_text() == "You are signed out of this site and of Example."

    # a logout request that cannot prove who sent it is confirmed first
    page.goto(sites.provider + "/accounts/login/")
    log_in(page, "admin", "admin-password")
    page.goto(sites.provider + "/o/logout/")
    look(page, "11-logout-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    look(page, "12-logged-out")
    assert page.get_by_role("heading", level=1).inner_text() == "You are signed out"

    phone = page_factory(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme="dark")
    phone.goto(sites.consumer + "/login/")
    log_in(phone, "phone", PASSWORD)
    look(phone, "13-consent-phone-dark")
    allow, deny = (phone.get_by_role("button", name=n).bounding_box() for n in ("Allow", "Deny"))
    assert allow["width"] > 300 and deny["y"] > allow["y"], "buttons should stack full-width on a phone"


def test_the_login_page_fills_in_the_login_hint(page_factory: Any, sites: ExampleSites) -> None:
    """OIDC Core §3.1.2.1: the ``login_hint`` the authorization endpoint passes on is in the
    username field; the user types only the password."""
    page = page_factory()
    page.goto(sites.provider + "/accounts/login/?login_hint=demo&next=/o/connected-apps/")
    assert page.locator("input[name=username]").input_value() == "demo"
    page.locator("input[name=password]").fill("demo-password")
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()
    assert page.url == sites.provider + "/o/connected-apps/"


def test_consent_page_in_french(page_factory: Any, sites: ExampleSites) -> None:
    page = page_factory(locale="fr-FR")
    page.goto(sites.consumer + "/login/")
    log_in(page, "francais", PASSWORD)
    look(page, "14-consent-french")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", level=1).inner_text() == "Consumer site demande l’accès à votre compte"
    # the library's strings (standard scopes) and the site's own (its API scopes, header) alike
    scopes = page.locator("ul.scopes").inner_text()
    assert "Vous connecter avec votre compte" in scopes and "Lire vos notes" in scopes
    page.get_by_role("button", name="Autoriser").click()
    page.wait_for_url(sites.consumer + "/")

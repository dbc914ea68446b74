"""Helpers shared by the authorization-endpoint and consent tests."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from oauth_provider.models import Authorization, AuthorizationCode
from tests.conftest import pkce_pair, query_of
from tests.support.settings import oauth_settings as provider_settings  # noqa: F401  (the one helper)

AUTHORIZE = "/o/authorize/"
METADATA = "/o/.well-known/oauth-authorization-server"
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')




def params_for(client, **overrides) -> dict:
    """A valid authorization request for ``client``; ``None`` drops a parameter."""
    _verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri_list[0],
        "scope": "read",
        "state": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def minted() -> int:
    """Codes and grants stored so far: a refused request must leave both at zero."""
    return AuthorizationCode.objects.count() + Authorization.objects.count()


def assert_page_headers(response) -> None:
    for name, value in PAGE_HEADERS.items():
        assert response.get(name) == value, (name, response.get(name))


def assert_error_page(response, status: int = 400) -> None:
    """An HTML error page: no redirect anywhere, anti-framing and no-store headers."""
    assert response.status_code == status, (response.status_code, response.get("Location"))
    assert not response.has_header("Location")
    assert response["Content-Type"].startswith("text/html")
    assert_page_headers(response)
    assert b"This request cannot be completed" in response.content


def assert_redirect_to(response, redirect_uri: str) -> dict[str, str]:
    """A 302/303 to exactly ``redirect_uri`` (plus query); returns the query parameters."""
    assert response.status_code in (302, 303), (response.status_code, response.content[:300])
    location = response["Location"]
    want, got = urlsplit(redirect_uri), urlsplit(location)
    assert (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path), location
    assert got.fragment == ""
    return query_of(location)


def assert_error_redirect(response, redirect_uri: str, error: str, state: str | None, issuer: str) -> dict:
    """RFC 6749 §4.1.2.1 error redirect with the original ``state`` and ``iss`` (RFC 9207)."""
    query = assert_redirect_to(response, redirect_uri)
    assert query.get("error") == error, query
    assert query.get("state") == state, query
    assert query.get("iss") == issuer, query
    assert "code" not in query
    return query

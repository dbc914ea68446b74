"""django-oauth-toolkit's own flows, driven through its views with Django's test client, so
the rows import_dot reads are the rows DOT writes (mounted under /dot/ by tests.migration.urls)."""

from __future__ import annotations

import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client as HttpClient

from tests.conftest import basic_auth, pkce_pair


def _code_from(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, location
    return query["code"][0]


def authorize(browser: HttpClient, app, *, scope: str, redirect_uri: str, nonce: str = "") -> tuple[str, str]:
    """Log-in user's browser through DOT's authorization page (its consent form posted when
    shown); returns (code, PKCE verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": app.client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256",
    }
    if nonce:
        params["nonce"] = nonce
    page = browser.get("/dot/authorize/?" + urlencode(params))
    if page.status_code == 200:  # DOT's consent form: post back its hidden fields with allow
        html = page.content.decode()
        fields = {unescape(n): unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', html)}
        fields.pop("csrfmiddlewaretoken", None)
        page = browser.post("/dot/authorize/", {**fields, "allow": "Authorize"})
    assert page.status_code == 302, page.content[:800]
    return _code_from(page["Location"]), verifier


def exchange(api: HttpClient, app, code: str, verifier: str, *, redirect_uri: str, secret: str | None = None) -> dict:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    return token(api, app, data, secret=secret)


def token(api: HttpClient, app, data: dict, *, secret: str | None = None, path: str = "/dot/token/") -> dict:
    """POST to DOT's token endpoint: Basic with ``secret``, else client_id in the body."""
    extra = {}
    if secret is None:
        data = {**data, "client_id": app.client_id}
    else:
        extra["HTTP_AUTHORIZATION"] = basic_auth(app.client_id, secret)
    response = api.post(path, urlencode(data), content_type="application/x-www-form-urlencoded", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def login_and_tokens(user, app, *, scope: str, redirect_uri: str, secret: str | None = None, **kw) -> dict:
    browser = HttpClient()
    browser.force_login(user)
    code, verifier = authorize(browser, app, scope=scope, redirect_uri=redirect_uri, **kw)
    return exchange(HttpClient(), app, code, verifier, redirect_uri=redirect_uri, secret=secret)


def revoke(app, value: str, *, secret: str | None = None) -> None:
    """DOT's RFC 7009 endpoint."""
    api = HttpClient()
    data = {"token": value}
    extra = {}
    if secret is None:
        data["client_id"] = app.client_id
    else:
        extra["HTTP_AUTHORIZATION"] = basic_auth(app.client_id, secret)
    response = api.post("/dot/revoke_token/", urlencode(data), content_type="application/x-www-form-urlencoded",
                        **extra)
    assert response.status_code == 200, response.content

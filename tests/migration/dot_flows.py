"""django-oauth-toolkit's own flows, driven through its views with Django's test client, so
the rows import_dot reads are the rows DOT writes (mounted under /dot/ by tests.migration.urls)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client as HttpClient
from django.utils import timezone
from oauth2_provider.models import AccessToken as DotAccessToken
from oauth2_provider.models import Application

from oauth_provider.secrets import hash_token
from tests.conftest import basic_auth, pkce_pair
from tests.support.factories import UserFactory

WEB_SECRET = "web-secret-kept-by-the-consumer-site-0123456789"
BILLING_SECRET = "billing-secret-in-the-clear-0123456789"
WEB_CB = "https://notes.example/callback"
APP_CB = "http://127.0.0.1/callback"


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


@dataclass
class DotSite:
    """What DOT's flows left: the applications and the values their clients hold."""

    apps: dict[str, Application] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)


def application(name: str, **fields) -> Application:
    owner = fields.pop("user", None)
    return Application.objects.create(name=name, user=owner, **fields)


def build_site() -> DotSite:
    """Users, DOT applications of every kind, and tokens from DOT's own flows: alice's and bob's
    live grants, bob's rotated refresh token, carol's revoked one, the billing job's live and
    expired client_credentials tokens, and a code never redeemed."""
    site = DotSite()
    site.users = {name: UserFactory(username=name) for name in ("alice", "bob", "carol")}
    apps = site.apps
    apps["web"] = application(  # confidential, its secret hashed by DOT (PBKDF2)
        "Notes web", client_type="confidential", authorization_grant_type="authorization-code",
        client_secret=WEB_SECRET, redirect_uris=f"{WEB_CB} http://notes.example/legacy", algorithm="RS256",
        post_logout_redirect_uris="https://notes.example/bye",
    )
    apps["app"] = application(  # public, and DOT let it skip the consent page
        "Notes app", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris=f"{APP_CB} com.example.notes:/callback", skip_authorization=True,
    )
    apps["billing"] = application(  # a service whose secret DOT kept in the clear
        "Billing job", client_type="confidential", authorization_grant_type="client-credentials",
        client_secret=BILLING_SECRET, hash_client_secret=False,
    )
    apps["hybrid"] = application(
        "Hybrid RP", client_type="confidential", authorization_grant_type="openid-hybrid",
        redirect_uris="https://hybrid.example/cb", client_secret="hybrid-secret-0123456789",
    )
    apps["legacy"] = application(
        "Legacy mobile", client_type="public", authorization_grant_type="password", redirect_uris="",
    )
    apps["spa"] = application(
        "Old SPA", client_type="public", authorization_grant_type="implicit", redirect_uris="https://spa.example/cb",
    )
    apps["insecure"] = application(
        "Insecure", client_type="confidential", authorization_grant_type="authorization-code",
        redirect_uris="http://insecure.example/cb", client_secret="insecure-secret-0123456789",
    )
    users, tokens = site.users, site.tokens
    tokens["alice_web"] = login_and_tokens(
        users["alice"], apps["web"], scope="openid read write", redirect_uri=WEB_CB, secret=WEB_SECRET, nonce="n-1",
    )
    tokens["bob_app"] = login_and_tokens(users["bob"], apps["app"], scope="read", redirect_uri=APP_CB)
    first = login_and_tokens(users["bob"], apps["web"], scope="read", redirect_uri=WEB_CB, secret=WEB_SECRET)
    tokens["bob_web_rotated"] = first
    tokens["bob_web"] = token(  # DOT rotates: `first`'s refresh token is revoked
        HttpClient(), apps["web"], {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        secret=WEB_SECRET,
    )
    tokens["carol_web"] = login_and_tokens(
        users["carol"], apps["web"], scope="read", redirect_uri=WEB_CB, secret=WEB_SECRET,
    )
    revoke(apps["web"], tokens["carol_web"]["refresh_token"], secret=WEB_SECRET)
    tokens["billing"] = token(HttpClient(), apps["billing"], {"grant_type": "client_credentials"},
                                        secret=BILLING_SECRET)
    tokens["billing_old"] = token(HttpClient(), apps["billing"], {"grant_type": "client_credentials"},
                                            secret=BILLING_SECRET)
    DotAccessToken.objects.filter(token_checksum=hash_token(tokens["billing_old"]["access_token"])).update(
        expires=timezone.now() - timedelta(minutes=1)  # time passed
    )
    browser = HttpClient()
    browser.force_login(users["carol"])
    authorize(browser, apps["web"], scope="read", redirect_uri=WEB_CB)  # a code never redeemed
    return site

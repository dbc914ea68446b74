"""Unmodified OpenID Connect relying-party libraries logging in against the provider over real
HTTP: Authlib (an OIDC client library) and mozilla-django-oidc (a Django RP package). Both
start from the discovery document or the endpoints it advertises, verify the ID token's
signature against the published JWKS, and check nonce, audience and issuer themselves."""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from oauth_provider import keys
from tests.support.factories import ClientFactory, UserFactory

from .test_third_party_clients import PASSWORD, TIMEOUT, authorize_in_browser, issuer, submit  # noqa: F401

pytestmark = [pytest.mark.e2e]

CALLBACK = "https://rp.example/oidc-callback"


@pytest.fixture
def discovery(issuer: str, monkeypatch: pytest.MonkeyPatch) -> dict:  # noqa: F811
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    keys.create_key("RS256", prepublish=False)
    response = requests.get(issuer + "/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def alice(transactional_db):
    user = UserFactory(username="alice", email="alice@example.com", first_name="Alice", last_name="Liddell")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.req("OIDC-2-nonce-echo")
@pytest.mark.req("OIDC-3.1.3.2-openid-code")
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_authlib_oidc_login(discovery, alice, algorithm):
    if algorithm != "RS256":
        keys.create_key(algorithm, prepublish=False)
    rp = ClientFactory(redirect_uris=CALLBACK)
    session = OAuth2Session(
        rp.client_id, rp.raw_secret, scope="openid profile email", redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        discovery["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    redirected = authorize_in_browser(url, CALLBACK, "alice")
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=redirected,
                                code_verifier=verifier)
    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=TIMEOUT).json())
    claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken, claims_options={
        "iss": {"essential": True, "value": discovery["issuer"]},
        "aud": {"essential": True, "value": rp.client_id},
        "nonce": {"essential": True, "value": nonce},
    }, claims_params={"nonce": nonce, "access_token": token["access_token"]})
    claims.validate()  # exp, iat, nonce, aud, iss, azp, at_hash (Authlib's own rules)
    assert claims["sub"] == str(alice.pk) and claims["email"] == "alice@example.com"
    info = session.get(discovery["userinfo_endpoint"], timeout=TIMEOUT).json()
    assert info["sub"] == claims["sub"] and info["name"] == "Alice Liddell"
    refreshed = session.refresh_token(discovery["token_endpoint"])
    again = jwt.decode(refreshed["id_token"], jwks)
    assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]


@pytest.fixture
def mozilla_rp(discovery, live_server, settings):
    """mozilla-django-oidc configured, as its documentation says, against our endpoints."""
    redirect = live_server.url + "/oidc/callback/"
    rp = ClientFactory(redirect_uris=redirect, token_endpoint_auth_method="client_secret_post")
    settings.ROOT_URLCONF = "tests.e2e.rp_urls"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend",
    ]
    settings.OIDC_RP_CLIENT_ID = rp.client_id
    settings.OIDC_RP_CLIENT_SECRET = rp.raw_secret
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    settings.OIDC_USE_PKCE = True
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = discovery["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
    settings.LOGIN_REDIRECT_URL = "/rp-home/"
    return rp


def test_mozilla_django_oidc_login(mozilla_rp, alice, live_server):
    with requests.Session() as browser:
        response = browser.get(live_server.url + "/oidc/authenticate/", allow_redirects=False, timeout=TIMEOUT)
        for _ in range(12):
            if response.is_redirect:
                response = browser.get(requests.compat.urljoin(response.url, response.headers["Location"]),
                                       allow_redirects=False, timeout=TIMEOUT)
            elif 'name="password"' in response.text:
                response = submit(browser, response, has="password", username="alice", password=PASSWORD)
            elif 'name="oauth_request"' in response.text:
                response = submit(browser, response, has="oauth_request", button="allow")
            else:
                break
        assert response.status_code == 200, response.text[:500]
        assert response.url == live_server.url + "/rp-home/"
        assert response.json() == {"user": "alice"}
        # The RP and the provider share this site's session, and the provider's login page logged
        # alice in first: prove the RP's callback itself succeeded (it verified our ID token and
        # UserInfo, then marked the session; a failure would have redirected to "/").
        from importlib import import_module

        from django.conf import settings as django_settings

        store = import_module(django_settings.SESSION_ENGINE).SessionStore(browser.cookies["sessionid"])
        assert "oidc_id_token_expiration" in store
        assert store["oidc_states"] == {}  # the state was consumed


@pytest.mark.req("6749-4.1.2-single-use")
def test_mozilla_django_oidc_refuses_a_forged_callback(mozilla_rp, alice, live_server, monkeypatch):
    """A callback with the RP's real state but a forged code: the RP's state check passes, so
    the code reaches this provider's token endpoint, which must refuse it (invalid_grant), and
    the RP logs nobody in. (A forged state alone would be refused by the RP before any request
    reached this library, proving nothing about it.)"""
    from urllib.parse import parse_qs, urlsplit

    from oauth_provider.errors import InvalidGrant
    from oauth_provider.grants import authorization_code

    refused: list[str] = []
    real_issue = authorization_code.AuthorizationCodeGrant.issue

    def recording_issue(self, request, params, client):
        try:
            return real_issue(self, request, params, client)
        except InvalidGrant as exc:
            refused.append(params.get("code", ""))
            raise exc

    monkeypatch.setattr(authorization_code.AuthorizationCodeGrant, "issue", recording_issue)
    forged = secrets.token_urlsafe(32)
    with requests.Session() as browser:
        start = browser.get(live_server.url + "/oidc/authenticate/", allow_redirects=False, timeout=TIMEOUT)
        assert start.is_redirect
        state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
        try:
            browser.get(live_server.url + f"/oidc/callback/?code={forged}&state={state}", allow_redirects=False,
                        timeout=TIMEOUT)
        except requests.RequestException:  # whatever the RP makes of the refusal, it is not a login
            pass
        assert refused == [forged]  # the forged code reached the token endpoint and was refused
        home = browser.get(live_server.url + "/rp-home/", timeout=TIMEOUT).json()
        assert home == {"user": None}

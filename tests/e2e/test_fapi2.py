"""The FAPI 2.0 preset over real HTTP, with Authlib (unmodified) as a FAPI client: it
authenticates with ES256 or PS256 assertions whose ``aud`` is the issuer, is refused with
RS256 or with Authlib's default audience even when the legacy setting is on, and refreshes
without rotation, keeping the refresh token it holds (FAPI 2.0 §5.3.2.1-6, -8, -9, §5.4.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.test import override_settings
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.docs_examples.private_key_jwt_client import IssuerAudiencePrivateKeyJWT
from tests.support.factories import ClientFactory, RefreshTokenFactory, UserFactory
from tests.support.fapi import FAPI

pytestmark = [pytest.mark.e2e]
TIMEOUT = 10


@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, **FAPI, "ISSUER": url}):
        yield url


@pytest.fixture
def token_endpoint(issuer) -> str:
    document = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "RS256" not in document["token_endpoint_auth_signing_alg_values_supported"]
    return str(document["token_endpoint"])


def pem(private) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def f1(private, jwk_of, **fields):
    jwk = {**jwk_of(private.public_key(), as_dict=True), "kid": "f1"}
    return ClientFactory(token_endpoint_auth_method="private_key_jwt", jwks=json.dumps({"keys": [jwk]}), **fields)


def session(client_id: str, private, auth: PrivateKeyJWT, **kwargs) -> OAuth2Session:
    oauth = OAuth2Session(client_id, pem(private), token_endpoint_auth_method=auth.name, scope="read", **kwargs)
    oauth.register_client_auth_method(auth)
    return oauth


@pytest.mark.req("FAPI2-5.3.2.1-6-client-auth")
@pytest.mark.req("FAPI2-5.4.1-algorithms")
@pytest.mark.parametrize(("alg", "accepted"), [("ES256", True), ("PS256", True), ("RS256", False)])
def test_authlib_client_assertions_under_the_profile(issuer, token_endpoint, alg, accepted):
    if alg == "ES256":
        private, jwk_of = ec.generate_private_key(ec.SECP256R1()), ECAlgorithm.to_jwk
    else:
        private, jwk_of = rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm.to_jwk
    client = f1(private, jwk_of, grant_types="client_credentials", redirect_uris="")
    oauth = session(client.client_id, private, IssuerAudiencePrivateKeyJWT(issuer, alg=alg, headers={"kid": "f1"}))
    if accepted:
        assert oauth.fetch_token(token_endpoint, grant_type="client_credentials")["access_token"]
    else:
        with pytest.raises(OAuthError) as refused:
            oauth.fetch_token(token_endpoint, grant_type="client_credentials")
        assert refused.value.error == "invalid_client"


@pytest.mark.req("FAPI2-5.3.2.1-8-aud-issuer-string")
def test_authlibs_token_endpoint_audience_is_refused_even_with_the_legacy_setting(issuer, token_endpoint):
    private = ec.generate_private_key(ec.SECP256R1())
    client = f1(private, ECAlgorithm.to_jwk, grant_types="client_credentials", redirect_uris="")
    auth = IssuerAudiencePrivateKeyJWT(token_endpoint, alg="ES256", headers={"kid": "f1"})
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "CLIENT_ASSERTION_LEGACY_AUDIENCE": True}):
        with pytest.raises(OAuthError) as refused:
            session(client.client_id, private, auth).fetch_token(token_endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


@pytest.mark.req("FAPI2-5.3.2.1-9-no-rt-rotation")
def test_authlib_refreshes_and_keeps_its_refresh_token(issuer, token_endpoint):
    private = ec.generate_private_key(ec.SECP256R1())
    client = f1(private, ECAlgorithm.to_jwk)
    raw = "a-refresh-token-granted-earlier-" + "x" * 20
    RefreshTokenFactory(raw=raw, authorization__client=client, authorization__user=UserFactory())
    oauth = session(client.client_id, private, IssuerAudiencePrivateKeyJWT(issuer, alg="ES256", headers={"kid": "f1"}),
                    token={"access_token": "old", "token_type": "Bearer", "refresh_token": raw})
    for _ in range(2):
        token = oauth.refresh_token(token_endpoint)
        assert token["refresh_token"] == raw and token["access_token"] != "old"

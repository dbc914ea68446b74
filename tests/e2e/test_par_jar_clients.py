"""PAR (RFC 9126) and JAR (RFC 9101) with an unmodified client library over real HTTP:
requests-oauth2client (PyPI), which implements both, against the provider on a live server.

The client starts from the RFC 8414 metadata document (it finds the PAR endpoint there),
pushes its request or signs it as a request object, and the browser (the real login and
consent forms) carries only what the library put in the URL; the library then checks the
callback (``state``, ``iss``) and redeems the code with its PKCE verifier.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from jwskate import Jwk
from requests_oauth2client import OAuth2Client
from requests_oauth2client.exceptions import InvalidRequest as ClientSideInvalidRequest

from tests.support.factories import ClientFactory

from .test_third_party_clients import (  # noqa: F401  (fixtures)
    CONF_REDIRECT,
    authorize_in_browser,
    issuer,
    resource_owner,
)

pytestmark = [pytest.mark.e2e]
requests_oauth2client = pytest.importorskip("requests_oauth2client")


@pytest.fixture
def signing_jwk() -> Jwk:
    return Jwk.generate(alg="ES256", kid="jar-key")


@pytest.fixture
def web_app(transactional_db, signing_jwk):
    jwks = {"keys": [signing_jwk.public_jwk().to_dict()]}
    return ClientFactory(name="PAR web app", redirect_uris=CONF_REDIRECT, jwks=json.dumps(jwks))


def oauth2_client(issuer: str, client) -> OAuth2Client:  # noqa: F811
    # testing=True: the live server speaks plain http on localhost, which the library refuses otherwise
    return OAuth2Client.from_discovery_endpoint(
        issuer + "/.well-known/oauth-authorization-server", issuer=issuer, client_id=client.client_id,
        client_secret=client.raw_secret, redirect_uri=CONF_REDIRECT, testing=True,
    )


@pytest.mark.req("9126-2-endpoint", "9126-2.2-request-uri")
def test_requests_oauth2client_pushes_its_request_and_gets_tokens(issuer, web_app, resource_owner):  # noqa: F811
    client = oauth2_client(issuer, web_app)
    assert client.pushed_authorization_request_endpoint == issuer + "/par/"
    request = client.authorization_request(scope="read", nonce=None)
    pushed = client.pushed_authorization_request(request)
    # Only client_id and request_uri travel through the browser
    query = parse_qs(urlsplit(pushed.uri).query)
    assert set(query) == {"client_id", "request_uri"}
    assert pushed.expires_at is not None
    callback = authorize_in_browser(pushed.uri, CONF_REDIRECT, resource_owner.username)
    response = request.validate_callback(callback)  # state and iss checked by the library
    token = client.authorization_code(response, validate=False)
    assert token.access_token and token.scope == "read"
    # the request_uri was spent: the same URL again does not yield a second code
    with pytest.raises(pytest.fail.Exception, match="unexpected page 400"):
        authorize_in_browser(pushed.uri, CONF_REDIRECT, resource_owner.username)


@pytest.mark.req("9126-2.1-validate")
def test_requests_oauth2client_sees_a_refused_push_as_an_error(issuer, web_app):  # noqa: F811
    client = oauth2_client(issuer, web_app)
    request = client.authorization_request(scope="read", redirect_uri="https://evil.example/cb")
    with pytest.raises(ClientSideInvalidRequest):
        client.pushed_authorization_request(request)


@pytest.mark.req("9101-6.2-signature")
def test_requests_oauth2client_signed_request_object_by_value(issuer, web_app, resource_owner,  # noqa: F811
                                                              signing_jwk):
    client = oauth2_client(issuer, web_app)
    request = client.authorization_request(scope="read", nonce=None)
    signed = request.sign(signing_jwk, lifetime=60)
    query = parse_qs(urlsplit(signed.uri).query)
    assert set(query) == {"client_id", "request"}
    callback = authorize_in_browser(signed.uri, CONF_REDIRECT, resource_owner.username)
    response = request.validate_callback(callback)
    token = client.authorization_code(response, validate=False)
    assert token.access_token and token.scope == "read"

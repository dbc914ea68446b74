"""DPoP (RFC 9449) over real HTTP with requests-oauth2client, an unmodified client library
that makes its own proofs, follows ``use_dpop_nonce`` challenges and binds codes with
``dpop_jkt``. It starts from the RFC 8414 metadata document; the user's side is driven like a
browser (real login and consent forms)."""

from __future__ import annotations

import base64
import http.client
import io
import json
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from requests_oauth2client import DPoPToken, OAuth2Client
from requests_oauth2client.exceptions import EndpointError

from tests.support.dpop import DPoPKey as ProofKey
from tests.support.factories import PublicClientFactory, UserFactory

from .test_third_party_clients import PASSWORD, PUBLIC_REDIRECT, authorize_in_browser

pytestmark = [pytest.mark.e2e]
TIMEOUT = 10


@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": url}):
        yield url


@pytest.fixture
def discovery(issuer) -> dict:
    document = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    return document


def register(*args: str) -> dict:
    out = io.StringIO()
    call_command("createclient", "DPoP service", "--grant-type", "client_credentials", "--scope", "read",
                 *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def introspect(client: OAuth2Client, token: str) -> dict:
    return client.introspect_token(token)  # type: ignore[no-any-return]


@pytest.mark.req("9449-5-token-binding")
@pytest.mark.req("9449-5.2-dpop-required")
def test_a_dpop_bound_client_gets_dpop_tokens(discovery, issuer):
    registered = register("--dpop-bound-access-tokens")
    assert registered["dpop_bound_access_tokens"] is True
    plain = OAuth2Client.from_discovery_document(
        discovery, issuer=issuer, client_id=registered["client_id"], client_secret=registered["client_secret"],
        testing=True)
    with pytest.raises(EndpointError) as refused:
        plain.client_credentials(scope="read")
    assert refused.value.error == "invalid_dpop_proof"
    client = OAuth2Client.from_discovery_document(
        discovery, issuer=issuer, client_id=registered["client_id"], client_secret=registered["client_secret"],
        testing=True, dpop_bound_access_tokens=True)
    token = client.client_credentials(scope="read")
    assert isinstance(token, DPoPToken) and token.token_type == "DPoP"
    seen = introspect(client, token.access_token)
    assert seen["active"] is True and seen["token_type"] == "DPoP"
    assert seen["cnf"] == {"jkt": token.dpop_key.dpop_jkt}


@pytest.mark.req("9449-8-as-nonce")
def test_nonce_mode_with_the_librarys_retry(discovery, issuer):
    registered = register()
    client = OAuth2Client.from_discovery_document(
        discovery, issuer=issuer, client_id=registered["client_id"], client_secret=registered["client_secret"],
        testing=True)
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": issuer, "DPOP_NONCE": True}):
        token = client.client_credentials(scope="read", dpop=True)
        assert isinstance(token, DPoPToken)
        # the nonce of the success answer (§8.2) is kept by the key and used by the next proof
        assert token.dpop_key.as_nonce
        again = client.client_credentials(scope="read", dpop_key=token.dpop_key)
        assert again.token_type == "DPoP"


@pytest.mark.req("9449-10-dpop-jkt")
@pytest.mark.req("9449-5-public-rt-binding")
def test_code_bound_by_dpop_jkt_and_refreshed_with_the_same_key(discovery, issuer):
    UserFactory(username="dora", password=PASSWORD)
    app = PublicClientFactory(name="DPoP app", redirect_uris=PUBLIC_REDIRECT)
    client = OAuth2Client.from_discovery_document(
        discovery, issuer=issuer, client_id=app.client_id, redirect_uri=PUBLIC_REDIRECT, testing=True)
    request = client.authorization_request(scope="read", dpop=True)
    assert request.dpop_jkt and f"dpop_jkt={request.dpop_jkt}" in str(request)
    callback = authorize_in_browser(str(request), PUBLIC_REDIRECT, "dora")
    token = client.authorization_code(request.validate_callback(callback))
    assert isinstance(token, DPoPToken) and token.token_type == "DPoP"
    assert token.dpop_key.dpop_jkt == request.dpop_jkt
    refreshed = client.refresh_token(token)  # the library proves with the same key
    assert isinstance(refreshed, DPoPToken) and refreshed.access_token != token.access_token
    # the refresh token is bound: a request without the key's proof is refused
    with pytest.raises(EndpointError) as refused:
        client.refresh_token(refreshed.refresh_token)
    assert refused.value.error == "invalid_dpop_proof"


@pytest.mark.req("9449-4.3-single-header")
def test_two_dpop_headers_are_refused_over_http(discovery):
    """A real HTTP request with two DPoP header fields (each a valid proof): the server joins
    them with a comma (RFC 9110 §5.3), and the result is refused (RFC 9449 §4.3 item 1)."""
    registered = register()
    key = ProofKey("EC")
    url = discovery["token_endpoint"]
    parts = urlsplit(url)
    body = urlencode({"grant_type": "client_credentials", "scope": "read"})
    credentials = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        connection.putrequest("POST", parts.path)
        connection.putheader("Authorization", f"Basic {credentials}")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("DPoP", key.proof("POST", url))
        connection.putheader("DPoP", key.proof("POST", url))
        connection.endheaders(body.encode())
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400 and answer["error"] == "invalid_dpop_proof"
    # one of them alone is fine
    single = requests.post(url, data={"grant_type": "client_credentials", "scope": "read"},
                           auth=(registered["client_id"], registered["client_secret"]),
                           headers={"DPoP": key.proof("POST", url)}, timeout=TIMEOUT)
    assert single.status_code == 200 and single.json()["token_type"] == "DPoP"

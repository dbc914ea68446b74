"""private_key_jwt over real HTTP, with Authlib as the client (unmodified, configured as
docs/how-to/private-key-jwt.md shows): a client registered by ``createclient`` with ``--jwks``,
one with ``--jwks-uri`` whose keys the provider fetches from a server on this machine, and
Authlib's default audience (the token endpoint URL) refused unless the legacy setting is on."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.docs_examples.private_key_jwt_client import IssuerAudiencePrivateKeyJWT

pytestmark = [pytest.mark.e2e]
TIMEOUT = 10


@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": url,
                                           "ALLOW_INSECURE_LOOPBACK_FETCH": True}):
        yield url


@pytest.fixture
def token_endpoint(issuer) -> str:
    document = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert "ES256" in document["token_endpoint_auth_signing_alg_values_supported"]
    return str(document["token_endpoint"])


def pem(private) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def register(*args: str) -> dict:
    out = io.StringIO()
    call_command("createclient", "Signer", "--grant-type", "client_credentials", "--scope", "read",
                 "--auth-method", "private_key_jwt", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def session(client_id: str, private_key: str, auth: PrivateKeyJWT) -> OAuth2Session:
    client = OAuth2Session(client_id, private_key, token_endpoint_auth_method=auth.name, scope="read")
    client.register_client_auth_method(auth)
    return client


def test_authlib_authenticates_with_a_registered_jwks(issuer, token_endpoint):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "signer-1", "use": "sig"}
    client = register("--jwks", json.dumps({"keys": [jwk]}))
    assert client["client_secret"] is None
    auth = IssuerAudiencePrivateKeyJWT(issuer, alg="ES256", headers={"kid": "signer-1"})
    oauth = session(client["client_id"], pem(private), auth)
    first = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
    second = oauth.fetch_token(token_endpoint, grant_type="client_credentials")  # a new jti each time
    assert first["access_token"] != second["access_token"] and first["token_type"] == "Bearer"
    # Authlib signs a fresh assertion for the introspection request too (its own token: allowed).
    introspected = oauth.introspect_token(issuer + "/introspect/", token=first["access_token"]).json()
    assert introspected["active"] is True and introspected["client_id"] == client["client_id"]


class _JWKSHandler(http.server.BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JWKSHandler]]]:
    handler = type("Handler", (_JWKSHandler,), {"hits": 0})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", handler
    server.shutdown()
    server.server_close()


def test_authlib_authenticates_with_keys_published_at_jwks_uri(issuer, token_endpoint, jwks_server):
    url, handler = jwks_server
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    handler.body = json.dumps({"keys": [{**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True),
                                         "kid": "rsa-1"}]}).encode()
    client = register("--jwks-uri", url)
    auth = IssuerAudiencePrivateKeyJWT(issuer, alg="PS256", headers={"kid": "rsa-1"})
    oauth = session(client["client_id"], pem(private), auth)
    assert oauth.fetch_token(token_endpoint, grant_type="client_credentials")["access_token"]
    assert oauth.fetch_token(token_endpoint, grant_type="client_credentials")["access_token"]
    assert handler.hits == 1  # cached by the fetcher


def test_authlibs_default_audience_needs_the_legacy_setting(issuer, token_endpoint):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "k"}
    client = register("--jwks", json.dumps({"keys": [jwk]}))
    # Authlib out of the box: RS256, aud = the token endpoint URL, exp = an hour later.
    plain = session(client["client_id"], pem(private), PrivateKeyJWT(token_endpoint))
    with pytest.raises(OAuthError) as refused:
        plain.fetch_token(token_endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    short = IssuerAudiencePrivateKeyJWT(token_endpoint)  # the token endpoint as aud, 5-minute assertions
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": issuer,
                                           "CLIENT_ASSERTION_LEGACY_AUDIENCE": True}):
        legacy = session(client["client_id"], pem(private), short)
        assert legacy.fetch_token(token_endpoint, grant_type="client_credentials")["access_token"]

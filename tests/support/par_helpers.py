"""Helpers for the PAR (RFC 9126) and JAR (RFC 9101) tests: clients with registered keys,
request objects signed as a client library would, pushes to the PAR endpoint."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client as HttpClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import basic_auth, pkce_pair
from tests.support.factories import ClientFactory

PAR = "/o/par/"
AUTHORIZE = "/o/authorize/"
ISSUER = "https://testserver/o"
PREFIX = "urn:ietf:params:oauth:request_uri:"
FORM = "application/x-www-form-urlencoded"


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(private: Any, kid: str) -> dict:
    public = private.public_key()
    to_jwk = ECAlgorithm.to_jwk if isinstance(private, ec.EllipticCurvePrivateKey) else RSAAlgorithm.to_jwk
    return {**to_jwk(public, as_dict=True), "kid": kid}


def keyed_client(private: Any = None, *, kid: str | None = None, **fields: Any):
    """A confidential client (secret in HTTP Basic) that registered one public key: it may sign
    request objects. ``client.private_key`` / ``client.kid`` sign them."""
    private = private or ec_key()
    kid = kid or uuid.uuid4().hex[:12]
    client = ClientFactory(jwks=json.dumps({"keys": [jwk_of(private, kid)]}), **fields)
    client.private_key, client.kid = private, kid
    return client


def request_params(client, **overrides: Any) -> dict[str, Any]:
    """A valid authorization request for ``client`` (PKCE S256); ``None`` drops a parameter."""
    _verifier, challenge = pkce_pair()
    params: dict[str, Any] = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri_list[0],
        "scope": "read", "state": uuid.uuid4().hex, "code_challenge": challenge, "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def request_object(client, *, key: Any = None, alg: str = "ES256", headers: dict | None = None,
                   claims: dict | None = None, **overrides: Any) -> str:
    """A request object for ``client``: its authorization request as claims, with ``iss``,
    ``aud`` (our issuer), ``iat``, ``exp`` (+5 min) and ``jti``. ``overrides`` change claims
    (``None`` drops one); ``headers`` the JOSE header (``None`` drops one)."""
    now = int(time.time())
    body: dict[str, Any] = {**request_params(client), "iss": client.client_id, "aud": ISSUER, "iat": now,
                            "exp": now + 300, "jti": uuid.uuid4().hex, **(claims or {})}
    body.update(overrides)
    head = {"kid": client.kid, "typ": "oauth-authz-req+jwt", **(headers or {})}
    return pyjwt.encode({k: v for k, v in body.items() if v is not None}, key or client.private_key,
                        algorithm=alg, headers={k: v for k, v in head.items() if v is not None})


def unsigned(claims: dict, header: dict | None = None) -> str:
    import base64

    def b64(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{b64(header or {'alg': 'none'})}.{b64(claims)}."


def push(client, http: HttpClient | None = None, *, auth: bool = True, **params: Any):
    """POST ``params`` (default: a valid request for ``client``) to the PAR endpoint,
    authenticated with the client's secret in HTTP Basic unless ``auth`` is false."""
    data = params or request_params(client)
    extra = {}
    if auth and client.raw_secret:
        extra["HTTP_AUTHORIZATION"] = basic_auth(client.client_id, client.raw_secret)
    return (http or HttpClient()).post(PAR, urlencode(data, doseq=True), content_type=FORM, **extra)


def pushed_uri(client, **params: Any) -> str:
    r = push(client, **params)
    assert r.status_code == 201, r.content
    return r.json()["request_uri"]


def assert_json_error(response, error: str, status: int = 400) -> dict:
    """A JSON error (RFC 9126 §2.3): never a redirect, never a page, no-store."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert not response.has_header("Location")
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["error"] == error, body
    return body

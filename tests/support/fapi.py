"""The FAPI 2.0 fixture client ``F1`` (private_key_jwt, confidential) and its token requests.

``FAPI`` is the profile with ``REQUIRE_DPOP`` and ``REQUIRE_PUSHED_AUTHORIZATION_REQUESTS``
turned off by name, so that most tests exercise the rest of the profile (client
authentication, algorithms, codes, refresh tokens) with plain requests; one test in
``tests/test_profiles.py`` runs the whole profile, PAR and DPoP included, end to end."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client as HttpClient
from jwt.algorithms import ECAlgorithm

from oauth_provider.client_assertions import ASSERTION_TYPE
from tests.support.factories import ClientFactory
from tests.support.token_helpers import post_form

ISSUER = "https://testserver/o"
FAPI: dict[str, Any] = {"PROFILE": "fapi2", "REQUIRE_DPOP": False, "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": False}


def fapi_client(**fields: Any) -> Any:
    """``F1``: a confidential ``private_key_jwt`` client with an ES256 key, for the code and
    refresh grants; the private key is ``client.private_key``."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "f1"}
    values = {"name": "F1", "token_endpoint_auth_method": "private_key_jwt",
              "grant_types": "authorization_code refresh_token", "jwks": json.dumps({"keys": [jwk]}), **fields}
    client = ClientFactory(**values)
    client.private_key = private
    return client


def assertion(client: Any, *, alg: str = "ES256", key: Any = None, **claims: Any) -> str:
    """A client assertion of ``client`` (RFC 7523 §3); ``claims`` override (None removes)."""
    now = int(time.time())
    body = {"iss": client.client_id, "sub": client.client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex, **claims}
    return pyjwt.encode({k: v for k, v in body.items() if v is not None}, key or client.private_key,
                        algorithm=alg, headers={"kid": "f1"})


def token(api: HttpClient, client: Any, data: dict[str, str], **claims: Any) -> Any:
    """POST ``data`` to the token endpoint, authenticated by a fresh assertion of ``client``."""
    form = {**data, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(client, **claims)}
    return post_form(api, form)


def code_tokens(oauth: Any, client: Any) -> dict[str, Any]:
    """Run the authorization code flow for ``client`` (the logged-in ``oauth`` driver's browser)
    and redeem the code with an assertion: the token response body."""
    code, verifier = oauth.get_code(client)
    response = token(oauth.api, client, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": client.redirect_uri_list[0], "code_verifier": verifier})
    assert response.status_code == 200, response.content
    return dict(response.json())

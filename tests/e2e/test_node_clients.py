"""A certified client from the npm registry against the provider: oauth4webapi (OpenID
Foundation certified, FAPI 2.0 included), unmodified, with its default settings, doing what a
FAPI 2.0 client does: pushed authorization requests (RFC 9126) authenticated with
``private_key_jwt``, DPoP-bound tokens (RFC 9449), signed request objects (RFC 9101), the
code exchange, a DPoP-protected DRF view, and a refresh. The flow is tests/e2e/node/fapi_flow.mjs;
``npm ci --prefix tests/e2e/node`` installs its one dependency (``.ci/run`` does)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.test import override_settings
from jwt.algorithms import ECAlgorithm

from tests.support.factories import UserFactory

pytestmark = [pytest.mark.e2e]
NODE_DIR = Path(__file__).parent / "node"
REDIRECT_URI = "https://rp.example/cb"


def node_ready() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "oauth4webapi").is_dir()


if not node_ready():
    if os.environ.get("OAUTH_PROVIDER_NODE_TESTS") == "required":
        raise RuntimeError("node or tests/e2e/node/node_modules is missing: npm ci --prefix tests/e2e/node")
    pytestmark.append(pytest.mark.skip(reason="node and `npm ci --prefix tests/e2e/node` needed"))


@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": url}):
        yield url


def fapi_client(*extra: str) -> tuple[str, dict]:
    """A confidential client with an ES256 key, registered with ``createclient`` as the
    how-to pages show; returns its client_id and private JWK."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "use": "sig"}
    kid = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(public, sort_keys=True).encode()).digest()).decode()[:16]
    out = io.StringIO()
    call_command("createclient", "FAPI client", "--auth-method", "private_key_jwt",
                 "--jwks", json.dumps({"keys": [{**public, "kid": kid}]}), "--redirect-uri", REDIRECT_URI,
                 "--grant-type", "authorization_code", "--grant-type", "refresh_token", "--scope", "read",
                 *extra, "--json", stdout=out)
    return json.loads(out.getvalue())["client_id"], {**ECAlgorithm.to_jwk(private, as_dict=True), "kid": kid}


def logged_in_cookies() -> dict[str, str]:
    browser = BrowserClient()
    browser.force_login(UserFactory())
    return {name: morsel.value for name, morsel in browser.cookies.items()}


def run_flow(issuer: str, client_id: str, private_jwk: dict, *, use_jar: bool = False) -> dict:
    config = {
        "issuer": issuer, "client_id": client_id, "private_jwk": private_jwk, "redirect_uri": REDIRECT_URI,
        "scope": "read", "cookies": logged_in_cookies(), "use_jar": use_jar,
        "resource_url": issuer.removesuffix("/o") + "/api/drf/read/",
    }
    done = subprocess.run(["node", str(NODE_DIR / "fapi_flow.mjs"), json.dumps(config)],  # noqa: S603, S607
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "error" not in result, result
    return result


def assert_sender_constrained(result: dict, client_id: str) -> None:
    # oauth4webapi lower-cases token_type (RFC 6749 §5.1: case-insensitive)
    assert result["token"]["token_type"] == "dpop", result
    assert result["resource"]["status"] == 200, result
    assert result["resource"]["body"]["client_id"] == client_id
    # the same token without its proof, as a thief holding only the token sends it
    assert result["bearer_downgrade"]["status"] == 401, result
    assert result["refresh"]["token_type"] == "dpop", result


@pytest.mark.req("9126-2-endpoint")
@pytest.mark.req("9449-5-token-binding")
@pytest.mark.req("9449-7.2-no-bearer-downgrade")
def test_oauth4webapi_pushes_its_request_and_binds_its_tokens(issuer):
    client_id, key = fapi_client("--dpop-bound-access-tokens", "--require-pushed-authorization-requests")
    result = run_flow(issuer, client_id, key)
    assert result["discovery"]["par"] == issuer + "/par/"
    assert result["par"]["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < result["par"]["expires_in"] <= 60
    assert result["authorization_response"]["iss"] == issuer
    assert_sender_constrained(result, client_id)


@pytest.mark.req("9126-3-request-object")
@pytest.mark.req("9101-6.2-signature")
def test_oauth4webapi_signed_request_object_through_par(issuer):
    client_id, key = fapi_client("--dpop-bound-access-tokens")
    result = run_flow(issuer, client_id, key, use_jar=True)
    assert "request_object" in result["steps"]
    assert_sender_constrained(result, client_id)


@pytest.mark.req("FAPI2-5.3.2.2-2-3-par-required")
@pytest.mark.req("FAPI2-5.3.2.1-10-dpop-nonce")
def test_oauth4webapi_under_the_fapi2_profile_with_dpop_nonces(issuer):
    profile = {**settings.OAUTH_PROVIDER, "ISSUER": issuer, "PROFILE": "fapi2", "DPOP_NONCE": True}
    with override_settings(OAUTH_PROVIDER=profile):
        client_id, key = fapi_client()
        result = run_flow(issuer, client_id, key, use_jar=True)
    assert result["discovery"]["require_par"] is True
    assert "dpop_nonce_retry" in result["steps"]  # the client answered use_dpop_nonce, as RFC 9449 §8 asks
    assert_sender_constrained(result, client_id)
    # FAPI 2.0 5.3.2.1-9: a confidential client's refresh token is not rotated
    assert result["refresh"]["same_refresh_token"] is True

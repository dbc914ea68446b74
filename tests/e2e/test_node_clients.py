"""Certified clients from the npm registry against the provider, unmodified, with their default
settings (only plain http allowed, for the live server), against the endpoints the metadata
advertises:

* oauth4webapi (OpenID Foundation certified, FAPI 2.0 included) doing what a FAPI 2.0 client
  does: pushed authorization requests (RFC 9126) authenticated with ``private_key_jwt``,
  DPoP-bound tokens (RFC 9449), signed request objects (RFC 9101), the code exchange, a
  DPoP-protected DRF view, and a refresh (tests/e2e/node/fapi_flow.mjs);
* openid-client (the certified relying-party library built on oauth4webapi) doing what a
  typical relying party does, from ``discovery()`` on: code + PKCE with ``openid`` for a
  confidential client (the ID token checked by openid-client, userinfo, a refresh) and for a
  public one, client credentials, the device grant, introspection and revocation, and DPoP with
  its ``getDPoPHandle`` (tests/e2e/node/openid_client_flows.mjs).

The clients are registered with ``createclient`` as the how-to pages show; the user is logged in
by the test, and the "browser" the scripts drive (tests/e2e/node/browser.mjs) carries that
session. ``npm ci --prefix tests/e2e/node`` installs the versions package-lock.json pins
(``.ci/run`` does)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.test import override_settings
from jwt.algorithms import ECAlgorithm

from oauth_provider.adapter import subject_for
from oauth_provider.models import get_client_model
from tests.support.factories import DEVICE_GRANT, UserFactory

pytestmark = [pytest.mark.e2e]
NODE_DIR = Path(__file__).parent / "node"
REDIRECT_URI = "https://rp.example/cb"


def node_ready() -> bool:
    modules = NODE_DIR / "node_modules"
    installed = all((modules / name).is_dir() for name in ("oauth4webapi", "openid-client"))
    return shutil.which("node") is not None and installed


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


def logged_in_cookies(user=None) -> dict[str, str]:
    browser = BrowserClient()
    browser.force_login(user or UserFactory())
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


# -- openid-client: what a typical relying party does (tests/e2e/node/openid_client_flows.mjs) --

@pytest.fixture
def oidc_issuer(issuer) -> str:
    """The provider as an OpenID provider: a signing key for ID tokens, made as the operator
    makes the first one (``manage.py rotatekeys``)."""
    call_command("rotatekeys", "--now", stdout=io.StringIO())
    return issuer


@pytest.fixture
def device_issuer(oidc_issuer) -> Iterator[str]:
    """The device grant at a 1-second polling interval, so openid-client's polling is quick."""
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "DEVICE_CODE_INTERVAL": 1}):
        yield oidc_issuer


def registered_client(name: str, *options: str) -> tuple[str, str | None]:
    """``createclient`` as the how-to pages show; its client_id and secret (None if public)."""
    out = io.StringIO()
    call_command("createclient", name, *options, "--json", stdout=out)
    created = json.loads(out.getvalue())
    return created["client_id"], created["client_secret"]


def approve_device(grant: dict, user) -> None:
    """The user on a phone, logged in: opens the complete verification URI, confirms the code
    and allows, as in test_device_flow.py."""
    phone = BrowserClient()
    phone.force_login(user)
    complete = urlsplit(grant["verification_uri_complete"])
    form = phone.get(f"{complete.path}?{complete.query}")
    assert form.status_code == 200 and f'value="{grant["user_code"]}"' in form.content.decode()
    consent = phone.post(complete.path, {"user_code": grant["user_code"]})
    assert consent.status_code == 200, consent.content[:500]
    done = phone.post(complete.path, {"device_request": consent.context["consent_blob"], "allow": "allow"})
    assert b"Device connected" in done.content


def run_openid_client(issuer: str, flow: str, client_id: str, secret: str | None, *, user=None, scope: str = "read",
                      auth: str = "default", on_device: Callable[[dict], None] | None = None, **extra) -> dict:
    config = {
        "flow": flow, "issuer": issuer, "client_id": client_id, "client_secret": secret, "auth": auth,
        "redirect_uri": REDIRECT_URI, "scope": scope, "cookies": logged_in_cookies(user),
        "resource_url": issuer.removesuffix("/o") + "/api/drf/read/", **extra,
    }
    node = subprocess.Popen(["node", str(NODE_DIR / "openid_client_flows.mjs"), json.dumps(config)],  # noqa: S603, S607
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if on_device is not None:
            first = json.loads(node.stdout.readline() or "{}")  # the device's grant, before it polls
            if "device" in first:
                on_device(first["device"])
            else:  # it failed before polling: that is its one line
                node.kill()
                pytest.fail(f"no device authorization: {first}")
        stdout, stderr = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, stderr
    result = json.loads(stdout)
    assert "error" not in result, f"{result['error']} (after {result['steps']})"
    return result


def assert_id_token_for(claims: dict, issuer: str, client_id: str, user) -> None:
    """The ID token openid-client accepted names our issuer, this client and the user's subject."""
    client = get_client_model().objects.get(client_id=client_id)
    assert claims["iss"] == issuer
    assert claims["aud"] in (client_id, [client_id])
    assert claims["sub"] == subject_for(user, client)


def assert_introspected_then_revoked(result: dict, client_id: str) -> None:
    assert result["introspection"]["active"] is True, result
    assert result["introspection"]["client_id"] == client_id
    assert "read" in result["introspection"]["scope"].split()
    # RFC 7009: once revoked, the token is inactive (RFC 7662 §2.2) and refused by the API
    assert result["revoked_access_token"] == {"introspection": False, "resource": 401}, result


@pytest.mark.req("O21-4.1.1-pkce-confidential")
@pytest.mark.req("OIDC-2-required-claims")
@pytest.mark.req("OIDC-5.3-userinfo")
@pytest.mark.req("OIDC-12.2-refresh-id-token")
@pytest.mark.req("7662-2.2-inactive")
@pytest.mark.parametrize("auth", ["default", "basic"])
def test_openid_client_code_flow_confidential_client(oidc_issuer, auth):
    """A web app: createclient's defaults (client_secret_basic, code and refresh), and
    openid-client handed the secret. Its default is ClientSecretPost, which the server accepts
    for a client_secret_basic client (STRICT_CLIENT_AUTH_METHOD off); ClientSecretBasic too."""
    user = UserFactory()
    client_id, secret = registered_client("Notes web", "--redirect-uri", REDIRECT_URI)
    result = run_openid_client(oidc_issuer, "code", client_id, secret, user=user, auth=auth,
                               scope="openid profile read")
    assert result["discovery"]["issuer"] == oidc_issuer and result["discovery"]["supports_pkce"] is True
    assert result["authorization_response"]["iss"] == oidc_issuer
    token = result["token"]
    assert token["token_type"] == "bearer" and token["has_refresh_token"], token
    assert_id_token_for(token["claims"], oidc_issuer, client_id, user)
    assert result["userinfo"]["sub"] == token["claims"]["sub"]
    assert result["resource"] == {"status": 200, "body": {"user": user.get_username(), "client_id": client_id,
                                                         "scope": token["scope"]}}, result
    refresh = result["refresh"]
    assert refresh["new_access_token"] is True
    assert refresh["resource"]["status"] == 200 and refresh["userinfo_sub"] == token["claims"]["sub"]
    # OpenID Connect Core 12.2: an ID token from a refresh names the same subject
    assert refresh["claims"]["sub"] == token["claims"]["sub"]
    assert_introspected_then_revoked(result, client_id)
    assert result["introspection"]["sub"] == token["claims"]["sub"]
    assert result["revoked_refresh_token"]["refresh_error"] == "invalid_grant"


@pytest.mark.req("O21-4.1.1-pkce-public")
@pytest.mark.req("OIDC-15.1-rs256")
def test_openid_client_code_flow_public_client(oidc_issuer):
    """A single-page or native app: no secret, openid-client's None() client authentication.
    This run also has openid-client check the ID token's signature against our jwks_uri
    (enableNonRepudiationChecks: stricter than its default)."""
    user = UserFactory()
    client_id, secret = registered_client("Notes SPA", "--public", "--redirect-uri", REDIRECT_URI)
    assert secret is None
    result = run_openid_client(oidc_issuer, "code", client_id, None, user=user, auth="none", scope="openid read",
                               nonrepudiation=True)
    assert_id_token_for(result["token"]["claims"], oidc_issuer, client_id, user)
    assert result["userinfo"]["sub"] == result["token"]["claims"]["sub"]
    assert result["resource"]["status"] == 200 and result["resource"]["body"]["client_id"] == client_id
    # OAuth 2.1 §4.3.1: a public client's refresh token is rotated
    assert result["refresh"]["rotated"] is True and result["refresh"]["resource"]["status"] == 200
    # the metadata offers revocation, not introspection, to a client without credentials
    assert result["discovery"]["introspection"] is False and result["discovery"]["revocation"] is True
    assert result["revoked_access_token"] == {"introspection": None, "resource": 401}, result
    assert result["revoked_refresh_token"]["refresh_error"] == "invalid_grant"


@pytest.mark.req("6749-4.4.3-no-rt-client-credentials")
def test_openid_client_client_credentials(oidc_issuer):
    client_id, secret = registered_client("Billing job", "--grant-type", "client_credentials", "--scope", "read")
    result = run_openid_client(oidc_issuer, "client_credentials", client_id, secret)
    assert result["token"] == {"token_type": "bearer", "scope": "read", "has_refresh_token": False}, result
    assert result["resource"]["status"] == 200 and result["resource"]["body"]["client_id"] == client_id
    assert result["resource"]["body"]["user"] == "anonymous"
    assert_introspected_then_revoked(result, client_id)


@pytest.mark.req("8628-3.1-endpoint")
def test_openid_client_device_authorization_grant(device_issuer):
    user = UserFactory()
    client_id, _ = registered_client("Notes TV", "--public", "--grant-type", DEVICE_GRANT, "refresh_token")
    seen = []

    def on_device(grant: dict) -> None:
        seen.append(grant)
        approve_device(grant, user)

    result = run_openid_client(device_issuer, "device", client_id, None, user=user, auth="none",
                               scope="openid read", on_device=on_device)
    assert seen and seen[0]["verification_uri"] == device_issuer + "/device/"
    assert result["token"]["has_refresh_token"] and "read" in result["token"]["scope"].split()
    assert_id_token_for(result["token"]["claims"], device_issuer, client_id, user)
    assert result["resource"]["status"] == 200
    assert result["resource"]["body"]["user"] == user.get_username()
    assert result["resource"]["body"]["client_id"] == client_id
    assert result["refresh"]["new_access_token"] is True and result["refresh"]["resource"]["status"] == 200


@pytest.mark.req("9449-5-token-binding")
@pytest.mark.req("9449-7.2-no-bearer-downgrade")
@pytest.mark.req("9449-8-as-nonce")
@pytest.mark.parametrize("nonce", [False, True], ids=["no-nonce", "dpop-nonce"])
def test_openid_client_dpop_code_flow(oidc_issuer, nonce):
    """getDPoPHandle on the code exchange, userinfo, the DRF view and the refresh; with
    DPOP_NONCE, openid-client answers use_dpop_nonce by itself (RFC 9449 §8)."""
    user = UserFactory()
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": oidc_issuer, "DPOP_NONCE": nonce}):
        client_id, secret = registered_client("Notes DPoP", "--redirect-uri", REDIRECT_URI,
                                              "--dpop-bound-access-tokens")
        result = run_openid_client(oidc_issuer, "code", client_id, secret, user=user, scope="openid read", dpop=True)
    assert result["token"]["token_type"] == "dpop", result
    assert_id_token_for(result["token"]["claims"], oidc_issuer, client_id, user)
    assert result["userinfo"]["sub"] == result["token"]["claims"]["sub"]
    assert result["resource"]["status"] == 200 and result["resource"]["body"]["client_id"] == client_id
    assert result["bearer_downgrade"]["status"] == 401
    assert result["refresh"]["token_type"] == "dpop" and result["refresh"]["resource"]["status"] == 200
    assert result["refresh"]["userinfo_sub"] == result["token"]["claims"]["sub"]
    # nonces on: openid-client met the use_dpop_nonce challenge and sent the request again
    assert (result["nonce_challenges"] > 0) is nonce, result["nonce_challenges"]
    assert_introspected_then_revoked(result, client_id)
    assert result["introspection"]["token_type"] == "DPoP"  # RFC 9449 §6.2

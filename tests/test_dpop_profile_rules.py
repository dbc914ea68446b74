"""DPoP (RFC 9449) and FAPI 2.0 profile rules that an outside-style review broke by hand, one line
at a time, without any test failing (December 2026, nineteenth session): each test here fails
with its break (named in its docstring, with the line it was at then) and passes on the code."""

from __future__ import annotations

import pytest
from django.core.checks import ERROR, WARNING, run_checks
from django.test import override_settings

from oauth_provider import client_metadata, dpop
from oauth_provider.errors import InvalidDPoPProof
from tests.support.dpop import DPoPKey

BASE = {"ISSUER": "https://id.example.com/o", "SCOPES": {"read": "Read", "write": "Write"}}
URL = "https://testserver/o/token/"


@pytest.fixture(scope="module")
def k1() -> DPoPKey:
    return DPoPKey("EC")


# -- for tests/test_dpop.py (fixture k1 there; the module's _fresh_cache fixture clears the cache)
def test_only_the_schemes_own_default_port_is_dropped(k1):
    """RFC 3986 §6.2.3: ``:443`` is the default only for https and ``:80`` only for http, so a
    proof made for ``https://host:80/...`` (another origin) is not one for ``https://host/...``.
    Catches dpop.py:156 ``port in (None, _DEFAULT_PORTS[scheme])`` -> ``port in (None, 80, 443)``."""
    assert dpop.normalise_uri("https://h:80/") == "https://h:80/"
    assert dpop.normalise_uri("http://h:443/") == "http://h:443/"
    with pytest.raises(InvalidDPoPProof, match="htu"):
        dpop.verify_proof(k1.proof("POST", "https://testserver:80/o/token/"), method="POST", url=URL)


# -- for tests/test_profiles.py (BASE, run_checks, override_settings are imported there)
def test_profile_contradictions_are_errors_and_only_w_rules_are_warnings():
    """A host setting that breaks the profile must *fail* the check framework (an Error stops
    ``migrate``/``runserver``/``check --deploy``; a Warning does not). Catches
    profile_checks.py:44 ``kind = Warning if ... else Error`` -> ``kind = Warning``, which the
    id-only assertions elsewhere miss."""
    broken = {
        "AUTHORIZATION_CODE_LIFETIME": 600,  # E131
        "CLIENT_AUTH_METHODS": {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT",
                                "client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic"},  # E132
        "CLIENT_ASSERTION_LEGACY_AUDIENCE": True,  # E133
        "DPOP_SIGNING_ALGORITHMS": ["ES256", "RS256"],  # E134
        "REQUIRE_DPOP": False,  # E135
        "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": False,  # E136
        "PUSHED_AUTHORIZATION_REQUEST_LIFETIME": 600,  # E137
        "MULTI_AUDIENCE_TOKENS": True,  # W134
    }
    with override_settings(OAUTH_PROVIDER={**BASE, "PROFILE": "fapi2", **broken}):
        levels = {m.id: m.level for m in run_checks() if m.id.startswith("oauth_provider.")}
    for check in ("E131", "E132", "E133", "E134", "E135", "E136", "E137"):
        assert levels.get(f"oauth_provider.{check}") == ERROR, (check, levels)
    assert levels.get("oauth_provider.W134") == WARNING


def test_e132_and_w132_a_client_secret_jwt_method_breaks_the_profile():
    """FAPI 2.0 §5.3.2.1-6: ``client_secret_jwt`` is a shared-secret method too. The library ships
    no class for it, but a host may plug one in: under the profile that is E132, and a stored
    client using it is named by W132 (profile_problems). Catches profiles.py:37 dropping
    ``client_secret_jwt`` from SECRET_OR_NO_AUTH_METHODS (the registration test passes anyway,
    since the method is simply unsupported under the profile)."""
    methods = {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT",
               "client_secret_jwt": "oauth_provider.client_auth.ClientSecretPost"}
    with override_settings(OAUTH_PROVIDER={**BASE, "PROFILE": "fapi2", "CLIENT_AUTH_METHODS": methods}):
        found = [m.id for m in run_checks() if m.id.startswith("oauth_provider.")]
    assert "oauth_provider.E132" in found
    problems = client_metadata.profile_problems("client_secret_jwt", "web", ["https://rp.example/cb"], "")
    assert [field for field, _, _ in problems] == ["token_endpoint_auth_method"]


# -- for tests/test_dpop.py (uses its k1 fixture, its verify() helper is spelt out here)
@pytest.mark.parametrize("nonce", ["x", "A" * 53, "A" * 55, "é" * 54, "A" * 53 + "!", ""])
def test_a_malformed_nonce_is_answered_with_a_fresh_one_never_an_exception(k1, nonce):
    """§8: any nonce we did not issue is answered ``use_dpop_nonce``. A nonce whose length is
    1 more than a multiple of 4, or that is not ASCII, is no base64url at all: without the shape
    check (dpop.py:198 ``_NONCE.fullmatch``) ``urlsafe_b64decode`` raises ``binascii.Error`` /
    ``ValueError`` out of verify_proof, a 500 at the token endpoint and at every resource.
    "made-up" (the existing tests' value) happens to decode, so it does not catch that break."""
    from oauth_provider.errors import UseDPoPNonce
    from tests.support.settings import override_oauth

    assert dpop.nonce_valid(nonce, "token") is False
    with override_oauth(DPOP_NONCE=True), pytest.raises(UseDPoPNonce):
        dpop.verify_proof(k1.proof("POST", URL, nonce=nonce), method="POST", url=URL)


# -- for tests/test_resource_dpop.py (no fixture)
def test_the_htu_a_resource_expects_is_the_percent_encoded_request_path():
    """RFC 9449 §4.3 item 9 compares URIs (RFC 3986): Django hands the view a decoded path
    (``/api/café/a b/``); the URL a client signs is ``/api/caf%C3%A9/a%20b/``. Catches
    sender_constraint.py:139 ``escape_uri_path(request.path)`` -> ``request.path`` (then every
    such proof is refused, and a raw-unicode ``htu`` nobody sends on the wire is taken)."""
    from django.test import RequestFactory

    from oauth_provider import sender_constraint

    request = RequestFactory().get("/api/caf%C3%A9/a%20b/")
    assert sender_constraint.htu(request, "https://rs.example", default=False) == \
        "https://rs.example/api/caf%C3%A9/a%20b/"


# -- for tests/endpoints/test_par.py (fixture trusted there; imports HttpClient, urlencode, PAR,
# FORM, request_params, assert_json_error, basic_auth, pkce_pair, DPoPKey, PushedAuthorization)
@pytest.mark.django_db
@pytest.mark.parametrize("mangle", ["garbage", "two", "empty"])
def test_a_malformed_dpop_header_at_par_is_refused_not_ignored(mangle):
    """RFC 9449 §4.3 items 1-2 (and §10.1): at PAR as at /token, a DPoP header that is not one
    well-formed JWT is an error, never a request without a proof: else a client that meant to
    bind its code gets an unbound one, silently. Catches dpop.py:358 (pushed_request_jkt)
    treating proof_from_request's InvalidDPoPProof as "no header"."""
    from urllib.parse import urlencode

    from django.test import Client as HttpClient

    from oauth_provider.models import PushedAuthorization
    from tests.conftest import basic_auth, pkce_pair
    from tests.support.factories import ClientFactory
    from tests.support.par_helpers import FORM, PAR, assert_json_error, request_params

    trusted = ClientFactory(name="First party", skip_consent=True)
    key = DPoPKey("EC")
    proof = key.proof("POST", "https://testserver/o/par/")
    header = {"garbage": "not-a-jwt", "two": proof + "," + key.proof("POST", "https://testserver/o/par/"),
              "empty": ""}[mangle]
    _verifier, challenge = pkce_pair()
    r = HttpClient().post(PAR, urlencode(request_params(trusted, code_challenge=challenge)), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(trusted.client_id, trusted.raw_secret), HTTP_DPOP=header)
    assert_json_error(r, "invalid_dpop_proof")
    assert not PushedAuthorization.objects.exists()


# -- for tests/test_dpop.py (fixture k1)
def test_a_thumbprint_with_a_trailing_newline_is_no_thumbprint(k1):
    """``dpop_jkt=<jkt>%0A`` must be refused (RFC 9449 §10): with ``re.match`` a ``$`` also
    matches before a final newline, and a 44-character value then reaches a 43-character column
    and binds the code to no key anyone has. Catches
    dpop.py:121 ``_JKT.fullmatch`` -> ``_JKT.match``."""
    assert dpop.is_thumbprint(k1.jkt)
    assert not dpop.is_thumbprint(k1.jkt + "\n")

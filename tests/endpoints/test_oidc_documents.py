"""JWKS and OpenID Provider discovery (OIDC Discovery §3-4, RFC 7517)."""

import pytest
from django.test import override_settings

from oauth_provider import keys

pytestmark = pytest.mark.django_db
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


@pytest.mark.req("DISC-3-jwks-public-only")
def test_jwks_has_public_members_only(client):
    for algorithm in ("RS256", "ES256", "EdDSA"):
        keys.create_key(algorithm)
    r = client.get("/o/jwks/")
    assert r.status_code == 200
    document = r.json()
    assert len(document["keys"]) == 3
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk)
        assert {"kty", "kid", "use", "alg"} <= set(jwk)
    assert len({k["kid"] for k in document["keys"]}) == 3
    assert "max-age" in r["Cache-Control"]
    assert r["Access-Control-Allow-Origin"] == "*"


@pytest.mark.req("BCP-2.6-metadata")
@pytest.mark.req("8414-3 / DISC-4.3-issuer-identical")
def test_discovery_agrees_with_rfc8414_metadata(client, signing_key):
    oidc = client.get("/o/.well-known/openid-configuration", HTTP_HOST="evil.example").json()
    oauth = client.get("/o/.well-known/oauth-authorization-server").json()
    assert oidc["issuer"] == oauth["issuer"] == "https://testserver/o"
    for member, value in oauth.items():
        assert oidc[member] == value, member
    for required in ("authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                     "subject_types_supported", "id_token_signing_alg_values_supported", "userinfo_endpoint"):
        assert required in oidc, required
    assert "RS256" in oidc["id_token_signing_alg_values_supported"]
    assert {"openid", "profile", "email"} <= set(oidc["scopes_supported"])
    assert oidc["jwks_uri"] == "https://testserver/o/jwks/"
    assert all(v.startswith("https://") for k, v in oidc.items() if k.endswith("_endpoint") or k == "jwks_uri")


def test_discovery_claims_only_what_is_served(client, signing_key):
    """What a relying party configures itself from: public subjects only (no pairwise
    identifiers are made), the ``claims`` parameter honoured (OIDC Core §5.5, tested with the
    code flow), and no ``request_uri`` registration demanded (none is ever fetched)."""
    oidc = client.get("/o/.well-known/openid-configuration").json()
    assert oidc["subject_types_supported"] == ["public"]
    assert oidc["claims_parameter_supported"] is True
    assert oidc["require_request_uri_registration"] is False
    assert oidc["prompt_values_supported"] == ["none", "login", "consent", "select_account"]


def test_oidc_documents_are_gone_when_disabled(client):
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://testserver/o", "OIDC_ENABLED": False}):
        assert client.get("/o/.well-known/openid-configuration").status_code == 404
        # the JWKS stays: RFC 9068 resource servers verify JWT access tokens with it
        assert client.get("/o/jwks/").status_code == 200
        assert "openid" not in client.get("/o/.well-known/oauth-authorization-server").json()["scopes_supported"]

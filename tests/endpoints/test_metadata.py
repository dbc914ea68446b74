"""Authorization-server metadata (RFC 8414 §2-3, RFC 9207 §3, RFC 9700 §2.6)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.test import override_settings

from tests.support.endpoints import provider_settings
from tests.support.settings import override_oauth
from tests.support.token_helpers import post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db

UNDER_ISSUER = "/o/.well-known/oauth-authorization-server"
PATH_INSERTED = "/.well-known/oauth-authorization-server/o"
ISSUER = settings.OAUTH_PROVIDER["ISSUER"]
ALL_GRANTS = {
    "authorization_code": "oauth_provider.grants.authorization_code.AuthorizationCodeGrant",
    "refresh_token": "oauth_provider.grants.refresh_token.RefreshTokenGrant",
    "client_credentials": "oauth_provider.grants.client_credentials.ClientCredentialsGrant",
}


@pytest.fixture
def api() -> HttpClient:
    return HttpClient()


def fetch(api: HttpClient, path: str = UNDER_ISSUER, **headers) -> dict:
    r = api.get(path, **headers)
    assert r.status_code == 200, r.status_code
    assert r["Content-Type"].startswith("application/json")
    return r.json()


@pytest.mark.req("BCP-2.6-metadata")
@pytest.mark.req("8414-3 / DISC-4.3-issuer-identical")
def test_both_well_known_locations_serve_the_same_document(api):
    under, inserted = fetch(api, UNDER_ISSUER), fetch(api, PATH_INSERTED)
    assert under == inserted
    assert under["issuer"] == ISSUER


@pytest.mark.req("8414-3 / DISC-4.3-issuer-identical")
def test_issuer_is_the_url_the_document_was_fetched_under(api):
    """RFC 8414 §3: the document lives at the issuer plus the well-known suffix (or with the
    suffix inserted before the issuer's path), and names exactly that issuer."""
    issuer = urlsplit(fetch(api)["issuer"])
    assert issuer.scheme == "https" and not issuer.query and not issuer.fragment
    assert issuer.path.rstrip("/") + "/.well-known/oauth-authorization-server" == UNDER_ISSUER
    assert "/.well-known/oauth-authorization-server" + issuer.path == PATH_INSERTED


@pytest.mark.req("8414-3 / DISC-4.3-issuer-identical")
@pytest.mark.req("BCP-4.13-proxy-headers")
@pytest.mark.parametrize("path", [UNDER_ISSUER, PATH_INSERTED])
@pytest.mark.parametrize("headers", [
    {"HTTP_HOST": "evil.example"},
    {"HTTP_X_FORWARDED_HOST": "evil.example"},
    {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "http", "HTTP_HOST": "evil.example:8080"},
    {"HTTP_FORWARDED": "host=evil.example;proto=http"},
])
def test_issuer_and_endpoints_ignore_host_headers(path, headers, api):
    honest = fetch(api, path)
    with override_settings(USE_X_FORWARDED_HOST=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        forged = fetch(api, path, **headers)
    assert forged == honest
    assert forged["issuer"] == ISSUER
    assert "evil" not in str(forged)


@pytest.mark.req("O21-1.5-tls")
def test_endpoints_are_https_under_the_issuer_origin(api):
    doc = fetch(api)
    origin = urlsplit(ISSUER)
    for key in ("authorization_endpoint", "token_endpoint"):
        url = urlsplit(doc[key])
        assert (url.scheme, url.netloc) == (origin.scheme, origin.netloc), doc[key]
    assert urlsplit(doc["authorization_endpoint"]).path == "/o/authorize/"
    assert urlsplit(doc["token_endpoint"]).path == "/o/token/"
    assert api.get("/o/token/").status_code == 405  # the advertised path is the real endpoint


@pytest.mark.req("BCP-2.1.1-pkce-discoverable")
@pytest.mark.req("BCP-2.1.1-s256-only")
@pytest.mark.req("9207-3-metadata")
def test_pkce_and_iss_are_advertised(api):
    doc = fetch(api)
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True


@pytest.mark.req("BCP-2.4-no-ropc")
@pytest.mark.req("BCP-2.1.2-no-implicit")
def test_no_password_grant_and_no_implicit(api):
    doc = fetch(api)
    assert set(doc["grant_types_supported"]) == set(ALL_GRANTS)
    assert "password" not in doc["grant_types_supported"]
    assert "implicit" not in doc["grant_types_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert all("token" not in mode and mode != "fragment" for mode in doc.get("response_modes_supported", []))


def test_scopes_and_client_auth_methods_come_from_settings(api):
    doc = fetch(api)
    assert set(settings.OAUTH_PROVIDER["SCOPES"]) <= set(doc["scopes_supported"])
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    with override_settings(OAUTH_PROVIDER=provider_settings(SCOPES={"only": "Only this"})):
        supported = fetch(api)["scopes_supported"]
    assert "only" in supported and "read" not in supported and "write" not in supported


@pytest.mark.req("BCP-2.6-metadata")
@pytest.mark.parametrize("path", [
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/x",
    "/.well-known/oauth-authorization-server/O",
    "/.well-known/oauth-authorization-server/o/extra",
    "/.well-known/oauth-authorization-server/oo",
    "/.well-known/oauth-authorization-server/o/o",
    "/.well-known/oauth-authorization-server/o/",
    "/.well-known/oauth-authorization-server//o",
    "/o/.well-known/oauth-authorization-server/o",
    "/o/.well-known/oauth-authorization-server/",
    "/o/.well-known/oauth-authorization-serverx",
])
def test_wrong_path_is_404(path, api):
    assert api.get(path).status_code == 404


@pytest.mark.req("DERIVED-client-policy")
@pytest.mark.parametrize("removed", ["client_credentials", "refresh_token", "authorization_code"])
def test_removing_a_grant_removes_it_everywhere(removed, api, conf_client):
    grants = {k: v for k, v in ALL_GRANTS.items() if k != removed}
    with override_settings(OAUTH_PROVIDER=provider_settings(GRANT_TYPES=grants)):
        for path in (UNDER_ISSUER, PATH_INSERTED):
            doc = fetch(api, path)
            assert removed not in doc["grant_types_supported"]
            assert set(doc["grant_types_supported"]) == set(grants)
            if removed == "authorization_code":
                assert "authorization_endpoint" not in doc
                assert "code" not in doc["response_types_supported"]
        r = post_form(api, {"grant_type": removed, "scope": "read", "code": "x", "refresh_token": "x"}, "/o/token/",
                     HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    # and back when the setting is restored
    assert removed in fetch(api)["grant_types_supported"]


def test_client_credentials_still_works_when_advertised(api, conf_client):
    """Positive control for the removal test: the same token request succeeds when enabled."""
    r = post_form(api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                 HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 200, r.content


def test_metadata_is_public_and_cacheable(api):
    r = api.get(UNDER_ISSUER, HTTP_ORIGIN="https://spa.example")
    assert r["Access-Control-Allow-Origin"] == "*"  # allowed here, unlike /authorize (RFC 9700 §2.6)
    assert "no-store" not in r.get("Cache-Control", "")
    assert api.head(UNDER_ISSUER).status_code == 200
    assert api.options(UNDER_ISSUER, HTTP_ORIGIN="https://spa.example").status_code in (200, 204)
    assert api.post(UNDER_ISSUER).status_code == 405



def test_registered_extension_grants_and_methods_are_advertised(api):
    """Issue 13 item 1: metadata advertises what the registries hold, extensions included."""
    grant = "urn:example:params:oauth:grant-type:example"
    methods = {"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic",
               "example_mtls": "tests.test_client_metadata.ExampleMethod"}
    with override_settings(OAUTH_PROVIDER=provider_settings(
            GRANT_TYPES={**ALL_GRANTS, grant: "tests.test_client_metadata.ExampleGrant"},
            CLIENT_AUTH_METHODS=methods)):
        doc = fetch(api)
    assert grant in doc["grant_types_supported"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "example_mtls"]
    assert doc["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "example_mtls"]


def test_rfc8414_metadata_names_the_jwks_even_without_openid_connect(client):
    """RFC 8414 §2 jwks_uri: an RFC 9068 resource server that reads only OAuth metadata."""
    assert client.get("/o/.well-known/oauth-authorization-server").json()["jwks_uri"] == "https://testserver/o/jwks/"
    with override_oauth(OIDC_ENABLED=False):
        assert client.get("/o/.well-known/oauth-authorization-server").json()["jwks_uri"] == "https://testserver/o/jwks/"


@pytest.mark.parametrize(("prepublication", "bound"), [(600, 600), (86400, 3600)])
def test_jwks_is_cached_no_longer_than_a_new_key_is_prepublished(client, signing_key, prepublication, bound):
    with override_oauth(SIGNING_KEY_PREPUBLICATION=prepublication):
        cache = client.get("/o/jwks/")["Cache-Control"]
    assert int(re.search(r"max-age=(\d+)", cache).group(1)) <= bound, cache

"""drf-spectacular: the schema it generates for the DRF test views (tests/support/resource_views.py,
served by its ``SpectacularAPIView`` at ``/api/schema/``) describes OAuth2Authentication as our
OAuth 2 security scheme and each operation's scopes, and is read by a real OpenAPI consumer
(openapi-spec-validator) as a valid document."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.support.resource_helpers import provider_settings

pytest.importorskip("drf_spectacular")
from drf_spectacular.settings import patched_settings  # noqa: E402
from drf_spectacular.validation import validate_schema  # noqa: E402
from openapi_spec_validator import validate  # noqa: E402

pytestmark = pytest.mark.django_db
SCOPES = {"read": "Read your data", "write": "Change your data", "profile": "See your profile"}


def schema(client, **params):
    r = client.get("/api/schema/", {"format": "json", **params})
    assert r.status_code == 200, r.content[:300]
    return r.json()


def security(document, path: str, method: str = "get"):
    return document["paths"][f"/api/drf/{path}/"][method]["security"]


def test_the_scheme_comes_from_the_providers_metadata(client):
    document = schema(client)
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2"
    metadata = client.get("/o/.well-known/oauth-authorization-server").json()
    code = scheme["flows"]["authorizationCode"]
    assert code["authorizationUrl"] == metadata["authorization_endpoint"] == "https://testserver/o/authorize/"
    assert code["tokenUrl"] == code["refreshUrl"] == metadata["token_endpoint"]
    assert set(code["scopes"]) == set(metadata["scopes_supported"])
    assert code["scopes"]["read"] == "Read your data"
    # a client acting for itself asks for the API's scopes, never OpenID Connect's
    assert scheme["flows"]["clientCredentials"] == {"tokenUrl": metadata["token_endpoint"], "scopes": SCOPES}
    assert "PKCE" in scheme["description"] and "S256" in scheme["description"]
    assert "oauth2MetadataUrl" not in scheme  # OpenAPI 3.0 has no such field


def test_disabled_grants_are_not_offered(client):
    grants = {"authorization_code": "oauth_provider.grants.authorization_code.AuthorizationCodeGrant"}
    with override_settings(OAUTH_PROVIDER=provider_settings(GRANT_TYPES=grants, OIDC_ENABLED=False)):
        flows = schema(client)["components"]["securitySchemes"]["oauth2"]["flows"]
    assert list(flows) == ["authorizationCode"]
    assert "refreshUrl" not in flows["authorizationCode"]
    assert flows["authorizationCode"]["scopes"] == SCOPES


@pytest.mark.parametrize(("path", "method", "expected"), [
    ("read", "get", [{"oauth2": ["read"]}]),
    ("write", "post", [{"oauth2": ["write"]}]),
    # TokenHasReadWriteScope: by method
    ("rw", "get", [{"oauth2": ["read"]}]),
    ("rw", "post", [{"oauth2": ["write"]}]),
    ("rw-custom", "get", [{"oauth2": ["notes:read", "profile"]}]),
    ("rw-custom", "delete", [{"oauth2": ["notes:write", "profile"]}]),
    # TokenHasResourceScope: the suffix by method
    ("resource", "get", [{"oauth2": ["notes:read"]}]),
    ("resource", "put", [{"oauth2": ["notes:write"]}]),
    ("factory", "get", [{"oauth2": ["read", "profile"]}]),
    # composed permissions: & unites, | gives alternatives
    ("and", "get", [{"oauth2": ["read", "write"]}]),
    ("or", "get", [{"oauth2": ["write"]}, {"oauth2": ["profile"]}]),
    # an admin may pass without the scope: a token without scopes is an alternative
    ("or-admin", "get", [{"oauth2": []}, {"oauth2": ["write"]}]),
    ("not", "get", [{"oauth2": []}]),
    # session authentication too, and the token needs the view's scopes
    ("either", "get", [{"oauth2": ["read"]}, {"cookieAuth": []}]),
])
def test_each_operation_names_the_scopes_its_permissions_require(client, path, method, expected):
    assert security(schema(client), path, method) == expected


def test_a_view_without_required_scopes_is_listed_without_scopes(client):
    assert security(schema(client), "unconfigured") == [{"oauth2": []}]


def test_the_schema_is_valid_openapi_for_real_consumers(client):
    document = schema(client)
    validate_schema(document)  # drf-spectacular's own check (JSON Schema of OpenAPI 3.0)
    validate(document)  # openapi-spec-validator, as client generators read it


@pytest.mark.parametrize("version", ["3.1.0", "3.2.0"])
def test_newer_openapi_versions_validate_and_3_2_links_the_metadata(client, version):
    with patched_settings({"OAS_VERSION": version}):
        document = schema(client)
    assert document["openapi"] == version
    validate_schema(document)
    validate(document)
    scheme = document["components"]["securitySchemes"]["oauth2"]
    if version == "3.2.0":
        assert scheme["oauth2MetadataUrl"] == "https://testserver/o/.well-known/oauth-authorization-server"
    else:
        assert "oauth2MetadataUrl" not in scheme


def test_the_extension_is_registered_by_the_app_config():
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    from oauth_provider.contrib.rest_framework import OAuth2Authentication
    from oauth_provider.contrib.spectacular import OAuth2AuthenticationScheme

    match = OpenApiAuthenticationExtension.get_match(OAuth2Authentication())
    assert isinstance(match, OAuth2AuthenticationScheme)


@pytest.mark.urls("tests.support.docs_example_urls")
def test_the_how_to_example_serves_the_schema_and_swagger_ui(client):
    """docs/how-to/openapi.md's URLconf beside the DRF tutorial's notes API."""
    document = schema(client)
    validate(document)
    notes = document["paths"]["/drf/notes/"]
    assert notes["get"]["security"] == [{"oauth2": ["read"]}]
    assert notes["post"]["security"] == [{"oauth2": ["write"]}]
    ui = client.get("/api/docs/")
    assert ui.status_code == 200 and b"/api/schema/" in ui.content


def test_a_forged_host_header_cannot_move_the_urls(client):
    """Abuse: a schema generated for ``Host: evil.example`` (and cached by a CDN) must not send
    API users to the attacker's authorization page: the URLs come from ISSUER."""
    r = client.get("/api/schema/", {"format": "json"}, HTTP_HOST="evil.example")
    flows = r.json()["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "https://testserver/o/authorize/"
    assert "evil" not in r.content.decode()


def test_without_an_issuer_in_debug_the_urls_are_paths():
    """DEBUG without ISSUER (local development): no request to derive the issuer from, so the
    URLs are paths, resolved by OpenAPI tools against the server; never another host."""
    from oauth_provider.openapi import security_scheme

    with override_settings(DEBUG=True, OAUTH_PROVIDER=provider_settings(ISSUER=None)):
        flows = security_scheme()["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "/o/authorize/"
    assert flows["clientCredentials"]["tokenUrl"] == "/o/token/"

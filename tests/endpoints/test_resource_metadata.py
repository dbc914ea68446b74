"""Protected-resource metadata (RFC 9728) and how a client finds it from a 401; plus the
authorization-server metadata (RFC 8414) advertising introspection and revocation."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.support.resource_helpers import RESOURCE_METADATA, challenge, provider_settings

pytestmark = pytest.mark.django_db
WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_document(client):
    r = client.get(WELL_KNOWN)
    assert r.status_code == 200
    assert r.json() == {
        "resource": "https://testserver",
        "authorization_servers": ["https://testserver/o"],
        "scopes_supported": ["read", "write", "profile"],
        "bearer_methods_supported": ["header"],
    }
    assert r["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in r["Cache-Control"]


def test_body_method_is_listed_when_enabled(client):
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        assert client.get(WELL_KNOWN).json()["bearer_methods_supported"] == ["header", "body"]


def test_resource_identifier_with_a_path(client):
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://testserver/api")):
        # RFC 9728 §3.1: the path goes after the well-known segment, and only there
        r = client.get(f"{WELL_KNOWN}/api")
        assert r.status_code == 200 and r.json()["resource"] == "https://testserver/api"
        assert client.get(WELL_KNOWN).status_code == 404
        assert client.get(f"{WELL_KNOWN}/api/").status_code == 404
        assert client.get(f"{WELL_KNOWN}/other").status_code == 404
        # and the challenge points at it
        params = challenge(client.get("/api/drf/read/"))
        assert params["resource_metadata"] == "https://testserver/.well-known/oauth-protected-resource/api"
        assert params["realm"] == "https://testserver/api"


def test_a_client_can_discover_the_server_from_a_401(client):
    """What MCP clients do: 401 -> resource_metadata -> authorization_servers -> RFC 8414."""
    params = challenge(client.get("/api/plain/"))
    assert params["resource_metadata"] == RESOURCE_METADATA
    path = params["resource_metadata"].removeprefix("https://testserver")
    issuer = client.get(path).json()["authorization_servers"][0]
    meta = client.get("/.well-known/oauth-authorization-server/o").json()
    assert meta["issuer"] == issuer
    assert meta["protected_resources"] == ["https://testserver"]


def test_only_get(client):
    assert client.post(WELL_KNOWN).status_code == 405
    assert client.options(WELL_KNOWN).status_code == 204


def test_authorization_server_metadata_advertises_the_endpoints(client):
    meta = client.get("/o/.well-known/oauth-authorization-server").json()
    assert meta["introspection_endpoint"] == "https://testserver/o/introspect/"
    assert meta["revocation_endpoint"] == "https://testserver/o/revoke/"
    # introspection refuses public clients; revocation accepts them by client_id
    assert meta["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt",
    ]
    assert meta["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
    ]

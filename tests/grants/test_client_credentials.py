"""The client credentials grant (RFC 6749 §4.4, OAuth 2.1 §4.2), and grant types that must
not exist (RFC 9700 §2.4, §2.1.2)."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from oauth_provider.models import RefreshToken
from oauth_provider.signals import token_issued
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.settings import override_oauth as provider
from tests.support.token_helpers import access_token_row, assert_error, post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db




@pytest.fixture
def api_client() -> HttpClient:
    return HttpClient()


def client_credentials(api_client: HttpClient, client, **data: str):
    return post_form(
        api_client, {"grant_type": "client_credentials", **data},
        HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret),
    )


@pytest.mark.req("6749-4.4.3-no-rt-client-credentials")
def test_access_token_without_refresh_token(api_client, conf_client, assert_num_queries):
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    token_issued.connect(receiver)
    try:
        with assert_num_queries(2):
            r = client_credentials(api_client, conf_client, scope="read write")
    finally:
        token_issued.disconnect(receiver)
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "read write"
    row = access_token_row(body["access_token"])
    assert row.client == conf_client and row.user is None and row.authorization is None
    assert row.scope == "read write" and row.is_active()
    assert not RefreshToken.objects.exists()
    assert [(s["grant_type"], s["user"], s["refresh_token"]) for s in seen] == [("client_credentials", None, None)]


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_public_client_cannot_use_client_credentials(api_client, public_client):
    data = {"grant_type": "client_credentials", "scope": "read", "client_id": public_client.client_id}
    r = post_form(api_client, data)
    error = r.json().get("error")
    assert (r.status_code, error) in {(400, "unauthorized_client"), (401, "invalid_client")}, r.content
    assert_error(r, error)


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_a_public_client_registered_for_client_credentials_is_still_refused(api_client):
    """OAuth 2.1 §4.2: the grant is for confidential clients only. The model refuses to save a
    public client listing it, but a row updated in the database (or registered before that
    check) may: the grant itself refuses it, not only the grant_types check in front of it."""
    client = PublicClientFactory()
    type(client).objects.filter(pk=client.pk).update(grant_types="authorization_code client_credentials")
    r = post_form(api_client, {"grant_type": "client_credentials", "scope": "read", "client_id": client.client_id})
    assert assert_error(r, "unauthorized_client")["error_description"] == (
        "client_credentials needs a confidential client.")


def test_in_development_a_service_may_name_the_default_resource_the_request_came_to(api_client, conf_client,
                                                                                    settings):
    """DEBUG with no ISSUER: the default resource is the origin the request came to; a
    client-credentials request naming it, or naming none, gets a token for it (not a 500)."""
    from oauth_provider.models import AccessToken
    from tests.support.settings import oauth_settings

    settings.DEBUG = True
    auth = {"HTTP_AUTHORIZATION": basic_auth(conf_client.client_id, conf_client.raw_secret)}
    other = {"https://rs-a.example/": {"name": "Resource A", "scopes": ["write"]}}
    for resources in ({}, other):  # with other resources listed, the default is inferred from the scopes
        settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None, RESOURCES=resources)
        for extra in ({"resource": "http://testserver"}, {}):
            r = post_form(api_client, {"grant_type": "client_credentials", "scope": "read", **extra}, **auth)
            assert r.status_code == 200, r.content
            assert AccessToken.objects.by_value(r.json()["access_token"]).get().scope == "read"


@pytest.mark.req("O21-4.2-client-credentials-confidential")
def test_confidential_client_must_authenticate(api_client, conf_client):
    data = {"grant_type": "client_credentials", "scope": "read", "client_id": conf_client.client_id}
    r = post_form(api_client, data)
    assert_error(r, "invalid_client")


@pytest.mark.req("DERIVED-client-policy")
@pytest.mark.parametrize("scope", ["admin", "read admin", "read\\x", "réad"])
def test_unknown_scope_is_invalid_scope(api_client, conf_client, scope):
    assert_error(client_credentials(api_client, conf_client, scope=scope), "invalid_scope")


@pytest.mark.req("DERIVED-client-policy")
def test_scope_outside_the_clients_allowlist_is_invalid_scope(api_client):
    client = ClientFactory(allowed_scopes="read")
    assert_error(client_credentials(api_client, client, scope="read write"), "invalid_scope")
    assert client_credentials(api_client, client, scope="read").json()["scope"] == "read"


@pytest.mark.req("DERIVED-client-policy")
def test_a_scope_the_site_retired_is_not_granted_from_an_allow_list_still_naming_it(api_client):
    """The site removed a scope from ``SCOPES``; a client's allow-list still names it (it was
    allowed then). Its allow-list grants only scopes that exist: the retired one is unknown,
    asked for or as a default."""
    client = ClientFactory(allowed_scopes="read write")
    with provider(SCOPES={"read": "Read"}, DEFAULT_SCOPES=["read", "write"]):  # write retired
        assert_error(client_credentials(api_client, client, scope="read write"), "invalid_scope")
        assert client_credentials(api_client, client).json()["scope"] == "read"


@pytest.mark.req("O21-3.1-empty-equals-absent")
@pytest.mark.parametrize("data", [{}, {"scope": ""}])
def test_no_scope_and_no_default_scopes_is_invalid_scope(api_client, conf_client, data):
    assert_error(client_credentials(api_client, conf_client, **data), "invalid_scope")


@pytest.mark.req("O21-3.1-empty-equals-absent")
@pytest.mark.parametrize("data", [{}, {"scope": ""}])
def test_no_scope_gets_the_default_scopes(api_client, conf_client, data):
    with provider(DEFAULT_SCOPES=["read", "profile"]):
        r = client_credentials(api_client, conf_client, **data)
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "read profile"
    assert access_token_row(r.json()["access_token"]).scope == "read profile"


def test_default_scopes_are_limited_to_the_clients_allowlist(api_client):
    client = ClientFactory(allowed_scopes="profile write")
    with provider(DEFAULT_SCOPES=["read", "profile"]):
        assert client_credentials(api_client, client).json()["scope"] == "profile"
    only_write = ClientFactory(allowed_scopes="write")
    with provider(DEFAULT_SCOPES=["read"]):
        assert_error(client_credentials(api_client, only_write), "invalid_scope")


@pytest.mark.req("DERIVED-client-policy")
def test_client_not_registered_for_client_credentials_is_unauthorized(api_client):
    client = ClientFactory(grant_types="authorization_code refresh_token")
    assert_error(client_credentials(api_client, client, scope="read"), "unauthorized_client")


def test_client_credentials_turned_off_is_unsupported(api_client, conf_client):
    grants = {"authorization_code": "oauth_provider.grants.authorization_code.AuthorizationCodeGrant"}
    with provider(GRANT_TYPES=grants):
        r = client_credentials(api_client, conf_client, scope="read")
    assert_error(r, "unsupported_grant_type")


@pytest.mark.req("BCP-2.4-no-ropc")
@pytest.mark.req("BCP-2.1.2-no-implicit")
@pytest.mark.parametrize(
    "grant_type",
    ["password", "implicit", "token", "urn:ietf:params:oauth:grant-type:saml2-bearer", "CLIENT_CREDENTIALS"],
)
def test_other_grant_types_are_unsupported(api_client, conf_client, grant_type):
    r = post_form(
        api_client,
        {"grant_type": grant_type, "username": "alice", "password": "password", "scope": "read"},
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert_error(r, "unsupported_grant_type")

"""Django Ninja operations protected by ``oauth_provider.contrib.ninja.OAuth2``, called through
Django's test client as an API client would, with the tokens the DRF tests use: they must
answer as the DRF classes do (RFC 6750 §3.1). Views: tests/support/ninja_views.py."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import override_settings

from oauth_provider import keys, secrets
from oauth_provider.models import AccessToken, Authorization
from tests.support.factories import ClientFactory
from tests.support.resource_helpers import (
    assert_challenge,
    bearer,
    challenge,
    client_token,
    expired,
    provider_settings,
    user_token,
)

pytest.importorskip("ninja")
pytestmark = pytest.mark.django_db
READ = "/api/ninja/read"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def token(conf_client, user):
    return user_token(conf_client, user, scope="read")


def test_good_token_sets_request_auth_and_user_in_one_query(client, token, conf_client, assert_num_queries):
    raw, _ = token
    with assert_num_queries(1):
        r = client.get(READ, **bearer(raw))
    assert r.status_code == 200, r.content
    assert r.json() == {"user": "alice", "client_id": conf_client.client_id, "scope": "read"}


@pytest.mark.req("6750-3-challenges")
def test_no_token_is_a_bare_challenge(client):
    r = client.get(READ)
    assert_challenge(r, 401, None)
    assert r.json() == {}


@pytest.mark.req("6750-3-challenges")
@pytest.mark.parametrize("value", ["not a token", "x" * 8193, "\u00fcber", ""])
def test_malformed_token_is_invalid_token_without_a_query(client, value, assert_num_queries):
    with assert_num_queries(0):
        r = client.get(READ, HTTP_AUTHORIZATION=f"Bearer {value}")
    assert_challenge(r, 401, "invalid_token")


def test_unknown_token_costs_one_query(client, assert_num_queries):
    with assert_num_queries(1):
        r = client.get(READ, **bearer("garbage-token-value"))
    assert_challenge(r, 401, "invalid_token")
    assert r.json()["error"] == "invalid_token"


@pytest.mark.req("6750-3-challenges")
@pytest.mark.req("DERIVED-revocation-visible")
@pytest.mark.parametrize("state", ["expired", "revoked", "family_revoked"])
def test_dead_token_is_invalid_token(client, conf_client, user, state):
    raw, row = user_token(conf_client, user)
    assert client.get(READ, **bearer(raw)).status_code == 200
    if state == "expired":
        AccessToken.objects.filter(pk=row.pk).update(**expired())
    elif state == "revoked":
        AccessToken.objects.filter(pk=row.pk).update(revoked_at=secrets.now())
    else:
        Authorization.objects.filter(pk=row.authorization_id).revoke()
    assert_challenge(client.get(READ, **bearer(raw)), 401, "invalid_token")


@pytest.mark.req("6750-3-challenges")
def test_missing_scope_is_403_insufficient_scope_naming_the_operations_scopes(client, token):
    raw, _ = token
    r = client.post("/api/ninja/write", **bearer(raw))
    assert_challenge(r, 403, "insufficient_scope", scope="write")
    assert r.json()["error"] == "insufficient_scope"
    assert_challenge(client.get("/api/ninja/two", **bearer(raw)), 403, "insufficient_scope", scope="read profile")


def test_scopes_per_operation(client, conf_client, user):
    writer, _ = user_token(conf_client, user, scope="write")
    assert client.post("/api/ninja/write", **bearer(writer)).json() == {"user": "alice"}
    assert client.get(READ, **bearer(writer)).status_code == 403  # the API's default: read
    assert client.get("/api/ninja/any", **bearer(writer)).json() == {"scope": "write"}
    both, _ = user_token(conf_client, user, scope="read profile")
    assert client.get("/api/ninja/two", **bearer(both)).status_code == 200


def test_client_credentials_token_has_an_anonymous_user(client, conf_client):
    raw, _ = client_token(conf_client, scope="read")
    r = client.get(READ, **bearer(raw))
    assert r.status_code == 200 and r.json()["user"] == "anonymous"


def test_a_session_does_not_count_as_a_token(client, user):
    client.force_login(user)
    assert_challenge(client.get(READ), 401, None)


@pytest.mark.req("O21-5.1-no-query-token")
def test_query_string_token_is_ignored(client, token):
    r = client.get(f"{READ}?{urlencode({'access_token': token[0]})}")
    assert_challenge(r, 401, None)


@pytest.mark.req("6750-2-one-method")
@pytest.mark.parametrize("enabled", [False, True])
def test_header_and_body_is_400_invalid_request(client, token, enabled):
    raw, _ = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=enabled)):
        r = client.post(READ, urlencode({"access_token": raw}), content_type=FORM, **bearer(raw))
    assert_challenge(r, 400, "invalid_request")


def test_body_token_only_when_enabled(client, token):
    body = urlencode({"access_token": token[0]})
    assert client.post(READ, body, content_type=FORM).status_code == 401
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        r = client.post(READ, body, content_type=FORM)
    assert r.status_code == 200 and r.json() == {"user": "alice", "scope": "read"}


def test_another_auth_class_is_tried_when_there_is_no_token(client, user, token):
    """As DRF: a class that finds no credential lets the next one try; a bad token ends it."""
    assert_challenge(client.get("/api/ninja/either"), 401, None)
    assert client.get("/api/ninja/either", **bearer(token[0])).json() == {"user": "alice", "by_token": True}
    client.force_login(user)
    assert client.get("/api/ninja/either").json() == {"user": "alice", "by_token": False}
    assert_challenge(client.get("/api/ninja/either", **bearer("garbage")), 401, "invalid_token")


def test_async_operation(client, token):
    r = client.get("/api/ninja/async", **bearer(token[0]))
    assert r.status_code == 200 and r.json() == {"scope": "read"}
    assert_challenge(client.get("/api/ninja/async", **bearer("garbage")), 401, "invalid_token")


def test_without_install_the_status_codes_hold(client, token):
    """``install`` adds the challenges; an API without it still never lets a request through
    nor answers 500."""
    raw, _ = token
    r = client.get("/api/ninja/bare/write", **bearer(raw))
    assert r.status_code == 403 and "WWW-Authenticate" not in r
    assert client.get("/api/ninja/bare/write", **bearer("garbage")).status_code == 401
    assert client.get("/api/ninja/bare/write").status_code == 401


RS_A = "https://rs-a.example/"


@pytest.mark.req("BCP-2.3-audience")
def test_an_operation_of_another_resource_takes_only_tokens_for_it(client, conf_client, user, assert_num_queries):
    """RFC 8707 / RFC 9068 §4, as the DRF classes' ``oauth_resource``: the audience must name
    the operation's resource, and the challenge points at that resource's metadata."""
    with override_settings(OAUTH_PROVIDER=provider_settings(
        RESOURCES={RS_A: {"name": "Resource A", "scopes": ["read"]}},
    )):
        for_a, _ = user_token(conf_client, user, scope="read", audience=RS_A)
        with assert_num_queries(1):
            r = client.get("/api/ninja/rs-a", **bearer(for_a))
        assert r.status_code == 200 and r.json() == {"audience": [RS_A]}
        assert_challenge(client.get(READ, **bearer(for_a)), 401, "invalid_token")
        default, _ = user_token(conf_client, user, scope="read")
        refused = client.get("/api/ninja/rs-a", **bearer(default))
        assert refused.status_code == 401
        params = challenge(refused)
        assert params["error"] == "invalid_token" and params["realm"] == RS_A
        assert params["resource_metadata"] == "https://rs-a.example/.well-known/oauth-protected-resource"
        bare = challenge(client.get("/api/ninja/rs-a"))
        assert "error" not in bare and bare["realm"] == RS_A


@pytest.fixture
def jwt_client(db):
    return ClientFactory(access_token_format="jwt", name="JWT RP")


def test_jwt_access_token_costs_no_query(oauth, jwt_client, signing_key, assert_num_queries):
    keys.signing_key()  # the key set loaded in this process, as in any running worker
    raw = oauth.tokens(jwt_client, scope="read")["access_token"]
    with assert_num_queries(0):
        r = oauth.api.get("/api/ninja/scope-only", **bearer(raw))
    assert r.status_code == 200 and r.json() == {"scope": "read"}
    # request.user loads lazily, when the operation uses it
    r = oauth.api.get(READ, **bearer(raw))
    assert r.json()["user"] == "alice"
    assert_challenge(oauth.api.post("/api/ninja/write", **bearer(raw)), 403, "insufficient_scope", scope="write")


def test_openapi_schema_has_the_oauth2_scheme(client):
    schema = client.get("/api/ninja/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["OAuth2"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://testserver/o/authorize/"
    assert flow["tokenUrl"] == flow["refreshUrl"] == "https://testserver/o/token/"
    assert {"read", "write", "profile", "openid"} <= set(flow["scopes"])
    assert scheme["flows"]["clientCredentials"]["scopes"] == {
        "read": "Read your data", "write": "Change your data", "profile": "See your profile",
    }
    assert schema["paths"]["/api/ninja/read"]["get"]["security"] == [{"OAuth2": []}]


# -- the how-to's example (docs/how-to/django-ninja.md), mounted as the page says -------------
@pytest.mark.urls("tests.support.docs_example_urls")
def test_the_how_to_example_answers_as_the_page_says(client, conf_client, user):
    assert_challenge(client.get("/api/notes"), 401, None)
    reader, _ = user_token(conf_client, user, scope="read")
    r = client.get("/api/notes", **bearer(reader))
    assert r.status_code == 200 and r.json()["owner"] == "alice" and r.json()["client"] == conf_client.client_id
    refused = client.post("/api/notes", {"text": "hi"}, content_type="application/json", **bearer(reader))
    assert_challenge(refused, 403, "insufficient_scope", scope="write")
    writer, _ = user_token(conf_client, user, scope="read write")
    added = client.post("/api/notes", {"text": "hi"}, content_type="application/json", **bearer(writer))
    assert added.status_code == 200 and added.json()["notes"][-1] == "hi"
    service, _ = client_token(conf_client, scope="read")
    assert client.get("/api/notes", **bearer(service)).json()["owner"] == ""


def test_a_forged_host_header_cannot_move_the_schema_urls(client):
    r = client.get("/api/ninja/openapi.json", HTTP_HOST="evil.example")
    assert "evil" not in r.content.decode()

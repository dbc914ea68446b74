"""The bearer-token core (oauth_provider.resource): where a token may come from, the shape
check, the one-query lookup, the state checks, the per-request cache and the challenge."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlencode

import pytest
from django.test import RequestFactory, override_settings

from oauth_provider import resource, secrets
from oauth_provider.errors import InsufficientScope, InvalidRequest, InvalidToken, MissingToken
from oauth_provider.models import Authorization
from tests.support.factories import AccessTokenFactory, ClientFactory, UserFactory
from tests.support.resource_helpers import RESOURCE, bearer, client_token, expired, provider_settings, user_token
from tests.support.token_helpers import FORM, FrozenClock

pytestmark = pytest.mark.django_db
rf = RequestFactory()


@pytest.fixture
def token(conf_client, user):
    return user_token(conf_client, user, scope="read write")


def form_post(body: dict, **extra):
    return rf.post("/api/x", urlencode(body), content_type=FORM, **extra)


# -- where the token comes from -------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_header_scheme_is_case_insensitive(token, scheme):
    raw, row = token
    found = resource.authenticate(rf.get("/", HTTP_AUTHORIZATION=f"{scheme} {raw}"))
    assert found is not None and found.id == row.pk


def test_no_header_means_no_token_and_no_query(assert_num_queries):
    with assert_num_queries(0):
        assert resource.authenticate(rf.get("/")) is None
        assert resource.authenticate(rf.get("/", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")) is None


@pytest.mark.req("O21-5.1-no-query-token")
def test_query_string_token_is_ignored(token, assert_num_queries):
    raw, _ = token
    with assert_num_queries(0):
        assert resource.authenticate(rf.get("/", {"access_token": raw})) is None
    with pytest.raises(MissingToken):
        resource.require(rf.get("/", {"access_token": raw}))


def test_form_body_ignored_unless_enabled(token):
    raw, row = token
    assert resource.authenticate(form_post({"access_token": raw})) is None
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        found = resource.authenticate(form_post({"access_token": raw}))
        assert found is not None and found.id == row.pk
        # RFC 6750 §2.2: single-part form-encoded POST only, never GET or JSON
        assert resource.authenticate(rf.get("/", {"access_token": raw})) is None
        json_post = rf.post("/", {"access_token": raw}, content_type="application/json")
        assert resource.authenticate(json_post) is None
        multipart_post = rf.post("/", {"access_token": raw})  # multipart/form-data
        assert resource.authenticate(multipart_post) is None


def test_a_layer_refusing_body_tokens_is_not_handed_one_an_earlier_layer_took(token, assert_num_queries):
    """Two layers on one request (the middleware under ``BEARER_FORM_BODY``, then a view saying
    ``form_body=False``, or the other way round): each gets the answer for its own rule, not the
    first one's. A header token is the same answer for both: no second query."""
    raw, row = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        request = form_post({"access_token": raw})
        assert resource.authenticate(request).id == row.pk  # the body allowed
        with assert_num_queries(0):
            assert resource.authenticate(request, form_body=False) is None
            with pytest.raises(MissingToken):
                resource.require(request, form_body=False)
    request = form_post({"access_token": raw})
    assert resource.authenticate(request, form_body=False) is None  # the body refused first
    assert resource.authenticate(request, form_body=True).id == row.pk
    header = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert resource.authenticate(header, form_body=True).id == row.pk
    with assert_num_queries(0):
        assert resource.authenticate(header, form_body=False).id == row.pk


def test_async_layers_each_get_the_answer_for_their_own_body_rule(token, assert_num_queries):
    """As :func:`test_a_layer_refusing_body_tokens_is_not_handed_one_an_earlier_layer_took`,
    through ``aauthenticate`` (an ``async def`` view after a middleware): a view allowing body
    tokens is not handed the "no token" an earlier layer refusing them decided, nor the other
    way round; the same rule asked again is answered without a query."""
    from asgiref.sync import async_to_sync

    raw, row = token
    request = form_post({"access_token": raw})
    assert async_to_sync(resource.aauthenticate)(request, form_body=False) is None  # the body refused first
    assert async_to_sync(resource.aauthenticate)(request, form_body=True).id == row.pk
    with assert_num_queries(0):
        assert async_to_sync(resource.aauthenticate)(request, form_body=True).id == row.pk
        assert async_to_sync(resource.aauthenticate)(request, form_body=False) is None
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        request = form_post({"access_token": raw})
        assert async_to_sync(resource.aauthenticate)(request).id == row.pk  # the body allowed
        with assert_num_queries(0):
            assert async_to_sync(resource.aauthenticate)(request, form_body=False) is None


@pytest.mark.req("6750-2-one-method")
@pytest.mark.parametrize("enabled", [True, False])
def test_header_and_body_is_invalid_request(token, enabled):
    raw, _ = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=enabled)):
        with pytest.raises(InvalidRequest):
            resource.authenticate(form_post({"access_token": raw}, **bearer(raw)))


def test_repeated_body_token_is_invalid_request(token):
    raw, _ = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        request = rf.post("/", f"access_token={raw}&access_token={raw}", content_type=FORM)
        with pytest.raises(InvalidRequest):
            resource.authenticate(request)


# -- shape, lookup and state --------------------------------------------------------------
@pytest.mark.req("6750-3-challenges")
@pytest.mark.parametrize("value", [
    "", "a b", "tok\u00e9n", "abc%20", "ab=c", "<script>", "a" * (resource.MAX_TOKEN_LENGTH + 1), "Zm9v==x",
])
def test_malformed_token_is_refused_without_a_query(value, assert_num_queries):
    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {value}")
    with assert_num_queries(0), pytest.raises(InvalidToken):
        resource.authenticate(request)


def test_an_opaque_token_that_begins_like_a_jwt_is_looked_up(conf_client, user):
    """Our opaque tokens are random base64url text, so about one in 262,144 begins with "eyJ"
    like a JWT's header; without the two dots of a compact JWS it is still an opaque token,
    looked up and accepted like any other."""
    raw = "eyJ" + secrets.generate_token()[3:]
    row = AccessTokenFactory(raw=raw, client=conf_client, user=user, scope="read")
    found = resource.authenticate(rf.get("/", **bearer(raw)))
    assert found is not None and found.id == row.pk and not found.is_jwt


def test_token_shaped_values():
    assert resource.is_token_shaped("abc-._~+/XYZ09==")
    assert resource.is_token_shaped("a" * resource.MAX_TOKEN_LENGTH)
    assert not resource.is_token_shaped("a" * (resource.MAX_TOKEN_LENGTH + 1))


def test_a_b64token_is_one_character_or_more():
    """RFC 6750 §2.1: ``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``:
    a single character is token-shaped (it goes to the lookup and is simply unknown), nothing
    is not."""
    assert resource.is_token_shaped("a") and resource.is_token_shaped("Z=")
    assert not resource.is_token_shaped("") and not resource.is_token_shaped("=")


def test_valid_token_costs_one_query(token, assert_num_queries):
    raw, row = token
    request = rf.get("/", **bearer(raw))
    with assert_num_queries(1):
        found = resource.authenticate(request)
        # client and user come joined: touching them is free
        assert found.client.client_id == row.client.client_id
        assert found.user.get_username() == "alice"
    assert found.scopes == frozenset({"read", "write"})
    assert found.expires_at == row.expires_at
    assert found.audience == (RESOURCE,)
    assert not found.is_client_token


def test_unknown_token_costs_one_query(assert_num_queries):
    with assert_num_queries(1), pytest.raises(InvalidToken):
        resource.authenticate(rf.get("/", **bearer("x" * 43)))


def test_validated_once_per_request(token, assert_num_queries):
    raw, _ = token
    request = rf.get("/", **bearer(raw))
    with assert_num_queries(1):
        first = resource.authenticate(request)
        assert resource.authenticate(request) is first
        assert resource.get_token(request) is first
        assert resource.require(request, ["read"]) is first
    bad = rf.get("/", **bearer("y" * 43))
    with assert_num_queries(1):
        for _ in range(3):
            with pytest.raises(InvalidToken):
                resource.authenticate(bad)
        assert resource.get_token(bad) is None


@pytest.mark.req("DERIVED-revocation-visible")
@pytest.mark.parametrize("spoil", ["expired", "revoked", "family_revoked", "client_inactive", "user_inactive"])
def test_dead_tokens_are_invalid(conf_client, user, spoil, assert_num_queries):
    raw, row = user_token(conf_client, user)
    if spoil == "expired":
        row.expires_at = expired()["expires_at"]
        row.save()
    elif spoil == "revoked":
        row.revoked_at = row.created_at
        row.save()
    elif spoil == "family_revoked":
        Authorization.objects.filter(pk=row.authorization_id).revoke()
    elif spoil == "client_inactive":
        conf_client.is_active = False
        conf_client.save()
    else:
        user.is_active = False
        user.save()
    with assert_num_queries(1), pytest.raises(InvalidToken):
        resource.authenticate(rf.get("/", **bearer(raw)))


def test_expiry_follows_the_clock(conf_client, user):
    clock = FrozenClock()
    raw, row = user_token(conf_client, user)
    clock.current = row.expires_at - (row.expires_at - row.created_at) / 2
    assert resource.authenticate(rf.get("/", **bearer(raw))) is not None
    clock.current = row.expires_at
    with pytest.raises(InvalidToken):
        resource.authenticate(rf.get("/", **bearer(raw)))


def test_client_credentials_token_has_no_user(conf_client):
    raw, _ = client_token(conf_client, scope="read")
    found = resource.authenticate(rf.get("/", **bearer(raw)))
    assert found.user is None and found.is_client_token
    assert found.client.pk == conf_client.pk


def test_the_actor_of_an_exchanged_opaque_token_reaches_the_view(conf_client, user):
    """RFC 8693 §4.1: a token obtained by token exchange with an actor carries ``act``, and the
    view sees who acts for the subject (the current actor's ``sub``); a token without one has
    no actor."""
    act = {"sub": "agent-7", "act": {"sub": "agent-1"}}
    raw, _ = user_token(conf_client, user, act=act)
    found = resource.authenticate(rf.get("/", **bearer(raw)))
    assert found.act == act and found.actor == "agent-7"
    plain = resource.authenticate(rf.get("/", **bearer(user_token(conf_client, user)[0])))
    assert plain.act is None and plain.actor is None


@pytest.mark.req("O21-5.1-no-query-token")
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_only_a_post_form_body_carries_a_token(token, method):
    """RFC 6750 §2.2 (OAuth 2.1 §5.1.2): the form-encoded body parameter is for POST; another
    method with a form body carries no token there, nor in its query string (§2.3, refused by
    OAuth 2.1 §5.1.1), even with ``BEARER_FORM_BODY`` on."""
    raw, _ = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        request = getattr(rf, method)(f"/api/x?access_token={raw}", urlencode({"access_token": raw}),
                                      content_type=FORM)
        assert resource.authenticate(request) is None
        assert resource.authenticate(form_post({"access_token": raw})) is not None


def test_a_users_token_names_its_grant_and_a_clients_token_none(conf_client, user):
    """``ResourceToken.grant`` is the token's family (the Authorization the user gave), so a
    view can tell grants apart or revoke one; a client_credentials token has none."""
    family = Authorization.objects.create(client=conf_client, user=user, scope="read")
    raw, _ = user_token(conf_client, user, authorization=family)
    assert resource.authenticate(rf.get("/", **bearer(raw))).grant.pk == family.pk
    assert resource.authenticate(rf.get("/", **bearer(client_token(conf_client)[0]))).grant is None


def test_resource_token_is_frozen(token):
    found = resource.authenticate(rf.get("/", **bearer(token[0])))
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.scopes = frozenset({"admin"})  # type: ignore[misc]


def test_the_public_functions_take_every_argument_by_keyword(token):
    """Host code may name each argument, ``request`` included: the entry points the resource
    server docs describe keep their keyword-only signatures (a positional-only ``request``
    would break ``require(request=request, scopes=...)``)."""
    import asyncio

    request = rf.get("/", **bearer(token[0]))
    assert resource.authenticate(request=request, form_body=False, resource=None).has_scopes(["read"])
    assert resource.require(request=request, scopes=["read"], form_body=False, resource=None)
    assert resource.get_token(request=request, resource=None) is not None
    assert resource.outcome(request=request, resource=None) is None
    assert resource.extract(request=request, form_body=False) == token[0]
    assert "Bearer" in resource.challenge(request=request, error=None, resource=None, scope="read")
    answer = resource.error_response(request=request, error=InsufficientScope(scopes=["write"]), scopes=["write"],
                                     resource=None)
    assert answer.status_code == 403 and 'scope="write"' in answer["WWW-Authenticate"]
    bare = rf.get("/")
    assert asyncio.run(resource.aauthenticate(request=bare, form_body=False, resource=None)) is None
    with pytest.raises(MissingToken):
        asyncio.run(resource.arequire(request=bare, scopes=["read"], form_body=False, resource=None))


def test_require_checks_scopes(token):
    raw, _ = token
    request = rf.get("/", **bearer(raw))
    assert resource.require(request, ["read", "write"]).has_scopes(["write"])
    with pytest.raises(InsufficientScope) as info:
        resource.require(request, ["read", "profile"])
    assert info.value.scope == "read profile" and info.value.status == 403
    with pytest.raises(MissingToken):
        resource.require(rf.get("/"), ["read"])


# -- the identifier and the challenge -------------------------------------------------------
def test_resource_identifier_defaults_to_issuer_origin():
    assert resource.resource_identifier() == "https://testserver"
    assert resource.metadata_url() == "https://testserver/.well-known/oauth-protected-resource"


def test_resource_identifier_with_a_path():
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://api.example/v1/")):
        assert resource.resource_identifier() == "https://api.example/v1"
        # RFC 9728 §3.1: the well-known segment goes between host and path
        assert resource.metadata_url() == "https://api.example/.well-known/oauth-protected-resource/v1"


@pytest.mark.req("6750-3-challenges")
@pytest.mark.req("9728-5.1-www-authenticate")
def test_challenge_strings():
    request = rf.get("/")
    metadata = 'resource_metadata="https://testserver/.well-known/oauth-protected-resource"'
    algs = 'algs="ES256 PS256 EdDSA RS256"'
    bare = resource.challenge(request, None)
    # RFC 9449 §7.2 / RFC 9110 §11.6.1: both schemes this resource takes, in one value
    assert bare == f'Bearer realm="https://testserver", {metadata}, DPoP realm="https://testserver", {metadata}, {algs}'
    assert resource.challenge(request, MissingToken()) == bare
    invalid = resource.challenge(request, InvalidToken('bad "quoted" \\ token'))
    # the description is reduced to RFC 6749 §5.2 characters: nothing can break the quoting
    assert invalid == (
        'Bearer realm="https://testserver", error="invalid_token", '
        f'error_description="bad ?quoted? ? token", {metadata}, '
        f'DPoP realm="https://testserver", {metadata}, {algs}'
    )
    scoped = resource.challenge(request, InsufficientScope(scopes=["read", "write"]))
    assert 'error="insufficient_scope"' in scoped and 'scope="read write"' in scoped


@pytest.mark.req("6750-3-challenges")
@pytest.mark.parametrize("header", ["OAuth abc", "Token abc", "MAC id=abc", "Basic dXNlcjpwdw=="])
def test_a_request_with_a_scheme_the_resource_does_not_take_gets_the_bearer_challenge_first(header):
    """RFC 9449 §7.2: the DPoP challenge comes first, with the error, only for a request that
    used the DPoP scheme; a client sending any other scheme (an old ``OAuth`` or ``Token`` one)
    reads the ``Bearer`` challenge first, as a bearer-only client expects (RFC 6750 §3)."""
    request = rf.get("/", HTTP_AUTHORIZATION=header)
    challenge = resource.challenge(request, InvalidToken())
    assert challenge.startswith('Bearer realm="https://testserver", error="invalid_token"'), challenge
    assert challenge == resource.challenge(rf.get("/"), InvalidToken())


def test_error_response_renders_status_and_body(token):
    request = rf.get("/")
    missing = resource.error_response(request, MissingToken(), ["read"])
    assert missing.status_code == 401 and missing.content == b"{}"
    assert 'scope="read"' in missing["WWW-Authenticate"] and "error=" not in missing["WWW-Authenticate"]
    assert missing["Cache-Control"] == "no-store"
    bad = resource.error_response(request, InvalidRequest("two methods"))
    assert bad.status_code == 400 and json.loads(bad.content)["error"] == "invalid_request"
    assert 'error="invalid_request"' in bad["WWW-Authenticate"]


def test_other_clients_and_users_do_not_interfere(conf_client, user):
    other_user = UserFactory(username="bob")
    other_client = ClientFactory()
    raw_a, _ = user_token(conf_client, user)
    raw_b, _ = user_token(other_client, other_user, scope="write")
    assert resource.authenticate(rf.get("/", **bearer(raw_a))).user.get_username() == "alice"
    found_b = resource.authenticate(rf.get("/", **bearer(raw_b)))
    assert found_b.user.get_username() == "bob" and found_b.client.pk == other_client.pk


@pytest.mark.parametrize("spoil", ["revoked", "expired"])
def test_a_dead_token_is_answered_exactly_like_an_unknown_one(conf_client, user, spoil):
    """RFC 6750 §3.1 invalid_token, nothing more: the challenge must not tell a revoked token
    from one that never existed."""
    from django.test import Client as HttpClient

    from oauth_provider.models import AccessToken

    api = HttpClient()
    raw, row = user_token(conf_client, user)
    AccessToken.objects.filter(pk=row.pk).update(
        **({"revoked_at": secrets.now()} if spoil == "revoked" else {"expires_at": secrets.now()}))
    dead = api.get("/api/plain/", **bearer(raw))
    unknown = api.get("/api/plain/", **bearer(secrets.generate_token()))
    assert dead.status_code == unknown.status_code == 401
    assert dead["WWW-Authenticate"] == unknown["WWW-Authenticate"]
    assert dead.content == unknown.content

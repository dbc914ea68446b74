"""Token exchange (RFC 8693): parameters, subject and actor tokens, narrowing, the host's
policy, lineage (revoking the subject revokes what it produced) and the act claim."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client as HttpClient

from oauth_provider import jwt, secrets
from oauth_provider.adapter import DefaultAdapter
from oauth_provider.grants.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE, ID_TOKEN_TYPE, JWT_TYPE
from oauth_provider.models import AccessToken, Authorization
from oauth_provider.models.tokens import EXCHANGE_MAX_DEPTH
from oauth_provider.signals import token_exchanged
from tests.support.audience_urls import MCP, RESOURCES, RS_A, RS_B, SCOPES
from tests.support.factories import ClientFactory, PublicClientFactory, UserFactory
from tests.support.settings import oauth_settings
from tests.support.token_helpers import FrozenClock, access_token_row, assert_error, assert_no_store, post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db

REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
GRANTS = f"authorization_code refresh_token client_credentials {GRANT_TYPE}"


class CrossClientAdapter(DefaultAdapter):
    """Lets any client exchange any token (a host that trusts its services)."""

    def allow_token_exchange(self, request, client, subject, actor, audience, scopes):
        return True


class WideningAdapter(DefaultAdapter):
    #: what each call was asked: the request's path, the client, the subject's scopes and audience,
    #: and the audience and scopes asked for
    asked: list[tuple] = []

    def token_exchange_may_widen(self, request, client, subject, audience, scopes):
        self.asked.append((request.path, client.client_id, subject.scopes, subject.audience, audience, scopes))
        return True


class IdTokenAdapter(DefaultAdapter):
    def token_exchange_accepts_id_tokens(self, client):
        return True


@pytest.fixture
def client_a(db):
    return ClientFactory(name="Service A", grant_types=GRANTS)


@pytest.fixture
def client_b(db):
    return ClientFactory(name="Service B", grant_types=GRANTS)


@pytest.fixture
def api() -> HttpClient:
    return HttpClient()


def exchange(api: HttpClient, client, subject_token: str, subject_token_type: str = ACCESS_TOKEN_TYPE, **data):
    payload = {"grant_type": GRANT_TYPE, "subject_token": subject_token, "subject_token_type": subject_token_type,
               **data}
    payload = {k: v for k, v in payload.items() if v is not None}
    return post_form(api, payload, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


def user_token(oauth, client, scope: str = "read write", **overrides) -> str:
    return oauth.tokens(client, scope=scope, **overrides)["access_token"]


def service_token(api: HttpClient, client, scope: str = "read") -> str:
    r = post_form(api, {"grant_type": "client_credentials", "scope": scope},
                  HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert r.status_code == 200, r.content
    return r.json()["access_token"]


@pytest.mark.req("8693-2.2.1-response")
def test_a_client_narrows_its_own_token(oauth, api, client_a, user, assert_num_queries):
    subject = user_token(oauth, client_a)
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    token_exchanged.connect(receiver)
    try:
        # client, subject token, and the INSERT made conditional on the subject token being
        # unrevoked, holding its row (one statement on PostgreSQL; the UPDATE and the INSERT
        # elsewhere): a revocation racing the exchange revokes the new token too
        single = connection.vendor == "postgresql"
        with assert_num_queries(3 if single else 4):
            r = exchange(api, client_a, subject, scope="read")
    finally:
        token_exchanged.disconnect(receiver)
    assert r.status_code == 200, r.content
    assert_no_store(r)
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer" and body["scope"] == "read"
    assert "refresh_token" not in body and "id_token" not in body
    row, parent = access_token_row(body["access_token"]), access_token_row(subject)
    assert row.subject_token == parent and row.authorization == parent.authorization
    assert row.user == user and row.client == client_a and row.exchange_depth == 1 and row.act is None
    assert row.expires_at <= parent.expires_at
    assert [(s["client"], s["subject_token"], s["access_token"]) for s in seen] == [(client_a, parent, row)]


@pytest.mark.req("DERIVED-exchange-entitlement")
def test_another_clients_token_is_refused_by_default(oauth, api, client_a, client_b):
    subject = user_token(oauth, client_a)
    assert_error(exchange(api, client_b, subject), "invalid_request", 400)
    assert not AccessToken.objects.filter(client=client_b).exists()


@pytest.mark.req("DERIVED-exchange-entitlement")
def test_the_adapter_may_allow_exchanges_across_clients(oauth, api, client_a, client_b, settings, user):
    subject = user_token(oauth, client_a)
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.CrossClientAdapter")
    r = exchange(api, client_b, subject, scope="read")
    assert r.status_code == 200, r.content
    row = access_token_row(r.json()["access_token"])
    assert row.client == client_b and row.user == user


@pytest.mark.req("8693-2.1-client-auth")
def test_public_clients_cannot_exchange(oauth, api, db):
    public = PublicClientFactory(grant_types="authorization_code")
    public.grant_types = f"authorization_code {GRANT_TYPE}"
    with pytest.raises(ValidationError, match="Token exchange needs a confidential client"):
        public.full_clean()
    # a row edited behind the validator's back is still refused at the token endpoint
    type(public).objects.filter(pk=public.pk).update(grant_types=public.grant_types)
    subject = user_token(oauth, public, scope="read")
    r = post_form(api, {"grant_type": GRANT_TYPE, "client_id": public.client_id, "subject_token": subject,
                        "subject_token_type": ACCESS_TOKEN_TYPE})
    error = r.json()["error"]
    assert (r.status_code, error) in {(400, "unauthorized_client"), (401, "invalid_client")}


@pytest.mark.req("8693-2.1-client-auth")
def test_credentials_are_required(oauth, api, client_a):
    subject = user_token(oauth, client_a)
    r = post_form(api, {"grant_type": GRANT_TYPE, "client_id": client_a.client_id, "subject_token": subject,
                        "subject_token_type": ACCESS_TOKEN_TYPE})
    assert_error(r, "invalid_client", 401)


def test_a_client_not_registered_for_the_grant_is_refused(oauth, api, conf_client):
    subject = user_token(oauth, conf_client)
    assert_error(exchange(api, conf_client, subject), "unauthorized_client", 400)


@pytest.mark.req("8693-2.1-required-params")
@pytest.mark.parametrize("data", [
    {"subject_token": None},
    {"subject_token_type": None},
    {"subject_token_type": ""},
    {"actor_token": "x" * 43},
    {"actor_token_type": ACCESS_TOKEN_TYPE},
    {"subject_token_type": "urn:example:unknown"},
    {"requested_token_type": REFRESH_TOKEN_TYPE},
    {"requested_token_type": ID_TOKEN_TYPE},
    {"requested_token_type": "urn:example:unknown"},
    {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
])
def test_parameters_are_checked(oauth, api, client_a, data):
    subject = user_token(oauth, client_a)
    assert_error(exchange(api, client_a, **{"subject_token": subject, **data}), "invalid_request", 400)


def test_an_access_token_may_be_asked_for_by_name_and_no_id_token_comes_with_it(oauth, api, client_a, signing_key):
    """``requested_token_type`` naming the access token type is the default said aloud (RFC 8693
    §2.1), and an exchange is not a login: a subject token with ``openid`` in its scope gets no
    ID token with the new one (OIDC Core §3.1.3.3 ties it to the code flow)."""
    subject = oauth.tokens(client_a, scope="openid read")["access_token"]
    r = exchange(api, client_a, subject, requested_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and "openid" in body["scope"].split()
    assert "id_token" not in body and "refresh_token" not in body


@pytest.mark.parametrize("name", ["subject_token_type", "actor_token_type", "requested_token_type"])
def test_a_type_uri_never_heard_of_is_named_as_unknown(oauth, api, client_a, name):
    """RFC 8693 §3 lists the token type identifiers; one outside them is reported as unknown
    (not as unsupported), whichever parameter carries it, so the client sees its typo."""
    data = {"subject_token": user_token(oauth, client_a), name: "urn:example:unknown"}
    if name == "actor_token_type":
        data["actor_token"] = service_token(api, client_a)
    body = assert_error(exchange(api, client_a, **data), "invalid_request", 400)
    assert body["error_description"] == f"Unknown {name}."


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_refresh_token_declared_as_an_access_token_is_refused(oauth, api, client_a):
    tokens = oauth.tokens(client_a, scope="read")
    assert_error(exchange(api, client_a, tokens["refresh_token"]), "invalid_request", 400)
    assert_error(exchange(api, client_a, tokens["refresh_token"], REFRESH_TOKEN_TYPE), "invalid_request", 400)


@pytest.mark.req("8693-2.1-validate-tokens")
@pytest.mark.parametrize("raw", ["x" * 43, "not a token", "a.b.c", "x" * 9000])
def test_unknown_and_forged_subject_tokens_are_refused(api, client_a, raw):
    assert_error(exchange(api, client_a, raw), "invalid_request", 400)


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_revoked_subject_token_is_refused(oauth, api, client_a):
    subject = user_token(oauth, client_a)
    AccessToken.objects.by_value(subject).revoke()
    assert_error(exchange(api, client_a, subject), "invalid_request", 400)


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_subject_token_of_a_revoked_grant_is_refused(oauth, api, client_a):
    subject = user_token(oauth, client_a)
    Authorization.objects.all().revoke()
    assert_error(exchange(api, client_a, subject), "invalid_request", 400)


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_expired_subject_token_is_refused(oauth, api, client_a):
    clock = FrozenClock()
    subject = user_token(oauth, client_a)
    clock.advance(3601)
    assert_error(exchange(api, client_a, subject), "invalid_request", 400)


def _exchanged_with_left(oauth, api, client_a, seconds: float):
    """A user's token exchanged ``seconds`` before it expires: (its row, the new token's value,
    the answer's ``expires_in``)."""
    clock = FrozenClock()
    subject = user_token(oauth, client_a)
    parent = access_token_row(subject)
    clock.advance((parent.expires_at - clock.current).total_seconds() - seconds)
    r = exchange(api, client_a, subject)
    assert r.status_code == 200, r.content
    return parent, r.json()["access_token"], r.json()["expires_in"]


@pytest.mark.req("DERIVED-exchange-lifetime")
def test_the_issued_token_never_outlives_its_subject(oauth, api, client_a):
    parent, child, expires_in = _exchanged_with_left(oauth, api, client_a, 60)
    assert expires_in <= 60
    assert access_token_row(child).expires_at <= parent.expires_at
    grandchild = exchange(api, client_a, child).json()["access_token"]
    assert access_token_row(grandchild).expires_at <= parent.expires_at


@pytest.mark.req("DERIVED-exchange-lifetime")
def test_a_subject_token_in_its_last_second_yields_a_token_that_expires_with_it(oauth, api, client_a):
    """The new token's lifetime is the subject's remaining time rounded down, never up: with
    half a second left, the token issued expires at once rather than a second after its subject."""
    parent, child, expires_in = _exchanged_with_left(oauth, api, client_a, 0.5)
    assert expires_in == 0
    assert access_token_row(child).expires_at <= parent.expires_at


@pytest.mark.req("8693-5-narrowing")
def test_the_scope_cannot_widen(oauth, api, client_a):
    subject = user_token(oauth, client_a, scope="read")
    assert_error(exchange(api, client_a, subject, scope="read write"), "invalid_scope", 400)
    # the whole of the subject's scope is not a widening
    whole = user_token(oauth, client_a, scope="read write")
    assert exchange(api, client_a, whole, scope="write read").status_code == 200


@pytest.mark.req("8693-5-narrowing")
def test_the_adapter_may_let_the_scope_widen(oauth, api, client_a, settings):
    subject = user_token(oauth, client_a, scope="read")
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.WideningAdapter")
    WideningAdapter.asked.clear()
    r = exchange(api, client_a, subject, scope="read write")
    assert r.status_code == 200 and r.json()["scope"] == "read write"
    # the hook is asked with what it needs to decide: who asks, for what, from which token
    (path, client_id, subject_scopes, subject_audience, audience, scopes), = WideningAdapter.asked
    assert (path, client_id, subject_scopes, scopes) == ("/o/token/", client_a.client_id, ("read",), ("read", "write"))
    assert audience == subject_audience


@pytest.mark.req("8693-5-narrowing")
def test_the_scope_stays_within_the_clients_allowed_scopes(oauth, api, client_a):
    subject = user_token(oauth, client_a, scope="read write")
    client_a.allowed_scopes = "read"
    client_a.save()
    r = exchange(api, client_a, subject)
    assert r.status_code == 200 and r.json()["scope"] == "read"
    assert_error(exchange(api, client_a, subject, scope="write"), "invalid_scope", 400)
    # none of the subject's scopes allowed: refused, not a token without scope
    only_read = user_token(oauth, client_a, scope="read")
    client_a.allowed_scopes = "write"
    client_a.save()
    body = assert_error(exchange(api, client_a, only_read), "invalid_scope", 400)
    assert "None of the subject_token's scopes" in body["error_description"]


@pytest.mark.req("8693-5-narrowing")
@pytest.mark.req("8693-2.1-target-syntax")
def test_the_audience_narrows_and_cannot_widen(oauth, api, client_a, settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, MULTI_AUDIENCE_TOKENS=True)
    subject = oauth.tokens(client_a, scope="read", resource=RS_A)["access_token"]
    r = exchange(api, client_a, subject, audience=RS_A)
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).audience == RS_A
    assert_error(exchange(api, client_a, subject, audience=RS_B), "invalid_target", 400)
    assert_error(exchange(api, client_a, subject, resource=RS_B), "invalid_target", 400)
    assert_error(exchange(api, client_a, subject, audience="https://unknown.example/"), "invalid_target", 400)
    assert_error(exchange(api, client_a, subject, audience="service-a"), "invalid_target", 400)
    assert_error(exchange(api, client_a, subject, resource="/x"), "invalid_target", 400)
    assert_error(exchange(api, client_a, subject, resource=RS_A + "#f"), "invalid_target", 400)


@pytest.mark.req("8693-5-narrowing")
def test_a_token_for_two_audiences_narrows_to_one(oauth, api, client_a, settings):
    """Any part of the subject token's audience may be asked for, not only all of it."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, MULTI_AUDIENCE_TOKENS=True)
    subject = oauth.tokens(client_a, scope="read", resource=[RS_A, RS_B])["access_token"]
    assert set(access_token_row(subject).audience.split()) == {RS_A, RS_B}
    for one in (RS_A, RS_B):
        r = exchange(api, client_a, subject, audience=one)
        assert r.status_code == 200, r.content
        assert access_token_row(r.json()["access_token"]).audience == one
    body = assert_error(exchange(api, client_a, subject, audience="not an identifier"), "invalid_target", 400)
    assert body["error_description"] == "The audience is unknown."


@pytest.mark.req("8693-5-narrowing")
def test_the_adapter_may_let_the_audience_widen(oauth, api, client_a, settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER=f"{__name__}.WideningAdapter")
    subject = oauth.tokens(client_a, scope="read", resource=RS_A)["access_token"]
    WideningAdapter.asked.clear()
    r = exchange(api, client_a, subject, audience=RS_B)
    assert r.status_code == 200, r.content
    row = access_token_row(r.json()["access_token"])
    assert row.audience == RS_B and row.scope == "read"
    assert WideningAdapter.asked == [("/o/token/", client_a.client_id, ("read",), (RS_A,), (RS_B,), ("read",))]


def test_revoking_the_subject_token_revokes_what_it_produced(oauth, api, client_a):
    subject = user_token(oauth, client_a)
    child = exchange(api, client_a, subject).json()["access_token"]
    grandchild = exchange(api, client_a, child).json()["access_token"]
    r = post_form(api, {"token": subject, "token_type_hint": "access_token"}, "/o/revoke/",
                  HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert r.status_code == 200
    assert not access_token_row(child).is_live() and not access_token_row(grandchild).is_live()
    assert_error(exchange(api, client_a, child), "invalid_request", 400)


def test_revoking_the_grant_revokes_exchanged_tokens(oauth, api, client_a):
    tokens = oauth.tokens(client_a, scope="read")
    child = exchange(api, client_a, tokens["access_token"]).json()["access_token"]
    r = post_form(api, {"token": tokens["refresh_token"]}, "/o/revoke/",
                  HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert r.status_code == 200
    assert not access_token_row(child).is_live()


def test_revoking_a_client_token_revokes_tokens_exchanged_from_it(api, client_a):
    subject = service_token(api, client_a)
    child = exchange(api, client_a, subject).json()["access_token"]
    AccessToken.objects.by_value(subject).revoke()
    assert not access_token_row(child).is_live()


def test_revoking_the_actor_token_revokes_what_was_obtained_with_it(oauth, api, client_a):
    """An agent's token (the actor) revoked because the agent was compromised: every token it
    obtained for a user by delegation (RFC 8693 §1.1), and what was exchanged from those in
    turn, stops with it. Before, they lived out their lifetime. The user's own token stays."""
    subject = user_token(oauth, client_a)
    actor = service_token(api, client_a)
    acted = exchange(api, client_a, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert acted.status_code == 200, acted.content
    child = acted.json()["access_token"]
    grandchild = exchange(api, client_a, child).json()["access_token"]
    other = exchange(api, client_a, subject).json()["access_token"]  # no actor: not the agent's
    assert api.get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {child}").status_code == 200
    r = post_form(api, {"token": actor, "token_type_hint": "access_token"}, "/o/revoke/",
                  HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert r.status_code == 200
    assert not access_token_row(child).is_live() and not access_token_row(grandchild).is_live()
    assert access_token_row(subject).is_live() and access_token_row(other).is_live()
    assert api.get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {child}").status_code == 401


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
@pytest.mark.parametrize("how", ["revocation", "reuse", "withdrawal"])
def test_withdrawing_the_actors_grant_revokes_what_was_obtained_with_it(oauth, api, client_a, how, token_format,
                                                                      settings, signing_key,
                                                                      django_capture_on_commit_callbacks):
    """The actor token is a user-delegated agent's token (its own family), and that family is
    revoked as a whole: the agent's refresh token revoked (RFC 7009 §2.1), replayed after
    rotation (RFC 9700 §4.14.2), or the user withdrawing the agent's access. A token the agent
    obtained with it lives in its *subject's* family; before, it lived on until the actor
    token's expiry. JWT ones go on the denylist."""
    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_FORMAT=token_format, JWT_ACCESS_TOKEN_DENYLIST=True)
    subject = user_token(oauth, client_a)
    agent = oauth.tokens(client_a, scope="read")
    acted = exchange(api, client_a, subject, actor_token=agent["access_token"], actor_token_type=ACCESS_TOKEN_TYPE)
    assert acted.status_code == 200, acted.content
    child = acted.json()["access_token"]
    grandchild = exchange(api, client_a, child).json()["access_token"]
    other = exchange(api, client_a, subject).json()["access_token"]  # no actor: not the agent's
    for token in (child, grandchild):
        assert api.get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    auth = basic_auth(client_a.client_id, client_a.raw_secret)
    # the denylist is written when the revocation commits (the test runs inside a transaction)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "revocation":
            r = post_form(api, {"token": agent["refresh_token"]}, "/o/revoke/", HTTP_AUTHORIZATION=auth)
            assert r.status_code == 200
        elif how == "reuse":
            rotated = post_form(api, {"grant_type": "refresh_token", "refresh_token": agent["refresh_token"]},
                                HTTP_AUTHORIZATION=auth)
            assert rotated.status_code == 200
            replay = post_form(api, {"grant_type": "refresh_token", "refresh_token": agent["refresh_token"]},
                               HTTP_AUTHORIZATION=auth)
            assert replay.json()["error"] == "invalid_grant"
        else:
            Authorization.objects.filter(pk=access_token_row(agent["access_token"]).authorization_id).revoke()
    assert access_token_row(child).revoked_at is not None and not access_token_row(child).is_live()
    assert not access_token_row(grandchild).is_live()
    for token in (child, grandchild):  # JWT ones through the denylist
        assert api.get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    # the user's own tokens, and what was exchanged without the agent, live on
    assert access_token_row(subject).is_live() and access_token_row(other).is_live()


def test_an_actor_several_generations_down_is_followed(oauth, api, client_a):
    """The actor link is followed at every depth, through subject links above and below it."""
    subject = user_token(oauth, client_a)
    first = exchange(api, client_a, subject).json()["access_token"]
    actor = exchange(api, client_a, service_token(api, client_a)).json()["access_token"]  # itself exchanged
    second = exchange(api, client_a, first, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert second.status_code == 200, second.content
    third = exchange(api, client_a, second.json()["access_token"]).json()["access_token"]
    AccessToken.objects.by_value(actor).revoke()
    assert not access_token_row(third).is_live()
    assert access_token_row(first).is_live() and access_token_row(subject).is_live()


@pytest.mark.req("8693-4.1-act-delegation")
def test_an_actor_token_puts_the_actor_in_act_nested_for_chains(oauth, api, client_a, settings, signing_key,
                                                                 assert_num_queries):
    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_FORMAT="jwt")
    subject = user_token(oauth, client_a)
    actor = service_token(api, client_a)
    # client, subject, actor, the actor's row held, and the INSERT held to the subject's
    # (one statement on PostgreSQL, two elsewhere)
    with assert_num_queries(5 if connection.vendor == "postgresql" else 6):
        r = exchange(api, client_a, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    first = r.json()["access_token"]
    claims = jwt.decode(first, typ="at+jwt", issuer="https://testserver/o", audience=None)
    assert claims["act"] == {"sub": client_a.client_id, "client_id": client_a.client_id}
    assert claims["sub"] == str(access_token_row(subject).user_id)
    second_actor = service_token(api, client_a, scope="write")
    r = exchange(api, client_a, first, JWT_TYPE, actor_token=second_actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    nested = jwt.decode(r.json()["access_token"], typ="at+jwt", issuer="https://testserver/o", audience=None)
    assert nested["act"] == {"sub": client_a.client_id, "client_id": client_a.client_id, "act": claims["act"]}
    r = post_form(api, {"token": r.json()["access_token"]}, "/o/introspect/",
                  HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert r.json()["active"] is True and r.json()["act"] == nested["act"]


@pytest.mark.req("8693-4.1-act-delegation")
def test_a_users_token_as_the_actor_names_that_user_in_act(oauth, api, client_a, settings, signing_key, user):
    """RFC 8693 §4.1: ``act.sub`` identifies the actor. When the actor token is a person's (Bob
    acting for Alice), ``act`` names Bob as the site names him to the client, not the client
    his token was issued to, and the token's own ``sub`` stays Alice."""
    from django.test import Client as Browser

    from tests.conftest import OAuthDriver

    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_FORMAT="jwt")
    bob = UserFactory(username="bob")
    bobs_browser = Browser()
    bobs_browser.force_login(bob)
    actor = OAuthDriver(bobs_browser, api).tokens(client_a, scope="read")["access_token"]
    r = exchange(api, client_a, user_token(oauth, client_a), actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    claims = jwt.decode(r.json()["access_token"], typ="at+jwt", issuer="https://testserver/o", audience=None)
    assert claims["act"] == {"sub": str(bob.pk), "client_id": client_a.client_id}
    assert claims["sub"] == str(user.pk)


@pytest.mark.req("DERIVED-exchange-depth")
def test_chains_through_actor_tokens_are_bounded_too(oauth, api, client_a):
    """Chains stop at ``EXCHANGE_MAX_DEPTH`` exchanges whichever token they pass through: each
    exchange's token used as the next one's actor counted depth 1 every time (only the subject
    token's depth was carried), so a chain of actors went on without end."""
    actor = service_token(api, client_a)
    for _ in range(EXCHANGE_MAX_DEPTH):
        r = exchange(api, client_a, user_token(oauth, client_a), actor_token=actor,
                     actor_token_type=ACCESS_TOKEN_TYPE)
        assert r.status_code == 200, r.content
        actor = r.json()["access_token"]
    assert access_token_row(actor).exchange_depth == EXCHANGE_MAX_DEPTH
    refused = exchange(api, client_a, user_token(oauth, client_a), actor_token=actor,
                       actor_token_type=ACCESS_TOKEN_TYPE)
    assert "exchanged at most" in assert_error(refused, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_forged_revoked_and_foreign_actor_tokens_are_refused(oauth, api, client_a, client_b):
    subject = user_token(oauth, client_a)
    for actor in ("x" * 43, subject[::-1]):
        assert_error(exchange(api, client_a, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE),
                     "invalid_request", 400)
    revoked = service_token(api, client_a)
    AccessToken.objects.by_value(revoked).revoke()
    assert_error(exchange(api, client_a, subject, actor_token=revoked, actor_token_type=ACCESS_TOKEN_TYPE),
                 "invalid_request", 400)
    # an actor token of another client: not this client's to act with, by default
    foreign = service_token(api, client_b)
    assert_error(exchange(api, client_a, subject, actor_token=foreign, actor_token_type=ACCESS_TOKEN_TYPE),
                 "invalid_request", 400)


def documented_depth() -> int:
    """The limit docs/how-to/token-exchange.md promises ("at most N exchanges long")."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs/how-to/token-exchange.md").read_text()
    return int(re.search(r"at most (\d+) exchanges", page).group(1))


@pytest.mark.req("DERIVED-exchange-depth")
def test_chains_are_bounded(oauth, api, client_a):
    """A chain is as long as the how-to says, and no longer (the limit that keeps the revocation's
    recursive walk down the exchange tree bounded, models/tokens.py)."""
    limit = documented_depth()
    assert limit == EXCHANGE_MAX_DEPTH
    token = user_token(oauth, client_a)
    for _ in range(limit):
        r = exchange(api, client_a, token)
        assert r.status_code == 200, r.content
        token = r.json()["access_token"]
    assert access_token_row(token).exchange_depth == limit
    said = assert_error(exchange(api, client_a, token), "invalid_request", 400)["error_description"]
    assert f"at most {limit} times" in said
    # deeper than the limit (a row stored before the limit was lowered): refused too, as subject or actor
    AccessToken.objects.filter(pk=access_token_row(token).pk).update(exchange_depth=EXCHANGE_MAX_DEPTH + 1)
    for response in (exchange(api, client_a, token),
                     exchange(api, client_a, user_token(oauth, client_a), actor_token=token,
                              actor_token_type=ACCESS_TOKEN_TYPE)):
        assert "exchanged at most" in assert_error(response, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_is_refused_unless_the_adapter_accepts_them(oauth, api, client_a, settings, signing_key, user):
    id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    assert_error(exchange(api, client_a, id_token, ID_TOKEN_TYPE), "invalid_request", 400)
    # nor is it an access token
    assert_error(exchange(api, client_a, id_token, ACCESS_TOKEN_TYPE), "invalid_request", 400)
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    r = exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read")
    assert r.status_code == 200, r.content
    row = access_token_row(r.json()["access_token"])
    assert row.user == user and row.subject_token is None and row.scope == "read"
    assert row.exchange_depth == 1  # one exchange, counted towards the chain limit like any other


def test_in_development_an_id_token_is_checked_against_the_url_the_request_came_to(
        oauth, api, client_a, settings, signing_key, user):
    """``DEBUG`` on and no ``ISSUER``: the ID token's ``iss`` is where the request came to, and
    the exchange checks it against the same, instead of failing for want of a setting."""
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, ADAPTER=f"{__name__}.IdTokenAdapter")
    id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    assert jwt.unverified_claims(id_token)["iss"] == "http://testserver/o"
    r = exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read")
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).user == user


class ServiceAReadsIdTokens(DefaultAdapter):
    """Accepts ID tokens from one client only, and records what the exchange hook was shown."""

    shown: list[tuple] = []

    def token_exchange_accepts_id_tokens(self, client):
        return client.name == "Service A"

    def allow_token_exchange(self, request, client, subject, actor, audience, scopes):
        ServiceAReadsIdTokens.shown.append((subject.token_type, subject.subject, subject.claims.get("sub"),
                                            actor.token_type, actor.subject))
        return super().allow_token_exchange(request, client, subject, actor, audience, scopes)


@pytest.mark.req("8693-2.1-validate-tokens")
@pytest.mark.req("8693-4.1-act-delegation")
def test_id_tokens_as_subject_and_actor_are_what_the_policy_and_the_token_say(oauth, api, client_a, client_b,
                                                                              settings, signing_key, user):
    """The adapter decides per client whether ID tokens are accepted; its exchange hook sees each
    token's type, subject and claims; an ID token as the actor puts its user in ``act`` (RFC 8693
    §4.1), and ``token_exchanged`` names the subject token's type."""
    from django.test import Client as Browser

    from tests.conftest import OAuthDriver

    alice_id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    bob = UserFactory(username="bob")
    bobs_browser = Browser()
    bobs_browser.force_login(bob)
    bob_id_token = OAuthDriver(bobs_browser, api).tokens(client_a, scope="openid read")["id_token"]
    own_b = oauth.tokens(client_b, scope="openid read")["id_token"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.ServiceAReadsIdTokens", ACCESS_TOKEN_FORMAT="jwt")
    ServiceAReadsIdTokens.shown = []
    body = assert_error(exchange(api, client_b, own_b, ID_TOKEN_TYPE, scope="read"), "invalid_request", 400)
    assert "not accepted" in body["error_description"]  # client B is not the one the host trusts
    signalled: list[str] = []
    token_exchanged.connect(receiver := lambda sender, subject_token_type, **kw: signalled.append(subject_token_type))
    try:
        r = exchange(api, client_a, alice_id_token, ID_TOKEN_TYPE, scope="read", actor_token=bob_id_token,
                     actor_token_type=ID_TOKEN_TYPE)
    finally:
        token_exchanged.disconnect(receiver)
    assert r.status_code == 200, r.content
    claims = jwt.decode(r.json()["access_token"], typ="at+jwt", issuer="https://testserver/o", audience=None)
    assert claims["sub"] == str(user.pk)
    assert claims["act"] == {"sub": str(bob.pk), "client_id": client_a.client_id}
    assert ServiceAReadsIdTokens.shown == [(ID_TOKEN_TYPE, str(user.pk), str(user.pk), ID_TOKEN_TYPE, str(bob.pk))]
    assert signalled == [ID_TOKEN_TYPE]


@pytest.mark.req("DERIVED-exchange-depth")
def test_chains_through_id_token_subjects_and_actor_tokens_are_bounded(oauth, api, client_a, settings, signing_key):
    """With an ID token as the subject there is no subject row, and the depth was counted only
    from one: every token so obtained had depth 0 whatever its actor's, so the same ID token
    with each result as the next actor nested ``act`` without end. Now one more than the
    deeper of the two, as for access tokens."""
    id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    actor = service_token(api, client_a)
    for depth in range(1, EXCHANGE_MAX_DEPTH + 1):
        r = exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read", actor_token=actor,
                     actor_token_type=ACCESS_TOKEN_TYPE)
        assert r.status_code == 200, r.content
        actor = r.json()["access_token"]
        assert access_token_row(actor).exchange_depth == depth
    refused = exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read", actor_token=actor,
                       actor_token_type=ACCESS_TOKEN_TYPE)
    assert "at most" in assert_error(refused, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_issued_to_another_client_is_refused(oauth, api, client_a, client_b, settings, signing_key):
    """OIDC Core §2: an ID token's ``aud`` is the client it was issued to; another client may
    not present it, even one the same user has a live grant to (so the grant check alone
    would not refuse it)."""
    id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    own_id_token = oauth.tokens(client_b, scope="openid read")["id_token"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    assert exchange(api, client_b, own_id_token, ID_TOKEN_TYPE, scope="read").status_code == 200
    body = assert_error(exchange(api, client_b, id_token, ID_TOKEN_TYPE, scope="read"), "invalid_request", 400)
    assert "not a valid ID token issued to this client" in body["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_does_not_stand_for_the_users_grant_to_another_client(oauth, api, client_a, client_b,
                                                                         settings, signing_key):
    """One login, two clients approved in it: the grants share the login's ``sid`` and
    ``auth_time``. Once the grant to client A is revoked, A's ID token stands for nothing, and
    the user's live grant to B, from the same login, does not stand in for it."""
    tokens = oauth.tokens(client_a, scope="openid read")
    oauth.tokens(client_b, scope="openid read")
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    revoked = post_form(api, {"token": tokens["refresh_token"]}, "/o/revoke/",
                        HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert revoked.status_code == 200
    assert Authorization.objects.filter(client=client_b).live().count() == 1
    body = assert_error(exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read"),
                        "invalid_request", 400)
    assert "revoked" in body["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
@pytest.mark.parametrize("withdraw", ["connected-apps", "revocation-endpoint", "revocation-beside-an-older-grant"])
def test_an_id_token_is_refused_once_the_user_withdrew_the_grant(oauth, api, client_a, settings, signing_key, user,
                                                                withdraw):
    """RFC 8693 §2.2.2 (a subject token "invalid for any other reason"), RFC 7009 §2.1: an ID
    token cannot be revoked, and it outlives the grant it came from (an hour by default). A user
    who disconnected the client on the connected-apps page, or a client that revoked its grant,
    left it good for a fresh access token with every scope the client may have, until it
    expired: the withdrawn grant came back. An ID token stands for its grant (found by its
    ``sid`` and ``auth_time``) only while that grant is live: an earlier login's grant left
    unrevoked does not stand in for it."""
    from oauth_provider.models import Consent

    if withdraw == "revocation-beside-an-older-grant":  # an earlier login's grant, never revoked
        from datetime import timedelta

        from oauth_provider import secrets

        Authorization.objects.create(client=client_a, user=user, scope="openid read write",
                                     auth_time=secrets.now() - timedelta(days=30), session_id="an-old-session")
    tokens = oauth.tokens(client_a, scope="openid read")
    claims = jwt.unverified_claims(tokens["id_token"])
    assert "auth_time" in claims and "sid" in claims  # what ties the ID token to its grant
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    assert exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read").status_code == 200
    if withdraw == "connected-apps":
        Consent.objects.revoke_client(user, client_a)
    else:
        revoked = post_form(api, {"token": tokens["refresh_token"]}, "/o/revoke/",
                            HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
        assert revoked.status_code == 200
    body = assert_error(exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read"),
                        "invalid_request", 400)
    assert "revoked" in body["error_description"]
    assert AccessToken.objects.filter(client=client_a).live().count() == 0


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_whose_grant_is_gone_is_refused(oauth, api, client_a, settings, signing_key):
    """An ID token outlives its grant's rows (``cleartokens`` deletes a dead family, an admin a
    grant): it then stands for nothing, refused as a revoked grant's is, never a server error."""
    tokens = oauth.tokens(client_a, scope="openid read")
    Authorization.objects.filter(client=client_a).delete()
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    refused = exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read")
    assert "grant was revoked" in assert_error(refused, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
@pytest.mark.parametrize(("same_session", "seconds_later"), [
    (False, 0),  # another browser session, logged in the same second
    (True, -1),  # the same session, an earlier login (a forced re-login since)
    (True, 1),  # the same session, a later login
    (True, 30 * 86400),
])
def test_an_id_token_stands_only_for_the_grant_of_its_own_login(oauth, api, client_a, settings, signing_key, user,
                                                                 same_session, seconds_later):
    """The ID token's grant is the one its ``sid`` and ``auth_time`` (to the second) name. Once
    that grant is revoked, another live grant of the same user to the client (another session
    in the same second, or another login in the same session, a second either side) does not
    stand in for it: the withdrawn grant would come back through its ID token."""
    from datetime import datetime, timedelta
    from datetime import timezone as tz

    tokens = oauth.tokens(client_a, scope="openid read")
    claims = jwt.unverified_claims(tokens["id_token"])
    other = Authorization.objects.create(
        client=client_a, user=user, scope="openid read",
        session_id=claims["sid"] if same_session else "another-session",
        auth_time=datetime.fromtimestamp(claims["auth_time"], tz=tz.utc) + timedelta(seconds=seconds_later))
    revoked = post_form(api, {"token": tokens["refresh_token"]}, "/o/revoke/",
                        HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert revoked.status_code == 200
    assert Authorization.objects.filter(pk=other.pk).live().exists()
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    refused = exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read")
    assert "revoked" in assert_error(refused, "invalid_request", 400)["error_description"]


def revoke(api: HttpClient, client, token: str) -> None:
    r = post_form(api, {"token": token}, "/o/revoke/",
                  HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert r.status_code == 200, r.content


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_revoked_grants_id_token_does_not_stand_for_a_wider_sibling_of_the_same_login(oauth, api, client_a,
                                                                                      settings, signing_key):
    """Two authorizations of one client in one login (the same ``sid`` and ``auth_time``): once
    the first grant is revoked, its ID token is refused, not answered with the second grant's
    wider scope; the second grant's own ID token, issued after it, still stands for it."""
    from datetime import timedelta

    from django.utils import timezone

    # both grants in the same second (what an ID token's iat tells), the second half a second
    # later: the newest candidate is the live sibling, and must not be the answer
    clock = FrozenClock(timezone.now().replace(microsecond=0) + timedelta(seconds=1))
    first = oauth.tokens(client_a, scope="openid read")
    clock.advance(0.5)
    second = oauth.tokens(client_a, scope="openid read write")
    assert jwt.unverified_claims(first["id_token"])["sid"] == jwt.unverified_claims(second["id_token"])["sid"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    # while both are live the ID token stands for the latest grant of its login (it does not
    # say which it came from; the client holds both)
    live = exchange(api, client_a, first["id_token"], ID_TOKEN_TYPE)
    assert live.status_code == 200, live.content
    revoke(api, client_a, first["refresh_token"])
    exchanged = AccessToken.objects.filter(exchange_depth=1).count()
    refused = exchange(api, client_a, first["id_token"], ID_TOKEN_TYPE)
    assert "revoked" in assert_error(refused, "invalid_request", 400)["error_description"]
    assert AccessToken.objects.filter(exchange_depth=1).count() == exchanged  # nothing minted


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_from_a_grant_made_before_a_revoked_sibling_is_told_apart_by_its_iat(
        oauth, api, client_a, settings, signing_key):
    """The ID token issued with the first grant, before a second authorization of the same
    login: revoking the second leaves the first's ID token standing (the second cannot be its
    grant: it was made after the ID token)."""
    clock = FrozenClock()
    first = oauth.tokens(client_a, scope="openid read")
    clock.advance(1)  # the next second: after the first ID token's iat (whole seconds), by under 2 s
    second = oauth.tokens(client_a, scope="openid read write")
    revoke(api, client_a, second["refresh_token"])
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    r = exchange(api, client_a, first["id_token"], ID_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    assert "write" not in r.json()["scope"].split()
    assert access_token_row(r.json()["access_token"]).authorization.pk == access_token_row(
        first["access_token"]).authorization.pk
    refused = exchange(api, client_a, second["id_token"], ID_TOKEN_TYPE)  # the revoked one's own
    assert "revoked" in assert_error(refused, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_revoked_grant_of_another_session_in_the_same_second_does_not_refuse_an_id_token(
        oauth, api, client_a, user, settings, signing_key):
    """The ID token's ``sid`` narrows its candidates to its own session: another session's grant
    of the same user, client and login second, revoked, is not one it may come from."""
    from datetime import datetime, timedelta
    from datetime import timezone as tz

    tokens = oauth.tokens(client_a, scope="openid read")
    claims = jwt.unverified_claims(tokens["id_token"])
    Authorization.objects.create(
        client=client_a, user=user, scope="openid read", session_id="another-session",
        auth_time=datetime.fromtimestamp(claims["auth_time"], tz=tz.utc),
        created_at=datetime.fromtimestamp(claims["iat"], tz=tz.utc) - timedelta(seconds=1),
        revoked_at=datetime.fromtimestamp(claims["iat"], tz=tz.utc))
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    r = exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read")
    assert r.status_code == 200, r.content


@pytest.mark.req("8693-2.1-validate-tokens")
def test_a_revoked_device_grants_id_token_does_not_stand_for_a_later_device_grant(api, browser, signing_key,
                                                                                  settings):
    """Device grants carry no ``sid`` and share the browser login's ``auth_time``: the first
    grant's ID token, once that grant is revoked, does not bring back the second's scope."""
    from tests.support.device_helpers import approve, poll, started
    from tests.support.factories import DEVICE_GRANT

    FrozenClock()
    kiosk = ClientFactory(name="Kiosk backend", grant_types=f"{DEVICE_GRANT} refresh_token {GRANT_TYPE}")
    first = started(api, kiosk, scope="openid read")
    approve(browser, first["user_code"])
    first_tokens = poll(api, kiosk, first["device_code"]).json()
    second = started(api, kiosk, scope="openid read write")
    approve(browser, second["user_code"])
    assert poll(api, kiosk, second["device_code"]).status_code == 200
    revoke(api, kiosk, first_tokens["refresh_token"])
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    refused = exchange(api, kiosk, first_tokens["id_token"], ID_TOKEN_TYPE)
    assert "revoked" in assert_error(refused, "invalid_request", 400)["error_description"]


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_without_auth_time_stands_for_its_sessions_grant(oauth, api, client_a, settings, signing_key,
                                                                     user):
    """A grant recorded without a login time (one made before the time was kept) issues ID
    tokens without ``auth_time`` (OIDC Core §2: optional unless asked for); such an ID token is
    matched by its ``sid`` alone, not a server error."""
    tokens = oauth.tokens(client_a, scope="openid read")
    claims = jwt.unverified_claims(tokens["id_token"])
    Authorization.objects.filter(session_id=claims["sid"]).update(auth_time=None)
    del claims["auth_time"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    r = exchange(api, client_a, jwt.encode(claims), ID_TOKEN_TYPE, scope="read")
    assert r.status_code == 200, r.content


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_brings_back_no_scope_the_user_declined(oauth, api, client_a, settings, signing_key):
    """The client may have read and write; the user approved only read in the login the ID
    token comes from. Exchanging the ID token gives read, and asking for write is invalid_scope
    (RFC 8693 §2.2.2): the declined scope does not come back through the ID token."""
    tokens = oauth.tokens(client_a, scope="openid read")
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    assert_error(exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="write"), "invalid_scope", 400)
    assert_error(exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read write"), "invalid_scope", 400)
    r = exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    granted = r.json()["scope"].split()
    assert "read" in granted and "write" not in granted
    assert access_token_row(r.json()["access_token"]).scope.split() == granted


def test_the_metadata_lists_the_grant_only_while_a_client_is_registered_for_it(api, conf_client):
    def listed() -> bool:
        return GRANT_TYPE in api.get("/o/.well-known/oauth-authorization-server").json()["grant_types_supported"]

    assert not listed()
    client = ClientFactory(grant_types=GRANTS)
    assert listed()
    client.is_active = False
    client.save()
    assert not listed()


@pytest.mark.req("8693-4.1-current-actor")
@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_a_protected_view_sees_the_current_actor(oauth, api, client_a, settings, signing_key, token_format):
    from django.test import RequestFactory

    from oauth_provider import resource

    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_FORMAT=token_format)
    subject = user_token(oauth, client_a)
    first = exchange(api, client_a, subject, actor_token=service_token(api, client_a),
                     actor_token_type=ACCESS_TOKEN_TYPE).json()["access_token"]
    second = exchange(api, client_a, first, actor_token=service_token(api, client_a, scope="write"),
                      actor_token_type=ACCESS_TOKEN_TYPE).json()["access_token"]
    token = resource.authenticate(RequestFactory().get("/api/", HTTP_AUTHORIZATION=f"Bearer {second}",
                                                       secure=True))
    assert token is not None and token.actor == client_a.client_id
    assert token.act["act"] == {"sub": client_a.client_id, "client_id": client_a.client_id}
    plain = resource.authenticate(RequestFactory().get("/api/", HTTP_AUTHORIZATION=f"Bearer {subject}",
                                                       secure=True))
    assert plain is not None and plain.actor is None and plain.act is None


# -- rules a mutation run found untested (docs/mutation-report.md) --------------------------------
@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_is_refused_the_second_after_it_expires(oauth, api, client_a, settings, signing_key):
    """Our own ID token on our own clock: no leeway (a second past exp is expired)."""
    from datetime import UTC, datetime

    clock = FrozenClock()
    id_token = oauth.tokens(client_a, scope="openid read")["id_token"]
    expires = jwt.unverified_claims(id_token)["exp"]
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    clock.current = datetime.fromtimestamp(expires + 1, UTC)
    assert_error(exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read"), "invalid_request", 400)
    clock.current = datetime.fromtimestamp(expires, UTC)
    assert exchange(api, client_a, id_token, ID_TOKEN_TYPE, scope="read").status_code == 200


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_opaque_access_token_declared_as_a_jwt_is_refused(oauth, api, client_a, settings):
    """The jwt type names our JWT access tokens: an opaque token sent as one is a type mismatch."""
    subject = user_token(oauth, client_a)
    assert subject.count(".") == 0
    assert_error(exchange(api, client_a, subject, JWT_TYPE), "invalid_request", 400)
    assert exchange(api, client_a, subject, ACCESS_TOKEN_TYPE).status_code == 200


def test_an_oversize_subject_token_is_refused_before_any_lookup(client_a, rf):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from oauth_provider.errors import InvalidRequest
    from oauth_provider.grants.token_exchange import presented

    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidRequest):
        presented(rf.post("/o/token/"), client_a, "x" * (jwt.MAX_LENGTH + 1), ACCESS_TOKEN_TYPE, "subject")
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidRequest):
        presented(rf.post("/o/token/"), client_a, "x" * jwt.MAX_LENGTH, ACCESS_TOKEN_TYPE, "subject")
    assert len(queries) == 1  # at the limit it is looked up (and not found)


@pytest.mark.req("8693-5-narrowing")
def test_without_audience_the_subjects_audience_is_kept_even_when_resources_are_required(
        oauth, api, client_a, settings):
    """``REQUIRE_RESOURCE`` makes other grants name a resource; an exchange that names none
    gets the subject token's audience (RFC 8693 §2.1: audience and resource are optional), stored
    as the other grants store the default resource (empty)."""
    subject = user_token(oauth, client_a)
    settings.OAUTH_PROVIDER = oauth_settings(REQUIRE_RESOURCE=True)
    r = exchange(api, client_a, subject, scope="read")
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).audience == access_token_row(subject).audience == ""


@pytest.mark.req("8693-5-narrowing")
def test_an_audience_under_the_default_resources_url_is_kept(oauth, api, client_a, settings):
    """A resource whose identifier extends the default one (``https://testserver/mcp``) is its
    own audience, not the default resource: the exchanged token stays bound to it."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES)
    subject = oauth.tokens(client_a, scope="mcp:tools", resource=MCP)["access_token"]
    for target in ({"audience": MCP}, {}):
        r = exchange(api, client_a, subject, **target)
        assert r.status_code == 200, r.content
        assert access_token_row(r.json()["access_token"]).audience == MCP


class CrossClientResourceAdapter(CrossClientAdapter):
    """Cross-client exchange allowed; client "Service B" may not have tokens for RS_A or MCP."""

    def allows_resource(self, client, resource):
        return not (client.name == "Service B" and resource in (RS_A, MCP))


class CrossClientNoResourceAdapter(CrossClientAdapter):
    """Cross-client exchange allowed; client "Service B" may have no resource of RESOURCES."""

    def allows_resource(self, client, resource):
        return client.name != "Service B"


@pytest.mark.req("8693-5-narrowing")
@pytest.mark.req("8707-2-audience-restrict")
@pytest.mark.parametrize(("resource", "scope"), [(RS_A, "read"), (MCP, "mcp:tools")])
def test_an_exchange_naming_no_audience_inherits_only_resources_the_client_may_have(
        oauth, api, client_a, client_b, settings, resource, scope):
    """RFC 8707 §2 / RFC 8693 §2.1: the host's ``allows_resource`` says which resources a client
    may have tokens for. Under a policy that lets B exchange A's tokens, B naming ``RS_A`` is
    ``invalid_target``; naming nothing must not hand B the same audience by inheritance."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER=f"{__name__}.CrossClientResourceAdapter")
    subject = oauth.tokens(client_a, scope=scope, resource=resource)["access_token"]
    assert_error(exchange(api, client_b, subject, audience=resource), "invalid_target", 400)
    assert_error(exchange(api, client_b, subject), "invalid_target", 400)
    assert not AccessToken.objects.filter(client=client_b).exists()
    # A itself still exchanges it, keeping its audience
    r = exchange(api, client_a, subject)
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).audience == resource


def test_the_default_resource_is_inherited_whatever_the_resource_policy(oauth, api, client_a, client_b, settings):
    """The default resource is the site's own API, never subject to ``allows_resource`` (as in
    every grant): B, which may have none of RESOURCES, still exchanges A's token for it."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER=f"{__name__}.CrossClientNoResourceAdapter")
    subject = oauth.tokens(client_a, scope="read")["access_token"]
    r = exchange(api, client_b, subject)
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).audience == access_token_row(subject).audience



@pytest.mark.req("DERIVED-exchange-entitlement")
@pytest.mark.parametrize("registered_first", ["subject's client", "exchanging client"])
def test_a_token_exchanged_across_clients_stops_when_the_subjects_client_is_deactivated(
        oauth, api, client_a, client_b, settings, registered_first):
    """RFC 8693: the exchanged token never outlives its subject token. Under a policy letting B
    exchange A's tokens, the operator deactivates A (admin's Deactivate): A's tokens stop, and so
    must B's token obtained for one of them, at a protected view, at introspection and in
    ``live()``; it works again if A is reactivated, as A's own tokens do. Whichever of the two
    was registered first (the check compares the two clients' keys)."""
    from oauth_provider import resource

    if registered_first == "exchanging client":
        client_a, client_b = client_b, client_a
    subject = user_token(oauth, client_a)
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.CrossClientAdapter")
    r = exchange(api, client_b, subject, scope="read")
    assert r.status_code == 200, r.content
    exchanged = r.json()["access_token"]
    assert resource.is_live(resource.lookup(exchanged))
    type(client_a).objects.filter(pk=client_a.pk).update(is_active=False)
    assert not access_token_row(subject).is_live()
    assert not resource.is_live(resource.lookup(exchanged))
    assert not AccessToken.objects.live().filter(client=client_b).exists()
    seen = post_form(api, {"token": exchanged}, "/o/introspect/",
                     HTTP_AUTHORIZATION=basic_auth(client_b.client_id, client_b.raw_secret))
    assert seen.json() == {"active": False}
    type(client_a).objects.filter(pk=client_a.pk).update(is_active=True)
    assert resource.is_live(resource.lookup(exchanged))
    assert AccessToken.objects.live().filter(client=client_b).count() == 1


def _deactivated(client, active: bool = False) -> None:
    type(client).objects.filter(pk=client.pk).update(is_active=active)


@pytest.mark.req("DERIVED-exchange-entitlement")
@pytest.mark.parametrize("shape", ["A->B->C (the middle one)", "A->B->A (back to the first)",
                                   "client credentials A->B", "A's token as B's actor"])
def test_a_token_stops_while_any_client_it_was_exchanged_through_is_deactivated(
        oauth, api, client_a, client_b, settings, shape, assert_num_queries):
    """Only the token's own client and its family's were checked: in a chain A->B->C,
    deactivating B (compromised) left C's token live, as it did a token exchanged for a client
    credentials token of a deactivated client (no family to check) and one obtained with a
    deactivated client's token as the actor. Now every client up the chain must be active; at
    a protected view, at introspection and in ``live()``, and again once reactivated. The walk
    up the chain is one query, at a protected view and at introspection alike; a token from a
    single exchange of the client's own token costs no query for it."""
    from oauth_provider import resource

    client_c = ClientFactory(name="Service C", grant_types=GRANTS)
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.CrossClientAdapter")
    if shape == "A->B->C (the middle one)":
        first = exchange(api, client_b, user_token(oauth, client_a)).json()["access_token"]
        r, holder, stopped = exchange(api, client_c, first), client_c, client_b
    elif shape == "A->B->A (back to the first)":
        first = exchange(api, client_b, user_token(oauth, client_a)).json()["access_token"]
        r, holder, stopped = exchange(api, client_a, first), client_a, client_b
    elif shape == "client credentials A->B":
        r, holder, stopped = exchange(api, client_b, service_token(api, client_a)), client_b, client_a
    else:
        r = exchange(api, client_b, user_token(oauth, client_b), actor_token=service_token(api, client_a),
                     actor_token_type=ACCESS_TOKEN_TYPE)
        holder, stopped = client_b, client_a
    assert r.status_code == 200, r.content
    token = r.json()["access_token"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with assert_num_queries(2):  # the token joined to its client, user and family; the chain's clients
        assert api.get("/api/plain/", **bearer).status_code == 200
    with assert_num_queries(3):  # introspection: the caller, then the same two
        seen = post_form(api, {"token": token}, "/o/introspect/",
                         HTTP_AUTHORIZATION=basic_auth(holder.client_id, holder.raw_secret))
    assert seen.json()["active"] is True
    _deactivated(stopped)
    assert api.get("/api/plain/", **bearer).status_code == 401
    assert not resource.is_live(resource.lookup(token))
    assert not AccessToken.objects.live().filter(client=holder, exchange_depth__gt=0).exists()
    seen = post_form(api, {"token": token}, "/o/introspect/",
                     HTTP_AUTHORIZATION=basic_auth(holder.client_id, holder.raw_secret))
    assert seen.json() == {"active": False}
    _deactivated(stopped, active=True)
    assert api.get("/api/plain/", **bearer).status_code == 200
    assert AccessToken.objects.live().filter(client=holder, exchange_depth__gt=0).exists()


@pytest.mark.parametrize("pk", [None, 100_000])  # a key above CPython's small-integer cache too
def test_a_single_exchange_of_a_clients_own_token_costs_no_more_query(oauth, api, assert_num_queries, pk):
    client_a = ClientFactory(name="Service A", grant_types=GRANTS, **({"pk": pk} if pk else {}))
    token = exchange(api, client_a, user_token(oauth, client_a), scope="read").json()["access_token"]
    with assert_num_queries(1):
        assert api.get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def dpop_service_token(api: HttpClient, client, key) -> str:
    r = post_form(api, {"grant_type": "client_credentials", "scope": "read"},
                  HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret),
                  HTTP_DPOP=key.proof("POST", "https://testserver/o/token/"))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.content
    return r.json()["access_token"]


@pytest.mark.req("9449-5-token-binding")
def test_a_dpop_bound_actor_token_needs_a_proof_by_its_own_key(api, client_a):
    """A stolen DPoP-bound agent token is no bearer token as the actor either: without a proof,
    or with a proof by another key, the exchange is refused; with its key's proof the new token
    is bound to that key."""
    from tests.support.dpop import DPoPKey

    key, other = DPoPKey("EC"), DPoPKey("OKP")
    subject = service_token(api, client_a)
    actor = dpop_service_token(api, client_a, key)
    form = {"grant_type": GRANT_TYPE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": actor, "actor_token_type": ACCESS_TOKEN_TYPE}
    auth = {"HTTP_AUTHORIZATION": basic_auth(client_a.client_id, client_a.raw_secret)}
    assert_error(post_form(api, form, **auth), "invalid_dpop_proof")
    assert_error(post_form(api, form, HTTP_DPOP=other.proof("POST", "https://testserver/o/token/"), **auth),
                 "invalid_dpop_proof")
    r = post_form(api, form, HTTP_DPOP=key.proof("POST", "https://testserver/o/token/"), **auth)
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).dpop_jkt == key.jkt


@pytest.mark.req("8693-2.1-validate-tokens")
def test_the_issued_token_never_outlives_its_actor_token(api, client_a):
    """The actor token expires first (issued half an hour before the subject): the new token
    expires with it, not with the subject."""
    clock = FrozenClock()
    actor = service_token(api, client_a)
    clock.advance(1800)
    subject = service_token(api, client_a)
    r = exchange(api, client_a, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    issued = access_token_row(r.json()["access_token"])
    assert issued.expires_at == access_token_row(actor).expires_at < access_token_row(subject).expires_at
    assert r.json()["expires_in"] <= 1800
    clock.advance(1801)
    assert not AccessToken.objects.filter(pk=issued.pk).live().exists()


@pytest.mark.req("8693-2.1-validate-tokens")
def test_an_id_token_is_judged_by_its_own_users_grant_alone(oauth, api, client_a, settings, signing_key, user):
    """An ID token stands for its own user's grant: another user's grant of the same client
    with the same ``sid`` and ``auth_time`` (a host's coarse session scheme, a restored row)
    neither denies it while it is live (revoked, the other one) nor stands in for it once it
    is revoked (live, the other one)."""
    from tests.support.factories import UserFactory

    tokens = oauth.tokens(client_a, scope="openid read")
    mine = Authorization.objects.get(client=client_a, user=user)
    theirs = Authorization.objects.create(client=client_a, user=UserFactory(), scope=mine.scope,
                                          auth_time=mine.auth_time, session_id=mine.session_id,
                                          revoked_at=mine.auth_time)
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.IdTokenAdapter")
    assert exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read").status_code == 200
    Authorization.objects.filter(pk=theirs.pk).update(revoked_at=None)
    revoked = post_form(api, {"token": tokens["refresh_token"]}, "/o/revoke/",
                        HTTP_AUTHORIZATION=basic_auth(client_a.client_id, client_a.raw_secret))
    assert revoked.status_code == 200
    refused = exchange(api, client_a, tokens["id_token"], ID_TOKEN_TYPE, scope="read")
    assert "revoked" in assert_error(refused, "invalid_request", 400)["error_description"]


class RecordingPolicy(DefaultAdapter):
    """Says yes, and keeps what it was asked."""

    asked: list[tuple] = []

    def allow_token_exchange(self, request, client, subject, actor, audience, scopes):
        self.asked.append((request.path, client.client_id, subject.token_type, subject.subject,
                           actor.token_type if actor else None, audience, scopes))
        return True


def test_the_exchange_policy_is_asked_with_the_request_the_tokens_the_audience_and_the_scopes(
        oauth, api, client_a, settings, user):
    """``allow_token_exchange`` decides with what it is given: the request, the client, the
    subject token as verified (its type and subject), and the audience and scopes the issued
    token would carry, after narrowing."""
    from oauth_provider.adapter import subject_for

    subject = user_token(oauth, client_a, scope="read write")
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.RecordingPolicy")
    RecordingPolicy.asked.clear()
    r = exchange(api, client_a, subject, scope="read")
    assert r.status_code == 200, r.content
    # the audience: the default resource (the issuer's origin), which the subject token had
    assert RecordingPolicy.asked == [("/o/token/", client_a.client_id, ACCESS_TOKEN_TYPE,
                                      subject_for(user, client_a), None, ("https://testserver",), ("read",))]


def test_an_exchange_narrowed_to_one_audience_drops_the_other_audiences_scopes(oauth, api, client_a, settings):
    """RFC 8707 with RFC 8693: a subject token for two resources, exchanged for one of them,
    carries only the scopes that resource accepts (a token for RS_A with ``rs-b:read`` would
    be more than the audience needs)."""
    from tests.support.audience_urls import RESOURCES, RS_A, RS_B, SCOPES

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, MULTI_AUDIENCE_TOKENS=True)
    subject = oauth.tokens(client_a, scope="rs-a:read rs-b:read", resource=[RS_A, RS_B])["access_token"]
    r = exchange(api, client_a, subject, audience=RS_A)
    assert r.status_code == 200, r.content
    row = access_token_row(r.json()["access_token"])
    assert (row.audience, row.scope, r.json()["scope"]) == (RS_A, "rs-a:read", "rs-a:read")


def test_an_exchanged_token_never_outlives_the_access_token_lifetime(oauth, api, client_a, settings):
    """The exchanged token lives the shorter of ``ACCESS_TOKEN_LIFETIME`` and what is left of
    its subject token: a subject issued under a longer lifetime gives no longer a token."""
    subject = oauth.tokens(client_a, scope="read")["access_token"]  # 3600 s
    settings.OAUTH_PROVIDER = oauth_settings(ACCESS_TOKEN_LIFETIME=60)
    r = exchange(api, client_a, subject)
    assert r.status_code == 200, r.content
    row = access_token_row(r.json()["access_token"])
    assert r.json()["expires_in"] <= 60 and (row.expires_at - row.created_at).total_seconds() <= 60


# -- an exchange racing a revocation (an outside race review; the races themselves run in
# -- tests/security/test_races.py on PostgreSQL and MariaDB) --------------------------------------

def test_a_subject_revoked_between_its_check_and_the_store_gets_invalid_request_and_nothing(
        oauth, api, client_a, monkeypatch):
    """The subject token was live when read and revoked before the exchange stored its token
    (a revocation landing in between): the exchange is refused as for a revoked token, nothing
    is stored, never a 500."""
    from oauth_provider.grants import token_exchange

    subject = user_token(oauth, client_a)
    held = token_exchange.exchanged_from

    def revoked_meanwhile(token, family):
        AccessToken.objects.filter(pk=token.pk).update(revoked_at=secrets.now())
        return held(token, family)

    monkeypatch.setattr(token_exchange, "exchanged_from", revoked_meanwhile)
    before = AccessToken.objects.count()
    r = exchange(api, client_a, subject, scope="read")
    assert "revoked" in assert_error(r, "invalid_request")["error_description"]
    assert AccessToken.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_an_exchange_with_an_actor_token_holds_the_actor_inside_its_own_transaction(oauth, api, client_a):
    """Outside any request-wide transaction (``ATOMIC_REQUESTS`` off, the default), the actor's
    row is held in the exchange's own transaction, to the end of the store: an exchange with an
    actor token succeeds (a hold outside a transaction is refused: it would end at once)."""
    subject = user_token(oauth, client_a)
    actor = service_token(api, client_a)
    r = exchange(api, client_a, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    assert r.status_code == 200, r.content
    assert AccessToken.objects.get(token_hash=secrets.hash_token(r.json()["access_token"])).actor_token_id

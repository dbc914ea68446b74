"""Pushed authorization requests (RFC 9126), attacked: the endpoint (client authentication,
validation as JSON, the request_uri), and the authorization endpoint taking a request_uri
(bound to its client, single use, spent only when the authorization completes, short-lived,
only the pushed parameters count). Checklist section V."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import jwt as pyjwt
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client as HttpClient
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider.client_assertions import ASSERTION_TYPE
from oauth_provider.models import AuthorizationCode, PushedAuthorization
from oauth_provider.secrets import hash_token
from tests.support import fapi
from tests.support.dpop import DPoPKey
from tests.support.endpoints import assert_error_page, assert_error_redirect, assert_redirect_to, minted
from tests.support.factories import REDIRECT_URI, ClientFactory
from tests.support.par_helpers import (
    AUTHORIZE,
    FORM,
    ISSUER,
    PAR,
    PREFIX,
    assert_json_error,
    ec_key,
    jwk_of,
    push,
    pushed_uri,
    request_params,
)
from tests.support.settings import oauth_settings, override_oauth
from tests.support.token_helpers import FrozenClock

from ..conftest import basic_auth, consent_blob, pkce_pair, query_of, real_queries

pytestmark = pytest.mark.django_db
METADATA = "/o/.well-known/oauth-authorization-server"


@pytest.fixture
def browser(user):
    http = HttpClient()
    http.force_login(user)
    return http


@pytest.fixture
def trusted(db):
    """A first-party client: a valid request yields a code at once (no consent page)."""
    return ClientFactory(name="First party", skip_consent=True)


def authorize(browser, client, request_uri: str, **extra):
    return browser.get(AUTHORIZE, {"client_id": client.client_id, "request_uri": request_uri, **extra})


def code_of(response) -> str:
    query = assert_redirect_to(response, REDIRECT_URI)
    assert "code" in query, query
    return query["code"]


# -- the endpoint ----------------------------------------------------------------------------------
@pytest.mark.req("9126-2-endpoint", "9126-2.2-request-uri")
def test_a_push_gets_201_a_request_uri_and_expires_in(conf_client):
    r = push(conf_client)
    assert r.status_code == 201, r.content
    assert r["Content-Type"] == "application/json"
    assert r["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"request_uri", "expires_in"}
    assert body["expires_in"] == 60
    assert re.fullmatch(re.escape(PREFIX) + r"[A-Za-z0-9_-]{43}", body["request_uri"]), body
    # Only a digest is stored (like every one-time secret)
    row = PushedAuthorization.objects.get()
    assert row.request_uri_hash == hash_token(body["request_uri"])
    assert body["request_uri"][len(PREFIX):] not in str(row.parameters)


@pytest.mark.req("9126-2-endpoint")
def test_the_endpoint_takes_form_posts_only_and_is_advertised(conf_client):
    http = HttpClient()
    r = http.get(PAR)
    assert r.status_code == 405 and "POST" in r["Allow"]
    r = http.post(PAR, "{}", content_type="application/json",
                  HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert_json_error(r, "invalid_request")
    document = http.get(METADATA).json()
    assert document["pushed_authorization_request_endpoint"] == ISSUER + "/par/"
    assert document["require_pushed_authorization_requests"] is False
    assert document["request_uri_parameter_supported"] is False  # nothing is ever fetched
    assert http.get("/o/.well-known/openid-configuration").json()["pushed_authorization_request_endpoint"] \
        == ISSUER + "/par/"


def test_browser_apps_may_push_across_origins(public_client):
    """A public browser app pushes its request from its own origin (RFC 9700 §2.6 allows CORS
    at the back-channel endpoints): the preflight is answered, and the answer (201 or an
    error) may be read by any origin, with no credentials."""
    http = HttpClient()
    r = http.options(PAR, HTTP_ORIGIN="https://app.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert r.status_code == 204
    assert (r["Access-Control-Allow-Origin"], r["Access-Control-Allow-Methods"]) == ("*", "POST, OPTIONS")
    r = push(public_client, http, **request_params(public_client))
    assert r.status_code == 201 and r["Access-Control-Allow-Origin"] == "*"
    r = push(public_client, http, **request_params(public_client, redirect_uri="https://evil.example/cb"))
    assert r.status_code == 400 and r["Access-Control-Allow-Origin"] == "*"


def test_the_pushed_form_is_hidden_from_error_reports(conf_client, rf):
    """The form carries client_secret (client_secret_post) or a client assertion: Django's
    error reports must not show it (sensitive_post_parameters, as at the token endpoint)."""
    from oauth_provider.endpoints.par import PushedAuthorizationView

    request = rf.post(PAR, urlencode(request_params(conf_client)), content_type=FORM,
                      HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert PushedAuthorizationView.as_view()(request).status_code == 201
    assert request.sensitive_post_parameters == "__ALL__"


def test_the_client_secret_sent_in_the_form_is_never_stored_with_the_request(conf_client):
    """client_secret_post (RFC 6749 §2.3.1) puts the secret in the pushed form itself; the
    stored request (a JSON column any admin or database backup can read) keeps the
    authorization parameters only, never the secret."""
    r = push(conf_client, auth=False, **request_params(conf_client), client_secret=conf_client.raw_secret)
    assert r.status_code == 201, r.content
    stored = json.dumps(PushedAuthorization.objects.get().parameters)
    assert conf_client.raw_secret not in stored
    assert "client_secret" not in stored


def test_a_pushed_login_marker_is_not_kept(conf_client):
    """``login_after`` is the provider's own one-time marker, added to the URL on the way back
    from a forced login (OIDC ``prompt=login``, ``max_age``): a client pushing one gets a request
    without it, so it can never stand in for the user's fresh login."""
    r = push(conf_client, **request_params(conf_client, prompt="login", login_after="forged"))
    assert r.status_code == 201, r.content
    parameters = PushedAuthorization.objects.get().parameters
    assert "login_after" not in json.dumps(parameters)
    assert parameters["p"]["prompt"] == "login"


@pytest.mark.req("9126-2-endpoint")
def test_a_wrong_secret_is_invalid_client_and_counted_by_the_throttle(conf_client):
    params = request_params(conf_client)
    r = HttpClient().post(PAR, urlencode(params), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "wrong"))
    assert_json_error(r, "invalid_client", 401)
    assert r["WWW-Authenticate"].startswith("Basic")
    with override_settings(OAUTH_PROVIDER=oauth_settings(
            CLIENT_AUTH_THROTTLE={"enabled": True, "failures": 2, "window": 60})):
        for _ in range(2):
            HttpClient().post(PAR, urlencode(params), content_type=FORM,
                              HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "wrong"))
        r = HttpClient().post(PAR, urlencode(params), content_type=FORM,
                              HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "wrong"))
        assert_json_error(r, "invalid_client", 429)
    assert not PushedAuthorization.objects.exists()


def test_a_confidential_client_cannot_push_with_its_client_id_alone(conf_client):
    assert_json_error(push(conf_client, auth=False, **request_params(conf_client)), "invalid_client", 401)


def test_a_public_client_pushes_with_its_client_id_and_pkce(public_client, browser):
    """RFC 9126 §2: public clients may push (PKCE binds the code to them); FAPI's preset is
    where they are refused."""
    request_uri = pushed_uri(public_client, **request_params(public_client))
    r = authorize(browser, public_client, request_uri)
    assert r.status_code == 200  # a public client is always asked (RFC 8252 §8.6)
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
    assert "code" in query_of(r["Location"])


@pytest.mark.req("9126-2.1-no-request-uri")
def test_a_pushed_request_cannot_carry_a_request_uri(conf_client):
    r = push(conf_client, **request_params(conf_client, request_uri=PREFIX + "x" * 43))
    body = assert_json_error(r, "invalid_request")
    assert "request_uri" in body["error_description"]


@pytest.mark.req("9126-2.1-validate", "9126-7.2-redirect-policy")
@pytest.mark.parametrize("overrides,error", [
    ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
    ({"redirect_uri": REDIRECT_URI + "/"}, "invalid_request"),
    ({"scope": "admin"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"resource": "https://unknown.example/"}, "invalid_target"),
])
def test_pushed_parameters_are_validated_like_an_authorization_request_and_answered_in_json(
        overrides, error, conf_client):
    conf_client.allowed_scopes = "read"
    conf_client.save()
    r = push(conf_client, **request_params(conf_client, **overrides))
    assert_json_error(r, error)
    assert not PushedAuthorization.objects.exists()


@pytest.mark.req("9126-2.1-validate")
def test_user_interaction_never_decides_a_push(conf_client):
    """No user is there: prompt=none and max_age are stored, never answered with
    login_required or consent_required."""
    r = push(conf_client, **request_params(conf_client, prompt="none", scope="openid read", max_age="0"))
    assert r.status_code == 201, r.content


def test_client_id_in_the_body_must_be_the_authenticated_client(conf_client):
    other = ClientFactory()
    r = push(conf_client, **request_params(conf_client, client_id=other.client_id))
    assert_json_error(r, "invalid_client", 401)


@pytest.mark.req("9126-2-endpoint")
def test_off_the_endpoint_is_404_and_not_advertised(conf_client, browser):
    request_uri = pushed_uri(conf_client)
    with override_settings(OAUTH_PROVIDER=oauth_settings(PUSHED_AUTHORIZATION_REQUESTS=False)):
        assert push(conf_client).status_code == 404
        document = HttpClient().get(METADATA).json()
        assert "pushed_authorization_request_endpoint" not in document
        r = browser.get(AUTHORIZE, {**request_params(conf_client), "request_uri": request_uri})
        assert_error_redirect(r, REDIRECT_URI, "request_uri_not_supported", query_of(r["Location"])["state"], ISSUER)


# -- the request_uri at the authorization endpoint ----------------------------------------------------
def test_the_pushed_request_completes_at_the_authorization_endpoint(trusted, browser):
    params = request_params(trusted, scope="read", state="pushed-state")
    r = authorize(browser, trusted, pushed_uri(trusted, **params))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == "pushed-state" and query["iss"] == ISSUER
    code = AuthorizationCode.objects.get()
    assert code.authorization.scope == "read"
    assert PushedAuthorization.objects.get().consumed_at is not None


@pytest.mark.req("9126-2.2-bound-to-client")
@pytest.mark.parametrize("who", ["other client", "no client_id", "client_id twice"])
def test_a_request_uri_is_bound_to_the_client_that_pushed_it(who, trusted, browser):
    request_uri = pushed_uri(trusted)
    other = ClientFactory(skip_consent=True, redirect_uris="https://other.example/cb")
    query = {"other client": {"client_id": other.client_id, "request_uri": request_uri},
             "no client_id": {"request_uri": request_uri},
             "client_id twice": {"client_id": [trusted.client_id, other.client_id], "request_uri": request_uri}}[who]
    r = browser.get(AUTHORIZE + "?" + urlencode(query, doseq=True))
    assert_error_page(r)
    assert minted() == 0
    assert PushedAuthorization.objects.get().consumed_at is None  # the owner can still use it
    assert code_of(authorize(browser, trusted, request_uri))


@pytest.mark.req("9126-2.2-bound-to-client")
def test_a_request_uri_is_refused_to_another_client_whatever_its_client_id(browser):
    """The owner's client_id must be the one sent, exactly: another client's is refused
    whether it sorts before or after the owner's (an ordering comparison would let half of
    all other clients use a request_uri that is not theirs)."""
    owner = ClientFactory(client_id="m-owner", skip_consent=True)
    request_uri = pushed_uri(owner)
    for other_id in ("a-before", "z-after", "m-owner-and-more"):
        other = ClientFactory(client_id=other_id, skip_consent=True)
        r = authorize(browser, other, request_uri)
        assert_error_page(r)
        assert b"The request_uri is unknown, or was pushed by another client" in r.content
    assert minted() == 0
    assert code_of(authorize(browser, owner, request_uri))


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_request_uri_is_single_use(trusted, browser):
    request_uri = pushed_uri(trusted)
    assert code_of(authorize(browser, trusted, request_uri))
    r = authorize(browser, trusted, request_uri)
    assert_error_page(r)
    assert b"invalid_request_uri" in r.content or b"already used" in r.content
    assert AuthorizationCode.objects.count() == 1


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_request_uri_expires(trusted, browser):
    clock = FrozenClock()
    request_uri = pushed_uri(trusted)
    clock.advance(61)
    assert_error_page(authorize(browser, trusted, request_uri))
    assert minted() == 0


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_request_uri_lives_exactly_its_expires_in(trusted, browser):
    """RFC 9126 §2.2: the request_uri is good for expires_in seconds (60 by default) and not
    at the instant they are over, nor after; the answer says that it expired."""
    clock = FrozenClock()
    start = clock.current
    for elapsed, live in ((59, True), (60, False), (61, False)):
        clock.current = start
        request_uri = pushed_uri(trusted)
        clock.advance(elapsed)
        r = authorize(browser, trusted, request_uri)
        if live:
            assert code_of(r)
        else:
            assert_error_page(r)
            assert b"The request_uri has expired" in r.content
    assert AuthorizationCode.objects.count() == 1


@pytest.mark.req("9126-2.2-bound-to-client")
def test_the_usable_queryset_finds_a_pushed_request_for_its_client_while_live_and_unspent(conf_client):
    """PushedAuthorization.objects.usable (for a host's own views): the row of a request_uri
    for the client that pushed it, before it expires and while it is unspent; nothing else.
    consume spends a live row once: of two parallel approvals exactly one gets a code."""
    clock = FrozenClock()
    request_uri = pushed_uri(conf_client)
    usable = PushedAuthorization.objects.usable
    row = usable(request_uri, conf_client.pk).get()
    assert not usable(request_uri, ClientFactory().pk).exists()
    assert not usable(request_uri + "x", conf_client.pk).exists()
    assert usable(request_uri, conf_client.pk, now=clock() + timedelta(seconds=59)).exists()
    assert not usable(request_uri, conf_client.pk, now=clock() + timedelta(seconds=60)).exists()
    assert not PushedAuthorization.objects.consume(row.pk, now=clock() + timedelta(seconds=60))  # expired
    other_uri = pushed_uri(conf_client)  # another pending request, of the same client
    assert PushedAuthorization.objects.consume(row.pk)
    assert not PushedAuthorization.objects.consume(row.pk)  # RFC 9126 §4: one spender only
    assert not usable(request_uri, conf_client.pk).exists()
    assert usable(other_uri, conf_client.pk).exists()  # spending one spends no other


@pytest.mark.req("9126-4-one-time-expiry")
def test_the_consent_page_does_not_spend_it_the_approval_does(conf_client, browser):
    """FAPI 2.0 §5.3.2.2 note 3: a reload of the consent page must not break the flow."""
    request_uri = pushed_uri(conf_client)
    first = authorize(browser, conf_client, request_uri)
    second = authorize(browser, conf_client, request_uri)
    assert first.status_code == second.status_code == 200
    assert PushedAuthorization.objects.get().consumed_at is None
    blob = consent_blob(second.content.decode())
    r = browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert "code" in query_of(r["Location"])
    # The first page's form, or the same form again, cannot approve a second time
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(first.content.decode()), "allow": "allow"})
    assert_error_page(r)
    assert AuthorizationCode.objects.count() == 1


def test_the_consent_form_carries_only_the_request_uri(conf_client, browser):
    from django.core import signing

    from oauth_provider.endpoints.authorize import CONSENT_SALT

    request_uri = pushed_uri(conf_client, **request_params(conf_client, state="secret-state"))
    blob = consent_blob(authorize(browser, conf_client, request_uri).content.decode())
    payload = signing.loads(blob, salt=CONSENT_SALT)
    assert payload["p"] == {"client_id": conf_client.client_id, "request_uri": request_uri}


@pytest.mark.req("9126-4-pushed-only")
def test_query_parameters_never_override_the_pushed_ones(trusted, browser):
    ClientFactory(redirect_uris="https://evil.example/cb")
    request_uri = pushed_uri(trusted, **request_params(trusted, scope="read", state="pushed"))
    r = authorize(browser, trusted, request_uri, redirect_uri="https://evil.example/cb", scope="read write admin",
                  response_mode="fragment", state="attacker", code_challenge="A" * 43, prompt="none")
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == "pushed" and "code" in query
    assert urlsplit(r["Location"]).fragment == ""
    code = AuthorizationCode.objects.get()
    assert code.authorization.scope == "read"
    assert code.code_challenge != "A" * 43


@pytest.mark.req("9126-4-pushed-only")
def test_the_login_page_comes_back_with_the_request_uri_only(trusted, user):
    request_uri = pushed_uri(trusted, **request_params(trusted, state="pushed-state", scope="read"))
    r = HttpClient().get(AUTHORIZE, {"client_id": trusted.client_id, "request_uri": request_uri})
    assert r.status_code == 302
    location = r["Location"]
    assert "pushed-state" not in location and "code_challenge" not in location and "scope" not in location
    browser = HttpClient()
    browser.force_login(user)
    next_url = query_of(location)["next"]
    assert code_of(browser.get(next_url))


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_url_request_uri_is_never_fetched(trusted, browser):
    """A URL (or another server's URN) is not a request_uri here and is never fetched: the client
    is told request_uri_not_supported at the redirect URI the query proves (OIDC Core §6.2), as
    when PAR is off. A URN of our PAR endpoint that is unknown is an error page (RFC 9126 §4:
    the redirect URI is part of what failed)."""
    for value in ("https://127.0.0.1:1/request.jwt", "https://rp.example/request.jwt", "urn:other:x"):
        r = authorize(browser, trusted, value, state="s", redirect_uri=REDIRECT_URI)
        said = assert_error_redirect(r, REDIRECT_URI, "request_uri_not_supported", "s", ISSUER)
        assert "never fetched" in said["error_description"]
        # an unregistered redirect_uri beside it is no place to send even that error
        assert_error_page(authorize(browser, trusted, value, redirect_uri="https://evil.example/cb"))
    assert_error_page(authorize(browser, trusted, PREFIX + "guess", redirect_uri=REDIRECT_URI))
    assert minted() == 0


@pytest.mark.req("9126-4-require-par")
def test_a_client_that_requires_par_cannot_send_plain_requests(trusted, browser):
    trusted.require_pushed_authorization_requests = True
    trusted.save()
    params = request_params(trusted, state="s")
    r = browser.get(AUTHORIZE, params)
    query = assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", ISSUER)
    assert "PAR" in query["error_description"]
    assert minted() == 0
    assert code_of(authorize(browser, trusted, pushed_uri(trusted)))


@pytest.mark.req("9126-4-require-par")
def test_the_server_flag_applies_to_every_client_and_is_advertised(trusted, browser, public_client):
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=True)):
        assert HttpClient().get(METADATA).json()["require_pushed_authorization_requests"] is True
        for client in (trusted, public_client):
            r = browser.get(AUTHORIZE, request_params(client, state="s"))
            assert_error_redirect(r, client.redirect_uri_list[0], "invalid_request", "s", ISSUER)
        assert code_of(authorize(browser, trusted, pushed_uri(trusted)))


@pytest.mark.req("9126-7.4-policy-change")
def test_the_clients_policy_is_checked_again_when_the_request_uri_is_used(trusted, browser):
    request_uri = pushed_uri(trusted, **request_params(trusted, scope="write", state="s"))
    trusted.allowed_scopes = "read"
    trusted.save()
    r = authorize(browser, trusted, request_uri)
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", "s", ISSUER)
    request_uri = pushed_uri(trusted, **request_params(trusted, scope="read"))
    trusted.is_active = False
    trusted.save()
    assert_error_page(authorize(browser, trusted, request_uri))
    assert minted() == 0


def test_a_pushed_prompt_none_without_login_is_sent_back_to_the_pushed_redirect(trusted):
    request_uri = pushed_uri(trusted, **request_params(trusted, prompt="none", state="s", scope="openid read"))
    r = HttpClient().get(AUTHORIZE, {"client_id": trusted.client_id, "request_uri": request_uri})
    assert_error_redirect(r, REDIRECT_URI, "login_required", "s", ISSUER)


def test_a_pushed_resource_flows_through(trusted, browser, settings):
    target = "https://rs-a.example/"
    with override_settings(OAUTH_PROVIDER=oauth_settings(RESOURCES={target: {"name": "A", "scopes": ["read"]}})):
        request_uri = pushed_uri(trusted, **request_params(trusted, resource=[target]))
        assert code_of(authorize(browser, trusted, request_uri))
    assert AuthorizationCode.objects.get().authorization.resources == target


# -- 7523bis §5: the issuer is the only audience of a client assertion at PAR too -------------------------
@pytest.mark.req("7523bis-5-par-aud")
def test_a_client_assertion_for_the_par_url_is_refused_at_par():
    key = ec_key()
    client = ClientFactory(token_endpoint_auth_method="private_key_jwt",
                           jwks=json.dumps({"keys": [jwk_of(key, "k1")]}))

    def assertion(aud):
        now = int(time.time())
        return pyjwt.encode({"iss": client.client_id, "sub": client.client_id, "aud": aud, "iat": now,
                             "exp": now + 60, "jti": uuid.uuid4().hex}, key, algorithm="ES256", headers={"kid": "k1"})

    def send(aud):
        form = {**request_params(client), "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(aud)}
        return HttpClient().post(PAR, urlencode(form), content_type=FORM)

    for aud in (ISSUER + "/par/", [ISSUER], ISSUER + "/token/", ISSUER + "/"):
        assert_json_error(send(aud), "invalid_client", 401)
    assert send(ISSUER).status_code == 201


# -- budgets ------------------------------------------------------------------------------------------
def test_query_budgets_of_a_push_and_an_authorization_with_request_uri(trusted, conf_client, browser,
                                                                       assert_num_queries):
    """A push: the client, the INSERT (2 statements). An authorization with request_uri costs
    what the same plain authorization costs: the pushed row is read joined to its client,
    instead of the client alone; spending it when the code is issued adds 1 UPDATE. The plain
    authorization's budgets are unchanged (tests/endpoints/test_consent.py)."""
    with assert_num_queries(2):
        r = push(trusted, **request_params(trusted))
    request_uri = r.json()["request_uri"]
    browser.get(AUTHORIZE, request_params(trusted))  # warm-up: sessions, prepared statements
    with CaptureQueriesContext(connection) as plain:
        code_of(browser.get(AUTHORIZE, request_params(trusted)))
    with CaptureQueriesContext(connection) as pushed:
        code_of(authorize(browser, trusted, request_uri))
    assert len(real_queries(pushed)) == len(real_queries(plain)) + 1, real_queries(pushed)
    assert any(q.startswith("UPDATE") and "pushedauthorization" in q for q in real_queries(pushed))
    request_uri = pushed_uri(conf_client)
    with CaptureQueriesContext(connection) as plain_page:
        assert browser.get(AUTHORIZE, request_params(conf_client)).status_code == 200
    with CaptureQueriesContext(connection) as pushed_page:
        assert authorize(browser, conf_client, request_uri).status_code == 200
    assert len(real_queries(pushed_page)) == len(real_queries(plain_page)), real_queries(pushed_page)


# -- cleanup ---------------------------------------------------------------------------------------------
def test_cleartokens_deletes_expired_pushed_requests(conf_client):
    clock = FrozenClock()
    pushed_uri(conf_client)
    clock.advance(30)
    live = pushed_uri(conf_client)
    clock.advance(40)
    call_command("cleartokens", verbosity=0)
    assert list(PushedAuthorization.objects.values_list("request_uri_hash", flat=True)) == [hash_token(live)]
    assert PushedAuthorization.objects.dead(clock() + timedelta(seconds=60)).count() == 1


def test_many_request_uris_are_distinct(conf_client):
    uris = {pushed_uri(conf_client) for _ in range(200)}
    assert len(uris) == 200


def test_the_endpoint_is_not_behind_django_csrf(conf_client):
    """A server-to-server POST carries no CSRF token (like the token endpoint)."""
    http = HttpClient(enforce_csrf_checks=True)
    r = http.post(PAR, urlencode(request_params(conf_client)), content_type=FORM,
                  HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 201, r.content


def test_a_pushed_prompt_login_forces_one_fresh_login_and_keeps_the_request_pushed(trusted, user, signing_key):
    """OIDC prompt=login in a pushed request: the user is sent to log in and back with the
    request_uri and our login_after marker only; after a new login the code is issued."""
    from datetime import timedelta as delta

    from oauth_provider import secrets

    browser = HttpClient()
    browser.force_login(user)
    request_uri = pushed_uri(trusted, **request_params(trusted, scope="openid read", prompt="login", nonce="n"))
    base = secrets.now()
    secrets.set_clock(lambda: base + delta(seconds=5))
    r = authorize(browser, trusted, request_uri)
    assert r.status_code == 302 and "code=" not in r["Location"]
    back = urlsplit(query_of(r["Location"])["next"])
    back_params = query_of("?" + back.query)
    assert set(back_params) == {"client_id", "request_uri", "login_after"}
    secrets.set_clock(lambda: base + delta(seconds=10))
    browser.force_login(user)
    assert code_of(browser.get(back.path, back_params))


@pytest.mark.req("9126-4-pushed-only")
def test_a_pushed_login_hint_stays_off_the_front_channel_on_a_forced_login(trusted, user, signing_key):
    """A pushed request's parameters never travel through the browser (RFC 9126 §1: their
    confidentiality is what PAR is for): not the login_hint either, when the request forces a
    fresh login (it would land in the login page's URL, history and logs)."""
    browser = HttpClient()
    browser.force_login(user)
    request_uri = pushed_uri(trusted, **request_params(trusted, scope="openid read", prompt="login", nonce="n",
                                                         login_hint="alice.private@example.com"))
    r = authorize(browser, trusted, request_uri)
    assert r.status_code == 302 and urlsplit(r["Location"]).path == "/accounts/login/"
    assert "alice.private" not in r["Location"]


# -- DPoP at the PAR endpoint (RFC 9449 §10.1) --------------------------------------------------
def _redeem(client, code: str, verifier: str, key: DPoPKey | None):
    headers = {"HTTP_AUTHORIZATION": basic_auth(client.client_id, client.raw_secret)}
    if key is not None:
        headers["HTTP_DPOP"] = key.proof("POST", "https://testserver/o/token/")
    return HttpClient().post("/o/token/", urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
    }), content_type=FORM, **headers)


def _push_with_proof(client, key: DPoPKey | None, **params):
    verifier, challenge = pkce_pair()
    data = request_params(client, code_challenge=challenge, **params)
    extra = {"HTTP_DPOP": key.proof("POST", "https://testserver/o/par/")} if key is not None else {}
    r = HttpClient().post(PAR, urlencode(data), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret), **extra)
    return r, verifier


@pytest.mark.req("9449-10.1-par")
def test_a_dpop_proof_at_par_binds_the_code_to_its_key(trusted, browser):
    k1, k2 = DPoPKey("EC"), DPoPKey("OKP")
    pushed, verifier = _push_with_proof(trusted, k1)
    assert pushed.status_code == 201, pushed.content
    code = code_of(authorize(browser, trusted, pushed.json()["request_uri"]))
    assert AuthorizationCode.objects.get().dpop_jkt == k1.jkt
    # a thief with the code but another key, or none, gets nothing
    for key in (k2, None):
        refused = _redeem(trusted, code, verifier, key)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof", refused.content
    answer = _redeem(trusted, code, verifier, k1)
    assert answer.status_code == 200, answer.content
    assert answer.json()["token_type"] == "DPoP"


@pytest.mark.req("9449-10.1-par")
def test_dpop_jkt_and_a_proof_naming_another_key_are_refused_at_par(trusted):
    k1, k2 = DPoPKey("EC"), DPoPKey("EC")
    refused, _ = _push_with_proof(trusted, k2, dpop_jkt=k1.jkt)
    assert_json_error(refused, "invalid_dpop_proof")
    agreed, _ = _push_with_proof(trusted, k1, dpop_jkt=k1.jkt)
    assert agreed.status_code == 201, agreed.content
    assert PushedAuthorization.objects.count() == 1


@pytest.mark.req("9449-10.1-par")
def test_a_proof_for_another_endpoint_is_refused_at_par(trusted):
    key = DPoPKey("EC")
    verifier, challenge = pkce_pair()
    r = HttpClient().post(PAR, urlencode(request_params(trusted, code_challenge=challenge)), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(trusted.client_id, trusted.raw_secret),
                          HTTP_DPOP=key.proof("POST", "https://testserver/o/token/"))
    assert_json_error(r, "invalid_dpop_proof")
    assert not PushedAuthorization.objects.exists()


@pytest.mark.req("FAPI2-5.3.2.2-6-redirect-uri-in-par")
def test_under_fapi2_a_pushed_request_names_its_redirect_uri():
    client = fapi.fapi_client(redirect_uris=REDIRECT_URI)
    with override_oauth(PROFILE="fapi2", REQUIRE_DPOP=False):
        params = request_params(client, redirect_uri=None)
        assertion = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": fapi.assertion(client)}
        r = HttpClient().post(PAR, urlencode({**params, **assertion}), content_type=FORM)
        assert_json_error(r, "invalid_request")
        params = request_params(client)
        assertion = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": fapi.assertion(client)}
        ok = HttpClient().post(PAR, urlencode({**params, **assertion}), content_type=FORM)
        assert ok.status_code == 201, ok.content


@pytest.mark.req("9126-2-endpoint")
def test_a_public_clients_pushes_are_throttled_per_address_with_429(public_client, conf_client):
    """RFC 9126 §2.3 lets the endpoint answer 429 to a client sending too many requests. A
    public client proves only its client_id, so its pushes are counted per address
    (``PUBLIC_CLIENT_THROTTLE``): past the limit nothing is stored; another address and a
    confidential client (authenticated, accountable) still push."""
    with override_settings(OAUTH_PROVIDER=oauth_settings(PUBLIC_CLIENT_THROTTLE={"requests": 2, "window": 60})):
        pushed_uri(public_client)
        pushed_uri(public_client)
        refused = push(public_client)
        assert_json_error(refused, "invalid_request", 429)
        assert refused["Retry-After"] == "60"
        assert PushedAuthorization.objects.count() == 2
        assert push(public_client, HttpClient(REMOTE_ADDR="192.0.2.9")).status_code == 201
        assert push(conf_client).status_code == 201
    assert PushedAuthorization.objects.count() == 4


def test_a_pushed_prompt_login_request_is_approved_on_the_consent_page_after_one_login(conf_client, user, signing_key):
    """PAR + prompt=login + a consent page: the consent form must carry our login_after
    marker (request_objects.front_channel), or the approval sends the user to log in again."""
    from datetime import timedelta as delta
    from urllib.parse import urlsplit

    from django.test import Client as HttpClient

    from oauth_provider import secrets
    from tests.support.par_helpers import AUTHORIZE as PAR_AUTHORIZE
    from tests.support.par_helpers import pushed_uri, request_params

    from ..conftest import query_of

    browser = HttpClient()
    browser.force_login(user)
    request_uri = pushed_uri(conf_client, **request_params(conf_client, scope="openid read", prompt="login", nonce="n"))
    base = secrets.now()
    secrets.set_clock(lambda: base + delta(seconds=5))
    r = browser.get(PAR_AUTHORIZE, {"client_id": conf_client.client_id, "request_uri": request_uri})
    assert r.status_code == 302 and "code=" not in r["Location"]
    back = urlsplit(query_of(r["Location"])["next"])
    secrets.set_clock(lambda: base + delta(seconds=10))
    browser.force_login(user)
    page = browser.get(back.path, query_of("?" + back.query))
    assert page.status_code == 200  # the consent page
    r = browser.post(PAR_AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert r.status_code == 302
    assert "code" in query_of(r["Location"]), r["Location"]


def test_a_client_authenticated_by_http_basic_may_leave_client_id_out_of_its_push(conf_client):
    """RFC 9126 §2.1: the client is who authenticated; request_objects.push sets client_id."""
    from tests.support.par_helpers import push, request_params

    r = push(conf_client, **request_params(conf_client, client_id=None))
    assert r.status_code == 201, r.content


# -- outside review, session 17 ------------------------------------------------------------------

@pytest.mark.req("9126-4-pushed-only")
def test_a_login_hint_added_to_the_query_never_reaches_the_login_page(trusted):
    request_uri = pushed_uri(trusted)
    r = HttpClient().get(AUTHORIZE, {"client_id": trusted.client_id, "request_uri": request_uri,
                                     "login_hint": "mallory@evil.example"})
    assert r.status_code == 302
    assert "login_hint" not in query_of(r["Location"])


@pytest.mark.req("9126-4-pushed-only")
def test_a_pushed_login_hint_stays_off_the_front_channel_for_a_user_not_logged_in(trusted):
    """Not only on a forced login: a browser that is not logged in yet goes to the login page
    without the pushed ``login_hint`` (an e-mail address, typically) in its URL."""
    request_uri = pushed_uri(trusted, **request_params(trusted, login_hint="alice.private@example.com"))
    r = HttpClient().get(AUTHORIZE, {"client_id": trusted.client_id, "request_uri": request_uri})
    assert r.status_code == 302 and urlsplit(r["Location"]).path == "/accounts/login/"
    assert "alice.private" not in r["Location"] and "login_hint" not in query_of(r["Location"])


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_spent_request_uri_is_refused_before_any_consent_page(conf_client, browser):
    request_uri = pushed_uri(conf_client)
    page = authorize(browser, conf_client, request_uri)
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert "code" in query_of(r["Location"])
    r = authorize(browser, conf_client, request_uri)
    assert_error_page(r)
    assert b"already used" in r.content


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_declined_request_uri_cannot_be_brought_back_for_approval(conf_client, browser):
    """RFC 9126 §2.2 (SHOULD one-time use): the user declines; the same link, sent to them again
    (or opened by whoever copied it), must not get a second chance at a consent page."""
    request_uri = pushed_uri(conf_client)
    page = authorize(browser, conf_client, request_uri)
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode())})  # no "allow"
    assert assert_redirect_to(r, REDIRECT_URI)["error"] == "access_denied"
    again = authorize(browser, conf_client, request_uri)
    assert_error_page(again)
    assert b"already used" in again.content
    # the consent form of the first visit, left open in another tab, is spent with it
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert "code" not in query_of(r.get("Location", "")) and AuthorizationCode.objects.count() == 0


@pytest.mark.req("9126-4-one-time-expiry")
def test_a_request_uri_answered_with_an_error_is_spent(conf_client, user):
    """``prompt=none`` for a user who is not logged in: the client is told ``login_required``
    and must push again; the request_uri it had does not wait for a login."""
    request_uri = pushed_uri(conf_client, **request_params(conf_client, prompt="none"))
    anonymous = HttpClient()
    assert assert_redirect_to(authorize(anonymous, conf_client, request_uri), REDIRECT_URI)["error"] == "login_required"
    anonymous.force_login(user)
    r = authorize(anonymous, conf_client, request_uri)
    assert_error_page(r)
    assert b"already used" in r.content


def test_an_error_page_before_the_client_is_known_spends_nothing(conf_client, browser):
    """Only an answer to the client spends the request_uri: a request refused before the
    client is established (an unknown client_id beside it) leaves it for the real client."""
    request_uri = pushed_uri(conf_client)
    assert_error_page(browser.get(AUTHORIZE, {"client_id": "no-such-client", "request_uri": request_uri}))
    assert authorize(browser, conf_client, request_uri).status_code == 200  # its consent page


@pytest.mark.req("9101-4-no-nesting")
def test_request_with_a_live_request_uri_is_refused(trusted, browser):
    from tests.support.par_helpers import keyed_client, request_object

    client = keyed_client(skip_consent=True)
    request_uri = pushed_uri(client)
    r = browser.get(AUTHORIZE, {"client_id": client.client_id, "request_uri": request_uri,
                                "request": request_object(client)})
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("9126-7.4-policy-change")
def test_a_plain_push_does_not_pass_for_signed_once_the_client_requires_signed_requests(trusted, browser):
    request_uri = pushed_uri(trusted, **request_params(trusted, state="s"))
    trusted.require_signed_request_object = True
    trusted.save()
    assert_error_redirect(authorize(browser, trusted, request_uri), REDIRECT_URI, "invalid_request", "s", ISSUER)
    assert minted() == 0

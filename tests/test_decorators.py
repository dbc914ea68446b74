"""Plain Django protection: ``protected_resource``, ``ProtectedResourceMixin`` and the
``OAuth2TokenMiddleware``. Views: tests/support/resource_views.py (``/api/plain/``, ``/api/mixin/``,
``/api/probe/``)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization
from tests.support.resource_helpers import (
    assert_challenge,
    bearer,
    client_token,
    expired,
    provider_settings,
    user_token,
)

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"
WITH_MIDDLEWARE = [*settings.MIDDLEWARE, "oauth_provider.middleware.OAuth2TokenMiddleware"]


@pytest.fixture
def api():
    # enforce_csrf_checks: proves the protected views are CSRF-exempt for bearer clients
    return HttpClient(enforce_csrf_checks=True)


@pytest.fixture
def token(conf_client, user):
    return user_token(conf_client, user, scope="read write")


# -- the decorator ----------------------------------------------------------------------------
def test_decorator_good_token(api, token, conf_client, assert_num_queries):
    with assert_num_queries(1):
        r = api.get("/api/plain/", **bearer(token[0]))
    assert r.status_code == 200
    assert r.json() == {"user": "alice", "client_id": conf_client.client_id, "method": "GET"}


def test_decorator_post_without_csrf_token(api, token):
    r = api.post("/api/plain/", **bearer(token[0]))
    assert r.status_code == 200 and r.json()["method"] == "POST"


@pytest.mark.req("6750-3-challenges")
def test_decorator_no_token(api):
    r = api.get("/api/plain/")
    assert_challenge(r, 401, None, scope="read")
    assert r.json() == {}


@pytest.mark.req("6750-3-challenges")
@pytest.mark.req("DERIVED-revocation-visible")
@pytest.mark.parametrize("state", ["garbage", "malformed", "expired", "revoked", "family_revoked"])
def test_decorator_bad_tokens(api, conf_client, user, state, assert_max_queries):
    raw, row = user_token(conf_client, user)
    if state == "garbage":
        raw = "x" * 43
    elif state == "malformed":
        raw = "not/a token!"
    elif state == "expired":
        AccessToken.objects.filter(pk=row.pk).update(**expired())
    elif state == "revoked":
        AccessToken.objects.filter(pk=row.pk).update(revoked_at=secrets.now())
    else:
        Authorization.objects.filter(pk=row.authorization_id).revoke()
    with assert_max_queries(1):
        r = api.get("/api/plain/", **bearer(raw))
    assert_challenge(r, 401, "invalid_token")
    assert r.json()["error"] == "invalid_token"
    assert r["Cache-Control"] == "no-store"


@pytest.mark.req("6750-3-challenges")
def test_decorator_wrong_scope(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="write")
    r = api.get("/api/plain/", **bearer(raw))
    assert_challenge(r, 403, "insufficient_scope", scope="read")
    assert r.json()["error"] == "insufficient_scope"


@pytest.mark.req("O21-5.1-no-query-token")
def test_decorator_ignores_query_token(api, token):
    r = api.get("/api/plain/?" + urlencode({"access_token": token[0]}))
    assert_challenge(r, 401, None)


@pytest.mark.req("6750-2-one-method")
def test_decorator_header_and_body(api, token):
    raw = token[0]
    r = api.post("/api/plain/", urlencode({"access_token": raw}), content_type=FORM, **bearer(raw))
    assert_challenge(r, 400, "invalid_request")


def test_decorator_body_token_when_enabled(api, token):
    raw = token[0]
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        r = api.post("/api/plain/", urlencode({"access_token": raw}), content_type=FORM)
    assert r.status_code == 200 and r.json()["user"] == "alice"


def test_decorator_client_credentials_token(api, conf_client):
    raw, _ = client_token(conf_client, scope="read")
    r = api.get("/api/plain/", **bearer(raw))
    assert r.status_code == 200
    assert r.json() == {"user": "anonymous", "client_id": conf_client.client_id, "method": "GET"}


def test_bare_decorator_needs_a_token_but_no_scope(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="profile")
    assert api.get("/api/plain-any/", **bearer(raw)).status_code == 200
    assert_challenge(api.get("/api/plain-any/"), 401, None)


def test_decorator_keeps_the_view_name():
    from tests.support.resource_views import plain_read

    assert plain_read.__name__ == "_plain" and plain_read.csrf_exempt is True


def test_one_scope_given_as_a_string_is_that_scope_not_its_letters(rf, conf_client, user):
    """``protected_resource("read")`` and ``required_scopes = "read"`` name the scope read, as
    for the DRF and Ninja classes; read as the letters r, e, a, d they refused every token."""
    from django.http import HttpResponse
    from django.views import View

    from oauth_provider.decorators import ProtectedResourceMixin, protected_resource

    @protected_resource("read")
    def view(request):
        return HttpResponse("ok")

    class Mixin(ProtectedResourceMixin, View):
        required_scopes = "read"

        def get(self, request):
            return HttpResponse("ok")

    read, _ = user_token(conf_client, user, scope="read")
    other, _ = user_token(conf_client, user, scope="write")
    for protected in (view, Mixin.as_view()):
        assert protected(rf.get("/", **bearer(read))).status_code == 200
        denied = protected(rf.get("/", **bearer(other)))
        assert denied.status_code == 403 and 'scope="read"' in denied["WWW-Authenticate"]


# -- the mixin --------------------------------------------------------------------------------
def test_mixin(api, conf_client, user):
    write, _ = user_token(conf_client, user, scope="write")
    read, _ = user_token(conf_client, user, scope="read")
    r = api.post("/api/mixin/", **bearer(write))
    assert r.status_code == 200 and r.json()["user"] == "alice"
    assert_challenge(api.get("/api/mixin/", **bearer(read)), 403, "insufficient_scope", scope="write")
    assert_challenge(api.get("/api/mixin/", **bearer("y" * 43)), 401, "invalid_token")
    assert_challenge(api.get("/api/mixin/"), 401, None, scope="write")


# -- the middleware ----------------------------------------------------------------------------
@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_middleware_sets_the_token(api, token, assert_num_queries):
    with assert_num_queries(1):
        r = api.get("/api/probe/", **bearer(token[0]))
    assert r.json() == {"token": True, "user": "alice", "is_none": False}


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_middleware_without_a_token_costs_nothing(api, assert_num_queries):
    with assert_num_queries(0):
        r = api.get("/api/probe/")
    assert r.json() == {"token": False, "user": None, "is_none": True}


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_middleware_never_answers_by_itself(api, conf_client, user):
    raw, row = user_token(conf_client, user)
    AccessToken.objects.filter(pk=row.pk).update(revoked_at=secrets.now())
    r = api.get("/api/probe/", **bearer(raw))
    assert r.status_code == 200 and r.json()["token"] is False
    # header + body: still not the middleware's business
    r = HttpClient().post("/api/probe/", urlencode({"access_token": raw}), content_type=FORM, **bearer(raw))
    assert r.status_code == 200 and r.json()["token"] is False


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_middleware_and_decorator_validate_once(api, token, assert_num_queries):
    with assert_num_queries(1):
        r = api.get("/api/plain/", **bearer(token[0]))
    assert r.status_code == 200


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_middleware_is_lazy(api, token, assert_num_queries):
    """A view that never looks at the token costs no query for it. (The metadata document
    asks the database once which opt-in grants clients use, then keeps the answer: asked here
    first so that only the token could cost a query.)"""
    api.get("/o/.well-known/oauth-authorization-server")
    with assert_num_queries(0):
        r = api.get("/o/.well-known/oauth-authorization-server", **bearer(token[0]))
    assert r.status_code == 200


def test_the_mixin_after_the_view_among_the_bases_is_refused_at_import():
    """``class V(View, ProtectedResourceMixin)``: View.dispatch ran first, the token check never
    did, and a request without a token reached the view (failing open; outside review R3)."""
    from django.core.exceptions import ImproperlyConfigured
    from django.views import View

    from oauth_provider.decorators import ProtectedResourceMixin

    with pytest.raises(ImproperlyConfigured, match="put ProtectedResourceMixin before View"):
        type("Second", (View, ProtectedResourceMixin), {})

    class Own(View):
        def dispatch(self, request, *args, **kwargs):
            return super().dispatch(request, *args, **kwargs)

    with pytest.raises(ImproperlyConfigured):
        type("AfterOwn", (Own, ProtectedResourceMixin), {})

    class First(ProtectedResourceMixin, View):
        required_scopes = ["read"]

    class Refined(First):  # a subclass of a correct view, its own dispatch calling super(): fine
        def dispatch(self, request, *args, **kwargs):
            return super().dispatch(request, *args, **kwargs)

    assert Refined.dispatch is not View.dispatch

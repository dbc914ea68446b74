"""The adapter's subject and claims hooks receive the client (issue 13 item 1), and a host's
override written before they did keeps working, with a DeprecationWarning."""

from __future__ import annotations

import warnings

import pytest

from oauth_provider import adapter as adapter_module
from oauth_provider import jwt
from oauth_provider.adapter import DefaultAdapter, accepts_client, claims_for, subject_for
from tests.support.factories import ClientFactory
from tests.support.settings import override_oauth

from .conftest import basic_auth

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"


class PerClientAdapter(DefaultAdapter):
    """Different subjects and claims per client: what the hooks' new argument makes possible."""

    def get_subject(self, user, *, client=None):
        return f"{client.client_id if client else '-'}:{user.pk}"

    def get_user_by_subject(self, subject):
        return super().get_user_by_subject(subject.rpartition(":")[2])

    def user_claims(self, user, *, client=None):
        return {**super().user_claims(user, client=client), "name": f"{user.username} at {client.name}"}


class LegacyAdapter(DefaultAdapter):
    """An override from before the hooks took the client."""

    def get_subject(self, user):
        return f"legacy-{user.pk}"

    def user_claims(self, user):
        return {"name": "Legacy"}


class KwargsAdapter(DefaultAdapter):
    def get_subject(self, user, **kwargs):
        return f"{kwargs['client'].client_id}/{user.pk}"


@pytest.fixture(autouse=True)
def _fresh_signature_cache():
    adapter_module._accepts_client_cache.clear()
    yield
    adapter_module._accepts_client_cache.clear()


def test_the_default_hooks_take_the_client_and_ignore_it(user):
    client = ClientFactory()
    assert subject_for(user, client, policy=DefaultAdapter()) == str(user.pk)
    assert claims_for(user, client, policy=DefaultAdapter())["preferred_username"] == user.username


def test_every_token_and_answer_carries_the_per_client_subject(oauth, user, signing_key):
    one, two = ClientFactory(name="One"), ClientFactory(name="Two")
    with override_oauth(ADAPTER="tests.test_adapter_client_hooks.PerClientAdapter", ACCESS_TOKEN_FORMAT="opaque"):
        for client in (one, two):
            body = oauth.tokens(client, scope="openid profile")
            id_token = jwt.decode(body["id_token"], typ=None, issuer=ISS)
            assert id_token["sub"] == f"{client.client_id}:{user.pk}"
            assert id_token["name"] == f"{user.username} at {client.name}"
            info = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
            assert info["sub"] == id_token["sub"] and info["name"] == id_token["name"]
            introspected = oauth.api.post("/o/introspect/", {"token": body["access_token"]},
                                          HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret)).json()
            assert introspected["sub"] == id_token["sub"]
    with override_oauth(ADAPTER="tests.test_adapter_client_hooks.PerClientAdapter", ACCESS_TOKEN_FORMAT="jwt"):
        body = oauth.tokens(one, scope="read")
        assert jwt.decode(body["access_token"], typ="at+jwt", issuer=ISS)["sub"] == f"{one.client_id}:{user.pk}"


def test_a_legacy_override_still_works_and_is_warned_about_once(oauth, user, signing_key):
    client = ClientFactory()
    with override_oauth(ADAPTER="tests.test_adapter_client_hooks.LegacyAdapter"), \
            pytest.warns(DeprecationWarning, match=r"LegacyAdapter\.get_subject\(\) does not accept"):
        body = oauth.tokens(client, scope="openid profile")
    id_token = jwt.decode(body["id_token"], typ=None, issuer=ISS)
    assert id_token["sub"] == f"legacy-{user.pk}" and id_token["name"] == "Legacy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decided once per class: no second warning
        assert subject_for(user, client, policy=LegacyAdapter()) == f"legacy-{user.pk}"


def test_an_override_taking_kwargs_gets_the_client(user):
    client = ClientFactory()
    assert accepts_client(KwargsAdapter(), "get_subject")
    assert subject_for(user, client, policy=KwargsAdapter()) == f"{client.client_id}/{user.pk}"

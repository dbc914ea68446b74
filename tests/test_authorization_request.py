"""Unit tests of ``oauth_provider.authorization_request``: each check of :data:`CHECKS` on its
own (one passing case, each way it fails, with the protocol error it must raise), the order of
the checks, and :func:`establish_client`, whose errors are never redirected."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.test import override_settings

from oauth_provider import authorization_request as ar
from oauth_provider import errors
from tests.support.factories import ClientFactory, PublicClientFactory

from .support.settings import oauth_settings

pytestmark = pytest.mark.django_db

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 Appendix B


def q(**params: str | list[str]) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in params.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return data


def request_for(client=None, **params: str) -> tuple[ar.AuthorizationRequest, QueryDict]:
    """An established request (client and redirect URI verified) with ``params`` flattened."""
    client = client or ClientFactory()
    data = q(client_id=client.client_id, **params)
    req = ar.AuthorizationRequest(client=client, redirect_uri=client.redirect_uri_list[0],
                                  redirect_uri_sent="", state=None)
    ar.check_params(req, data)
    return req, data


# -- establish_client: every error is shown, never redirected --------------------------------------
def test_establish_client_accepts_a_registered_redirect_uri():
    client = ClientFactory()
    req = ar.establish_client(q(client_id=client.client_id, redirect_uri=client.redirect_uri_list[0], state="s"))
    assert req.client == client and req.redirect_uri == client.redirect_uri_list[0] and req.state == "s"


@pytest.mark.parametrize("params", [
    {},  # no client_id
    {"client_id": "nobody"},
    {"client_id": "x" * 101},
    {"client_id": "a\x00b"},
    {"client_id": ["a", "b"]},
])
def test_establish_client_refuses_an_unknown_or_malformed_client(params):
    with pytest.raises(errors.UntrustedRedirect) as caught:
        ar.establish_client(q(**params))
    assert caught.value.redirectable is False


def test_establish_client_refuses_an_inactive_client():
    client = ClientFactory(is_active=False)
    with pytest.raises(errors.UntrustedRedirect):
        ar.establish_client(q(client_id=client.client_id))


@pytest.mark.parametrize("sent", [
    "https://rp.example/cb/", "https://rp.example/cb?x=1", "https://RP.example/cb", "https://evil.example/cb",
    "https://rp.example/cb#f",
])
def test_establish_client_refuses_any_redirect_uri_not_registered_character_for_character(sent):
    client = ClientFactory()
    with pytest.raises(errors.UntrustedRedirect):
        ar.establish_client(q(client_id=client.client_id, redirect_uri=sent))


def test_establish_client_needs_redirect_uri_with_several_registered_or_with_openid():
    several = ClientFactory(redirect_uris="https://rp.example/a https://rp.example/b")
    with pytest.raises(errors.UntrustedRedirect):
        ar.establish_client(q(client_id=several.client_id))
    single = ClientFactory()
    assert ar.establish_client(q(client_id=single.client_id)).redirect_uri == single.redirect_uri_list[0]
    with pytest.raises(errors.UntrustedRedirect):
        ar.establish_client(q(client_id=single.client_id, scope="openid"))


def test_establish_client_never_echoes_a_hostile_state():
    client = ClientFactory()
    assert ar.establish_client(q(client_id=client.client_id, state=["a", "b"])).state is None
    assert ar.establish_client(q(client_id=client.client_id, state="a\x00")).state is None


# -- each check ---------------------------------------------------------------------------------------
def test_check_params_refuses_a_repeated_parameter():
    client = ClientFactory()
    req = ar.AuthorizationRequest(client=client, redirect_uri="x", redirect_uri_sent="", state=None)
    with pytest.raises(errors.InvalidRequest):
        ar.check_params(req, q(client_id=client.client_id, scope=["read", "write"]))


@pytest.mark.parametrize(("param", "error"), [
    ("request", errors.RequestNotSupported),
    ("request_uri", errors.RequestUriNotSupported),
    ("registration", errors.RegistrationNotSupported),
])
def test_check_unsupported_names_what_is_not_supported(param, error):
    req, data = request_for(**{param: "x"})
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUEST_OBJECTS=False, PUSHED_AUTHORIZATION_REQUESTS=False)):
        with pytest.raises(error):
            ar.check_unsupported(req, data)
    req, data = request_for()
    ar.check_unsupported(req, data)


def test_check_grant_allowed_refuses_a_client_without_the_code_grant():
    req, data = request_for(ClientFactory(grant_types="client_credentials"))
    with pytest.raises(errors.UnauthorizedClient):
        ar.check_grant_allowed(req, data)
    req, data = request_for()
    ar.check_grant_allowed(req, data)


@pytest.mark.parametrize(("params", "error"), [
    ({}, errors.InvalidRequest),
    ({"response_type": "token"}, errors.UnsupportedResponseType),
    ({"response_type": "code token"}, errors.UnsupportedResponseType),
    ({"response_type": "code", "response_mode": "fragment"}, errors.InvalidRequest),
])
def test_check_response_type_allows_code_only(params, error):
    req, data = request_for(**params)
    with pytest.raises(error):
        ar.check_response_type(req, data)


def test_check_response_type_passes_code_with_query_mode():
    req, data = request_for(response_type="code", response_mode="query")
    ar.check_response_type(req, data)


@pytest.mark.parametrize("params", [
    {},
    {"code_challenge": CHALLENGE},  # no method: RFC 7636 reads it as plain
    {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
    {"code_challenge": CHALLENGE[:-1], "code_challenge_method": "S256"},
    {"code_challenge": CHALLENGE[:-1] + "=", "code_challenge_method": "S256"},
])
def test_check_pkce_requires_a_well_formed_s256_challenge(params):
    req, data = request_for(**params)
    with pytest.raises(errors.InvalidRequest):
        ar.check_pkce(req, data)


def test_check_pkce_passes_s256():
    req, data = request_for(code_challenge=CHALLENGE, code_challenge_method="S256")
    ar.check_pkce(req, data)


@pytest.mark.parametrize("prompt", ["bogus", "none login", "none consent"])
def test_check_prompt_refuses_unknown_values_and_none_with_others(prompt):
    req, data = request_for(prompt=prompt)
    with pytest.raises(errors.InvalidRequest):
        ar.check_prompt(req, data)


def test_check_prompt_keeps_the_values():
    req, data = request_for(prompt="login consent")
    ar.check_prompt(req, data)
    assert req.prompt == {"login", "consent"}


def test_check_scope_refuses_unknown_and_disallowed_scopes():
    req, data = request_for(scope="read nonsense")
    with pytest.raises(errors.InvalidScope):
        ar.check_scope(req, data)
    req, data = request_for(ClientFactory(allowed_scopes="read"), scope="write")
    with pytest.raises(errors.InvalidScope):
        ar.check_scope(req, data)
    req, data = request_for(scope="read write")
    ar.check_scope(req, data)
    assert set(req.scopes) == {"read", "write"}


@pytest.mark.parametrize("max_age", ["-1", "1.5", "²", "١", "12345678901", " 1"])
def test_check_openid_refuses_a_max_age_that_is_not_ascii_digits(max_age):
    req, data = request_for(scope="openid", max_age=max_age)
    req.scopes = ("openid",)
    with pytest.raises(errors.InvalidRequest):
        ar.check_openid(req, data)


def test_check_openid_reads_max_age_and_ignores_oidc_parameters_without_openid():
    req, data = request_for(max_age="0")
    req.scopes = ("openid",)
    ar.check_openid(req, data)
    assert req.openid and req.max_age == 0
    req, data = request_for(max_age="junk", id_token_hint="junk")
    req.scopes = ("read",)
    ar.check_openid(req, data)  # plain OAuth: these parameters mean nothing
    assert not req.openid and req.max_age is None


def test_check_openid_refuses_an_id_token_hint_not_issued_here():
    req, data = request_for(id_token_hint="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    req.scopes = ("openid",)
    with pytest.raises(errors.InvalidRequest):
        ar.check_openid(req, data)


def test_check_openid_is_off_when_oidc_is_disabled():
    with override_settings(OAUTH_PROVIDER=oauth_settings(OIDC_ENABLED=False)):
        req, data = request_for(max_age="junk")
        req.scopes = ("openid",)
        ar.check_openid(req, data)
        assert not req.openid


# -- the order -------------------------------------------------------------------------------------
def test_checks_run_in_the_documented_order():
    assert [check.__name__ for check in ar.CHECKS] == [
        "check_params", "check_unsupported", "check_request_channel", "check_grant_allowed", "check_client_method",
        "check_response_type", "check_pkce", "check_dpop_jkt", "check_prompt", "check_resource", "check_scope",
        "check_openid",
    ]


def test_the_first_failing_check_decides_the_error():
    client = PublicClientFactory()
    data = q(client_id=client.client_id, response_type="token", scope="nonsense")
    req = ar.AuthorizationRequest(client=client, redirect_uri=client.redirect_uri_list[0],
                                  redirect_uri_sent="", state=None)
    with pytest.raises(errors.UnsupportedResponseType):
        ar.validate(req, data)


# -- consent ----------------------------------------------------------------------------------------
def _consent_request(client, scopes=("read",), prompt=frozenset()):
    req = ar.AuthorizationRequest(client=client, redirect_uri=client.redirect_uri_list[0],
                                  redirect_uri_sent="", state=None)
    req.scopes, req.prompt = tuple(scopes), frozenset(prompt)
    return req


def test_consent_needed_without_a_remembered_decision(rf):
    from tests.support.factories import UserFactory

    assert ar.consent_needed(rf.get("/"), _consent_request(ClientFactory()), UserFactory())


def test_consent_not_needed_while_a_remembered_decision_covers_the_request(rf):
    from tests.support.factories import ConsentFactory

    consent = ConsentFactory(scope="read write")
    assert not ar.consent_needed(rf.get("/"), _consent_request(consent.client, ("read",)), consent.user)
    assert ar.consent_needed(rf.get("/"), _consent_request(consent.client, ("read", "profile")), consent.user)
    assert ar.consent_needed(rf.get("/"), _consent_request(consent.client, ("read",), {"consent"}), consent.user)


def test_a_public_client_always_needs_consent_even_flagged_or_remembered(rf):
    from oauth_provider.models import get_client_model
    from tests.support.factories import ConsentFactory

    client = PublicClientFactory()
    get_client_model().objects.filter(pk=client.pk).update(skip_consent=False)
    consent = ConsentFactory(client=client, scope="read")
    client.skip_consent = True  # as a row written around the model's rules would say
    assert ar.consent_needed(rf.get("/"), _consent_request(client), consent.user)


def test_granted_scopes_drop_unticked_optional_ones_and_never_add():
    with override_settings(OAUTH_PROVIDER=oauth_settings(OPTIONAL_SCOPES=["profile"])):
        req = _consent_request(ClientFactory(), ("read", "profile"))
        assert ar.granted_scopes(req, []) == ("read",)
        assert ar.granted_scopes(req, ["profile", "write"]) == ("read", "profile")
        only_optional = _consent_request(ClientFactory(), ("profile",))
        with pytest.raises(errors.AccessDenied):
            ar.granted_scopes(only_optional, [])


def test_record_decision_remembers_only_when_asked_and_forgets_on_denial():
    from oauth_provider.models import Consent
    from tests.support.factories import UserFactory

    client, user = ClientFactory(), UserFactory()
    req = _consent_request(client, ("read", "write"))
    ar.record_decision(req, user, ("read",), remember=True)
    assert Consent.objects.get(user=user, client=client).scope == "read"
    ar.record_decision(req, user, ("read", "write"), remember=False)
    assert not Consent.objects.filter(user=user, client=client).exists()
    ar.record_decision(req, user, ("read", "write"), remember=True)
    ar.record_decision(req, user, None, remember=True)  # denied
    assert not Consent.objects.filter(user=user, client=client).exists()
    public = PublicClientFactory()
    ar.record_decision(_consent_request(public), user, ("read",), remember=True)
    assert not Consent.objects.filter(client=public).exists()

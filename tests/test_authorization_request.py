"""Unit tests of ``oauth_provider.authorization_request``: each check of :data:`CHECKS` on its
own (one passing case, each way it fails, with the protocol error it must raise), the order of
the checks, and :func:`establish_client`, whose errors are never redirected."""

from __future__ import annotations

import time

import pytest
from django.http import QueryDict
from django.test import override_settings

from oauth_provider import authorization_request as ar
from oauth_provider import errors, jwt, redirect_uris
from oauth_provider.conf import DEFAULTS, provider_settings
from oauth_provider.issuer import get_issuer
from oauth_provider.models.store import CLIENT_ID_MAX_LENGTH
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


def test_establish_client_uses_the_client_already_loaded_only_when_it_is_the_one_named(django_assert_num_queries):
    """The PAR endpoint and a pushed or signed request hand over the client they already hold:
    used as it is, without a second lookup, when ``client_id`` names it; a ``client_id`` naming
    another client is looked up, so the request is never taken for the held client's."""
    held = ClientFactory(client_id="m-client")
    with django_assert_num_queries(0):
        req = ar.establish_client(q(client_id=held.client_id), client=held)
        assert req.client is held
        req = ar.establish_client(q(client_id="".join(["m-", "client"])), client=held)  # equal, not the same object
        assert req.client is held
    for other in (ClientFactory(client_id="a-client"), ClientFactory(client_id="z-client")):  # either side of it
        req = ar.establish_client(q(client_id=other.client_id), client=held)
        assert req.client == other and req.client.pk != held.pk


def test_establish_client_shows_an_error_page_for_a_client_with_no_redirect_uri():
    """A client registered without redirect URIs (client credentials only) named at the
    authorization endpoint: an error page (RFC 6749 §4.1.2.1), never a crash."""
    client = ClientFactory(redirect_uris="", grant_types="client_credentials")
    assert client.redirect_uri_list == []
    with pytest.raises(errors.UntrustedRedirect, match="redirect_uri parameter is required"):
        ar.establish_client(q(client_id=client.client_id))


def test_establish_client_accepts_a_redirect_uri_of_the_longest_registrable_length():
    """A redirect URI may be registered up to ``redirect_uris.MAX_LENGTH`` characters; one of
    exactly that length is usable, one character more is refused before any lookup."""
    longest = "https://rp.example/" + "a" * (redirect_uris.MAX_LENGTH - len("https://rp.example/"))
    client = ClientFactory(redirect_uris=longest)
    assert ar.establish_client(q(client_id=client.client_id, redirect_uri=longest)).redirect_uri == longest
    with pytest.raises(errors.UntrustedRedirect, match="too long"):
        ar.establish_client(q(client_id=client.client_id, redirect_uri=longest + "a"))


def test_establish_client_accepts_a_client_id_of_the_columns_length():
    """A ``client_id`` may be 255 characters (the column); 256 is refused before any lookup."""
    client = ClientFactory(client_id="c" * CLIENT_ID_MAX_LENGTH)
    assert ar.establish_client(q(client_id="c" * CLIENT_ID_MAX_LENGTH)).client == client
    with pytest.raises(errors.UntrustedRedirect, match="too long"):
        ar.establish_client(q(client_id="c" * (CLIENT_ID_MAX_LENGTH + 1)))


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_establish_client_holds_client_id_and_redirect_uri_to_the_parameter_limit(name):
    """``MAX_PARAMETER_LENGTH`` bounds ``client_id`` and ``redirect_uri`` too, before any lookup
    (OAuth 2.1 §7.12): with a limit below their own maximum lengths, a value of exactly the
    limit is used, one character more is an error page, even when it is registered."""
    uri = "https://rp.example/" + "a" * (100 - len("https://rp.example/"))
    values = {"client_id": ("c" * 100, "c" * 101), "redirect_uri": (uri, uri + "a")}[name]
    field = {"client_id": "client_id", "redirect_uri": "redirect_uris"}[name]
    fits, over = (ClientFactory(**{field: value}) for value in values)
    with override_settings(OAUTH_PROVIDER=oauth_settings(MAX_PARAMETER_LENGTH=100)):
        for client, value in ((fits, values[0]), (over, values[1])):
            data = q(client_id=client.client_id, redirect_uri=client.redirect_uri_list[0])
            if client is fits:
                assert ar.establish_client(data).client == fits
            else:
                with pytest.raises(errors.UntrustedRedirect, match=f"The {name} parameter is malformed"):
                    ar.establish_client(data)
            assert data[name] == value
        # a NUL, however short the value (PostgreSQL refuses it in a query: a 500)
        data = q(client_id=fits.client_id, redirect_uri=fits.redirect_uri_list[0])
        data[name] = data[name][:10] + "\x00"
        with pytest.raises(errors.UntrustedRedirect, match=f"The {name} parameter is malformed"):
            ar.establish_client(data)


def test_establish_client_echoes_a_state_up_to_the_parameter_limit_and_no_longer():
    """OAuth 2.1 §7.12: a ``state`` longer than ``MAX_PARAMETER_LENGTH`` is hostile input and
    is never reflected in the error redirect; one of exactly that length is a state."""
    client = ClientFactory()
    limit = provider_settings.MAX_PARAMETER_LENGTH
    assert ar.establish_client(q(client_id=client.client_id, state="s" * limit)).state == "s" * limit
    assert ar.establish_client(q(client_id=client.client_id, state="s" * (limit + 1))).state is None


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
    # modes sorting after "query" too: only the query string carries the code here
    ({"response_type": "code", "response_mode": "query.jwt"}, errors.InvalidRequest),
    ({"response_type": "code", "response_mode": "web_message"}, errors.InvalidRequest),
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


def test_check_dpop_jkt_takes_a_thumbprint_and_refuses_anything_else():
    """RFC 9449 §10: ``dpop_jkt`` is the base64url SHA-256 JWK thumbprint the code is bound
    to; a value of another shape is ``invalid_request``, and no ``dpop_jkt`` is no binding."""
    req, data = request_for(dpop_jkt="NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")  # RFC 7638 §3.1
    ar.check_dpop_jkt(req, data)
    req, data = request_for()
    ar.check_dpop_jkt(req, data)
    for junk in ("abc", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=", "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs"):
        req, data = request_for(dpop_jkt=junk)
        with pytest.raises(errors.InvalidRequest, match="dpop_jkt must be"):
            ar.check_dpop_jkt(req, data)


@pytest.mark.parametrize("offered", ["none", "client_secret_basic"])
def test_check_client_method_refuses_a_client_whose_method_the_server_does_not_offer(offered):
    """A client could never redeem the code with a method the site does not offer
    (``CLIENT_AUTH_METHODS``): refused before the user is asked. A public client's method is
    ``none``; a confidential client's is its registered one."""
    public, confidential = PublicClientFactory(), ClientFactory(token_endpoint_auth_method="client_secret_basic")
    methods = {offered: DEFAULTS["CLIENT_AUTH_METHODS"].default[offered]}
    with override_settings(OAUTH_PROVIDER=oauth_settings(CLIENT_AUTH_METHODS=methods)):
        for client in (public, confidential):
            req, data = request_for(client)
            if (client is public) == (offered == "none"):
                ar.check_client_method(req, data)
            else:
                with pytest.raises(errors.UnauthorizedClient, match="authentication method is not accepted"):
                    ar.check_client_method(req, data)


def test_check_openid_accepts_an_expired_id_token_hint_issued_here(signing_key):
    """OIDC Core §3.1.2.1: the hint is "the ID Token previously issued", which has usually
    expired by the time it is sent back; only its issuer and signature count."""
    past = int(time.time()) - 3600
    hint = jwt.encode({"iss": get_issuer(), "sub": "alice", "aud": "rp", "iat": past - 300, "exp": past})
    req, data = request_for(id_token_hint=hint)
    req.scopes = ("openid",)
    ar.check_openid(req, data)
    assert req.hint_subject == "alice"


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


def test_a_remembered_decision_covers_a_request_naming_the_default_resource_but_no_other(rf):
    """RFC 8707 §2: a remembered consent names scopes for the host's own API (the default
    resource); a request naming that resource explicitly is covered, one naming another is not."""
    from oauth_provider import resources
    from tests.support.factories import ConsentFactory

    consent = ConsentFactory(scope="read")
    req = _consent_request(consent.client, ("read",))
    req.resources = (resources.default_identifier(),)  # as a request's resource parameter brings it
    assert not ar.consent_needed(rf.get("/"), req, consent.user)
    for other in ("https://api.example", "https://zz.example"):  # sorting before and after it
        req.resources = (other,)
        assert ar.consent_needed(rf.get("/"), req, consent.user)


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


# -- what each refusal says (the error page, or error_description at the client) -------------------
def _two_uris():
    return ClientFactory(redirect_uris="https://rp.example/cb https://rp.example/other")


@pytest.mark.parametrize(("make", "params", "message"), [
    (None, {}, "The client_id parameter is missing."),
    (None, {"client_id": "nobody"}, "The client is unknown or disabled."),
    (None, {"client_id": "x" * (CLIENT_ID_MAX_LENGTH + 1)}, "The client_id or redirect_uri parameter is too long."),
    (None, {"client_id": ["a", "b"]}, "The client_id parameter was sent more than once."),
    (ClientFactory, {"redirect_uri": "https://rp.example/elsewhere"},
     "The redirect_uri is not registered for this client."),
    (_two_uris, {}, "The redirect_uri parameter is required for this request."),
])
def test_each_untrusted_redirect_says_why(make, params, message):
    if make is not None:
        params = {"client_id": make().client_id, **params}
    with pytest.raises(errors.UntrustedRedirect) as refused:
        ar.establish_client(q(**params))
    assert refused.value.description == message


def test_a_redirect_uri_mismatch_names_both_uris_in_debug_only(settings):
    """A developer's trailing slash is found at a glance while DEBUG is on; in production the
    page names neither (it is anyone's to open, and the registered URIs are the client's)."""
    client = ClientFactory(redirect_uris="https://rp.example/cb")
    params = {"client_id": client.client_id, "redirect_uri": "https://rp.example/cb/"}
    settings.DEBUG = True
    with pytest.raises(errors.UntrustedRedirect) as refused:
        ar.establish_client(q(**params))
    assert refused.value.description == ("The redirect_uri is not registered for this client. "
                                         "(DEBUG: sent 'https://rp.example/cb/'; registered 'https://rp.example/cb'.)")
    settings.DEBUG = False
    with pytest.raises(errors.UntrustedRedirect) as refused:
        ar.establish_client(q(**params))
    assert "rp.example" not in refused.value.description


@pytest.mark.parametrize(("check", "client", "params", "message"), [
    ("check_grant_allowed", {"grant_types": "client_credentials"}, {},
     "This client may not use the authorization code grant."),
    ("check_response_type", {}, {}, "The response_type parameter is required."),
    ("check_response_type", {}, {"response_type": "code", "response_mode": "fragment"},
     "Only response_mode=query is supported."),
    ("check_pkce", {}, {}, "code_challenge is required (PKCE with S256)."),
    ("check_pkce", {}, {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
     "code_challenge_method must be S256."),
    ("check_pkce", {}, {"code_challenge": "short", "code_challenge_method": "S256"},
     "code_challenge is not a valid S256 challenge."),
    ("check_prompt", {}, {"prompt": "bogus"}, "Unknown prompt value."),
    ("check_prompt", {}, {"prompt": "none login"}, "prompt=none cannot be combined with other values."),
    ("check_dpop_jkt", {}, {"dpop_jkt": "abc"},
     "dpop_jkt must be the base64url SHA-256 JWK thumbprint of a key (RFC 9449 section 10)."),
    ("check_request_channel", {"require_pushed_authorization_requests": True}, {},
     "This authorization request must be pushed to the PAR endpoint first (RFC 9126)."),
    ("check_request_channel", {"require_signed_request_object": True}, {},
     "This authorization request must be a signed request object (RFC 9101)."),
])
def test_each_refused_request_says_why(check, client, params, message):
    req, data = request_for(ClientFactory(**client), **params)
    with pytest.raises(errors.OAuthError) as refused:
        getattr(ar, check)(req, data)
    assert refused.value.description == message


@pytest.mark.parametrize(("params", "message"), [
    ({"max_age": "-1"}, "max_age must be a non-negative integer."),
    ({"id_token_hint": "eyJ.forged.hint"}, "id_token_hint is not an ID token issued here."),
    ({"claims": '{"id_token": {"sub": {"value": 7}}}'}, "claims.id_token.sub does not name one user."),
])
def test_each_refused_openid_parameter_says_why(params, message):
    req, data = request_for(**params)
    req.scopes = ("openid",)
    with pytest.raises(errors.InvalidRequest) as refused:
        ar.check_openid(req, data)
    assert refused.value.description == message


def test_a_request_object_nesting_another_says_so(settings):
    settings.OAUTH_PROVIDER = oauth_settings(REQUEST_OBJECTS=True)
    req, _data = request_for()
    req.params = q(request="eyJ.nested.object")
    with pytest.raises(errors.OAuthError) as refused:
        ar.check_unsupported(req, q())
    assert refused.value.description == "A request object must not contain request or request_uri (RFC 9101 section 4)."
    req.params = q(request_uri="urn:x")
    with override_settings(OAUTH_PROVIDER=oauth_settings(PUSHED_AUTHORIZATION_REQUESTS=True)):
        with pytest.raises(errors.RequestUriNotSupported):  # in the query: a URI never fetched
            ar.check_unsupported(req, q())
        req.signed = True  # the parameters came from a request object
        with pytest.raises(errors.OAuthError) as refused:
            ar.check_unsupported(req, q())
    assert refused.value.description == "A request object must not contain request or request_uri (RFC 9101 section 4)."
    req.pushing = True
    with pytest.raises(errors.InvalidRequest) as refused:
        ar.check_unsupported(req, q())
    assert refused.value.description == (
        "A pushed authorization request cannot carry request_uri (RFC 9126 section 2.1).")


def test_a_client_registered_for_a_method_the_site_dropped_is_told_so(settings):
    client = ClientFactory(token_endpoint_auth_method="client_secret_basic")
    settings.OAUTH_PROVIDER = oauth_settings(CLIENT_AUTH_METHODS={
        "client_secret_post": "oauth_provider.client_auth.ClientSecretPost",
        "none": "oauth_provider.client_auth.NoClientAuthentication"})
    req, data = request_for(client)
    with pytest.raises(errors.UnauthorizedClient) as refused:
        ar.check_client_method(req, data)
    assert refused.value.description == "This client's authentication method is not accepted by this server."


def test_a_consent_with_every_scope_unticked_grants_nothing_and_says_so(settings):
    settings.OAUTH_PROVIDER = oauth_settings(OPTIONAL_SCOPES=["profile"])
    with pytest.raises(errors.AccessDenied) as refused:
        ar.choose_scopes(("profile",), ticked=())
    assert refused.value.description == "No scope was granted."

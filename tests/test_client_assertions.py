"""private_key_jwt client authentication (RFC 7523 §2.2 and §3, OIDC Core §9,
draft-ietf-oauth-rfc7523bis), attacked: forged and unsigned assertions, HMAC with the public
key, replays, bad lifetimes and audiences, other clients' keys, unknown kids, oversize input."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.cache import cache
from django.test import Client as HttpClient
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from oauth_provider import client_assertions, fetch
from oauth_provider.client_assertions import ASSERTION_TYPE
from oauth_provider.models import AccessToken, get_client_model
from tests.support.factories import ClientFactory
from tests.support.settings import override_oauth
from tests.support.token_helpers import TOKEN_URL, FrozenClock, assert_error, post_form

from .conftest import basic_auth

pytestmark = pytest.mark.django_db
Client = get_client_model()
ISS = "https://testserver/o"
TOKEN_ENDPOINT = "https://testserver/o/token/"
CC = {"grant_type": "client_credentials", "scope": "read"}


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(private, kid: str, **extra) -> dict:
    public = private.public_key()
    if isinstance(private, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, **extra}


def make_client(private=None, *, kid: str = "k1", jwks: dict | None = None, **fields):
    private = private or ec_key()
    client = ClientFactory(
        token_endpoint_auth_method="private_key_jwt", grant_types="client_credentials", redirect_uris="",
        jwks=json.dumps(jwks or {"keys": [jwk_of(private, kid)]}), **fields,
    )
    client.private_key, client.kid = private, kid
    return client


def claims_for(client, **overrides) -> dict:
    now = int(time.time())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": ISS, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(client, *, key=None, alg: str = "ES256", headers: dict | None = None, **overrides) -> str:
    head = {"kid": client.kid, **(headers or {})}
    return pyjwt.encode(claims_for(client, **overrides), key or client.private_key, algorithm=alg,
                        headers={k: v for k, v in head.items() if v is not None})


def assertion_form(assertion: str, client_id: str | None = None, **extra) -> dict:
    data = {**CC, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}
    if client_id:
        data["client_id"] = client_id
    return data


def token(assertion: str, client_id: str | None = None, path: str = TOKEN_URL, **extra):
    return post_form(HttpClient(), assertion_form(assertion, client_id, **extra), path)


def refused(response) -> dict:
    return assert_error(response, "invalid_client")


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- it works ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make_key,alg", [
    (ec_key, "ES256"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
])
def test_a_signed_assertion_authenticates_the_client(make_key, alg):
    client = make_client(make_key())
    r = token(sign(client, alg=alg))
    assert r.status_code == 200, r.content
    assert AccessToken.objects.get().client == client


def test_client_credentials_with_an_assertion_keeps_the_two_statement_budget(assert_num_queries):
    """DESIGN.md query budgets: a client_credentials token is 2 statements (the client, the
    INSERT); verifying an assertion against registered keys adds none (the jti is in the cache)."""
    client = make_client()
    assertion = sign(client)
    with assert_num_queries(2):
        r = token(assertion)
    assert r.status_code == 200, r.content


def test_client_id_may_come_from_the_form_or_from_the_assertion():
    client = make_client()
    assert token(sign(client), client.client_id).status_code == 200
    assert token(sign(client)).status_code == 200
    # a form client_id that differs from sub is refused, whichever of the two sorts first
    for other in ("0" + client.client_id, "~" + client.client_id):
        assert "differs" in refused(token(sign(client), other))["error_description"]


@pytest.mark.req("7523bis-4-typ")
@pytest.mark.parametrize("typ", [None, "JWT", "client-authentication+jwt", "application/client-authentication+jwt"])
def test_untyped_and_client_authentication_typed_assertions_are_accepted(typ):
    client = make_client()
    assert token(sign(client, headers={"typ": typ})).status_code == 200


def test_a_kidless_assertion_is_tried_against_each_matching_key():
    one, two = ec_key(), ec_key()
    client = make_client(one, jwks={"keys": [jwk_of(one, "a"), jwk_of(two, "b")]})
    client.kid = None
    assert token(sign(client, key=two)).status_code == 200


def test_metadata_advertises_the_method_and_its_algorithms():
    doc = HttpClient().get("/o/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        algorithms = doc[f"{endpoint}_auth_signing_alg_values_supported"]
        assert "ES256" in algorithms and "PS256" in algorithms
        assert not {"none", "HS256", "HS384", "HS512"} & set(algorithms)
    with override_oauth(CLIENT_AUTH_METHODS={"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic"}):
        doc = HttpClient().get("/o/.well-known/oauth-authorization-server").json()
    assert "token_endpoint_auth_signing_alg_values_supported" not in doc


def test_introspection_and_revocation_accept_the_assertion():
    client = make_client(is_resource_server=True)
    access = token(sign(client)).json()["access_token"]
    api = HttpClient()
    answer = post_form(api, assertion_form(sign(client), token=access), "/o/introspect/")
    assert answer.status_code == 200 and answer.json()["active"] is True
    revoked = post_form(api, assertion_form(sign(client), token=access), "/o/revoke/")
    assert revoked.status_code == 200
    answer = post_form(api, assertion_form(sign(client), token=access), "/o/introspect/")
    assert answer.json() == {"active": False}


# -- attacks -----------------------------------------------------------------------------------

@pytest.mark.req("7523-3-signature")
def test_a_forged_signature_is_refused():
    client = make_client()
    good = sign(client)
    head, body, signature = good.split(".")
    forged_body = b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": client.client_id, "exp": 2**31})
    refused(token(f"{head}.{forged_body}.{signature}"))
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    refused(token(f"{head}.{body}.{flipped}"))
    assert not AccessToken.objects.exists()


@pytest.mark.req("8725-3.2-none")
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(alg):
    client = make_client()
    unsigned = f"{b64({'alg': alg, 'kid': 'k1'})}.{b64(claims_for(client))}."
    refused(token(unsigned))
    refused(token(unsigned + "AAAA"))


@pytest.mark.req("8725-3.1-one-alg-per-key")
@pytest.mark.parametrize("form", ["pem", "der", "jwk"])
def test_hmac_with_the_public_key_as_secret_is_refused(form):
    """PyJWT CVE-2017-11424 / CVE-2022-29217: an HS256 token keyed with the public key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_client(private)
    public = private.public_key()
    secret = {
        "pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk": json.dumps(jwk_of(private, "k1")).encode(),
    }[form]
    import hashlib
    import hmac

    head = b64({"alg": "HS256", "kid": "k1", "typ": "JWT"})
    body = b64(claims_for(client))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    refused(token(f"{head}.{body}.{b64(mac)}"))


@pytest.mark.req("OIDC-9-jti-once")
def test_a_replayed_assertion_is_refused():
    client = make_client()
    assertion = sign(client)
    assert token(assertion).status_code == 200
    body = refused(token(assertion))
    assert "already used" in body["error_description"]
    assert AccessToken.objects.count() == 1


@pytest.mark.req("OIDC-9-jti-once")
def test_the_jti_is_required_and_remembered_per_client_until_it_expires():
    client = make_client()
    refused(token(sign(client, jti=None)))
    refused(token(sign(client, jti="x" * 300)))
    assert token(sign(client, jti="same")).status_code == 200
    other = make_client()
    assert token(sign(other, jti="same")).status_code == 200  # another issuer's jti
    clock = FrozenClock()
    clock.advance(0)
    refused(token(sign(client, jti="same", iat=int(clock.current.timestamp()),
                       exp=int(clock.current.timestamp()) + 60)))


@pytest.mark.req("7523-3-exp")
@pytest.mark.parametrize("changes,message", [
    (lambda now: {"exp": None}, "exp"),
    (lambda now: {"exp": now - 61 - 60, "iat": now - 180}, "expired"),
    (lambda now: {"exp": now + 86400}, "too long"),
    (lambda now: {"iat": now - 3600, "exp": now + 60}, "too long"),
    (lambda now: {"nbf": now + 120}, "not valid yet"),
    (lambda now: {"iat": now + 120, "exp": now + 180}, "future"),
    (lambda now: {"exp": "soon"}, "number"),
    (lambda now: {"exp": True}, "number"),
    # JSON has no NaN (RFC 8259 §6): it passed every time check, then int(nan) answered 500
    (lambda now: {"exp": float("nan")}, "compact JWS"),
    # beyond a float's range: float() raised OverflowError, a 500
    (lambda now: {"exp": 10 ** 400}, "compact JWS"),
], ids=["no-exp", "expired", "exp-a-day-ahead", "old-iat", "nbf-ahead", "iat-ahead", "exp-string", "exp-bool",
        "exp-nan", "exp-beyond-a-float"])
def test_bad_lifetimes_are_refused(changes, message):
    client = make_client()
    body = refused(token(sign(client, **changes(int(time.time())))))
    assert message in body["error_description"]


@pytest.mark.req("DERIVED-jwt-time")
def test_small_clock_skew_is_tolerated():
    client = make_client()
    now = int(time.time())
    assert token(sign(client, nbf=now + 8, iat=now + 8, exp=now + 60)).status_code == 200
    assert token(sign(client, exp=now - 30, iat=now - 90)).status_code == 200


@pytest.mark.req("7523bis-4-aud-issuer-only")
@pytest.mark.parametrize("aud", [
    TOKEN_ENDPOINT, [ISS], [ISS, "https://evil.example"], ISS + "/", "https://testserver/o/introspect/",
    "https://other-as.example", None, "",
])
def test_the_audience_must_be_exactly_the_issuer(aud):
    client = make_client()
    body = refused(token(sign(client, aud=aud)))
    assert "aud" in body["error_description"]


@pytest.mark.req("7523bis-4-aud-issuer-only")
@pytest.mark.parametrize("path", ["/o/introspect/", "/o/revoke/"])
def test_the_audience_rule_holds_at_every_endpoint_that_authenticates_clients(path):
    client = make_client(is_resource_server=True)
    url = f"https://testserver{path}"
    for aud in (url, TOKEN_ENDPOINT, [ISS]):
        refused(post_form(HttpClient(), assertion_form(sign(client, aud=aud), token="x"), path))
    assert post_form(HttpClient(), assertion_form(sign(client), token="x"), path).status_code == 200


def test_in_development_the_audience_is_the_url_the_request_came_to():
    """``DEBUG`` on and no ``ISSUER`` (a first try with ``python3 dev.py serve``): the issuer,
    and so the one audience accepted, is where the request came to; another is refused with
    the RFC's error, never a server error."""
    from django.test import override_settings

    client = make_client()
    with override_settings(DEBUG=True), override_oauth(ISSUER=None):
        assert token(sign(client, aud="http://testserver/o")).status_code == 200
        refused(token(sign(client, aud=ISS)))
        refused(token(sign(client, aud="http://testserver/o/token/")))
    # the legacy setting's endpoint URLs are where the request came to as well
    resource_server = make_client(is_resource_server=True)
    with override_settings(DEBUG=True), override_oauth(ISSUER=None, CLIENT_ASSERTION_LEGACY_AUDIENCE=True):
        assert token(sign(client, aud="http://testserver/o/token/")).status_code == 200
        refused(token(sign(client, aud=TOKEN_ENDPOINT)))
        answer = post_form(HttpClient(), assertion_form(sign(resource_server, aud="http://testserver/o/introspect/"),
                                                        token="x"), "/o/introspect/")
        assert answer.status_code == 200


def test_the_legacy_setting_also_accepts_the_endpoint_urls():
    client = make_client(is_resource_server=True)
    with override_oauth(CLIENT_ASSERTION_LEGACY_AUDIENCE=True):
        assert token(sign(client, aud=TOKEN_ENDPOINT)).status_code == 200
        assert token(sign(client, aud=[TOKEN_ENDPOINT, "https://x.example"])).status_code == 200
        assert token(sign(client, aud=ISS)).status_code == 200
        answer = post_form(HttpClient(), assertion_form(sign(client, aud="https://testserver/o/introspect/"),
                                                        token="x"), "/o/introspect/")
        assert answer.status_code == 200
        refused(token(sign(client, aud="https://testserver/o/introspect/")))
        refused(token(sign(client, aud="https://other-as.example/token")))


@pytest.mark.req("OIDC-9-iss-sub")
def test_iss_and_sub_must_both_be_the_client():
    client, other = make_client(), make_client()
    refused(token(sign(client, iss=other.client_id)))
    refused(token(sign(client, iss="https://evil.example")))
    refused(token(sign(client, sub=other.client_id), client.client_id))
    refused(token(sign(client), other.client_id))
    refused(token(sign(client, sub=None), client.client_id))
    for wrong in ("0" + client.client_id, "~" + client.client_id):  # whichever sorts first
        assert "iss and sub" in refused(token(sign(client, iss=wrong)))["error_description"]


@pytest.mark.req("7523-3-signature")
def test_another_clients_key_does_not_authenticate():
    victim, attacker = make_client(kid="k1"), make_client(kid="k1")
    forged = sign(victim, key=attacker.private_key)  # iss/sub = the victim, signed by the attacker
    refused(token(forged))
    assert not AccessToken.objects.exists()


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c", "crit"])
def test_keys_named_in_the_header_are_never_trusted(header):
    client = make_client()
    attacker = ec_key()
    value = {"jwk": jwk_of(attacker, "k1"), "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/x",
             "x5c": ["AAAA"], "crit": ["exp"]}[header]
    refused(token(sign(client, key=attacker, headers={header: value})))
    refused(token(sign(client, headers={header: value})))


@pytest.mark.req("8725-3.10-kid")
@pytest.mark.parametrize("kid", ["unknown", "' OR 1=1--", "../../../../dev/null", "http://evil/", "a" * 10000])
def test_a_kid_that_is_not_in_the_set_is_refused(kid):
    client = make_client()
    r = token(sign(client, headers={"kid": kid}))
    if len(kid) > 4096:  # longer than any parameter may be (MAX_PARAMETER_LENGTH)
        assert_error(r, "invalid_request")
    else:
        refused(r)
    assert not AccessToken.objects.exists()


@pytest.mark.req("7523-3-signature")
def test_the_registered_algorithm_narrows_what_is_accepted():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_client(private, token_endpoint_auth_signing_alg="PS256")
    refused(token(sign(client, alg="RS256")))
    assert token(sign(client, alg="PS256")).status_code == 200
    refused(token(sign(client, alg="ES256", key=ec_key())))


@pytest.mark.req("7523-3-signature")
def test_a_registered_algorithm_the_profile_forbids_is_never_accepted():
    """FAPI 2.0 §5.4.1 narrows assertions to PS256, ES256 and EdDSA: a client registered with
    RS256 before the profile was turned on gets no token with it, nor with any other."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_client(private, token_endpoint_auth_signing_alg="RS256")
    assert token(sign(client, alg="RS256")).status_code == 200
    with override_oauth(PROFILE="fapi2"):
        refused(token(sign(client, alg="RS256")))
        refused(token(sign(client, alg="PS256")))


@pytest.mark.req("7523bis-4-typ")
@pytest.mark.req("DERIVED-assertion-cross-use")
@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "dpop+jwt", "logout+jwt", "oauth-authz-req+jwt",
                                 "application/"])
def test_other_kinds_of_jwt_are_not_assertions(typ):
    client = make_client()
    refused(token(sign(client, headers={"typ": typ})))


@pytest.mark.req("DERIVED-assertion-cross-use")
def test_our_own_id_tokens_and_access_tokens_are_not_assertions(oauth, user, signing_key):
    from oauth_provider import jwt

    client = make_client()
    with override_oauth(ACCESS_TOKEN_FORMAT="jwt"):
        ours = jwt.encode({"iss": client.client_id, "sub": client.client_id, "aud": ISS,
                           "exp": int(time.time()) + 60, "jti": "x"}, typ="at+jwt")
        refused(token(ours))
        ours = jwt.encode({"iss": client.client_id, "sub": client.client_id, "aud": ISS,
                           "exp": int(time.time()) + 60, "jti": "y"})
        refused(token(ours))  # signed by the server's key, which is not the client's


@pytest.mark.req("7523-2.2-single-jwt")
def test_only_one_compact_assertion_of_the_right_type_is_accepted():
    client = make_client()
    good = sign(client)
    for bad in (f"{good},{sign(client)}", f"{good} {sign(client)}", json.dumps({"payload": "x", "signatures": []}),
                good + ".extra", "", "not-a-jwt"):
        r = token(bad)
        assert r.status_code in (400, 401) and "access_token" not in r.json()
    refused(token(sign(client), client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer"))
    twice = f"grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}" \
            f"&client_assertion={sign(client)}&client_assertion={sign(client)}"
    assert post_form(HttpClient(), twice).status_code == 400
    assert not AccessToken.objects.exists()


@pytest.mark.req("CIMD-6.6-size")
def test_an_oversize_assertion_is_refused_before_any_work():
    client = make_client()
    with override_oauth(MAX_PARAMETER_LENGTH=100_000):
        refused(token(sign(client, padding="x" * 20000)))  # over jwt.MAX_LENGTH (8 KB)
    assert_error(token(sign(client, padding="x" * 20000)), "invalid_request")  # over the parameter limit


@pytest.mark.req("DERIVED-client-auth-method")
def test_the_registered_method_is_the_only_one():
    client = make_client()
    secret_client = ClientFactory()
    assert_error(post_form(HttpClient(), {**CC, "client_id": client.client_id, "client_secret": "guess"}),
                 "invalid_client")
    secret_client.private_key, secret_client.kid = ec_key(), "k1"
    refused(token(sign(secret_client)))
    both = post_form(HttpClient(), assertion_form(sign(client)),
                     HTTP_AUTHORIZATION=basic_auth(secret_client.client_id, secret_client.raw_secret))
    assert both.status_code in (400, 401)


def test_failed_assertions_count_in_the_throttle():
    client = make_client()
    statuses = [token(sign(client, aud="https://evil.example")).status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert token(sign(client)).status_code == 200  # correct credentials always pass


def test_an_unknown_client_is_refused_like_a_bad_signature():
    ghost = make_client()
    Client.objects.filter(pk=ghost.pk).delete()
    body = refused(token(sign(ghost)))
    assert ghost.client_id not in body.get("error_description", "")


@pytest.mark.req("OIDC-16.12-timing")
def test_an_unknown_client_id_and_a_known_one_get_the_same_words(monkeypatch):
    """OIDC Core §16.12: whether a client_id exists must not show in the answer (the module
    equalises even the time taken). A known client answered a forged assertion "could not be
    verified with the client's registered keys", an unknown one "Client authentication
    failed.": anyone could list which client_ids exist. The same wrong assertions now get the
    same description for both, before the signature (a refused header or typ) and after it."""
    known = make_client()
    ghost = make_client()
    Client.objects.filter(pk=ghost.pk).delete()
    stranger = ec_key()
    forged = [
        lambda c: sign(c, key=stranger),  # a key the client never registered
        lambda c: sign(c, key=stranger, headers={"kid": None}),
        lambda c: sign(c, key=stranger, headers={"typ": "at+jwt"}),
        lambda c: f"{b64({'alg': 'HS256', 'kid': 'k1'})}.{b64(claims_for(c))}.{b64(b'sig')}",
        lambda c: f"{b64({'alg': 'RS256', 'jku': 'https://evil.example/'})}.{b64(claims_for(c))}.{b64(b'sig')}",
    ]
    for make in forged:
        answers = [refused(token(make(client))).get("error_description") for client in (known, ghost)]
        assert answers[0] == answers[1], answers


# -- jwks_uri -----------------------------------------------------------------------------------

@pytest.fixture
def published(monkeypatch):
    """A stand-in for the network behind fetch.fetch_json: url -> JWK Set, with a log of fetches."""
    sets: dict[str, dict] = {}
    calls: list[tuple[str, bool]] = []

    def fake_fetch_json(url, *, max_bytes=100_000, use_cache=True):
        calls.append((url, use_cache))
        if url not in sets:
            raise fetch.FetchError(fetch.FETCH_FAILED)
        return sets[url]

    monkeypatch.setattr(fetch, "fetch_json", fake_fetch_json)
    cache.clear()
    return sets, calls


def uri_client(sets, private, kid="k1", url="https://rp.example/jwks.json"):
    sets[url] = {"keys": [jwk_of(private, kid)]}
    client = ClientFactory(token_endpoint_auth_method="private_key_jwt", grant_types="client_credentials",
                           redirect_uris="", jwks_uri=url)
    client.private_key, client.kid = private, kid
    return client


def test_keys_are_fetched_from_jwks_uri(published):
    sets, calls = published
    client = uri_client(sets, ec_key())
    assert token(sign(client)).status_code == 200
    assert calls == [("https://rp.example/jwks.json", True)]


@pytest.mark.req("DERIVED-jwks-refresh-bounded")
def test_an_unknown_kid_refetches_once_per_interval(published):
    sets, calls = published
    old, new = ec_key(), ec_key()
    client = uri_client(sets, old, kid="old")
    sets[client.jwks_uri] = {"keys": [jwk_of(old, "old"), jwk_of(new, "new")]}  # rotated at the client
    client.private_key, client.kid = new, "new"
    calls.clear()
    fetch_for_cache = fetch.fetch_json

    def cached_old(url, *, max_bytes=100_000, use_cache=True):
        if use_cache:  # the cached copy predates the rotation
            calls.append((url, True))
            return {"keys": [jwk_of(old, "old")]}
        return fetch_for_cache(url, max_bytes=max_bytes, use_cache=use_cache)

    import oauth_provider.fetch as fetch_module
    fetch_module.fetch_json = cached_old
    try:
        assert token(sign(client)).status_code == 200
        assert (client.jwks_uri, False) in calls
        calls.clear()
        for _ in range(8):  # (under the throttle's threshold of 10 failures)
            refused(token(sign(client, headers={"kid": uuid.uuid4().hex})))
        assert [c for c in calls if c[1] is False] == []  # no second forced fetch within the interval
    finally:
        fetch_module.fetch_json = fetch_for_cache


@pytest.mark.req("DERIVED-jwks-refresh-bounded")
def test_a_forced_fetch_spent_by_a_stranger_still_lets_the_rotated_client_in(monkeypatch):
    """RFC 7523 §3 / OIDC Core §10.1.1 (a client rotates the keys at its ``jwks_uri``): the one
    forced fetch a minute is spent by whoever first names an unknown ``kid``, and no signature
    is needed for that: an anonymous request naming the client does it. The fresh copy it
    fetched was thrown away, so a stranger naming a random ``kid`` once a minute kept the
    client's new key out until its cached JWK Set expired (up to a day: a lockout anyone can
    trigger). The forced fetch now replaces the cached copy, whoever caused it."""
    old, new = ec_key(), ec_key()
    url = "https://rp.example/jwks.json"
    served = {"keys": [jwk_of(old, "old")]}
    monkeypatch.setattr(fetch, "get_json", lambda target, *, max_bytes=100_000, max_redirects=None:
                        fetch.FetchedJSON(json.loads(json.dumps(served)), 3600))
    cache.clear()
    client = ClientFactory(token_endpoint_auth_method="private_key_jwt", grant_types="client_credentials",
                           redirect_uris="", jwks_uri=url)
    client.private_key, client.kid = old, "old"
    assert token(sign(client)).status_code == 200  # the set with "old" is now cached for an hour
    served["keys"] = [jwk_of(old, "old"), jwk_of(new, "new")]  # the client rotates
    stranger = f"{b64({'alg': 'ES256', 'kid': 'nobody'})}.{b64({'sub': client.client_id})}.{b64(b'sig')}"
    refused(token(stranger))  # spends the forced fetch of this minute
    client.private_key, client.kid = new, "new"
    assert token(sign(client)).status_code == 200


def test_an_unreachable_or_private_jwks_uri_fails_closed(published):
    sets, calls = published
    client = uri_client(sets, ec_key())
    sets.pop(client.jwks_uri)
    body = refused(token(sign(client)))
    assert "jwks_uri" in body["error_description"]
    private = ec_key()
    leaky = uri_client(sets, private, url="https://leaky.example/jwks.json")
    sets[leaky.jwks_uri] = {"keys": [json.loads(ECAlgorithm.to_jwk(private)) | {"kid": "k1"}]}
    refused(token(sign(leaky)))


@pytest.mark.req("CIMD-6.5-ssrf")
def test_a_jwks_uri_on_a_private_address_is_never_fetched(monkeypatch):
    client = ClientFactory(token_endpoint_auth_method="private_key_jwt", grant_types="client_credentials",
                           redirect_uris="", jwks_uri="https://jwks.internal.example/keys")
    client.private_key, client.kid = ec_key(), "k1"
    import socket

    resolved: list[str] = []

    def metadata_address(host, port, *args, **kwargs):
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", metadata_address)
    monkeypatch.setattr(fetch, "_open_socket", lambda *a, **k: pytest.fail("connected"))
    cache.clear()
    body = refused(token(sign(client)))
    assert resolved == ["jwks.internal.example"] and "169.254" not in body["error_description"]


def test_verify_for_an_unknown_client_spends_a_signature_check(monkeypatch):
    """An unknown client_id costs a signature check like a known one (timing of unknown
    client_ids, OIDC Core §16.12): through the token endpoint, against a throw-away key."""
    checks: list[str] = []
    real = client_assertions.jwt.verify_foreign

    def counting(token: str, alg: str, key: Any) -> dict:
        checks.append(alg)
        return real(token, alg, key)

    monkeypatch.setattr(client_assertions.jwt, "verify_foreign", counting)
    ghost = make_client()
    get_client_model().objects.filter(pk=ghost.pk).delete()
    refused(token(sign(ghost)))
    assert checks == ["ES256"]
    client_assertions._verify_for_nobody("garbage")  # not a JWS: nothing to check, no error
    assert checks == ["ES256"]


# -- the time rules to the second (RFC 7523 §3 items 4-6; a frozen clock on a whole second) -------
LEEWAY, MAX_LIFETIME = 60, 300  # client_assertions.LEEWAY, the CLIENT_ASSERTION_MAX_LIFETIME default


@pytest.fixture
def at_t0():
    clock = FrozenClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    return int(clock.current.timestamp())


@pytest.mark.req("7523-3-exp")
def test_expiry_is_enforced_to_the_second_with_the_leeway(at_t0):
    client = make_client()
    assert token(sign(client, iat=at_t0 - 120, exp=at_t0 - LEEWAY)).status_code == 200
    body = refused(token(sign(client, iat=at_t0 - 120, exp=at_t0 - LEEWAY - 1)))
    assert "expired" in body["error_description"]


@pytest.mark.req("7523-3-exp")
def test_the_longest_lifetime_is_enforced_to_the_second_from_iat_or_from_now(at_t0):
    client = make_client()
    longest = MAX_LIFETIME + LEEWAY
    assert token(sign(client, iat=at_t0 - 30, exp=at_t0 - 30 + longest)).status_code == 200
    assert "too long" in refused(token(sign(client, iat=at_t0 - 30, exp=at_t0 - 30 + longest + 1)))["error_description"]
    # without iat the lifetime counts from now
    assert token(sign(client, iat=None, exp=at_t0 + longest)).status_code == 200
    assert "too long" in refused(token(sign(client, iat=None, exp=at_t0 + longest + 1)))["error_description"]
    # an iat in the past does not make a far exp acceptable: lifetime is exp - iat
    assert "too long" in refused(token(sign(client, iat=at_t0 - 100, exp=at_t0 + longest - 50)))["error_description"]
    # nor does an iat decades back, whatever the arithmetic (exp is about twice iat here)
    far = at_t0 + 3600
    assert "too long" in refused(token(sign(client, iat=far // 2, exp=far)))["error_description"]


@pytest.mark.req("DERIVED-jwt-time")
def test_nbf_and_iat_may_lie_ahead_by_the_leeway_and_not_a_second_more(at_t0):
    client = make_client()
    assert token(sign(client, nbf=at_t0 + LEEWAY, iat=at_t0, exp=at_t0 + 120)).status_code == 200
    early = refused(token(sign(client, nbf=at_t0 + LEEWAY + 1, iat=at_t0, exp=at_t0 + 120)))
    assert "not valid yet" in early["error_description"]
    assert token(sign(client, iat=at_t0 + LEEWAY, exp=at_t0 + 120)).status_code == 200
    assert "future" in refused(token(sign(client, iat=at_t0 + LEEWAY + 1, exp=at_t0 + 120)))["error_description"]


@pytest.mark.req("OIDC-9-jti-once")
def test_a_jti_of_256_characters_is_the_longest_accepted(at_t0):
    client = make_client()
    assert token(sign(client, jti="j" * 256, iat=at_t0, exp=at_t0 + 60)).status_code == 200
    refused(token(sign(client, jti="k" * 257, iat=at_t0, exp=at_t0 + 60)))
    refused(token(sign(client, jti="", iat=at_t0, exp=at_t0 + 60)))
    refused(token(sign(client, jti=7, iat=at_t0, exp=at_t0 + 60)))


def remembered_for(client) -> list[float]:
    """Seconds the replay cache (locmem) keeps this client's used jtis."""
    marker = hashlib.sha256(client.client_id.encode()).hexdigest()
    return [round(expiry - time.time()) for key, expiry in cache._expire_info.items() if marker in key]


@pytest.mark.req("OIDC-9-jti-once")
def test_a_jti_is_remembered_until_the_assertion_can_no_longer_be_accepted(at_t0):
    """Until exp + LEEWAY: a shorter memory would let the same assertion be replayed while
    the expiry check still accepts it."""
    client = make_client()
    assert token(sign(client, jti="a", iat=at_t0, exp=at_t0 + 200)).status_code == 200
    assert remembered_for(client) == [200 + LEEWAY]
    # used at the last accepted second: still remembered, so an immediate replay is refused
    late = sign(client, jti="b", iat=at_t0 - 120, exp=at_t0 - LEEWAY)
    assert token(late).status_code == 200
    assert "already used" in refused(token(late))["error_description"]


@pytest.mark.req("OIDC-9-jti-once")
def test_a_jti_is_remembered_to_the_end_of_its_last_accepted_second():
    """RFC 7523 §3 item 7: the jti must be remembered as long as the assertion is accepted, to
    the fraction of a second. Our clock is rarely on a whole second: half a second past, an
    assertion with exp 200 s ahead is accepted for 259.5 s more, but the replay cache kept its
    jti for int(199.5) + 60 = 259 s, so the same assertion was accepted again in the last half
    second."""
    t0 = int(FrozenClock(datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)).current.timestamp())
    client = make_client()
    assert token(sign(client, jti="a", iat=t0, exp=t0 + 200)).status_code == 200
    marker = hashlib.sha256(client.client_id.encode()).hexdigest()
    kept = [expiry - time.time() for key, expiry in cache._expire_info.items() if marker in key]
    assert len(kept) == 1 and kept[0] >= 200 + LEEWAY - 0.5


def test_the_legacy_audience_rule_holds_outside_the_providers_url_namespace(rf):
    """A host's own view (or a direct call) that authenticates clients has no
    ``oauth_provider`` route: the legacy setting then accepts the issuer and the token endpoint,
    nothing else, and never fails with a 500."""
    client = make_client()
    with override_oauth(CLIENT_ASSERTION_LEGACY_AUDIENCE=True):
        assert client_assertions.verify(rf.post("/host/token/"), client, sign(client, aud=TOKEN_ENDPOINT))["sub"]
        with pytest.raises(client_assertions.InvalidClient):
            client_assertions.verify(rf.post("/host/token/"), client, sign(client, aud="https://testserver/host/token/"))


def test_a_key_published_for_encryption_never_verifies_an_assertion():
    """RFC 7517 §4.2: a key whose ``use`` is ``enc`` is not a signing key, even when the
    assertion's signature would verify with it."""
    private = ec_key()
    client = make_client(private, jwks={"keys": [jwk_of(private, "k1", use="enc")]})
    assert refused(token(sign(client)))["error"] == "invalid_client"
    signing = make_client(private, jwks={"keys": [jwk_of(private, "k1", use="sig")]})
    assert token(sign(signing)).status_code == 200


@pytest.mark.parametrize("claim", ["jti", "sub"])
def test_a_claim_holding_a_lone_surrogate_is_refused_not_a_crash(claim):
    """JSON's ``\\ud800`` escape gives a string with no UTF-8 encoding (RFC 7493 §2.1): the
    client itself can sign one, and a ``jti`` made of it answered 500 when hashed for the
    replay cache."""
    client = make_client()
    refused(token(sign(client, **{claim: "\ud800"}), client.client_id))
    assert token(sign(client)).status_code == 200


# -- what the mutation run of client_assertions.py showed no test holding ---------------------------

@pytest.mark.req("7523-2.2-assertion-type")
@pytest.mark.parametrize("form", [
    {"client_assertion_type": None},  # an assertion with no type
    {"client_assertion_type": ""},
    {"client_assertion_type": ASSERTION_TYPE[:-1]},  # sorts before the right one
    {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},  # and after it
    {"client_assertion_type": ASSERTION_TYPE.upper()},
    {"client_assertion": None},  # a type with no assertion
])
def test_the_assertion_type_must_be_exactly_jwt_bearer_and_come_with_an_assertion(form):
    """RFC 7523 §2.2: ``client_assertion_type`` is exactly the jwt-bearer URN, and an assertion
    and its type come together. Either alone is an attempt at this method (not a request with
    no client authentication), refused with words that name what is wrong."""
    client = make_client()
    data = {k: v for k, v in {**assertion_form(sign(client), client.client_id), **form}.items() if v is not None}
    body = refused(post_form(HttpClient(), data))
    assert "client_assertion" in body["error_description"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("sub", [123, "", ["x"], {"id": "x"}, True])
def test_a_sub_that_is_not_a_non_empty_string_is_refused_by_name(sub):
    """OIDC Core §9: ``sub`` names the client (and, with no ``client_id`` in the form, is how
    it is found): a number, an empty string, a list or an object is refused as such."""
    client = make_client()
    body = refused(token(sign(client, sub=sub)))
    assert "must name the client in sub" in body["error_description"]


@pytest.mark.req("OIDC-16.12-timing")
@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"])
def test_an_unknown_client_costs_a_check_of_its_algorithm_and_is_refused(monkeypatch, alg):
    """For every algorithm a client may register, an assertion naming an unknown client_id is
    checked against a throw-away key of that algorithm's kind (made on first use), and refused
    as a bad signature would be, never answered with an error of the key's making."""
    monkeypatch.setattr(client_assertions, "_NOBODY", {})
    checks: list[str] = []
    real = client_assertions.jwt.verify_foreign
    monkeypatch.setattr(client_assertions.jwt, "verify_foreign",
                        lambda raw, a, key: checks.append(a) or real(raw, a, key))
    private = {"ES256": ec_key, "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
               "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
               "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "EdDSA": ed25519.Ed25519PrivateKey.generate}[alg]()
    ghost = make_client(private, token_endpoint_auth_signing_alg=alg)
    get_client_model().objects.filter(pk=ghost.pk).delete()
    refused(token(sign(ghost, alg=alg)))
    assert checks == [alg]
    thrown_away = client_assertions._NOBODY[alg]
    if alg in ("RS256", "PS256"):
        assert thrown_away.public_numbers().e == 65537 and thrown_away.key_size == 2048
    # made once: a stream of unknown client_ids never makes the server generate a key per
    # request (an RSA key costs tens of milliseconds: a cheap way to spend its CPU)
    refused(token(sign(ghost, alg=alg)))
    assert checks == [alg, alg] and client_assertions._NOBODY[alg] is thrown_away


def test_the_audience_error_says_which_audiences_are_accepted():
    """The words tell a client's developer what to put in ``aud``: the issuer; with the legacy
    setting also the token endpoint URL, except under FAPI 2.0, which accepts only the issuer."""
    client = make_client()
    wrong = sign(client, aud="https://other-as.example/token")
    assert "or the token endpoint URL" not in refused(token(wrong))["error_description"]
    with override_oauth(CLIENT_ASSERTION_LEGACY_AUDIENCE=True):
        assert "or the token endpoint URL" in refused(token(wrong))["error_description"]
    with override_oauth(CLIENT_ASSERTION_LEGACY_AUDIENCE=True, PROFILE="fapi2"):
        described = refused(token(sign(client, aud="https://other-as.example/token")))["error_description"]
        assert "aud must be" in described and "or the token endpoint URL" not in described

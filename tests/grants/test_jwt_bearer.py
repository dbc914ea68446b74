"""The JWT bearer grant (RFC 7523 §2.1, §3): trusted issuers, the assertion's claims, jti
single use, the subject mapped by the adapter, and forgeries."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import caches
from django.test import Client as HttpClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from oauth_provider.adapter import DefaultAdapter
from oauth_provider.grants.jwt_bearer import GRANT_TYPE
from oauth_provider.models import AccessToken, Authorization, RefreshToken
from oauth_provider.signals import token_issued
from tests.support.factories import ClientFactory, UserFactory
from tests.support.http_servers import json_route, local_server
from tests.support.settings import oauth_settings
from tests.support.token_helpers import FrozenClock, access_token_row, assert_error, assert_no_store, post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example"
OTHER_ISSUER = "https://other-idp.example"
OUR_ISSUER = "https://testserver/o"
TOKEN_ENDPOINT = "https://testserver/o/token/"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    return {**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid}


JWKS = {"keys": [public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1")]}


class MappingAdapter(DefaultAdapter):
    """Trusts ISSUER's subjects as usernames."""

    def user_for_assertion(self, issuer, subject, claims, client):
        from django.contrib.auth import get_user_model

        if issuer not in (ISSUER, client.client_id):
            return None
        return get_user_model().objects.filter(username=subject).first()


def configure(settings, **changes: Any) -> None:
    settings.OAUTH_PROVIDER = oauth_settings(**{
        "JWT_BEARER_ISSUERS": {ISSUER: {"jwks": JWKS}}, "ADAPTER": f"{__name__}.MappingAdapter", **changes})


@pytest.fixture
def service(db):
    return ClientFactory(name="Batch service", grant_types=f"client_credentials {GRANT_TYPE}", redirect_uris="")


@pytest.fixture
def api() -> HttpClient:
    return HttpClient()


@pytest.fixture(autouse=True)
def _trusted(settings, user):
    configure(settings)
    caches["default"].clear()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "alice", "aud": OUR_ISSUER, "iat": now, "exp": now + 120,
            "jti": uuid.uuid4().hex}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1",
         **headers: Any) -> str:
    head = {**({"kid": kid} if kid else {}), **headers}
    return pyjwt.encode(payload, key, algorithm=alg, headers=head)


def grant(api: HttpClient, client, assertion: str, **data: str):
    data.setdefault("scope", "read")
    return post_form(api, {"grant_type": GRANT_TYPE, "assertion": assertion, **data},
                     HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_an_assertion_of_a_trusted_issuer_gives_a_token_for_the_mapped_user(
        api, service, user, assert_max_queries):
    seen: list[dict] = []
    token_issued.connect(receiver := lambda sender, **kw: seen.append(kw))
    try:
        with assert_max_queries(4):  # client, the adapter's user lookup, family INSERT, token INSERT
            r = grant(api, service, sign(claims()), scope="read")
    finally:
        token_issued.disconnect(receiver)
    assert r.status_code == 200, r.content
    assert_no_store(r)
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read" and "refresh_token" not in body
    row = access_token_row(body["access_token"])
    assert row.user == user and row.client == service and row.authorization.user == user
    assert not RefreshToken.objects.exists()
    assert [(s["grant_type"], s["user"]) for s in seen] == [(GRANT_TYPE, user)]


def test_in_development_the_audience_is_the_url_the_request_came_to(api, service, user, settings):
    """``DEBUG`` on and no ``ISSUER``: the issuer is where the request came to, so it is the
    audience accepted (and the token endpoint under it), and an assertion naming it as its
    issuer is refused as untrusted, never answered with a server error."""
    settings.DEBUG = True
    configure(settings, ISSUER=None)
    assert grant(api, service, sign(claims(aud="http://testserver/o"))).status_code == 200
    assert grant(api, service, sign(claims(aud="http://testserver/o/token/"))).status_code == 200
    assert_error(grant(api, service, sign(claims(aud=OUR_ISSUER))), "invalid_grant")
    assert_error(grant(api, service, sign(claims(iss="http://testserver/o", aud="http://testserver/o"))),
                 "invalid_grant")


class ByEmailAdapter(DefaultAdapter):
    """Maps the assertion to a user by a claim of its own (an IdP whose ``sub`` is opaque)."""

    def user_for_assertion(self, issuer, subject, claims, client):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(email=claims.get("email") or "-").first()


def test_the_adapter_maps_the_subject_with_the_assertions_claims(api, service, settings):
    """``user_for_assertion`` gets the verified claims: a host may map by one of them."""
    configure(settings, ADAPTER=f"{__name__}.ByEmailAdapter")
    carol = UserFactory(username="carol", email="carol@idp.example")
    r = grant(api, service, sign(claims(sub="opaque-7f3a", email="carol@idp.example")))
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).user == carol
    assert_error(grant(api, service, sign(claims(sub="opaque-7f3a", email="nobody@idp.example"))), "invalid_grant")


def test_an_ec_key_and_the_token_endpoint_as_audience(api, service, user):
    assertion = sign(claims(aud=TOKEN_ENDPOINT), EC_KEY, "ES256", "ec-1")
    assert grant(api, service, assertion).status_code == 200
    assertion = sign(claims(aud=["https://elsewhere.example", OUR_ISSUER]))
    assert grant(api, service, assertion).status_code == 200


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_nothing_is_trusted_by_default(api, service, settings):
    configure(settings, ADAPTER="oauth_provider.adapter.DefaultAdapter")
    assert_error(grant(api, service, sign(claims())), "invalid_grant")


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_a_subject_without_a_user_is_refused(api, service):
    assert_error(grant(api, service, sign(claims(sub="mallory"))), "invalid_grant")
    assert not AccessToken.objects.exists() and not Authorization.objects.exists()


def test_an_inactive_user_is_refused(api, service, user):
    user.is_active = False
    user.save()
    assert_error(grant(api, service, sign(claims())), "invalid_grant")


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_an_unknown_issuer_is_refused(api, service):
    assert_error(grant(api, service, sign(claims(iss=OTHER_ISSUER))), "invalid_grant")


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_an_issuer_trusted_only_for_another_client_is_refused(api, service, settings):
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": JWKS, "clients": ["someone-else"]}})
    assert_error(grant(api, service, sign(claims())), "invalid_grant")
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": JWKS, "clients": [service.client_id]}})
    assert grant(api, service, sign(claims())).status_code == 200


@pytest.mark.req("7523-3-signature")
@pytest.mark.parametrize("forge", ["other_key", "kid_not_found", "no_kid_other_key", "none", "hs256_public_key",
                                   "jwk_header", "tampered", "two_jwts", "jku_header"])
def test_forgeries_are_refused(api, service, forge):
    payload = claims()
    if forge == "other_key":
        assertion = sign(payload, OTHER_RSA_KEY)
    elif forge == "kid_not_found":
        assertion = sign(payload, kid="rsa-2")
    elif forge == "no_kid_other_key":
        assertion = sign(payload, OTHER_RSA_KEY, kid=None)
    elif forge == "none":
        assertion = pyjwt.encode(payload, None, algorithm="none", headers={"kid": "rsa-1"})
    elif forge == "hs256_public_key":
        pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
        import hashlib
        import hmac

        signature = base64.urlsafe_b64encode(hmac.new(pem, head + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
        assertion = (head + b"." + body + b"." + signature).decode()
    elif forge == "jwk_header":
        assertion = sign(payload, OTHER_RSA_KEY, jwk=public_jwk(OTHER_RSA_KEY, "x"))
    elif forge == "jku_header":
        assertion = sign(payload, jku="https://attacker.example/jwks")
    elif forge == "tampered":
        head, body, signature = sign(payload).split(".")
        other = base64.urlsafe_b64encode(json.dumps({**payload, "sub": "root"}).encode()).rstrip(b"=").decode()
        assertion = f"{head}.{other}.{signature}"
    else:
        assertion = sign(payload) + " " + sign(claims())
    assert_error(grant(api, service, assertion), "invalid_grant")


@pytest.mark.req("7523bis-4-grant-aud")
@pytest.mark.parametrize("aud", ["https://rs-a.example/", OUR_ISSUER + "/", ["https://rs-a.example/"],
                                 "https://testserver/o/introspect/", None, 5])
def test_the_audience_must_name_this_server(api, service, aud):
    assertion = sign(claims(aud=aud)) if aud is not None else sign({k: v for k, v in claims().items() if k != "aud"})
    assert_error(grant(api, service, assertion), "invalid_grant")


@pytest.mark.req("7523-3-exp")
@pytest.mark.req("7523-3-grant-time")
@pytest.mark.parametrize("times", [
    {"exp": None}, {"exp": -61}, {"exp": 86400}, {"iat": -86400, "exp": 60}, {"nbf": 3600, "exp": 120},
    {"iat": 3600, "exp": 3700}, {"exp": "soon"},
])
def test_times_are_checked(api, service, times):
    now = int(time.time())
    payload = claims()
    for name, offset in times.items():
        if offset is None:
            payload.pop(name)
        elif isinstance(offset, str):
            payload[name] = offset
        else:
            payload[name] = now + offset
    assert_error(grant(api, service, sign(payload)), "invalid_grant")


@pytest.mark.req("7523-3-grant-time")
def test_an_assertion_is_used_once(api, service):
    assertion = sign(claims())
    assert grant(api, service, assertion).status_code == 200
    assert_error(grant(api, service, assertion), "invalid_grant")
    # the same jti in another assertion of the same issuer too
    jti = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "==="))["jti"]
    assert_error(grant(api, service, sign(claims(jti=jti))), "invalid_grant")


class TwoIssuersAdapter(MappingAdapter):
    def user_for_assertion(self, issuer, subject, claims, client):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(username=subject).first() if issuer == OTHER_ISSUER else \
            super().user_for_assertion(issuer, subject, claims, client)


@pytest.mark.req("7523-3-grant-time")
def test_a_jti_is_used_once_per_issuer_so_no_issuer_can_spend_anothers(api, service, settings):
    """RFC 7519 §4.1.7: a ``jti`` is unique for its issuer. The replay cache keys it by issuer,
    so one trusted issuer (or whoever holds its key) sending a ``jti`` another issuer is about
    to use does not make that issuer's assertion a "replay"."""
    configure(settings, JWT_BEARER_ISSUERS={
        ISSUER: {"jwks": JWKS}, OTHER_ISSUER: {"jwks": {"keys": [public_jwk(OTHER_RSA_KEY, "other-1")]}}},
        ADAPTER=f"{__name__}.TwoIssuersAdapter")
    jti = uuid.uuid4().hex
    first = grant(api, service, sign(claims(iss=OTHER_ISSUER, jti=jti), OTHER_RSA_KEY, kid="other-1"))
    assert first.status_code == 200, first.content
    assert grant(api, service, sign(claims(jti=jti))).status_code == 200
    assert_error(grant(api, service, sign(claims(jti=jti))), "invalid_grant")  # still once for each


def test_an_assertion_redeemed_by_one_client_cannot_be_replayed_by_another(api, service, settings):
    """The replay cache keys a ``jti`` by its issuer alone, not by the redeeming client: an
    issuer trusted for two clients does not let the second spend the first's assertion again."""
    other = ClientFactory(name="Second service", grant_types=f"client_credentials {GRANT_TYPE}", redirect_uris="")
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": JWKS, "clients": [service.client_id, other.client_id]}})
    assertion = sign(claims())
    assert grant(api, service, assertion).status_code == 200
    assert_error(grant(api, other, assertion), "invalid_grant")


@pytest.mark.req("7523-3.1-client-creds")
def test_a_public_client_edited_past_the_validator_gets_no_token(api, settings):
    """The grant needs a confidential client (its credentials are the only proof of who sends
    the assertion); a public row with the grant type written in behind the model's validator
    is refused at the token endpoint, not given a token for whoever names its client_id."""
    from tests.support.factories import PublicClientFactory

    public = PublicClientFactory(grant_types="authorization_code")
    type(public).objects.filter(pk=public.pk).update(grant_types=f"authorization_code {GRANT_TYPE}")
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": JWKS, "clients": [public.client_id]}})
    r = post_form(api, {"grant_type": GRANT_TYPE, "client_id": public.client_id, "assertion": sign(claims()),
                        "scope": "read"})
    assert_error(r, "unauthorized_client")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("payload", [{"jti": None}, {"jti": ""}, {"jti": "x" * 257}, {"sub": None}, {"sub": 7}])
def test_jti_and_sub_are_required(api, service, payload):
    assert_error(grant(api, service, sign(claims(**payload))), "invalid_grant")


def test_assertion_is_required(api, service):
    r = post_form(api, {"grant_type": GRANT_TYPE}, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret))
    assert_error(r, "invalid_request")


@pytest.mark.req("7523-3.1-client-creds")
def test_client_credentials_are_checked_and_the_grant_must_be_registered(api, service, conf_client):
    r = post_form(api, {"grant_type": GRANT_TYPE, "assertion": sign(claims())},
                  HTTP_AUTHORIZATION=basic_auth(service.client_id, "wrong"))
    assert_error(r, "invalid_client", 401)
    assert_error(grant(api, conf_client, sign(claims())), "unauthorized_client")


@pytest.mark.req("DERIVED-assertion-cross-use")
@pytest.mark.parametrize("typ", ["at+jwt", "client-authentication+jwt", "logout+jwt", "dpop+jwt", "application/"])
def test_other_kinds_of_jwt_are_refused(api, service, typ):
    assert_error(grant(api, service, sign(claims(), typ=typ)), "invalid_grant")


@pytest.mark.req("DERIVED-assertion-cross-use")
def test_our_own_tokens_are_not_assertions(api, service, oauth, conf_client, settings, signing_key):
    configure(settings, ACCESS_TOKEN_FORMAT="jwt")
    tokens = oauth.tokens(conf_client, scope="openid read")
    for token in (tokens["id_token"], tokens["access_token"]):
        assert_error(grant(api, service, token), "invalid_grant")
    configure(settings, JWT_BEARER_ISSUERS={OUR_ISSUER: {"jwks": JWKS}})
    assert_error(grant(api, service, tokens["id_token"]), "invalid_grant")
    # our own issuer is never trusted, even listed with keys that verify
    body = assert_error(grant(api, service, sign(claims(iss=OUR_ISSUER))), "invalid_grant")
    assert "issuer is not trusted" in body["error_description"]


@pytest.mark.req("DERIVED-assertion-cross-use")
def test_a_clients_own_keys_sign_grants_but_not_its_client_assertions(api, settings, user):
    client = ClientFactory(grant_types=GRANT_TYPE, redirect_uris="")
    if not hasattr(client, "jwks"):
        pytest.skip("client jwks field not on this branch")
    client.jwks = json.dumps(JWKS)
    client.save()
    own = claims(iss=client.client_id)
    assert grant(api, client, sign(own)).status_code == 200
    # iss = sub = client_id: what the client signs to authenticate (OIDC Core §9), not a grant
    assert_error(grant(api, client, sign(claims(iss=client.client_id, sub=client.client_id))), "invalid_grant")
    # only that pair: a trusted issuer's assertion whose subject happens to be the client_id is a grant
    UserFactory(username=client.client_id)
    assert grant(api, client, sign(claims(sub=client.client_id))).status_code == 200


def test_keys_at_a_jwks_uri_are_fetched_and_refetched_for_an_unknown_kid(api, service, settings):
    with local_server() as server:
        server.routes["/jwks"] = json_route({"keys": [public_jwk(RSA_KEY, "rsa-1")]})
        configure(settings, ALLOW_INSECURE_LOOPBACK_FETCH=True,
                  JWT_BEARER_ISSUERS={ISSUER: {"jwks_uri": server.url("/jwks")}})
        assert grant(api, service, sign(claims())).status_code == 200
        assert grant(api, service, sign(claims())).status_code == 200
        assert server.hits("/jwks") == 1  # cached
        server.routes["/jwks"] = json_route({"keys": [public_jwk(EC_KEY, "ec-2")]})
        assert grant(api, service, sign(claims(), EC_KEY, "ES256", "ec-2")).status_code == 200
        assert server.hits("/jwks") == 2
        # random kids cannot make us fetch on every request
        for n in range(3):
            assert_error(grant(api, service, sign(claims(), kid=f"nope-{n}")), "invalid_grant")
        assert server.hits("/jwks") == 2


def test_a_clients_own_jwks_uri_is_refetched_for_an_unknown_kid(api, settings, user):
    """The client as its own issuer, its keys at its ``jwks_uri``: a key rotated since the last
    fetch is found by fetching again (once a minute at most), as for a trusted issuer."""
    with local_server() as server:
        server.routes["/jwks"] = json_route({"keys": [public_jwk(RSA_KEY, "rsa-1")]})
        configure(settings, ALLOW_INSECURE_LOOPBACK_FETCH=True)
        client = ClientFactory(grant_types=GRANT_TYPE, redirect_uris="", jwks_uri=server.url("/jwks"))
        assert grant(api, client, sign(claims(iss=client.client_id))).status_code == 200
        server.routes["/jwks"] = json_route({"keys": [public_jwk(EC_KEY, "ec-9")]})
        rotated = grant(api, client, sign(claims(iss=client.client_id), EC_KEY, "ES256", "ec-9"))
        assert rotated.status_code == 200, rotated.content
        assert server.hits("/jwks") == 2
        # rotated again, to a kid sorting before the one held, of the same algorithm: still unknown
        import hashlib

        # the once-a-minute refetch budget, spent above, for a minute exactly (never for good:
        # a later rotation must be found too); the fetched document stays cached
        digest = hashlib.sha256(client.client_id.encode()).hexdigest()
        budget = f"oauth_provider:jwt-bearer-jwks-refresh:{digest}"
        left = [None if expiry is None else expiry - time.time()  # None: kept for ever
                for key, expiry in caches["default"]._expire_info.items() if budget in key]
        assert len(left) == 1 and left[0] is not None and 58 < left[0] <= 60, left
        caches["default"].delete(budget)
        server.routes["/jwks"] = json_route({"keys": [public_jwk(OTHER_EC_KEY, "ec-2")]})
        again = grant(api, client, sign(claims(iss=client.client_id), OTHER_EC_KEY, "ES256", "ec-2"))
        assert again.status_code == 200, again.content
        assert server.hits("/jwks") == 3


def test_an_unreachable_jwks_uri_is_invalid_grant(api, service, settings):
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks_uri": "https://127.0.0.1:9/jwks"}})
    assert_error(grant(api, service, sign(claims())), "invalid_grant")


def test_the_resource_and_scope_are_those_of_client_credentials(api, service, settings):
    service.allowed_scopes = "read"
    service.save()
    assert_error(grant(api, service, sign(claims()), scope="write"), "invalid_scope")
    assert_error(grant(api, service, sign(claims()), resource="https://unknown.example/"), "invalid_target")


@pytest.mark.req("8707-2-audience-restrict")
def test_a_named_resource_binds_the_token_and_its_grant(api, service, settings, user):
    """RFC 8707 §2: the token is for the resource the request names, with the scope that
    resource accepts; its grant records the resource too (what connected apps shows)."""
    configure(settings, RESOURCES={"https://notes.example/": {"name": "Notes", "scopes": ["read"]},
                                   "https://photos.example/": {"name": "Photos", "scopes": ["read", "write"]}})
    r = grant(api, service, sign(claims()), scope="read write", resource="https://notes.example/")
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "read"
    row = access_token_row(r.json()["access_token"])
    assert (row.audience, row.scope) == ("https://notes.example/", "read")
    assert (row.authorization.resources, row.authorization.scope) == ("https://notes.example/", "read")


class PhotosForTheBatchServiceOnly(MappingAdapter):
    def allows_resource(self, client, resource):
        return resource != "https://photos.example/" or client.name == "Batch service"


@pytest.mark.req("8707-2.1-unknown-resource")
def test_the_adapter_decides_per_client_which_resources_an_assertion_may_name(api, service, settings):
    """``allows_resource`` is asked with the client presenting the assertion: one client may
    name a resource another may not (``invalid_target``)."""
    configure(settings, ADAPTER=f"{__name__}.PhotosForTheBatchServiceOnly",
              RESOURCES={"https://notes.example/": {"name": "Notes", "scopes": ["read"]},
                         "https://photos.example/": {"name": "Photos", "scopes": ["read"]}})
    other = ClientFactory(name="Another service", grant_types=GRANT_TYPE, redirect_uris="")
    assert_error(grant(api, other, sign(claims()), resource="https://photos.example/"), "invalid_target")
    assert grant(api, other, sign(claims()), resource="https://notes.example/").status_code == 200
    r = grant(api, service, sign(claims()), resource="https://photos.example/")
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).audience == "https://photos.example/"


def test_the_metadata_lists_the_grant_only_while_a_client_is_registered_for_it(api, db):
    def listed() -> bool:
        return GRANT_TYPE in api.get("/o/.well-known/oauth-authorization-server").json()["grant_types_supported"]

    assert not listed()
    client = ClientFactory(grant_types=GRANT_TYPE, redirect_uris="")
    assert listed()
    client.delete()
    assert not listed()


def test_other_users_are_unaffected(api, service):
    UserFactory(username="bob")
    r = grant(api, service, sign(claims(sub="bob")))
    assert r.status_code == 200
    assert access_token_row(r.json()["access_token"]).user.username == "bob"


# -- the time rules to the second (RFC 7523 §3 items 4-6; a frozen clock on a whole second) -------
LEEWAY, LONGEST = 60, 300  # jwt_bearer.LEEWAY, the JWT_BEARER_MAX_LIFETIME default


@pytest.fixture
def t0() -> int:
    return int(FrozenClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)).current.timestamp())


def accepted(api, service, **times: Any) -> bool:
    response = grant(api, service, sign(claims(**times)))
    assert response.status_code in (200, 400), response.content
    return response.status_code == 200


@pytest.mark.req("7523-3-exp")
def test_expiry_is_enforced_to_the_second_with_the_leeway(api, service, t0):
    assert accepted(api, service, iat=t0 - 100, exp=t0 - LEEWAY)
    assert not accepted(api, service, iat=t0 - 100, exp=t0 - LEEWAY - 1)


@pytest.mark.req("7523-3-grant-time")
def test_the_longest_lifetime_is_enforced_to_the_second(api, service, t0):
    assert accepted(api, service, iat=t0 - 10, exp=t0 - 10 + LONGEST + LEEWAY)
    assert not accepted(api, service, iat=t0 - 10, exp=t0 - 10 + LONGEST + LEEWAY + 1)
    assert accepted(api, service, iat=None, exp=t0 + LONGEST + LEEWAY)  # from now without iat
    assert not accepted(api, service, iat=None, exp=t0 + LONGEST + LEEWAY + 1)


@pytest.mark.req("7523-3-grant-time")
def test_nbf_and_iat_windows_are_enforced_to_the_second(api, service, t0):
    assert accepted(api, service, nbf=t0 + LEEWAY, iat=t0, exp=t0 + 120)
    assert accepted(api, service, nbf=t0 - 30, iat=t0 - 30, exp=t0 + 120)
    assert not accepted(api, service, nbf=t0 + LEEWAY + 1, iat=t0, exp=t0 + 120)
    assert accepted(api, service, iat=t0 + LEEWAY, exp=t0 + 120)
    assert not accepted(api, service, iat=t0 + LEEWAY + 1, exp=t0 + 120)
    # an old iat: at most the longest lifetime and the leeway ago, even for a short-lived assertion
    assert accepted(api, service, iat=t0 - LONGEST - LEEWAY, exp=t0 - LEEWAY)
    assert not accepted(api, service, iat=t0 - LONGEST - LEEWAY - 1, exp=t0 - LEEWAY)


def test_a_jti_of_256_characters_is_the_longest_accepted(api, service, t0):
    assert accepted(api, service, jti="j" * 256, iat=t0, exp=t0 + 60)
    assert not accepted(api, service, jti="k" * 257, iat=t0, exp=t0 + 60)


@pytest.mark.req("7523-3-grant-time")
def test_a_jti_is_remembered_until_the_assertion_can_no_longer_be_accepted(api, service, t0):
    """Until exp + LEEWAY: a shorter memory would let the assertion be replayed while the
    expiry check still accepts it."""
    cache = caches["default"]
    assert accepted(api, service, jti="a", iat=t0, exp=t0 + 200)
    kept = [round(expiry - time.time()) for key, expiry in cache._expire_info.items() if "jwt-bearer-jti" in key]
    assert kept == [200 + LEEWAY]
    late = sign(claims(jti="b", iat=t0 - 100, exp=t0 - LEEWAY))  # used at its last accepted second
    assert grant(api, service, late).status_code == 200
    assert_error(grant(api, service, late), "invalid_grant")


@pytest.mark.req("7523-3-grant-time")
def test_a_jti_is_remembered_to_the_end_of_its_last_accepted_second(api, service):
    """RFC 7523 §3 item 7, to the fraction of a second: half a second past a whole second, an
    assertion with exp 200 s ahead is accepted for 259.5 s more; its jti was kept for
    int(199.5) + 60 = 259 s, so the same assertion could be redeemed again in the last half
    second."""
    t0 = int(FrozenClock(datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)).current.timestamp())
    assert accepted(api, service, jti="a", iat=t0, exp=t0 + 200)
    cache = caches["default"]
    kept = [expiry - time.time() for key, expiry in cache._expire_info.items() if "jwt-bearer-jti" in key]
    assert len(kept) == 1 and kept[0] >= 200 + LEEWAY - 0.5


@pytest.mark.req("7523-2.1-grant-issuer-trust")
def test_a_kidless_assertion_is_tried_against_each_key_of_the_issuer(api, service, settings):
    """Without a kid every key of the algorithm is tried: one that does not verify is skipped,
    not the end of the search."""
    keys = {"keys": [public_jwk(OTHER_RSA_KEY, "other"), public_jwk(RSA_KEY, "rsa-1")]}
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": keys}})
    assert grant(api, service, sign(claims(), kid=None)).status_code == 200
    assert_error(grant(api, service, sign(claims(), EC_KEY, alg="ES256", kid=None)), "invalid_grant")



@pytest.mark.parametrize("client_id", ["a-client", "z-client"])  # sorting before and after ISSUER
def test_a_client_assertion_is_no_grant_even_for_a_user_named_like_the_client(api, settings, client_id):
    """iss = sub = client_id is the client authenticating (OIDC Core §9), refused as a grant even
    when the adapter maps that subject to a user; any other issuer's assertion about that
    subject is a grant."""
    client = ClientFactory(client_id=client_id, grant_types=GRANT_TYPE, redirect_uris="")
    client.jwks = json.dumps(JWKS)
    client.save()
    UserFactory(username=client_id)
    body = assert_error(grant(api, client, sign(claims(iss=client_id, sub=client_id))), "invalid_grant")
    assert "client authentication assertion" in body["error_description"]
    assert grant(api, client, sign(claims(sub=client_id))).status_code == 200


@pytest.mark.req("9449-5-token-binding")
def test_a_dpop_proof_binds_the_token(api, service, user):
    from tests.support.dpop import DPoPKey

    key = DPoPKey("RSA", "PS256")
    r = post_form(api, {"grant_type": GRANT_TYPE, "assertion": sign(claims()), "scope": "read"},
                  HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
                  HTTP_DPOP=key.proof("POST", TOKEN_ENDPOINT))
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "DPoP"
    assert access_token_row(r.json()["access_token"]).dpop_jkt == key.jkt


@pytest.mark.parametrize("claim", ["jti", "sub", "iss"])
def test_a_claim_holding_a_lone_surrogate_is_refused_not_a_crash(api, service, claim):
    """A trusted issuer's assertion with a ``\\ud800`` string (no UTF-8 encoding, RFC 7493
    §2.1): hashing its ``jti`` for the replay cache answered 500, and so did a ``sub`` sent to
    PostgreSQL by the host's user lookup."""
    assert_error(grant(api, service, sign(claims(**{claim: "\ud800"}))), "invalid_grant")
    assert grant(api, service, sign(claims())).status_code == 200


# -- what the mutation run of grants/jwt_bearer.py showed no test holding ---------------------------

def test_an_assertion_living_too_long_from_an_iat_decades_back_is_refused(api, service, settings):
    configure(settings)
    far = int(time.time()) + 3600
    body = assert_error(grant(api, service, sign(claims(iat=far // 2, exp=far))), "invalid_grant")
    assert "too long" in body["error_description"] or "lifetime" in body["error_description"]


@pytest.mark.parametrize("iss", [["https://idp.example"], {"a": 1}, 1, True])
def test_an_issuer_that_is_not_a_string_is_untrusted_not_a_crash(api, service, settings, iss):
    configure(settings)
    raw = pyjwt.api_jws.encode(json.dumps(claims(iss=iss)).encode(), RSA_KEY, algorithm="RS256",
                               headers={"kid": "rsa-1"})  # PyJWT would refuse to encode such an iss
    body = assert_error(grant(api, service, raw), "invalid_grant")
    assert "issuer is not trusted" in body["error_description"]


def test_a_key_published_for_encryption_never_verifies_an_assertion(api, service, settings):
    """RFC 7517 §4.2: ``use: enc`` keys are for encryption; one that would verify is skipped
    (the set as it arrives from JSON: settings read from a file, or fetched)."""
    as_read = json.loads(json.dumps({"keys": [{**public_jwk(RSA_KEY, "rsa-1"), "use": "enc"}]}))
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": as_read}})
    assert_error(grant(api, service, sign(claims())), "invalid_grant")
    configure(settings, JWT_BEARER_ISSUERS={ISSUER: {"jwks": {"keys": [{**public_jwk(RSA_KEY, "rsa-1"),
                                                                        "use": "sig"}]}}})
    assert grant(api, service, sign(claims())).status_code == 200


def test_a_grant_with_openid_in_scope_gets_no_id_token(api, service, settings):
    """An assertion grant is no login (OIDC Core §3.1.3.3 ties ID tokens to the code flow)."""
    configure(settings)
    r = grant(api, service, sign(claims()), scope="openid read")
    if r.status_code == 200:
        assert "id_token" not in r.json()
    else:
        assert_error(r, "invalid_scope")


def test_only_sub_equal_to_the_client_id_makes_a_client_issued_assertion_a_client_assertion(api, settings):
    """iss = sub = client_id is what a client signs to authenticate; any other sub of the
    client's own assertion is a user, whichever way it sorts against the client_id."""
    client = ClientFactory(grant_types=GRANT_TYPE, redirect_uris="", jwks=json.dumps(JWKS))
    configure(settings)
    for name in ("0", "~"):  # sorting before and after every client_id
        UserFactory(username=name)
        r = grant(api, client, sign(claims(iss=client.client_id, sub=name)))
        assert r.status_code == 200, r.content


@pytest.mark.parametrize("sub", [123, "", ["alice"], {"id": "alice"}, True])
def test_a_sub_that_is_not_a_non_empty_string_is_refused_by_name(api, service, settings, sub):
    """RFC 7523 §3 item 2: ``sub`` names the subject; a number, an empty string, a list or an
    object is refused as such, before any user lookup."""
    configure(settings)
    body = assert_error(grant(api, service, sign(claims(sub=sub))), "invalid_grant")
    assert "must name its subject in sub" in body["error_description"]

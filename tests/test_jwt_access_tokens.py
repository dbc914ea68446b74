"""RFC 9068 JWT access tokens: issued per client or site-wide, verified by the resource layer
with no database query, never confused with ID tokens (checklist K and L)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from oauth_provider import jwt, keys, secrets
from tests.support.factories import ClientFactory
from tests.support.resource_helpers import provider_settings
from tests.support.token_helpers import post_form

from .conftest import basic_auth

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.support.jwt_urls")]
ISS = "https://testserver/o"


@pytest.fixture
def jwt_client(db):
    return ClientFactory(access_token_format="jwt", name="JWT RP")


@pytest.fixture
def warm_keys(signing_key):
    keys.signing_key()  # load the key set into this process, as any running worker has it
    return signing_key


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_token_is_an_rfc9068_jwt(oauth, jwt_client, user, warm_keys):
    body = oauth.tokens(jwt_client, scope="read write")
    token = body["access_token"]
    keyset = KeySet.import_key_set(oauth.api.get("/o/jwks/").json())
    decoded = jose_jwt.decode(token, keyset, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == ISS and claims["aud"] == "https://testserver"
    assert claims["sub"] == str(user.pk) and claims["client_id"] == jwt_client.client_id
    assert claims["scope"] == "read write" and claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]


@pytest.mark.req("BCP-2.3-audience")
def test_drf_and_decorator_verify_with_zero_queries(oauth, jwt_client, warm_keys, django_assert_num_queries):
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    with django_assert_num_queries(0):
        r = oauth.api.get("/api/scope-only/", **bearer(token))
    assert r.status_code == 200 and r.json() == {"scope": "read"}
    with django_assert_num_queries(0):
        r = oauth.api.get("/api/plain-scope-only/", **bearer(token))
    assert r.status_code == 200


def test_the_view_is_told_a_jwt_access_token_is_one(oauth, jwt_client, conf_client, warm_keys):
    """RFC 9068: a JWT access token is verified without its row, so it names no row and no
    grant; ``is_jwt`` tells the view (and UserInfo, which then looks the row up for the
    grant's ``claims``), an opaque token is not one."""
    from django.test import RequestFactory

    from oauth_provider import resource

    signed = resource.authenticate(RequestFactory().get("/", **bearer(oauth.tokens(jwt_client)["access_token"])))
    assert signed.is_jwt and signed.id is None and signed.grant is None
    opaque = resource.authenticate(RequestFactory().get("/", **bearer(oauth.tokens(conf_client)["access_token"])))
    assert not opaque.is_jwt and opaque.id is not None


def test_user_and_client_load_lazily_when_touched(oauth, jwt_client, user, warm_keys, django_assert_num_queries):
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    with django_assert_num_queries(2):  # the user, then the client
        r = oauth.api.get("/api/who/", **bearer(token))
    assert r.json() == {"user": "alice", "client_id": jwt_client.client_id}


def test_client_credentials_jwt_has_the_client_as_subject(oauth, jwt_client, warm_keys, assert_num_queries):
    with assert_num_queries(2):
        r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                           HTTP_AUTHORIZATION=basic_auth(jwt_client.client_id, jwt_client.raw_secret))
    token = r.json()["access_token"]
    claims = jwt.decode(token, typ="at+jwt", issuer=ISS)
    assert claims["sub"] == jwt_client.client_id
    r = oauth.api.get("/api/who/", **bearer(token))
    assert r.json() == {"user": None, "client_id": jwt_client.client_id}


def test_site_wide_setting(oauth, conf_client, warm_keys):
    with override_settings(OAUTH_PROVIDER=provider_settings(ACCESS_TOKEN_FORMAT="jwt")):
        token = oauth.tokens(conf_client)["access_token"]
    assert jwt.header(token)["typ"] == "at+jwt"
    assert oauth.tokens(conf_client)["access_token"].count(".") == 0  # opaque by default


@pytest.mark.req("8725-3.11-typ / 3.12-exclusive")
def test_an_id_token_is_not_an_access_token(oauth, jwt_client, warm_keys):
    id_token = oauth.tokens(jwt_client, scope="openid read")["id_token"]
    r = oauth.api.get("/api/scope-only/", **bearer(id_token))
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]
    assert oauth.api.get("/o/userinfo/", **bearer(id_token)).status_code == 401


@pytest.mark.req("BCP-2.3-audience")
def test_a_token_for_another_resource_server_is_refused(oauth, jwt_client, warm_keys):
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://api.other.example")):
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401


def test_expired_and_tampered_tokens(oauth, jwt_client, warm_keys):
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    head, body, sig = token.split(".")
    assert oauth.api.get("/api/scope-only/", **bearer(f"{head}.{body}.{sig[::-1]}")).status_code == 401
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=3600 + 61))
    assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401


def test_scope_is_enforced(oauth, jwt_client, warm_keys):
    token = oauth.tokens(jwt_client, scope="write")["access_token"]
    r = oauth.api.get("/api/scope-only/", **bearer(token))
    assert r.status_code == 403 and 'error="insufficient_scope"' in r["WWW-Authenticate"]


@pytest.mark.req("DERIVED-revocation-visible")
def test_revocation_without_denylist_waits_for_expiry(oauth, jwt_client, warm_keys):
    """The documented trade-off: without the denylist a revoked JWT works until it expires,
    while introspection (which reads the database) already says inactive."""
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
    assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
    assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200
    assert post_form(oauth.api, {"token": token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json() == {"active": False}


@pytest.mark.req("DERIVED-revocation-visible")
def test_denylist_stops_revoked_tokens_at_once(oauth, jwt_client, warm_keys, django_assert_num_queries,
                                               django_capture_on_commit_callbacks):
    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        with django_assert_num_queries(0):
            assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200
        auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
        # The denylist is written when the revocation commits (the test runs inside a transaction).
        with django_capture_on_commit_callbacks(execute=True):
            assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
        with django_assert_num_queries(0):
            assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401


@pytest.mark.req("DERIVED-revocation-visible")
def test_a_revoked_token_stays_denied_until_it_expires(oauth, jwt_client, warm_keys, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    """The denylist entry lives as long as the token would be accepted, not a fixed while: half
    an hour after its revocation (by the cache's own clock) a one-hour token is still refused."""
    import time

    from django.core.cache.backends import locmem

    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
        with django_capture_on_commit_callbacks(execute=True):
            assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
        later = time.time() + 1800
        monkeypatch.setattr(locmem.time, "time", lambda: later)
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401


@pytest.mark.req("DERIVED-revocation-visible")
def test_a_revoked_es256_token_does_not_come_back_under_its_other_signature(oauth, jwt_client,
                                                                           django_capture_on_commit_callbacks):
    """ECDSA's (r, n - s) verifies like (r, s): the holder of a revoked ES256 token could re-spell
    it, and the denylist knows the revoked one by the digest of its text. Our tokens carry the
    low-s signature and only that spelling is accepted, so the twin is refused before and after."""
    from tests.test_jwt import high_s_twin

    keys.create_key("ES256", prepublish=False)
    keys.signing_key()
    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        twin = high_s_twin(token)
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200
        assert oauth.api.get("/api/scope-only/", **bearer(twin)).status_code == 401
        auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
        with django_capture_on_commit_callbacks(execute=True):
            assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
        for spelling in (token, twin):
            assert oauth.api.get("/api/scope-only/", **bearer(spelling)).status_code == 401


@pytest.mark.req("DERIVED-revocation-visible")
def test_denylist_stops_a_token_revoked_in_the_minute_its_exp_leeway_still_accepts(
        oauth, jwt_client, warm_keys, django_capture_on_commit_callbacks):
    """RFC 7009 §2.2 / RFC 9068 §4: a resource accepts a JWT access token up to 60 s past its
    ``exp`` (clock skew), so a revocation in that minute must reach the denylist too. Only
    tokens not yet past ``exp`` were written there: one revoked in its last accepted minute
    (a user logging out, a stolen token reported) kept working until the minute ended."""
    from datetime import UTC, datetime

    from tests.support.token_helpers import FrozenClock

    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        clock = FrozenClock()
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        clock.current = datetime.fromtimestamp(jwt.unverified_claims(token)["exp"] + 30, UTC)
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200  # inside the leeway
        auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
        with django_capture_on_commit_callbacks(execute=True):
            assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401


@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
def test_denylist_covers_family_revocation_on_code_replay(oauth, jwt_client, warm_keys,
                                                          django_capture_on_commit_callbacks):
    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        other = oauth.tokens(jwt_client, scope="read")["access_token"]  # another grant, same client
        code, verifier = oauth.get_code(jwt_client, scope="read")
        token = oauth.exchange(jwt_client, code, verifier).json()["access_token"]
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert oauth.exchange(jwt_client, code, verifier).status_code == 400  # replay
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401
        # only the replayed grant's tokens are denied: the other grant's token still works
        assert oauth.api.get("/api/scope-only/", **bearer(other)).status_code == 200


@pytest.mark.req("DERIVED-revocation-visible")
@pytest.mark.parametrize("deleted", ["client", "user"])
def test_denylist_stops_the_tokens_of_a_deleted_client_or_user(oauth, jwt_client, user, warm_keys, deleted,
                                                              django_capture_on_commit_callbacks):
    """Deleting the client (or the user) cascades its token rows away: nothing was revoked, so
    nothing reached the denylist and its JWT access tokens went on working until they expired,
    while introspection already called them inactive (outside resource-server review)."""
    with override_settings(OAUTH_PROVIDER=provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        own = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                        HTTP_AUTHORIZATION=basic_auth(jwt_client.client_id, jwt_client.raw_secret)
                        ).json()["access_token"] if deleted == "client" else None
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            (jwt_client if deleted == "client" else user).delete()
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401
        if own is not None:  # the client's own client_credentials token too
            assert oauth.api.get("/api/scope-only/", **bearer(own)).status_code == 401


def test_introspection_answers_for_jwt_access_tokens(oauth, jwt_client, warm_keys):
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
    body = post_form(oauth.api, {"token": token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json()
    assert body["active"] is True and body["scope"] == "read" and body["client_id"] == jwt_client.client_id


def test_a_jwt_access_token_longer_than_the_parameter_limit_is_introspected_and_revoked(
        oauth, jwt_client, warm_keys, settings):
    """A JWT access token this server issued (many scopes make it long) is a token parameter
    bounded by the longest JWT read (8,192), not by MAX_PARAMETER_LENGTH: its client got 400
    invalid_request at revocation (RFC 7009 §2.2) and introspection (outside review)."""
    scopes = {f"scope-{n:03d}-{'x' * 40}": f"Scope {n}" for n in range(75)}  # a 3,824-character scope
    settings.OAUTH_PROVIDER = provider_settings(SCOPES={**scopes, "read": "Read"})
    jwt_client.allowed_scopes = ""
    jwt_client.save()
    issued = post_form(oauth.api, {"grant_type": "client_credentials", "scope": " ".join(scopes)}, "/o/token/",
                       HTTP_AUTHORIZATION=basic_auth(jwt_client.client_id, jwt_client.raw_secret))
    assert issued.status_code == 200, issued.content
    token = issued.json()["access_token"]
    assert 4096 < len(token) <= 8192
    auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
    assert post_form(oauth.api, {"token": token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json()["active"] is True
    assert post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth).status_code == 200
    assert post_form(oauth.api, {"token": token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json() == {
        "active": False}
    too_long = post_form(oauth.api, {"token": "x" * 8193}, "/o/introspect/", HTTP_AUTHORIZATION=auth)
    assert too_long.status_code == 400 and too_long.json()["error"] == "invalid_request"


def test_code_exchange_with_jwt_and_id_token_stays_within_budget(oauth, jwt_client, warm_keys, assert_max_queries):
    code, verifier = oauth.get_code(jwt_client, scope="openid read")
    with assert_max_queries(5):
        r = oauth.exchange(jwt_client, code, verifier)
    assert r.status_code == 200 and "id_token" in r.json()
    with assert_max_queries(5):
        r = oauth.token(jwt_client, {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]})
    assert r.status_code == 200 and "id_token" in r.json()

def test_a_broken_denylist_cache_never_undoes_a_revocation(oauth, jwt_client, warm_keys, caplog,
                                                         django_capture_on_commit_callbacks):
    """Found by review: a misnamed or unreachable cache used to turn revocation into a 500 with
    the token still active. The database revocation stands; reading fails closed."""
    broken = provider_settings(JWT_ACCESS_TOKEN_DENYLIST=True, DENYLIST_CACHE="no-such-cache")
    token = oauth.tokens(jwt_client, scope="read")["access_token"]
    auth = basic_auth(jwt_client.client_id, jwt_client.raw_secret)
    with override_settings(OAUTH_PROVIDER=broken):
        with django_capture_on_commit_callbacks(execute=True):
            r = post_form(oauth.api, {"token": token}, "/o/revoke/", HTTP_AUTHORIZATION=auth)
        assert r.status_code == 200
        answer = post_form(oauth.api, {"token": token}, "/o/introspect/", HTTP_AUTHORIZATION=auth)
        assert answer.json() == {"active": False}
        assert oauth.api.get("/api/scope-only/", **bearer(token)).status_code == 401  # fails closed
    assert "denylist" in caplog.text


# -- a user's token is never a client's own (issue 12, item 6; RFC 9068 §5, RFC 9700 §4.15.1) --
class UsernameSubjects:
    """A host adapter that uses usernames as subjects, as many sites do."""

    def __init__(self) -> None:
        from oauth_provider.adapter import DefaultAdapter

        self.base = DefaultAdapter()

    def __getattr__(self, name):
        return getattr(self.base, name)

    def get_subject(self, user):
        return user.get_username()

    def get_user_by_subject(self, subject):
        from django.contrib.auth import get_user_model

        return get_user_model()._default_manager.filter(username=subject, is_active=True).first()


class UsernameSubjectsAdapter(UsernameSubjects):
    pass


@pytest.mark.req("BCP-4.15.1-client-id-confusion")
def test_a_user_named_like_a_client_gets_a_users_token_not_the_clients(warm_keys):
    """A user whose username (= subject, with this adapter) is exactly a client_id signs in to
    that very client: the JWT's ``sub`` then equals its ``client_id``. Before the fix the
    resource layer took it for the client's own client_credentials token (no user, client
    privileges). The resource layer, DRF and introspection must all see a user's token, and a
    genuine client_credentials token must stay the client's own."""
    from django.test import Client as HttpClient

    from tests.support.factories import UserFactory

    from .conftest import OAuthDriver

    service = ClientFactory(client_id="reporting-service", access_token_format="jwt", name="Reporting")
    namesake = UserFactory(username="reporting-service")
    browser = HttpClient()
    browser.force_login(namesake)
    oauth = OAuthDriver(browser, HttpClient())
    adapter_path = f"{__name__}.UsernameSubjectsAdapter"
    with override_settings(OAUTH_PROVIDER=provider_settings(ADAPTER=adapter_path)):
        users_token = oauth.tokens(service, scope="read")["access_token"]
        claims = jwt.decode(users_token, typ="at+jwt", issuer=ISS)
        assert claims["sub"] == claims["client_id"] == "reporting-service"  # the ambiguous case
        r = oauth.api.get("/api/kind/", **bearer(users_token))
        assert r.status_code == 200
        assert r.json() == {"client_token": False, "user": "reporting-service"}
        auth = basic_auth(service.client_id, service.raw_secret)
        body = post_form(oauth.api, {"token": users_token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json()
        assert body["active"] is True and body["sub"] == "reporting-service"
        assert body["username"] == "reporting-service"

        r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                           HTTP_AUTHORIZATION=auth)
        own_token = r.json()["access_token"]
        assert oauth.api.get("/api/kind/", **bearer(own_token)).json() == {"client_token": True, "user": None}
        body = post_form(oauth.api, {"token": own_token}, "/o/introspect/", HTTP_AUTHORIZATION=auth).json()
        assert body["active"] is True and "sub" not in body and "username" not in body


def test_a_clients_own_token_is_marked_and_a_users_is_not(oauth, jwt_client, user, warm_keys):
    """The marker, not ``sub == client_id``, says whose token it is (documented for other
    resource servers in docs/how-to/jwt-access-tokens.md)."""
    users = jwt.decode(oauth.tokens(jwt_client, scope="read")["access_token"], typ="at+jwt", issuer=ISS)
    r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                       HTTP_AUTHORIZATION=basic_auth(jwt_client.client_id, jwt_client.raw_secret))
    own = jwt.decode(r.json()["access_token"], typ="at+jwt", issuer=ISS)
    assert "client_token" not in users
    assert own["client_token"] is True and own["sub"] == jwt_client.client_id


@pytest.mark.req("8725-3.8-iss")
@pytest.mark.parametrize("iss", ["https://other-provider.example/o", "https://testserver/o/", "https://testserver",
                                 ""])
def test_an_access_token_of_another_issuer_is_refused(oauth, jwt_client, warm_keys, iss):
    """RFC 9068 §4, RFC 8725 §3.8: the resource server checks that ``iss`` is exactly this provider's issuer.
    The forged token is signed with OUR key and has the right typ and audience, so only the
    issuer check stands between it and the API (the DRF classes and the decorator alike);
    the same token re-signed with our issuer is accepted, so nothing else refuses it."""
    import jwt as pyjwt

    claims = pyjwt.decode(oauth.tokens(jwt_client, scope="read")["access_token"],
                          options={"verify_signature": False})
    assert claims["iss"] == ISS
    ours = jwt.encode(claims, typ="at+jwt")
    forged = jwt.encode({**claims, "iss": iss}, typ="at+jwt")
    for path in ("/api/scope-only/", "/api/plain-scope-only/"):
        assert oauth.api.get(path, **bearer(ours)).status_code == 200
        refused = oauth.api.get(path, **bearer(forged))
        assert refused.status_code == 401 and 'error="invalid_token"' in refused["WWW-Authenticate"]


def test_a_jwt_access_token_carries_the_users_auth_time_when_it_is_known(oauth, jwt_client, warm_keys):
    """RFC 9068 §2.2.1: ``auth_time`` is the time the user authenticated, as in the ID token of
    the same grant (an OpenID Connect grant records it); a token of a grant that recorded none,
    or a client's own token, has no ``auth_time``."""
    import jwt as pyjwt

    body = oauth.tokens(jwt_client, scope="openid read")
    access = jwt.decode(body["access_token"], typ="at+jwt", issuer=ISS)
    id_token = pyjwt.decode(body["id_token"], options={"verify_signature": False})
    assert isinstance(access["auth_time"], int) and access["auth_time"] == id_token["auth_time"]
    assert "auth_time" not in jwt.decode(oauth.tokens(jwt_client, scope="read")["access_token"], typ="at+jwt",
                                         issuer=ISS)
    r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                  HTTP_AUTHORIZATION=basic_auth(jwt_client.client_id, jwt_client.raw_secret))
    assert "auth_time" not in jwt.decode(r.json()["access_token"], typ="at+jwt", issuer=ISS)


def test_in_development_the_issuer_is_the_url_the_request_came_to(oauth, jwt_client, warm_keys):
    """``DEBUG`` on and no ``ISSUER`` (a first try, ``python3 dev.py serve``): the issuer is
    where the request came to. A JWT access token carries it, is audience-bound to this site,
    and this site's views accept it."""
    with override_settings(DEBUG=True, OAUTH_PROVIDER=provider_settings(ISSUER=None)):
        token = oauth.tokens(jwt_client, scope="read")["access_token"]
        claims = jwt.unverified_claims(token)
        assert claims["iss"] == "http://testserver/o" and claims["aud"] == "http://testserver"
        assert oauth.api.get("/o/.well-known/openid-configuration").json()["issuer"] == claims["iss"]
        r = oauth.api.get("/api/scope-only/", **bearer(token))
        assert r.status_code == 200 and r.json() == {"scope": "read"}
        # a refresh naming that resource (RFC 8707 §2.2) is held to the same origin
        refresh = oauth.tokens(jwt_client, scope="read")["refresh_token"]
        r = oauth.token(jwt_client, {"grant_type": "refresh_token", "refresh_token": refresh,
                                     "resource": "http://testserver"})
        assert r.status_code == 200, r.content
        assert jwt.unverified_claims(r.json()["access_token"])["aud"] == "http://testserver"


@pytest.mark.parametrize("missing", ["jti", "iat", "sub", "client_id", "aud", "exp", "iss"])
def test_an_access_token_without_a_required_claim_is_refused(db, missing):
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED; a token without
    one is refused as invalid, never read with the claim missing (a 500)."""
    from oauth_provider import resource

    keys.create_key("RS256", prepublish=False)
    now = int(secrets.now().timestamp())
    claims = {"iss": "https://testserver/o", "sub": "1", "iat": now, "exp": now + 300, "aud": "https://testserver",
              "client_id": "c", "jti": "j", "scope": "read"}
    del claims[missing]
    with pytest.raises(resource.InvalidToken):
        resource.verify_jwt(jwt.encode(claims, typ=jwt.ACCESS_TOKEN_TYP))

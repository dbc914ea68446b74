"""OpenID Connect code flow: ID tokens, claims, prompt / max_age / hints (OIDC Core §3.1)."""

import base64
import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import RequestFactory, override_settings
from django.urls import resolve
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from oauth_provider import secrets
from oauth_provider.models import AuthorizationCode
from oauth_provider.oidc import id_token as id_token_module
from tests.support.factories import AuthorizationFactory, UserFactory
from tests.support.settings import oauth_settings

from ..conftest import OAuthDriver, query_of

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"


def verify(token: str, api) -> dict:
    """Verify an ID token with an independent JOSE library against our published JWKS."""
    keyset = KeySet.import_key_set(api.get("/o/jwks/").json())
    return jose_jwt.decode(token, keyset, algorithms=["RS256", "ES256", "EdDSA"]).claims


def left_half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def login_redirect(response) -> dict:
    assert response.status_code == 302, response.content[:300]
    parts = urlsplit(response["Location"])
    assert parts.path == "/accounts/login/", response["Location"]
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


@pytest.mark.req("OIDC-3.1.3.2-openid-code")
@pytest.mark.req("OIDC-2-required-claims")
@pytest.mark.req("OIDC-2-nonce-echo")
@pytest.mark.req("OIDC-2-azp")
def test_openid_code_flow_returns_a_verifiable_id_token(oauth, conf_client, user, signing_key):
    nonce = secrets.generate_token()
    body = oauth.tokens(conf_client, scope="openid", nonce=nonce)
    claims = verify(body["id_token"], oauth.api)
    assert claims["iss"] == ISS
    assert claims["sub"] == str(user.pk)
    assert claims["aud"] == conf_client.client_id and claims["azp"] == conf_client.client_id
    now = int(secrets.now().timestamp())
    assert abs(claims["iat"] - now) < 5 and claims["exp"] == claims["iat"] + 3600
    assert claims["nonce"] == nonce
    assert claims["at_hash"] == left_half_hash(body["access_token"])
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= now
    assert claims["sid"]


def test_plain_oauth_code_flow_has_no_id_token(oauth, conf_client, signing_key):
    assert "id_token" not in oauth.tokens(conf_client, scope="read")


@pytest.mark.req("OIDC-2-nonce-echo")
@pytest.mark.parametrize("length", [64, 384])
def test_long_nonces_are_echoed_exactly(oauth, conf_client, signing_key, length):
    nonce = "n" * length
    assert verify(oauth.tokens(conf_client, scope="openid", nonce=nonce)["id_token"], oauth.api)["nonce"] == nonce


def test_code_flow_without_nonce_succeeds(oauth, conf_client, signing_key):
    claims = verify(oauth.tokens(conf_client, scope="openid")["id_token"], oauth.api)
    assert "nonce" not in claims


@pytest.mark.req("OIDC-12.2-refresh-id-token")
def test_refreshed_id_token_keeps_identity_and_auth_time_without_nonce(oauth, conf_client, signing_key):
    first = oauth.tokens(conf_client, scope="openid", nonce="abc")
    before = verify(first["id_token"], oauth.api)
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=30))
    r = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.content
    after = verify(r.json()["id_token"], oauth.api)
    for claim in ("iss", "sub", "aud", "azp", "auth_time"):
        assert after[claim] == before[claim], claim
    assert after["iat"] > before["iat"]
    assert "nonce" not in after


@pytest.mark.req("OIDC-5.4-scope-claims")
def test_scope_claims_follow_the_granted_scopes(oauth, conf_client, user, signing_key):
    user.first_name, user.last_name, user.email = "Alice", "Liddell", "alice@example.com"
    user.save()
    claims = verify(oauth.tokens(conf_client, scope="openid profile")["id_token"], oauth.api)
    assert claims["name"] == "Alice Liddell" and claims["given_name"] == "Alice"
    assert claims["preferred_username"] == "alice"
    assert "email" not in claims
    claims = verify(oauth.tokens(conf_client, scope="openid email")["id_token"], oauth.api)
    assert claims["email"] == "alice@example.com" and "name" not in claims


def test_id_token_scope_claims_can_be_turned_off(oauth, conf_client, user, signing_key):
    user.email = "alice@example.com"
    user.save()
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ID_TOKEN_SCOPE_CLAIMS": False}
    with override_settings(OAUTH_PROVIDER=settings):
        claims = verify(oauth.tokens(conf_client, scope="openid email")["id_token"], oauth.api)
    assert "email" not in claims


def test_claims_parameter_places_consented_claims_in_the_id_token(oauth, conf_client, user, signing_key):
    user.email = "alice@example.com"
    user.save()
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ID_TOKEN_SCOPE_CLAIMS": False}
    request = json.dumps({"id_token": {"email": {"essential": True}, "nickname": None}})
    with override_settings(OAUTH_PROVIDER=settings):
        claims = verify(oauth.tokens(conf_client, scope="openid email profile", claims=request)["id_token"],
                        oauth.api)
    assert claims["email"] == "alice@example.com"
    assert "nickname" not in claims  # unknown for this user: omitted, not null
    assert "preferred_username" not in claims  # a profile claim nobody asked for in the ID token


@pytest.mark.req("OIDC-5.4-scope-claims")
@pytest.mark.req("DERIVED-client-policy")
def test_claims_parameter_never_widens_consent(oauth, conf_client, user, signing_key):
    """The claims parameter asks for claims; it is no way around the consent page or the
    client's allowed scopes (OIDC Core §5.5)."""
    user.first_name, user.email = "Alice", "alice@example.com"
    user.save()
    request = json.dumps({"userinfo": {"email": None, "given_name": None}, "id_token": {"email": None}})
    body = oauth.tokens(conf_client, scope="openid", claims=request)
    claims = verify(body["id_token"], oauth.api)
    info = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    for leaked in ("email", "given_name"):
        assert leaked not in claims and leaked not in info
    # and with consent remembered for "openid", asking again with claims shows nothing more
    body = oauth.tokens(conf_client, scope="openid", claims=request)
    info = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert set(info) == {"sub"}


@pytest.mark.parametrize("value", [
    "not json", "[]", '{"id_token": []}', '{"userinfo": {"email": 1}}',
    "[" * 2000 + "]" * 2000, '{"userinfo": {"email": {"value": NaN}}}', '{"id_token": {"x": {"value": Infinity}}}',
])
def test_malformed_claims_parameter_is_invalid_request(oauth, conf_client, signing_key, value):
    params, _ = oauth.authorize_params(conf_client, scope="openid", claims=value)
    r = oauth.browser.get("/o/authorize/", params)
    assert r.status_code == 302 and query_of(r["Location"])["error"] == "invalid_request"


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("value", [
    '{"userinfo": {"email": {"value": 1e999}}}',  # overflows to infinity: not storable JSON
    '{"userinfo": {"email": {"value": -1e999}}}',
    '{"userinfo": {"email": {"value": 1' + "0" * 400 + '}}}',  # beyond any database's JSON number
    '{"userinfo": {"email": {"value": "a\\u0000b"}}}',  # NUL: PostgreSQL's jsonb refuses it
    '{"userinfo": {"e\\u0000mail": null}}',
    '{"id_token": {"email": {"value": "\\ud800"}}}',  # a lone surrogate is not Unicode text
    '{"id_token": {"\\udfff": null}}',
    '{"userinfo": {"email": {"values": "not an array"}}}',
    '{"userinfo": {"email": {"essential": "yes"}}}',
    '{"userinfo": {"email": null}, "userinfo": {"name": null}}',  # duplicate member
    '{"userinfo": {"email": {"value": ' + "[" * 40 + "]" * 40 + '}}}',  # nesting beyond any claim
    '{"userinfo": ' + json.dumps({f"c{i}": None for i in range(260)}) + '}',  # more claims than exist
    '{"other": {"x": {"value": 1e999}}}',  # unknown members are ignored, but still must be JSON we can store
])
def test_claims_parameter_the_database_cannot_store_is_invalid_request(oauth, signing_key, value):
    """OIDC Core §5.5: a ``claims`` value that is not a well-formed claims request is refused
    with invalid_request, redirected, before anything is stored (never a 500, on any database)."""
    from oauth_provider.models import Authorization
    from tests.support.factories import ClientFactory

    first_party = ClientFactory(skip_consent=True)  # no consent page: the grant would be stored at once
    params, _ = oauth.authorize_params(first_party, scope="openid", claims=value)
    r = oauth.browser.get("/o/authorize/", params)
    assert r.status_code == 302, r.status_code
    q = query_of(r["Location"])
    assert q["error"] == "invalid_request" and q["state"] == params["state"] and "code" not in q
    assert Authorization.objects.count() == 0


def test_a_well_formed_claims_request_is_stored_and_honoured(oauth, user, signing_key):
    """The strict checks leave every valid §5.5 request through: null, essential, value, values."""
    from tests.support.factories import ClientFactory

    user.email = "alice@example.com"
    user.save()
    first_party = ClientFactory(skip_consent=True)
    request = json.dumps({
        "userinfo": {"email": {"essential": True}, "name": None, "acr": {"values": ["urn:a", "urn:b"]}},
        "id_token": {"email": None, "auth_time": {"essential": False}, "name": {"value": "\u00e9t\u00e9 1.5e3"}},
        "x-extension": {"anything": [1, 2.5, "three"]},
    })
    body = oauth.tokens(first_party, scope="openid email", claims=request)
    assert verify(body["id_token"], oauth.api)["email"] == "alice@example.com"


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_prompt_login_forces_a_fresh_login_without_looping(oauth, conf_client, user, signing_key):
    params, verifier = oauth.authorize_params(conf_client, scope="openid", prompt="login consent")
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    target = login_redirect(oauth.browser.get("/o/authorize/", params))
    back = urlsplit(target["next"])
    back_params = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert back_params["prompt"] == "consent" and "login_after" in back_params
    # the same session, not logged in again: still sent to the login page
    login_redirect(oauth.browser.get(back.path, back_params))
    # a new login (a later auth_time) lets the request through
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    r = oauth.browser.get(back.path, back_params)
    assert r.status_code == 200  # prompt=consent: the consent page
    r = oauth.approve(r)
    code = query_of(r["Location"])["code"]
    token = oauth.exchange(conf_client, code, verifier).json()
    assert verify(token["id_token"], oauth.api)["auth_time"] >= int((base + timedelta(seconds=10)).timestamp())


def test_forged_login_after_marker_only_leads_to_another_login(oauth, conf_client, signing_key):
    params, _ = oauth.authorize_params(conf_client, scope="openid", login_after="1:forged:marker")
    login_redirect(oauth.browser.get("/o/authorize/", params))


def _forced_login_return(browser, client, **overrides) -> tuple[str, dict, str]:
    """Send a request that demands a fresh login; returns the path and parameters the login
    page would send the user back to, and the PKCE verifier."""
    params, verifier = OAuthDriver(browser, browser).authorize_params(client, scope="openid", **overrides)
    target = login_redirect(browser.get("/o/authorize/", params))
    back = urlsplit(target["next"])
    return back.path, {k: v[0] for k, v in parse_qs(back.query).items()}, verifier


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
@pytest.mark.parametrize("demand", [{"prompt": "login"}, {"max_age": "0"}])
def test_a_forced_login_marker_is_bound_to_the_session_that_got_it(conf_client, signing_key, demand):
    """The marker a forced login carries back proves nothing in another session: user A's marker
    replayed in user B's browser (B logged in after it was issued) still sends B to log in."""
    from django.test import Client as HttpClient

    attacker, victim = UserFactory(username="mallory"), UserFactory(username="victim")
    base = secrets.now()
    secrets.set_clock(lambda: base)
    a = HttpClient()
    a.force_login(attacker)
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back_params, _ = _forced_login_return(a, conf_client, **demand)
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    b = HttpClient()
    b.force_login(victim)  # a login later than the marker, but not the one it asked for
    login_redirect(b.get(path, back_params))
    assert AuthorizationCode.objects.count() == 0


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_a_forced_login_marker_is_bound_to_its_request_and_used_once(oauth, conf_client, user, signing_key):
    """A marker satisfies the request that demanded the login, once: not another request with
    max_age=0 (other state, nonce, PKCE challenge), nor the same one replayed."""
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, first, verifier = _forced_login_return(oauth.browser, conf_client, max_age="0")
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)  # the fresh login request 1 asked for
    second, _ = oauth.authorize_params(conf_client, scope="openid", max_age="0", login_after=first["login_after"])
    login_redirect(oauth.browser.get(path, second))  # request 2 with request 1's marker
    r = oauth.browser.get(path, first)  # request 1 itself goes through
    if r.status_code == 200:
        r = oauth.approve(r)
    code = query_of(r["Location"])["code"]
    assert oauth.exchange(conf_client, code, verifier).status_code == 200
    login_redirect(oauth.browser.get(path, first))  # and only once


def test_a_forced_login_marker_is_bound_to_the_resources_its_request_named(oauth, conf_client, user, signing_key,
                                                                           settings):
    """The request's resources are part of it (RFC 8707 resource values are repeatable, kept
    apart from the other parameters): a fresh login earned by a request for one resource does
    not let the same request for another through."""
    from tests.support.audience_urls import RESOURCES, RS_A, RS_B, SCOPES

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES)
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, first, _ = _forced_login_return(oauth.browser, conf_client, prompt="login", resource=RS_A)
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    login_redirect(oauth.browser.get(path, {**first, "resource": RS_B}))
    r = oauth.browser.get(path, first)
    assert r.status_code == 200 and b'name="oauth_request"' in r.content  # its own request goes on


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_a_forced_login_as_another_user_counts(oauth, conf_client, signing_key):
    """"Log in again" is also how a user switches accounts: Django starts a new session for the
    other user, and that login, in the browser that was asked for it, lets the request through."""
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back, _ = _forced_login_return(oauth.browser, conf_client, prompt="login")
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(UserFactory(username="bob"))
    r = oauth.browser.get(path, back)
    assert r.status_code == 200 and b'name="oauth_request"' in r.content  # the consent page, for bob


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
@pytest.mark.parametrize("tamper", ["missing", "forged", "expired"])
def test_a_forced_login_needs_its_own_unaltered_marker_state(oauth, conf_client, user, signing_key, tamper):
    from oauth_provider.oidc.reauthentication import COOKIE_NAME

    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back, _ = _forced_login_return(oauth.browser, conf_client, prompt="login")
    assert oauth.browser.cookies[COOKIE_NAME]["httponly"] and oauth.browser.cookies[COOKIE_NAME]["path"] == path
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    if tamper == "missing":
        del oauth.browser.cookies[COOKIE_NAME]
    elif tamper == "forged":
        value = oauth.browser.cookies[COOKIE_NAME].value  # its signature's last two characters changed
        oauth.browser.cookies[COOKIE_NAME] = value[:-2] + ("yy" if value.endswith("xx") else "xx")
    else:
        secrets.set_clock(lambda: base + timedelta(seconds=5 + 3601))
        oauth.browser.force_login(user)
    login_redirect(oauth.browser.get(path, back))


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_max_age(oauth, conf_client, user, signing_key):
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=120))
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="60")
    login_redirect(oauth.browser.get("/o/authorize/", params))
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="60", prompt="none")
    r = oauth.browser.get("/o/authorize/", params)
    assert query_of(r["Location"])["error"] == "login_required"
    params, verifier = oauth.authorize_params(conf_client, scope="openid", max_age="10000")
    code, verifier = oauth.get_code(conf_client, scope="openid", max_age="10000")
    claims = verify(oauth.exchange(conf_client, code, verifier).json()["id_token"], oauth.api)
    assert "auth_time" in claims


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_max_age_holds_to_the_second(oauth, conf_client, signing_key):
    """A login older than ``max_age`` seconds, by one second, needs a new login; one second
    younger does not."""
    from datetime import UTC, datetime

    from oauth_provider.session import AUTH_TIME_KEY

    login = int(secrets.now().timestamp())
    session = oauth.browser.session
    session[AUTH_TIME_KEY] = login
    session.save()
    at = datetime.fromtimestamp(login, UTC)
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="60")
    secrets.set_clock(lambda: at + timedelta(seconds=61))
    login_redirect(oauth.browser.get("/o/authorize/", params))
    secrets.set_clock(lambda: at + timedelta(seconds=59))
    r = oauth.browser.get("/o/authorize/", params)
    assert r.status_code == 200 and b'name="oauth_request"' in r.content


@pytest.mark.parametrize("value", [1.5, "1700000000", None])
def test_a_login_time_that_is_no_integer_is_no_login_time(oauth, conf_client, signing_key, value):
    """Only the library writes the session's login time (an integer); anything else there (a
    host's code sharing the key) is an unknown login time: ``max_age`` is not met, never a
    500 nor a time taken on trust."""
    from oauth_provider.session import AUTH_TIME_KEY

    session = oauth.browser.session
    session[AUTH_TIME_KEY] = value
    session.save()
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="3600")
    login_redirect(oauth.browser.get("/o/authorize/", params))


def test_the_forced_logins_a_browser_awaits_are_at_most_four(oauth, conf_client, signing_key):
    """Each ``prompt=login`` request opened and left unfinished records its marker in a cookie;
    only the four newest are kept, so tabs left open cannot grow the cookie past what a
    browser accepts (and the login in progress stays recorded)."""
    from django.core import signing

    from oauth_provider.oidc import reauthentication

    markers = [_forced_login_return(oauth.browser, conf_client, prompt="login")[1]["login_after"] for _ in range(6)]
    pending = signing.loads(oauth.browser.cookies[reauthentication.COOKIE_NAME].value, salt=reauthentication._SALT)
    assert reauthentication.MAX_PENDING == 4 and list(pending) == markers[-4:]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "9" * 20, "\u00b2", "\u0663", " 5"])
def test_malformed_max_age(oauth, conf_client, signing_key, value):
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age=value)
    r = oauth.browser.get("/o/authorize/", params)
    assert query_of(r["Location"])["error"] == "invalid_request"


@pytest.mark.req("OIDC-3.1.2.1-id-token-hint")
def test_id_token_hint(oauth, conf_client, user, signing_key):
    def hint(for_user):
        family = AuthorizationFactory(user=for_user, client=conf_client, scope="openid")
        return id_token_module.build(issuer=ISS, client=conf_client, authorization=family, access_token=None,
                                     nonce=None)

    code, _ = oauth.get_code(conf_client, scope="openid", id_token_hint=hint(user))
    assert code
    other = UserFactory()
    params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint=hint(other))
    login_redirect(oauth.browser.get("/o/authorize/", params))
    params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint=hint(other), prompt="none")
    assert query_of(oauth.browser.get("/o/authorize/", params)["Location"])["error"] == "login_required"
    params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint="eyJ.forged.hint")
    assert query_of(oauth.browser.get("/o/authorize/", params)["Location"])["error"] == "invalid_request"
    # signed here but naming nobody (no sub): not a hint either, and not a 500
    from oauth_provider import jwt as our_jwt

    nameless = our_jwt.encode({"iss": ISS, "aud": conf_client.client_id, "iat": 1, "exp": 2})
    params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint=nameless)
    assert query_of(oauth.browser.get("/o/authorize/", params)["Location"])["error"] == "invalid_request"


@pytest.mark.req("OIDC-3.1.2.1-id-token-hint")
def test_an_id_token_hint_for_someone_else_ends_after_one_login_not_in_a_loop(oauth, conf_client, user,
                                                                              signing_key):
    """The hint names another user: the user is asked to log in once. Logged in again and
    still not that user, the request ends with login_required (OIDC Core §3.1.2.1: the OP
    SHOULD return an error) instead of sending them to the login page for ever."""
    family = AuthorizationFactory(user=UserFactory(), client=conf_client, scope="openid")
    hint = id_token_module.build(issuer=ISS, client=conf_client, authorization=family, access_token=None,
                                 nonce=None)
    params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint=hint, state="s")
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    back = urlsplit(login_redirect(oauth.browser.get("/o/authorize/", params))["next"])
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    r = oauth.browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    assert r.status_code == 302 and r["Location"].startswith(conf_client.redirect_uri_list[0]), r["Location"]
    assert query_of(r["Location"])["error"] == "login_required" and query_of(r["Location"])["state"] == "s"


@pytest.mark.req("OIDC-6-request-objects")
@pytest.mark.req("DERIVED-request-uri-ssrf")
@pytest.mark.parametrize("name, value, error", [
    ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
    ("request_uri", "http://169.254.169.254/latest/meta-data", "request_uri_not_supported"),
    ("request_uri", "file:///etc/passwd", "request_uri_not_supported"),
    ("registration", "{}", "registration_not_supported"),
])
@pytest.mark.parametrize("features_on", [False, True])
def test_unsupported_request_objects_are_refused_not_fetched(oauth, conf_client, signing_key, monkeypatch,
                                                            name, value, error, features_on):
    """Refused with the OIDC error, and nothing fetched: no socket connected, no URL opened,
    no local file read (the SSRF a fetching request_uri would open, DERIVED-request-uri-ssrf).
    With request objects on, an unsigned request object is refused before the redirect URI is
    trusted (an error page: invalid_request_object). A URL request_uri is answered
    request_uri_not_supported at the redirect URI the query proves (OIDC Core §6.2), PAR on or
    off: only our PAR endpoint's URNs are request_uris here, and nothing is fetched."""
    import builtins
    import socket
    import urllib.request

    reached: list[str] = []
    real_connect, real_open = socket.socket.connect, builtins.open

    def connect(sock, address):
        reached.append(f"connect {address}")
        return real_connect(sock, address)

    def urlopen(url, *args, **kwargs):
        reached.append(f"urlopen {getattr(url, 'full_url', url)}")
        raise OSError("no fetching in this test")

    def opening(file, *args, **kwargs):
        if "passwd" in str(file):
            reached.append(f"open {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: reached.append(f"connect {address}"))
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", lambda self, url, *a, **k: urlopen(url))
    monkeypatch.setattr(builtins, "open", opening)
    params, _ = oauth.authorize_params(conf_client, scope="openid", **{name: value})
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUEST_OBJECTS=features_on,
                                                         PUSHED_AUTHORIZATION_REQUESTS=features_on)):
        r = oauth.browser.get("/o/authorize/", params)
    monkeypatch.undo()
    assert reached == []
    if features_on and name == "request":
        assert r.status_code == 400 and not r.has_header("Location")
        assert b"invalid_request_object" in r.content
        return
    q = query_of(r["Location"])
    assert q["error"] == error and q["iss"] == ISS and q["state"] == params["state"]


@pytest.mark.req("OIDC-15.1-tolerated-params")
def test_display_locales_and_acr_values_are_tolerated(oauth, conf_client, signing_key):
    code, _ = oauth.get_code(
        conf_client, scope="openid", display="popup", ui_locales="fr-CA fr en", claims_locales="de",
        acr_values="urn:mace:incommon:iap:silver", login_hint="alice",
    )
    assert code


def test_login_hint_reaches_the_login_page(client, conf_client, signing_key):
    from ..conftest import OAuthDriver

    params, _ = OAuthDriver(client, client).authorize_params(conf_client, scope="openid", login_hint="alice@x")
    response = client.get("/o/authorize/", params)
    target = login_redirect(response)
    assert target["login_hint"] == "alice@x"
    # the redirect carries the whole request: never cached, no Referer, never framed
    assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"
    # a hint is a name or an address: one past 255 characters (any text a link chooses) is left out
    for length, passed in ((255, True), (256, False)):
        params, _ = OAuthDriver(client, client).authorize_params(conf_client, scope="openid",
                                                                 login_hint="a" * length)
        assert ("login_hint" in login_redirect(client.get("/o/authorize/", params))) is passed


@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
def test_prompt_none_with_remembered_consent_gives_a_code_at_once(oauth, conf_client, signing_key):
    oauth.get_code(conf_client, scope="openid")
    params, _ = oauth.authorize_params(conf_client, scope="openid", prompt="none")
    r = oauth.browser.get("/o/authorize/", params)
    assert "code" in query_of(r["Location"])


def test_id_token_for_es256_and_eddsa_keys(oauth, conf_client, signing_key):
    from oauth_provider import keys

    for algorithm in ("ES256", "EdDSA"):
        keys.create_key(algorithm, prepublish=False)
        claims = verify(oauth.tokens(conf_client, scope="openid")["id_token"], oauth.api)
        assert claims["sub"]
        header = json.loads(base64.urlsafe_b64decode(oauth.tokens(conf_client, scope="openid")["id_token"]
                                                     .split(".")[0] + "=="))
        assert header["alg"] == algorithm


class StrongAuthAdapter:
    """A host adapter that knows the login used a second factor."""

    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class _Adapter(DefaultAdapter):
            def authentication_context(self, request, user):
                return {"acr": "urn:example:mfa", "amr": ["pwd", "otp"]}

            def get_subject(self, user):
                return f"user-{user.pk}"

        return _Adapter()


def test_adapter_gives_acr_amr_and_the_subject(oauth, conf_client, user, signing_key):
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ADAPTER": "tests.oidc.test_code_flow.StrongAuthAdapter"}
    with override_settings(OAUTH_PROVIDER=settings):
        body = oauth.tokens(conf_client, scope="openid")
        claims = verify(body["id_token"], oauth.api)
        info = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert claims["acr"] == "urn:example:mfa" and claims["amr"] == ["pwd", "otp"]
    assert claims["sub"] == f"user-{user.pk}" == info["sub"]


class LoginFactsAdapter:
    """A host adapter that reads how and when this login happened from the request's session
    and from the user, as a site with its own second factor does."""

    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class _Adapter(DefaultAdapter):
            def authentication_context(self, request, user):
                return {"amr": ["pwd", "otp"] if request.session.get("otp_verified") else ["pwd"],
                        "acr": "urn:example:staff" if user.is_staff else "urn:example:basic"}

            def auth_time(self, request, user):
                return user.last_login

        return _Adapter()


def test_the_login_hooks_are_asked_with_the_request_and_the_user(oauth, conf_client, user, signing_key):
    """``authentication_context`` and ``auth_time`` are the host's to answer from this
    request's session and this user (OIDC Core §2: ``acr``, ``amr``, ``auth_time``)."""
    from datetime import datetime, timezone

    when = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    type(user).objects.filter(pk=user.pk).update(last_login=when, is_staff=True)
    session = oauth.browser.session
    session["otp_verified"] = True
    session.save()
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ADAPTER": "tests.oidc.test_code_flow.LoginFactsAdapter"}
    with override_settings(OAUTH_PROVIDER=settings):
        claims = verify(oauth.tokens(conf_client, scope="openid")["id_token"], oauth.api)
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "urn:example:staff"
    assert claims["auth_time"] == int(when.timestamp())


@pytest.mark.req("OIDC-11-offline-access")
def test_offline_access_is_accepted_and_refresh_follows_the_client_grants(oauth, conf_client, signing_key):
    body = oauth.tokens(conf_client, scope="openid offline_access")
    assert "refresh_token" in body and "offline_access" in body["scope"].split()


@pytest.mark.req("OIDC-11-offline-access")
def test_offline_access_needs_no_registration_for_a_client_with_the_refresh_grant(oauth, signing_key):
    """OIDC Core §11: a client that may use refresh tokens may ask for offline_access without
    listing it among its allowed scopes; the user consents to it on the page (prompt=consent),
    and it stays in the grant across refreshes."""
    from tests.support.factories import ClientFactory

    rp = ClientFactory(allowed_scopes="openid profile", grant_types="authorization_code refresh_token")
    params, verifier = oauth.authorize_params(rp, scope="openid offline_access", prompt="consent")
    page = oauth.browser.get("/o/authorize/", params)
    assert page.status_code == 200, page.get("Location")
    assert "Stay connected when you are not using the app" in page.content.decode()
    code = query_of(oauth.approve(page)["Location"])["code"]
    body = oauth.exchange(rp, code, verifier).json()
    assert body["scope"].split() == ["openid", "offline_access"] and body["refresh_token"]
    refreshed = oauth.token(rp, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json()
    assert refreshed["scope"].split() == ["openid", "offline_access"] and refreshed["refresh_token"]


@pytest.mark.req("OIDC-11-offline-access")
@pytest.mark.parametrize("allowed", ["", "openid offline_access"])
def test_offline_access_is_ignored_for_a_client_without_refresh_tokens(oauth, signing_key, allowed):
    """OIDC Core §11: offline access a client cannot have (no refresh_token grant) is ignored,
    not an error: the request goes on without it, and the consent page does not promise it."""
    from tests.support.factories import ClientFactory

    rp = ClientFactory(allowed_scopes=allowed, grant_types="authorization_code")
    params, verifier = oauth.authorize_params(rp, scope="openid offline_access", prompt="consent")
    page = oauth.browser.get("/o/authorize/", params)
    assert page.status_code == 200, page.get("Location")
    assert "Stay connected" not in page.content.decode()
    code = query_of(oauth.approve(page)["Location"])["code"]
    body = oauth.exchange(rp, code, verifier).json()
    assert body["scope"] == "openid" and "refresh_token" not in body


@pytest.mark.req("OIDC-11-offline-access")
def test_offline_access_is_never_granted_without_the_user_seeing_it(oauth, conf_client, signing_key):
    """Without prompt=consent the page is still shown for offline_access unless the user already
    approved it (and asked to be remembered); approving less does not stand in for it."""
    oauth.get_code(conf_client, scope="openid")  # consent remembered for openid only
    params, _ = oauth.authorize_params(conf_client, scope="openid offline_access")
    assert oauth.browser.get("/o/authorize/", params).status_code == 200
    params, _ = oauth.authorize_params(conf_client, scope="openid offline_access", prompt="none")
    assert query_of(oauth.browser.get("/o/authorize/", params)["Location"])["error"] == "consent_required"


def test_an_open_consent_page_does_not_outlive_max_age(oauth, conf_client, signing_key):
    """The consent form stays valid for an hour; the decision is checked against max_age again."""
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="60", prompt="consent")
    page = oauth.browser.get("/o/authorize/", params)
    assert page.status_code == 200
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=120))
    login_redirect(oauth.approve(page))


def test_an_oversized_state_is_not_reflected(oauth, conf_client, signing_key):
    params, _ = oauth.authorize_params(conf_client, state="s" * 5000)
    r = oauth.browser.post("/o/authorize/", params)
    q = query_of(r["Location"])
    assert q["error"] == "invalid_request" and "state" not in q


class GroupsAdapter:
    """A host adapter releasing a claim of its own for a scope of its own."""

    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class _Adapter(DefaultAdapter):
            def scope_claims(self):
                return {**super().scope_claims(), "groups": ("groups",)}

            def user_claims(self, user):
                return {**super().user_claims(user), "groups": ["staff", "editors"], "salary": 1}

        return _Adapter()


def test_custom_scopes_release_custom_claims_and_nothing_else(oauth, conf_client, signing_key):
    settings = {"ISSUER": ISS, "SCOPES": {"groups": "See your groups"},
                "ADAPTER": "tests.oidc.test_code_flow.GroupsAdapter"}
    with override_settings(OAUTH_PROVIDER=settings):
        body = oauth.tokens(conf_client, scope="openid groups")
        claims = verify(body["id_token"], oauth.api)
        info = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
        discovery = oauth.api.get("/o/.well-known/openid-configuration").json()
        without = oauth.tokens(conf_client, scope="openid")
        info_without = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {without['access_token']}").json()
    assert claims["groups"] == info["groups"] == ["staff", "editors"]
    assert "salary" not in claims and "salary" not in info  # no scope releases it
    assert "groups" not in info_without
    assert "groups" in discovery["claims_supported"]


def test_a_failure_signing_the_id_token_spends_no_code(oauth, conf_client, signing_key, monkeypatch):
    """The ID token is signed before anything is written: when signing fails (a host's claims
    code raising, say) the code stays unconsumed and no token is stored, so the client's retry
    gets its tokens instead of being treated as a replay that revokes the grant."""
    from oauth_provider.models import AccessToken, RefreshToken

    code, verifier = oauth.get_code(conf_client, scope="openid")

    def broken(**kwargs):
        raise RuntimeError("the claims source is down")

    monkeypatch.setattr(id_token_module, "build", broken)
    # the token view called directly: Django's 500 page for the uncaught error is not ours to audit
    view = resolve("/o/token/").func
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": conf_client.redirect_uri_list[0], "client_id": conf_client.client_id,
            "client_secret": conf_client.raw_secret}
    with pytest.raises(RuntimeError, match="claims source"):
        view(RequestFactory().post("/o/token/", form))
    assert AuthorizationCode.objects.get().consumed_at is None
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    monkeypatch.undo()
    body = oauth.exchange(conf_client, code, verifier).json()
    assert body["id_token"] and AuthorizationCode.objects.get().consumed_at is not None


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_prompt_select_account_sends_the_user_to_pick_an_account_once(oauth, conf_client, user, signing_key):
    """Discovery lists ``select_account``: the site's login page is where the user picks the
    account (OIDC Core §3.1.2.1), so the request goes there once, even from a live session,
    instead of silently giving a code for whoever is logged in. Another user signing in there
    is the one the code is for; the way back does not ask again."""
    conf_client.skip_consent = True
    conf_client.save()
    assert "select_account" in oauth.api.get("/o/.well-known/openid-configuration").json()["prompt_values_supported"]
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back_params, verifier = _forced_login_return(oauth.browser, conf_client, prompt="select_account")
    assert "prompt" not in back_params and "login_after" in back_params
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    other = UserFactory(username="the-other-account")
    oauth.browser.force_login(other)
    r = oauth.browser.get(path, back_params)
    code = query_of(r["Location"])["code"]
    token = oauth.exchange(conf_client, code, verifier).json()
    assert verify(token["id_token"], oauth.api)["sub"] == str(other.pk)


# -- claims requests that constrain the login (OIDC Core §5.5.1; outside review, session 17) ----

@pytest.mark.req("OIDC-3.1.2.1-id-token-hint")
def test_a_claims_request_naming_another_sub_gives_no_code(oauth, conf_client, user, signing_key):
    """§5.5.1: a requested ``sub`` value: the server "MUST NOT reply with an ID Token or Access
    Token for a different user"."""
    oauth.get_code(conf_client, scope="openid")  # consent remembered: prompt=none could answer at once
    other = json.dumps({"id_token": {"sub": {"value": "someone-else"}}})
    params, _ = oauth.authorize_params(conf_client, scope="openid", claims=other, prompt="none")
    q = query_of(oauth.browser.get("/o/authorize/", params)["Location"])
    assert "code" not in q and q["error"] == "login_required", q
    login_redirect(oauth.browser.get("/o/authorize/", {**params, "prompt": ""}))  # without none: log in as them
    own = json.dumps({"id_token": {"sub": {"value": str(user.pk)}}})
    params, _ = oauth.authorize_params(conf_client, scope="openid", claims=own, prompt="none")
    assert "code" in query_of(oauth.browser.get("/o/authorize/", params)["Location"])


@pytest.mark.parametrize("value", [7, None, ["1"]])
def test_a_claims_request_sub_that_is_not_a_string_is_invalid_request(oauth, conf_client, signing_key, value):
    bad = json.dumps({"id_token": {"sub": {"value": value}}})
    params, _ = oauth.authorize_params(conf_client, scope="openid", claims=bad)
    q = query_of(oauth.browser.get("/o/authorize/", params)["Location"])
    assert q["error"] == "invalid_request" and "code" not in q


@pytest.mark.parametrize("adapter", [None, "tests.oidc.test_code_flow.StrongAuthAdapter"])
@pytest.mark.parametrize("acr", [{"essential": True, "values": ["urn:example:hardware-key"]},
                                 {"essential": True, "value": "urn:example:hardware-key"},
                                 {"essential": True, "values": []}])
def test_an_essential_acr_that_is_not_met_gives_no_code(oauth, conf_client, signing_key, adapter, acr):
    """§5.5.1.1: an essential ``acr`` with values the login did not meet is a failed
    authentication: no code, whatever the consent page."""
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, **({"ADAPTER": adapter} if adapter else {})}
    wanted = json.dumps({"id_token": {"acr": acr}})
    with override_settings(OAUTH_PROVIDER=settings):
        params, _ = oauth.authorize_params(conf_client, scope="openid", claims=wanted)
        r = oauth.browser.get("/o/authorize/", params)
        assert r.status_code == 302  # refused before any consent page
        q = query_of(r["Location"])
    assert "code" not in q and q["error"] == "access_denied", q


def test_an_essential_acr_that_is_met_or_voluntary_is_in_the_id_token(oauth, conf_client, signing_key):
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ADAPTER": "tests.oidc.test_code_flow.StrongAuthAdapter"}
    for acr in ({"essential": True, "values": ["urn:example:hardware-key", "urn:example:mfa"]},
                {"values": ["urn:example:hardware-key"]}, {"essential": True}):
        wanted = json.dumps({"id_token": {"acr": acr}})
        with override_settings(OAUTH_PROVIDER=settings):
            claims = verify(oauth.tokens(conf_client, scope="openid", claims=wanted)["id_token"], oauth.api)
        assert claims["acr"] == "urn:example:mfa", acr


@pytest.mark.req("OIDC-2-required-claims")
def test_auth_time_is_when_the_user_logged_in_not_when_the_code_was_issued(oauth, conf_client, user, signing_key):
    base = secrets.now().replace(microsecond=0)
    secrets.set_clock(lambda: base)
    oauth.browser.force_login(user)
    secrets.set_clock(lambda: base + timedelta(seconds=600))
    claims = verify(oauth.tokens(conf_client, scope="openid")["id_token"], oauth.api)
    assert claims["auth_time"] == int(base.timestamp())


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_max_age_is_not_met_by_a_session_whose_login_time_is_unknown(oauth, conf_client, signing_key):
    from oauth_provider.session import AUTH_TIME_KEY

    session = oauth.browser.session
    session.pop(AUTH_TIME_KEY, None)
    session.save()
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="3600")
    login_redirect(oauth.browser.get("/o/authorize/", params))


@pytest.mark.req("OIDC-3.1.2.1-prompt-login-max-age")
def test_a_forced_login_still_answers_to_max_age(oauth, conf_client, user, signing_key):
    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back, _ = _forced_login_return(oauth.browser, conf_client, prompt="login", max_age="60")
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    secrets.set_clock(lambda: base + timedelta(seconds=130))
    r = oauth.browser.get(path, back)
    assert r.status_code == 302 and "code" not in query_of(r["Location"]), r.status_code


def test_a_claims_request_sub_must_agree_with_the_id_token_hint(oauth, conf_client, user, signing_key):
    """Two statements of whose login is wanted: the same user, the request goes on; two
    different users, it names nobody (``invalid_request``). Subjects compared as values: the
    adapter's ``user-<pk>`` is never the same object in the hint and in the claims request."""
    settings = {"ISSUER": ISS, "SCOPES": {"read": "Read"}, "ADAPTER": "tests.oidc.test_code_flow.StrongAuthAdapter"}
    with override_settings(OAUTH_PROVIDER=settings):
        hint = oauth.tokens(conf_client, scope="openid")["id_token"]
        same = json.dumps({"id_token": {"sub": {"value": f"user-{user.pk}"}}})
        params, _ = oauth.authorize_params(conf_client, scope="openid", claims=same, id_token_hint=hint,
                                           prompt="none")
        assert "code" in query_of(oauth.browser.get("/o/authorize/", params)["Location"])
        for value in ("someone-else", "~"):  # sorting before and after the hint's "user-<pk>"
            other = json.dumps({"id_token": {"sub": {"value": value}}})
            params, _ = oauth.authorize_params(conf_client, scope="openid", claims=other, id_token_hint=hint)
            q = query_of(oauth.browser.get("/o/authorize/", params)["Location"])
            assert q["error"] == "invalid_request" and "code" not in q, (value, q)
        voluntary = json.dumps({"id_token": {"sub": None, "email": {"essential": True}}})
        params, _ = oauth.authorize_params(conf_client, scope="openid", claims=voluntary, prompt="none")
        assert "code" in query_of(oauth.browser.get("/o/authorize/", params)["Location"])

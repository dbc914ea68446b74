"""Fuzzing every endpoint with Hypothesis (figures F4, F5, F6).

For each of authorize, token, revoke, introspect, userinfo, jwks, discovery (both metadata
documents) and logout, ``EXAMPLES`` generated requests (tests/support/fuzzing.py) go through Django's
test client, against a world with real clients, a logged-in user, live tokens and an ID token,
so that some requests get past client authentication and token lookup. Derandomized: every
CI run sends the same requests, and a failure is reproducible.

Every response is checked (tests/support/fuzzing.py ``problems``): no status >= 500 and no exception
logged at ERROR (F5); every JSON 4xx shaped as RFC 6749 §5.2 (RFC 6750 §3 at UserInfo) with
an ``error`` the endpoint may use and a legal ``error_description`` (F6); authorization and
logout errors are an HTML error page or a redirect to a registered URI with ``error``,
``state`` and ``iss``. Distinct requests (method + path + headers + body) are counted (F4).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.core.signals import got_request_exception
from django.test import Client as HttpClient
from hypothesis import HealthCheck, assume, given, settings

from tests.conftest import basic_auth, pkce_pair
from tests.support import fuzzing
from tests.support.device_helpers import consent_blob, enter, started
from tests.support.factories import DEVICE_GRANT, REDIRECT_URI, ClientFactory, DeviceClientFactory, PublicClientFactory

pytestmark = pytest.mark.django_db

#: distinct requests per endpoint (F4 asks >= 1,000 each and >= 10,000 in all per CI run);
#: FUZZ_EXAMPLES raises it for a nightly run
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1300"))
ISSUER = "https://testserver/o"
POST_LOGOUT = "https://rp.example/logged-out"
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class ErrorLog(logging.Handler):
    """Records at ERROR and above: an unhandled exception is logged by django.request (F5).
    django.security records are Django refusing hostile input with a 400, which is the point."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("django.security"):
            self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    exceptions: list[Any] = []

    def on_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
        exceptions.append(request)
        handler.records.append(logging.makeLogRecord({"name": "got_request_exception", "msg": str(request)}))

    got_request_exception.connect(on_exception)
    yield handler
    got_request_exception.disconnect(on_exception)
    root.removeHandler(handler)


@pytest.fixture
def world(oauth, user, signing_key) -> dict[str, Any]:
    """Clients of every kind with real credentials, and live tokens of a real OIDC flow."""
    confidential = ClientFactory(client_id="conf-client", redirect_uris=REDIRECT_URI,
                                 post_logout_redirect_uris=POST_LOGOUT)
    post = ClientFactory(client_id="post-client", token_endpoint_auth_method="client_secret_post")
    public = PublicClientFactory(client_id="public-client")
    resource_server = ClientFactory(client_id="rs-client", is_resource_server=True)
    tokens = oauth.tokens(confidential, scope="openid read profile", nonce="n-0S6_WzA2Mj")
    code, verifier = oauth.get_code(public)
    device_client = DeviceClientFactory(client_id="device-client")
    device = started(oauth.api, device_client, scope="openid read")
    claimed = started(oauth.api, device_client)
    device_consent = consent_blob(enter(oauth.browser, claimed["user_code"]).content.decode())
    secrets = [(c.client_id, c.raw_secret) for c in (confidential, post, resource_server)]
    pool = [
        *(c.client_id for c in (confidential, post, public, resource_server, device_client)),
        device["device_code"], device["user_code"], claimed["user_code"], device_consent, DEVICE_GRANT,
        *(secret for _, secret in secrets),
        *(tokens[k] for k in ("access_token", "refresh_token", "id_token")),
        code, verifier, REDIRECT_URI, "http://127.0.0.1/cb", "http://127.0.0.1:51004/cb", "com.example.app:/cb",
        POST_LOGOUT, ISSUER, "openid read", "read", "authorization_code", "refresh_token", "client_credentials",
        "code", "S256",
    ]
    registered = [uri for c in (confidential, post, public, resource_server) for uri in c.redirect_uri_list]
    _, challenge = pkce_pair()
    authorize = [("response_type", "code"), ("redirect_uri", REDIRECT_URI), ("state", "af0ifjsldkj"),
                 ("code_challenge", challenge), ("code_challenge_method", "S256")]
    token = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier),
             ("redirect_uri", "http://127.0.0.1/cb"), ("client_id", public.client_id)]
    revocable = [[("token", tokens["access_token"])],
                 [("token", tokens["refresh_token"]), ("token_type_hint", "refresh_token")]]
    baselines = {
        "authorize": [
            [("client_id", confidential.client_id), ("scope", "openid read"), ("nonce", "n-0S6"), *authorize],
            [("client_id", public.client_id), ("scope", "read"),
             *[(k, "http://127.0.0.1:51004/cb" if k == "redirect_uri" else v) for k, v in authorize]],
        ],
        "token": [
            token,
            [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"])],
            [("grant_type", "client_credentials"), ("scope", "read")],
            [("grant_type", "client_credentials"), ("client_id", post.client_id), ("client_secret", post.raw_secret)],
            [("grant_type", DEVICE_GRANT), ("device_code", device["device_code"]),
             ("client_id", device_client.client_id)],
        ],
        "device_authorization": [[("client_id", device_client.client_id), ("scope", "openid read")],
                                 [("scope", "read")]],
        "device": [[("user_code", device["user_code"])], [("device_request", device_consent), ("allow", "allow")],
                   [("device_request", device_consent), ("deny", "deny")]],
        "revoke": revocable,
        "introspect": revocable,
        "userinfo": [[], [("scope", "openid")]],
        "logout": [
            [("id_token_hint", tokens["id_token"]), ("post_logout_redirect_uri", POST_LOGOUT), ("state", "x1")],
            [("client_id", confidential.client_id), ("post_logout_redirect_uri", POST_LOGOUT), ("state", "x2")],
        ],
    }
    _exchange_and_assertions(world_pool=pool, baselines=baselines, client=confidential,
                             tokens=tokens, service=resource_server)
    credentials = {
        name: [basic_auth(confidential.client_id, confidential.raw_secret),
               basic_auth(resource_server.client_id, resource_server.raw_secret)]
        for name in ("token", "revoke", "introspect", "device_authorization")
    }
    credentials["userinfo"] = [f"Bearer {tokens['access_token']}"]
    return {"pool": pool, "secrets": secrets, "registered": registered, "post_logout": [POST_LOGOUT],
            "user": user, "baselines": baselines, "credentials": credentials}


def _exchange_and_assertions(*, world_pool: list[str], baselines: dict[str, list], client: Any, tokens: dict,
                             service: Any) -> None:
    """Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523 §2.1) for the confidential
    client, with its own registered key signing a well-formed assertion (no user is mapped by
    default, so the fuzz reaches every check up to the adapter)."""
    import json
    import time

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from oauth_provider.grants.jwt_bearer import GRANT_TYPE as JWT_BEARER
    from oauth_provider.grants.token_exchange import ACCESS_TOKEN_TYPE, KNOWN_TYPES
    from oauth_provider.grants.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE

    key = ec.generate_private_key(ec.SECP256R1())
    client.grant_types = f"{client.grant_types} {TOKEN_EXCHANGE} {JWT_BEARER}"
    client.jwks = json.dumps({"keys": [{**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "fuzz"}]})
    client.save()
    now = int(time.time())
    assertion = pyjwt.encode({"iss": client.client_id, "sub": "alice", "aud": ISSUER, "iat": now, "exp": now + 300,
                              "jti": "fuzz-jti"}, key, algorithm="ES256", headers={"kid": "fuzz"})
    world_pool += [TOKEN_EXCHANGE, JWT_BEARER, *sorted(KNOWN_TYPES), assertion]
    baselines["token"] += [
        [("grant_type", TOKEN_EXCHANGE), ("subject_token", tokens["access_token"]),
         ("subject_token_type", ACCESS_TOKEN_TYPE), ("scope", "read")],
        [("grant_type", TOKEN_EXCHANGE), ("subject_token", tokens["access_token"]),
         ("subject_token_type", ACCESS_TOKEN_TYPE), ("actor_token", tokens["access_token"]),
         ("actor_token_type", ACCESS_TOKEN_TYPE), ("audience", "https://testserver")],
        [("grant_type", JWT_BEARER), ("assertion", assertion), ("scope", "read")],
    ]


def send(http: HttpClient, request: fuzzing.FuzzRequest):
    meta = {}
    for name, value in request.headers:
        meta["HTTP_" + name.upper().replace("-", "_")] = value
    path = request.path + ("?" + request.query if request.query else "")
    return http.generic(request.method, path, data=request.body,
                        content_type=request.content_type or "application/octet-stream", **meta)


def problems(endpoint: fuzzing.Endpoint, request: fuzzing.FuzzRequest, response: Any,
             world: dict[str, Any]) -> list[str]:
    status = response.status_code
    if status >= 500:
        return [f"status {status}"]
    is_json = response.get("Content-Type", "").startswith("application/json")
    if request.method == "HEAD":  # the body is not sent; a HEAD answer can only be judged by status
        return []
    if 400 <= status < 500 and is_json:
        return fuzzing.json_error_problems(endpoint, response)
    if endpoint.name == "authorize":
        return _browser_problems(response, world["registered"], request.state, error_redirects=True)
    if endpoint.name == "logout":
        return _browser_problems(response, world["post_logout"], request.state, error_redirects=False)
    if endpoint.name == "device":  # a page, or a redirect to the login page and nowhere else
        return _browser_problems(response, [], None, error_redirects=False)
    if 400 <= status < 500 and status not in (404, 405) and response.content:
        return [f"{status} at a JSON endpoint is not JSON: {response.get('Content-Type')!r}"]
    return []


def _browser_problems(response: Any, registered: list[str], state: str | None, *, error_redirects: bool) -> list[str]:
    status = response.status_code
    if 300 <= status < 400:
        location = response["Location"]
        if location.startswith("/accounts/login/"):
            return []
        found = fuzzing.redirect_problems(location, registered, ISSUER, state)
        if not error_redirects and "error=" in location:
            found.append(f"logout redirected an error: {location!r:.200}")
        return found
    if status in (404, 405) or (status == 200 and not response.content):
        return []
    return fuzzing.page_problems(response)


def fuzz(name: str, world: dict[str, Any], browser: HttpClient, user: Any) -> fuzzing.Tally:
    endpoint = fuzzing.ENDPOINTS[name]
    tally = fuzzing.Tally()
    anonymous = HttpClient(raise_request_exception=False)
    browser.raise_request_exception = False
    cache = caches["default"]

    @FUZZ_SETTINGS
    @given(fuzzing.requests(endpoint, world["pool"], world["secrets"], world["baselines"].get(name, ()),
                            world["credentials"].get(name, ())))
    def run(request: fuzzing.FuzzRequest) -> None:
        # Client-auth failures are throttled after 10 a minute: each request starts afresh so
        # the fuzz keeps reaching the code behind client authentication.
        # A request sent before teaches nothing new: Hypothesis does not count a rejected
        # example, so every counted one is a distinct request (F4).
        digest = request.digest()
        assume(digest not in tally.digests)
        cache.clear()
        http = anonymous
        if request.logged_in:
            if not browser.cookies.get("sessionid") or not browser.cookies["sessionid"].value:
                browser.force_login(user)
            http = browser
        response = send(http, request)
        tally.sent += 1
        tally.digests.add(digest)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        tally.server_errors += response.status_code >= 500
        tally.error_responses += 400 <= response.status_code < 500
        for problem in problems(endpoint, request, response, world):
            tally.problems.append(f"{problem} <- {request.method} {request.path}?{request.query[:200]} "
                                  f"{request.headers!r:.300} {request.body[:200]!r}")

    run()
    return tally


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.req("O21-4.1.2.1-error-charset")
@pytest.mark.req("6749-5.2-error-shape")
@pytest.mark.parametrize("name", list(fuzzing.ENDPOINTS))
def test_fuzz(name, world, browser, error_log, request):
    tally = fuzz(name, world, browser, world["user"])
    logged = len(error_log.records)
    request.node.user_properties.extend([
        (f"count:F4:{name}", len(tally.digests)), ("count:F5", tally.server_errors), ("count:F5-logged", logged),
        ("count:F6", tally.error_responses), ("count:F6-violations", len(tally.problems)),
    ])
    assert tally.server_errors == 0 and logged == 0, (
        tally.statuses, [f"{r.name}: {r.getMessage()[:300]}" for r in error_log.records[:5]], tally.problems[:5]
    )
    assert not tally.problems, "\n".join(tally.problems[:20])
    assert len(tally.digests) >= 1000, len(tally.digests)


# -- the checks themselves can fail ------------------------------------------------------------
class FakeResponse(dict):
    def __init__(self, status: int, content: bytes, **headers: str) -> None:
        super().__init__(headers)
        self.status_code, self.content = status, content


@pytest.mark.parametrize(("body", "flagged"), [
    (b'{"error":"invalid_grant"}', False),
    (b'{"error":"invalid_grant","error_description":"fine text"}', False),
    (b'{"error":"server_broke"}', True),
    (b'{"error":"invalid_grant","error_description":"quote \\" here"}', True),
    (b'{"error":"invalid_grant","error_description":"tab\\there"}', True),
    (b'{"error_description":"no code"}', True),
    (b'["invalid_grant"]', True),
    (b"not json", True),
])
def test_the_json_error_check(body, flagged):
    response = FakeResponse(400, body, **{"Content-Type": "application/json"})
    assert bool(fuzzing.json_error_problems(fuzzing.ENDPOINTS["token"], response)) is flagged


@pytest.mark.parametrize(("location", "state", "flagged"), [
    (f"{REDIRECT_URI}?error=invalid_request&state=s&iss={ISSUER}", "s", False),
    (f"{REDIRECT_URI}?code=abc&state=s&iss={ISSUER}", "s", False),
    ("http://127.0.0.1:5555/cb?error=access_denied&iss=" + ISSUER, None, False),
    (f"{REDIRECT_URI}?error=invalid_request&state=s", "s", True),
    (f"{REDIRECT_URI}?error=invalid_request&iss={ISSUER}", "s", True),
    (f"{REDIRECT_URI}/?error=invalid_request&state=s&iss={ISSUER}", "s", True),
    (f"https://evil.example/cb?error=invalid_request&state=s&iss={ISSUER}", "s", True),
    (f"{REDIRECT_URI}?error=x&error_description=%0Abad&state=s&iss={ISSUER}", "s", True),
])
def test_the_redirect_check(location, state, flagged):
    registered = [REDIRECT_URI, "http://127.0.0.1/cb"]
    assert bool(fuzzing.redirect_problems(location, registered, ISSUER, state)) is flagged


# -- what the fuzzer found, kept as plain regression tests ---------------------------------------
@pytest.mark.req("6749-5.2-error-shape")
@pytest.mark.parametrize("path", ["/o/token/", "/o/introspect/", "/o/revoke/"])
@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "latin1"])
def test_a_form_body_in_another_charset_is_invalid_request(db, path, charset):
    """RFC 6749 Appendix B: form parameters are UTF-8. Recent Django refuses another declared
    charset with BadRequest (which became its bare HTML 400 before params.request_data caught
    it); Django 4.2 decoded the body in that charset. Both are answered invalid_request."""
    response = HttpClient().generic("POST", path, data=b"grant_type=client_credentials",
                                    content_type=f"application/x-www-form-urlencoded; charset={charset}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8"])
def test_a_form_body_declared_utf8_is_accepted(conf_client, charset):
    """Clients commonly send ``application/x-www-form-urlencoded;charset=UTF-8``."""
    response = HttpClient().generic(
        "POST", "/o/token/", data=b"grant_type=client_credentials&scope=read",
        content_type=f"application/x-www-form-urlencoded;charset={charset}",
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert response.status_code == 200, response.content

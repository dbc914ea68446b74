"""Hypothesis strategies and response checks for the endpoint fuzzing in ``test_fuzz.py``.

A generated request is mostly hostile: unknown and known parameter names with mutated,
oversized, control-character, percent-garbage, XSS, SQL and JWT-shaped values, repeated
parameters, every HTTP method, Content-Types that lie about the body, raw binary bodies,
broken multipart, Authorization headers of every scheme (and real credentials of the
fixtures' clients, so checks past client authentication are reached too), forwarded and
Host headers. Header values stay in Latin-1 without CR/LF, as a WSGI server delivers them.

:func:`problems` lists what is wrong with one response: a status >= 500 (F5), a JSON 4xx not
shaped as RFC 6749 §5.2 (F6: an object, ``error`` from the endpoint's registered set, an
``error_description`` within ``%x20-21 / %x23-5B / %x5D-7E``), an authorization or logout
error that is neither an HTML error page nor a redirect to a registered URI carrying
``error``, the original ``state`` and ``iss`` (RFC 6749 §4.1.2.1, RFC 9207 §2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from hypothesis import strategies as st

# -- what we fuzz ------------------------------------------------------------------------------
AUTHZ_PARAMS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
    "prompt", "response_mode", "nonce", "max_age", "id_token_hint", "login_hint", "display", "ui_locales",
    "claims_locales", "acr_values", "claims", "request", "request_uri", "registration", "login_after",
    "oauth_request", "allow", "deny", "csrfmiddlewaretoken", "resource", "dpop_jkt",
)
TOKEN_PARAMS = (
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret",
    "client_assertion", "client_assertion_type", "resource", "audience", "username", "password", "device_code",
    # RFC 8693 §2.1 token exchange, RFC 7523 §2.1 JWT bearer grant
    "subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type", "assertion",
)
TOKEN_ERRORS = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "invalid_target",
})
#: RFC 6750 §3.1, and RFC 9449 §7.1, §9 for a DPoP-bound token at a resource
BEARER_ERRORS = frozenset({
    "invalid_request", "invalid_token", "insufficient_scope", "invalid_dpop_proof", "use_dpop_nonce",
})
#: RFC 8628 §3.5: what polling with a device code may answer besides the RFC 6749 §5.2 codes
DEVICE_ERRORS = frozenset({"authorization_pending", "slow_down", "expired_token", "access_denied"})
DEVICE_PAGE_PARAMS = ("user_code", "device_request", "allow", "deny", "scope", "csrfmiddlewaretoken")


@dataclass(frozen=True)
class Endpoint:
    """One fuzzed endpoint: where it lives, the methods and parameters it knows, and the
    ``error`` codes its JSON errors may carry."""

    name: str
    paths: tuple[str, ...]
    methods: tuple[str, ...]
    params: tuple[str, ...]
    errors: frozenset[str] = frozenset()


ENDPOINTS = {
    e.name: e
    for e in (
        Endpoint("authorize", ("/o/authorize/",), ("GET", "POST"), AUTHZ_PARAMS),
        Endpoint("token", ("/o/token/",), ("POST",), TOKEN_PARAMS, TOKEN_ERRORS | DEVICE_ERRORS),
        # RFC 9126: the authorization request's parameters, authenticated like the token endpoint
        Endpoint("par", ("/o/par/",), ("POST",), (*AUTHZ_PARAMS, *TOKEN_PARAMS),
                 TOKEN_ERRORS | {"invalid_request_object", "invalid_request_uri", "request_not_supported",
                                 "invalid_dpop_proof", "use_dpop_nonce", "unsupported_response_type"}),
        Endpoint("device_authorization", ("/o/device_authorization/",), ("POST",), TOKEN_PARAMS, TOKEN_ERRORS),
        Endpoint("device", ("/o/device/",), ("GET", "POST"), DEVICE_PAGE_PARAMS),
        Endpoint("revoke", ("/o/revoke/",), ("POST",), ("token", "token_type_hint", *TOKEN_PARAMS),
                 TOKEN_ERRORS | {"unsupported_token_type"}),
        Endpoint("introspect", ("/o/introspect/",), ("POST",), ("token", "token_type_hint", *TOKEN_PARAMS),
                 TOKEN_ERRORS),
        Endpoint("userinfo", ("/o/userinfo/",), ("GET", "POST"), ("access_token", "scope", "claims", "schema"),
                 BEARER_ERRORS),
        Endpoint("jwks", ("/o/jwks/",), ("GET",), ("kid", "alg", "use")),
        Endpoint("discovery", ("/o/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/o"),
                 ("GET",), ("issuer", "format")),
        Endpoint("logout", ("/o/logout/",), ("GET", "POST"),
                 ("id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
                  "logout_request", "csrfmiddlewaretoken")),
    )
}
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND")

# -- values ------------------------------------------------------------------------------------
NASTY = (
    "", " ", "\t", "\x00", "\x7f", "\r\n", "%00", "%0d%0aSet-Cookie:x=1", "\u202e", "\ufeff", "ÿ",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "data:text/html,x",
    "' OR 1=1--", "\"; DROP TABLE oauth_provider_client;--", "../../../../etc/passwd", "..%2f..%2f", "%2e%2e/",
    "\\\\evil.example\\share", "https://evil.example/cb", "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd", "urn:ietf:params:oauth:request_uri:x", "{}", "[]", "null", "true", "-1", "0",
    "99999999999999999999999", "1e309", "NaN", "S256", "plain", "none", "code", "token", "id_token",
    "code id_token", "openid", "openid profile email", "offline_access", "read write", "authorization_code",
    "refresh_token", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "access_token", "%", "%zz", "%ED%A0%80", "+",
    "é" * 50, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ＡＢＣ", "a\u0301", "\u0000\u0001\u0002", "a" * 4096, "a" * 4097,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt_corpus(count: int = 400, seed: int = 6749) -> list[str]:
    """Compact JWS/JWE-shaped strings with hostile headers and claims (drawing them with
    Hypothesis per example cost more than the request): ``alg`` none in every case, HS256
    confusion, kid injection, crit, jku/jwk key smuggling, JWE with zip, junk signatures."""
    rng = random.Random(seed)
    headers: dict[str, list[Any]] = {
        "alg": ["none", "None", "NONE", "nOnE", "HS256", "RS256", "ES256", "PS256", "EdDSA", "", "dir", "RSA-OAEP", 7],
        "kid": ["' OR 1=1--", "../../dev/null", "http://evil/", "\x00", "k" * 300, "", "1"],
        "typ": ["JWT", "at+jwt", "logout+jwt", "", None],
        "crit": [["bork"], [], "exp", None],
        "jku": ["http://127.0.0.1:9/jwks"],
        "jwk": [{"kty": "oct", "k": ""}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"}],
        "zip": ["DEF"],
        "enc": ["A128GCM"],
    }
    claim_values: list[Any] = ["", "https://testserver/o", "https://testserver/o/", "conf-client", ["x", "conf-client"],
                               0, -1, 2**63, 1e308, None, True, {"a": 1}, "1", "alice"]
    claim_names = ["iss", "sub", "aud", "exp", "iat", "nbf", "azp", "nonce", "client_id", "scope", "jti"]
    signatures = ["", "AAAA", b64url(bytes(64)), "!!", ".", b64url(bytes(256))]
    out = []
    for _ in range(count):
        header = {k: rng.choice(v) for k, v in headers.items() if rng.random() < 0.4}
        claims = {k: rng.choice(claim_values) for k in claim_names if rng.random() < 0.4}
        parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), rng.choice(signatures)]
        if rng.random() < 0.2:
            parts += [b64url(rng.randbytes(12)), b64url(rng.randbytes(16))]
        if rng.random() < 0.1:
            parts[0] = rng.choice(["", "e30", "!!!", "eyJ", b64url(b"not json")])
        out.append(".".join(parts))
    return out


JWT_CORPUS = _jwt_corpus()


def jwt_like() -> st.SearchStrategy[str]:
    return st.sampled_from(JWT_CORPUS)


def mutations(value: str) -> list[str]:
    """Near misses of a real value: truncated, extended, case-flipped, padded, encoded."""
    return [
        value[:-1], value + "x", value.swapcase(), " " + value, value + " ", value + "\t", value.upper(),
        quote(value, safe=""), value[: len(value) // 2], value * 2, value + "/", value + "#f", value + "?x=1",
        value.replace("https", "http"), value.replace("/cb", "/cb/../cb"), value + "%00",
    ]


def values(pool: Sequence[str]) -> st.SearchStrategy[str]:
    near_misses = sorted({m for v in pool for m in mutations(v)})
    return st.one_of(
        st.sampled_from(list(pool) or [""]),
        st.sampled_from(near_misses or [""]),
        st.sampled_from(NASTY),
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="ascii"), max_size=80),
        st.integers(min_value=4090, max_value=4200).map(lambda n: "A" * n),
        jwt_like(),
    )


Items = list[tuple[str, str]]


@dataclass(frozen=True)
class FuzzRequest:
    """One request, as the test client sends it."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_type: str
    logged_in: bool
    #: the ``state`` an error redirect must echo (:func:`echoable_state`)
    state: str | None = None

    def digest(self) -> str:
        """Distinct means a distinct method + path + headers + body (F4)."""
        h = hashlib.sha256()
        for part in (self.method, self.path + "?" + self.query, repr(self.headers), self.content_type):
            h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
        h.update(self.body)
        h.update(b"L" if self.logged_in else b"A")
        return h.hexdigest()


def encode_pairs(items: list[tuple[str, str]]) -> str:
    return urlencode([(k, v) for k, v in items], encoding="utf-8", errors="surrogatepass")


LATIN1 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                 max_size=60)
CONTENT_TYPES = (
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=utf-16", "application/x-www-form-urlencoded; charset=bogus",
    "multipart/form-data; boundary=XyZ", "multipart/form-data", "multipart/form-data; boundary=",
    "application/json", "text/plain", "application/jwt", "", "garbage/;;;", "application/x-www-form-urlencoded;;",
)
EXTRA_HEADERS = (
    ("Origin", ("https://evil.example", "null", "https://rp.example")),
    ("Host", ("evil.example", "testserver", "testserver:443", "EVIL.example")),
    ("X-Forwarded-Host", ("evil.example",)),
    ("X-Forwarded-Proto", ("http", "https")),
    ("X-Forwarded-For", ("10.0.0.1, 203.0.113.5", "garbage")),
    ("Accept", ("application/json", "*/*", "text/html;q=0.1")),
    ("Accept-Language", ("fr", "xx-YY,*;q=0", "de;q=2")),
    ("Cookie", ("sessionid=garbage", "csrftoken=x", "sessionid=")),
)


def echoable_state(params: Items) -> str | None:
    """The ``state`` an error redirect must carry: the one sent, unless it was absent, empty
    (OAuth 2.1 §3.1: empty is absent), repeated, oversized or held a NUL. The server refuses
    to reflect a value that failed validation (OAuth 2.1 §7.12)."""
    states = [v for k, v in params if k == "state"]
    if len(states) != 1 or not states[0] or "\x00" in states[0] or len(states[0]) > 4096:
        return None
    return states[0]


def _in_header(value: str) -> bool:
    return all(0x20 <= ord(c) <= 0xFF and c != "\x7f" for c in value)


def requests(endpoint: Endpoint, pool: Sequence[str], secrets: Sequence[tuple[str, str]],
             baselines: Sequence[Items] = (), credentials: Sequence[str] = ()) -> st.SearchStrategy[FuzzRequest]:
    """Malformed requests for ``endpoint``. Half of them (when ``baselines`` are given) are a
    valid request (``baselines``, sent with one of the ``credentials`` Authorization values
    or the endpoint's body credentials) with one to three parameters replaced, dropped,
    emptied, repeated or added: those get past parsing and client authentication into the
    grant, token and consent logic. The sub-strategies are built once, here."""
    value = values(pool)
    key = st.one_of(st.sampled_from(endpoint.params), st.sampled_from(endpoint.params),
                    st.text(max_size=12), st.sampled_from(["", "a[]", "a.b", "%", "\x00"]))
    items = st.lists(st.tuples(key, value), max_size=12)

    @st.composite
    def mutated(draw: st.DrawFn) -> Items:
        out = list(draw(st.sampled_from(list(baselines))))
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["replace", "replace", "replace", "drop", "repeat", "add", "empty"]))
            if not out:
                op = "add"
            i = draw(st.integers(0, max(0, len(out) - 1)))
            if op == "replace":
                out[i] = (out[i][0], draw(value))
            elif op == "drop":
                del out[i]
            elif op == "repeat":
                out.append(out[i])
            elif op == "empty":
                out[i] = (out[i][0], "")
            else:
                out.append((draw(key), draw(value)))
        return out

    real_auth = st.sampled_from(list(credentials)) if credentials else st.none()
    header_value = value.filter(_in_header)
    methods = st.one_of(st.sampled_from(endpoint.methods), st.sampled_from(endpoint.methods),
                        st.sampled_from(ALL_METHODS))
    extra = [
        (name, st.sampled_from(choices) if name == "Host" else st.one_of(st.sampled_from(choices), LATIN1))
        for name, choices in EXTRA_HEADERS
    ]

    @st.composite
    def authorization(draw: st.DrawFn) -> str | None:
        kind = draw(st.sampled_from(["none", "basic-real", "basic-wrong", "basic-raw", "basic-junk", "bearer",
                                     "bearer-jwt", "other"]))
        if kind == "none":
            return None
        if kind == "basic-real" and secrets:
            client_id, secret = draw(st.sampled_from(list(secrets)))
            return "Basic " + base64.b64encode(f"{quote(client_id)}:{quote(secret)}".encode()).decode()
        if kind in ("basic-wrong", "basic-real"):
            raw = f"{quote(draw(value), safe='')}:{quote(draw(LATIN1), safe='')}"
            return "Basic " + base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode()
        if kind == "basic-raw":
            return "Basic " + base64.b64encode(draw(st.binary(max_size=80))).decode()
        if kind == "basic-junk":
            return draw(st.sampled_from(["Basic", "Basic ", "basic x", "BASIC ===="])) + draw(LATIN1)
        if kind == "bearer":
            return draw(st.sampled_from(["Bearer ", "bearer ", "Bearer  ", "BEARER "])) + draw(header_value)
        if kind == "bearer-jwt":
            return "Bearer " + draw(jwt_like())
        return draw(st.sampled_from(["Digest x", "Negotiate ", "DPoP abc", "Token x", ""])) + draw(LATIN1)

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        if baselines and draw(st.booleans()):
            return draw(near_valid())
        method = draw(methods)
        path = draw(st.sampled_from(endpoint.paths))
        if draw(st.integers(0, 20)) == 0:
            path += draw(st.sampled_from(["x", "/", "/x", "%2e%2e/", "..;/"]))
        query_items = draw(items)
        query = encode_pairs(query_items)
        if draw(st.integers(0, 9)) == 0:
            query += draw(st.sampled_from(["&%zz", "&=&==&", "&a=%ED%A0%80", ";x=1", "&&&", "#frag"]))
        body_items: list[tuple[str, str]] = []
        body, content_type = b"", ""
        if method not in ("GET", "HEAD") or draw(st.integers(0, 9)) == 0:
            shape = draw(st.sampled_from(["form", "form", "form", "raw", "multipart", "json", "none"]))
            if shape == "form":
                body_items = draw(items)
                body = encode_pairs(body_items).encode("ascii")
            elif shape == "raw":
                body = draw(st.binary(max_size=200))
            elif shape == "multipart":
                body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"" + draw(st.binary(max_size=20))
                        + b"\"\r\n\r\n" + draw(st.binary(max_size=40))
                        + draw(st.sampled_from([b"\r\n--XyZ--\r\n", b""])))
            elif shape == "json":
                body = json.dumps(dict(draw(items)), ensure_ascii=False).encode("utf-8", "surrogatepass")
            content_type = draw(st.sampled_from(CONTENT_TYPES)) if body else ""
        headers: list[tuple[str, str]] = []
        auth = draw(authorization())
        if auth is not None:
            headers.append(("Authorization", auth))
        for name, header in extra:
            # Host stays a valid name: Django refuses others (ALLOWED_HOSTS) before any view runs.
            if draw(st.integers(0, 7)) == 0:
                headers.append((name, draw(header)))
        return FuzzRequest(
            method=method, path=path, query=query, headers=tuple(headers), body=body, content_type=content_type,
            logged_in=draw(st.booleans()),
            state=echoable_state(query_items if method in ("GET", "HEAD") else body_items),
        )

    @st.composite
    def near_valid(draw: st.DrawFn) -> FuzzRequest:
        method = draw(st.sampled_from(endpoint.methods))
        params = draw(mutated())
        query, body, content_type = "", b"", ""
        if method == "GET":
            query = encode_pairs(params)
        else:
            body = encode_pairs(params).encode("ascii")
            content_type = draw(st.sampled_from(CONTENT_TYPES[:1] * 6 + CONTENT_TYPES))
        auth = draw(st.one_of(real_auth, real_auth, authorization()))
        headers = (("Authorization", auth),) if auth else ()
        return FuzzRequest(
            method=method, path=endpoint.paths[0], query=query, headers=headers, body=body,
            content_type=content_type, logged_in=draw(st.booleans()), state=echoable_state(params),
        )

    return build()


# -- checks ------------------------------------------------------------------------------------
LEGAL_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
PAGE_HEADERS = {"X-Frame-Options": "DENY", "Cache-Control": "no-store"}


@dataclass
class Tally:
    """Figures for one endpoint."""

    sent: int = 0
    digests: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: int = 0
    error_responses: int = 0
    problems: list[str] = field(default_factory=list)


def json_error_problems(endpoint: Endpoint, response: Any) -> list[str]:
    """RFC 6749 §5.2 shape of a JSON 4xx (RFC 6750 §3 for UserInfo)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ["4xx JSON body does not parse"]
    if not isinstance(body, dict):
        return ["4xx JSON body is not an object"]
    if "error" not in body:
        # RFC 6750 §3.1: a request that sent no token gets a challenge with no error code.
        challenge = response.get("WWW-Authenticate", "")
        if endpoint.name == "userinfo" and response.status_code == 401 and challenge.startswith("Bearer") \
                and "error=" not in challenge and body == {}:
            return []
        return [f"4xx JSON without error: {body!r:.200}"]
    out = []
    if body["error"] not in endpoint.errors:
        out.append(f"error {body['error']!r} not allowed at {endpoint.name}")
    description = body.get("error_description", "")
    if not isinstance(description, str) or not LEGAL_DESCRIPTION.fullmatch(description):
        out.append(f"illegal error_description {description!r:.200}")
    if "error_uri" in body and not isinstance(body["error_uri"], str):
        out.append("error_uri is not a string")
    return out


def redirect_problems(location: str, registered: Sequence[str], issuer: str, state: str | None) -> list[str]:
    """A redirect to a client: exactly a registered URI (any port for loopback), and an error
    redirect carries ``error`` (legal description), the original ``state`` and ``iss``."""
    got = urlsplit(location)
    ok = False
    for uri in registered:
        want = urlsplit(uri)
        loopback = want.scheme == "http" and want.hostname in ("127.0.0.1", "::1")
        same_host = got.hostname == want.hostname if loopback else got.netloc == want.netloc
        if got.scheme == want.scheme and same_host and got.path == want.path:
            ok = True
    if not ok:
        return [f"redirect to an unregistered URI {location!r:.200}"]
    query = dict(parse_qsl(got.query, keep_blank_values=True))
    out = []
    if "error" in query:
        if query.get("iss") != issuer:
            out.append(f"error redirect without iss: {location!r:.200}")
        if query.get("state") != state:
            out.append(f"error redirect with state {query.get('state')!r:.60} for sent {state!r:.60}")
        if not LEGAL_DESCRIPTION.fullmatch(query.get("error_description", "")):
            out.append("illegal error_description in a redirect")
    return out


def page_problems(response: Any) -> list[str]:
    if not response.get("Content-Type", "").startswith("text/html"):
        return [f"{response.status_code} is neither an HTML page nor JSON: {response.get('Content-Type')!r}"]
    return [f"page without {k}: {response.get(k)!r}" for k, v in PAGE_HEADERS.items() if response.get(k) != v]

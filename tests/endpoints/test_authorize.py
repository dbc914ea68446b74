"""The authorization endpoint (RFC 6749 §3.1, §4.1.1-4.1.2.1, OAuth 2.1 §4.1, RFC 9207, RFC 8252 §7).

Until client_id and redirect_uri are verified every error is an HTML page; afterwards it is a
redirect to the verified URI with ``error``, the original ``state`` and ``iss``."""

from __future__ import annotations

import base64
import os
import re
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider.adapter import DefaultAdapter
from oauth_provider.errors import safe_description
from oauth_provider.models import AuthorizationCode
from tests.support.endpoints import (
    AUTHORIZE,
    METADATA,
    XSS,
    assert_error_page,
    assert_error_redirect,
    assert_redirect_to,
    minted,
    params_for,
    provider_settings,
)
from tests.support.factories import REDIRECT_URI, ClientFactory, PublicClientFactory

from ..conftest import consent_blob, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def issuer(db) -> str:
    """The issuer as published in metadata: every ``iss`` must equal it."""
    return HttpClient().get(METADATA).json()["issuer"]


@pytest.fixture
def trusted_client(db):
    """A first-party (skip_consent) client for https://rp.example/cb: a request it sends with a
    matching redirect_uri yields a code at once, so a false match would be caught."""
    return ClientFactory(name="First party", skip_consent=True)


# -- before the client and redirect_uri are verified: an error page, never a redirect -------------
@pytest.mark.req("6749-4.1.2.1-no-redirect-on-bad-client")
@pytest.mark.parametrize("logged_in", [True, False])
@pytest.mark.parametrize("case", [
    "missing_client_id", "empty_client_id", "unknown_client_id", "inactive_client", "mismatched_redirect",
    "repeated_client_id", "repeated_redirect_uri", "repeated_same_redirect_uri", "client_id_with_nul",
    "long_client_id", "redirect_for_other_client",
])
def test_unverified_client_or_redirect_is_an_error_page(case, logged_in, user, trusted_client):
    other = ClientFactory(redirect_uris="https://other.example/cb")
    browser = HttpClient()
    if logged_in:
        browser.force_login(user)
    base = urlencode(params_for(trusted_client, client_id=None, redirect_uri=None))
    cid, uri = trusted_client.client_id, REDIRECT_URI
    queries = {
        "missing_client_id": {"redirect_uri": uri},
        "empty_client_id": {"client_id": "", "redirect_uri": uri},
        "unknown_client_id": {"client_id": "no-such-client", "redirect_uri": uri},
        "inactive_client": {"client_id": "inactive", "redirect_uri": uri},
        "mismatched_redirect": {"client_id": cid, "redirect_uri": "https://evil.example/cb"},
        "repeated_client_id": [("client_id", cid), ("client_id", other.client_id), ("redirect_uri", uri)],
        "repeated_redirect_uri": [("client_id", cid), ("redirect_uri", uri), ("redirect_uri", "https://evil.example/")],
        "repeated_same_redirect_uri": [("client_id", cid), ("redirect_uri", uri), ("redirect_uri", uri)],
        "client_id_with_nul": {"client_id": cid + "\x00", "redirect_uri": uri},
        "long_client_id": {"client_id": "x" * 5000, "redirect_uri": uri},
        "redirect_for_other_client": {"client_id": cid, "redirect_uri": "https://other.example/cb"},
    }
    if case == "inactive_client":
        ClientFactory(client_id="inactive", is_active=False)
    r = browser.get(f"{AUTHORIZE}?{base}&{urlencode(queries[case])}")
    assert_error_page(r)
    assert minted() == 0
    # positive control: the same browser and client with a correct request gets a code at once
    r = browser.get(AUTHORIZE, params_for(trusted_client))
    if logged_in:
        assert "code" in assert_redirect_to(r, REDIRECT_URI)
    else:
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


@pytest.mark.req("O21-4.1.1-redirect-required-if-many")
@pytest.mark.req("6749-4.1.2.1-no-redirect-on-bad-client")
def test_redirect_uri_required_when_several_registered(browser, public_client):
    r = browser.get(AUTHORIZE, params_for(public_client, redirect_uri=None))
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("O21-4.1.1-redirect-required-if-many")
@pytest.mark.parametrize("scope", ["openid", "read openid", "openid profile"])
def test_redirect_uri_required_in_openid_requests(scope, browser, trusted_client):
    """OIDC Core §3.1.2.1: always required, even with a single registered URI."""
    r = browser.get(AUTHORIZE, params_for(trusted_client, scope=scope, redirect_uri=None))
    assert_error_page(r)
    assert minted() == 0
    r = browser.get(AUTHORIZE, params_for(trusted_client, scope=scope))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("6749-4.1.2.1-no-redirect-on-bad-client")
def test_a_client_with_no_redirect_uri_gets_the_error_page(browser):
    """A client registered for client credentials only (no redirect URI) named at the
    authorization endpoint without one: the error page, not a server error."""
    client = ClientFactory(redirect_uris="", grant_types="client_credentials")
    r = browser.get(AUTHORIZE, params_for(ClientFactory(), client_id=client.client_id, redirect_uri=None))
    assert_error_page(r)
    assert minted() == 0


def test_redirect_uri_may_be_omitted_when_one_is_registered(browser, trusted_client, issuer):
    """RFC 6749 §3.1.2.3: with a single registered URI the parameter is optional."""
    r = browser.get(AUTHORIZE, params_for(trusted_client, redirect_uri=None))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert "code" in query and query["iss"] == issuer
    assert AuthorizationCode.objects.get().redirect_uri == ""


def test_response_mode_query_named_explicitly_gets_a_code(browser, trusted_client, issuer):
    """OAuth 2.0 Multiple Response Types §2.1: ``response_mode=query`` is the code flow's
    default, and naming it is no error."""
    r = browser.get(AUTHORIZE, params_for(trusted_client, response_mode="query"))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert "code" in query and query["iss"] == issuer and "error" not in query


# -- exact matching: a corpus of near-misses of https://rp.example/cb ----------------------------
MUTATIONS = [
    # case
    "https://RP.EXAMPLE/cb", "https://Rp.example/cb", "HTTPS://rp.example/cb", "Https://rp.example/cb",
    "https://rp.example/CB", "https://rp.example/Cb",
    # trailing slash, path changes
    "https://rp.example/cb/", "https://rp.example/cb//", "https://rp.example//cb", "https://rp.example/cbx",
    "https://rp.example/c", "https://rp.example", "https://rp.example/", "https://rp.example/cb.evil.example",
    "https://rp.example/%63b", "https://rp.example/c%62", "https://rp.example/cb%2F",
    # query added or changed
    "https://rp.example/cb?", "https://rp.example/cb?x=1", "https://rp.example/cb?redirect=https://evil.example",
    "https://rp.example/cb?code=attacker", "https://rp.example/cb&x=1", "https://rp.example/cb?#",
    # fragment
    "https://rp.example/cb#", "https://rp.example/cb#x", "https://rp.example/cb#@evil.example",
    # dot segments, encoded and double-encoded, path parameters
    "https://rp.example/cb/..", "https://rp.example/cb/../cb", "https://rp.example/cb/./", "https://rp.example/cb/%2e%2e/",
    "https://rp.example/cb/%2E%2E/evil", "https://rp.example/cb/%252e%252e/evil", "https://rp.example/cb%2f..%2fevil",
    "https://rp.example/cb%252f..%252fevil", "https://rp.example/cb/..;/evil", "https://rp.example/cb;/../evil",
    "https://rp.example/cb;x",
    # backslash
    "https://rp.example/cb\\..\\evil", "https://rp.example\\@evil.example/cb", "https://rp.example\\cb",
    "https://rp.example/cb\\", "https:\\\\rp.example\\cb",
    # userinfo
    "https://rp.example@evil.example/cb", "https://user@rp.example/cb", "https://rp.example:443@evil.example/cb",
    "https://evil.example@rp.example/cb", "https://rp.example%40evil.example/cb", "https://rp.example%2F@evil.example/cb",
    # sub-, super- and look-alike domains
    "https://evil.rp.example/cb", "https://rp.example.evil.example/cb", "https://example/cb", "https://rp.example.evil/cb",
    "https://rp.examplee/cb", "https://xrp.example/cb", "https://rp.example./cb", "https://rp.examp1e/cb",
    # port
    "https://rp.example:443/cb", "https://rp.example:8443/cb", "https://rp.example:/cb", "https://rp.example:0/cb",
    # scheme
    "http://rp.example/cb", "//rp.example/cb", "rp.example/cb", "/cb", "ftp://rp.example/cb", "wss://rp.example/cb",
    "javascript://rp.example/cb%0aalert(1)", "data:text/html,https://rp.example/cb", "https:/rp.example/cb",
    "https:rp.example/cb", "https:///rp.example/cb",
    # whitespace and control characters
    " https://rp.example/cb", "https://rp.example/cb ", "https://rp.example/cb\t", "https://rp.example/cb\n",
    "https://rp.example/cb\r\n", "https://rp.example/cb\r\nLocation: https://evil.example",
    "https://rp.example/cb%0d%0aSet-Cookie:x=1", "https://rp.example/cb\x00", "https://rp.example/cb%00",
    "https://rp.example/cb https://evil.example/cb", "https://rp.example/cb\nhttps://evil.example/cb",
    # unicode look-alikes and invisible characters
    "https://rp.ex\u0430mple/cb", "https://rp.\uff45xample/cb", "https://rp.example/cb\u200b",
    "https://rp.example\u3002/cb", "https://rp.example/c\u0432", "https://\u0280p.example/cb",
    "https://rp.example\u2215cb",
    # the whole URI encoded, or the registered one embedded in another
    "https%3A%2F%2Frp.example%2Fcb", "https://evil.example/https://rp.example/cb",
    "https://evil.example/?https://rp.example/cb", "https://evil.example#https://rp.example/cb",
    # XSS payloads where a URI is expected
    "https://rp.example/cb<script>alert(1)</script>", 'https://rp.example/cb"><img src=x onerror=alert(1)>',
]


def test_corpus_is_large_and_distinct():
    assert len(set(MUTATIONS)) == len(MUTATIONS) >= 60
    assert REDIRECT_URI not in MUTATIONS


@pytest.mark.req("BCP-2.1-redirect-exact-match")
@pytest.mark.req("6749-4.1.2.1-no-redirect-on-bad-client")
@pytest.mark.req("DERIVED-redirect-scheme-denylist")
@pytest.mark.parametrize("candidate", MUTATIONS)
def test_redirect_uri_mutation_is_refused(candidate, browser, trusted_client):
    r = browser.get(AUTHORIZE, params_for(trusted_client, redirect_uri=candidate))
    assert_error_page(r)
    assert minted() == 0
    html = r.content.decode()
    for payload in XSS:
        assert payload not in html


def test_exact_registered_uri_is_accepted(browser, trusted_client):
    """Positive control for the corpus: the same request with the registered URI gets a code."""
    r = browser.get(AUTHORIZE, params_for(trusted_client))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)
    assert AuthorizationCode.objects.count() == 1


@pytest.mark.req("BCP-2.1-redirect-exact-match")
@pytest.mark.parametrize("raw", [
    "https%3A%2F%2Frp.example%2Fcb%2F..%2Fevil",
    "https%3A%2F%2Frp.example%2Fcb%252F..",
    "https://rp.example/cb%23x",
    "https://rp.example/cb%3Fx%3D1",
    "https://rp.example/cb%0A",
    "https://rp.example/cb+",
    "https://rp.example/cb%20",
    "https://rp.example/c%E2%80%8Bb",
    "https://rp.example/cb%ZZ",
    "https://rp.example/cb%",
])
def test_raw_encoded_redirect_uri_is_refused(raw, browser, trusted_client):
    """The same near-misses as the server sees them when the query is percent-encoded by hand."""
    query = urlencode(params_for(trusted_client, redirect_uri=None))
    r = browser.get(f"{AUTHORIZE}?{query}&redirect_uri={raw}")
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("O21-2.3.1-no-fragment")
def test_registered_uri_with_fragment_sent_at_authorize(browser, trusted_client):
    r = browser.get(AUTHORIZE, params_for(trusted_client, redirect_uri=REDIRECT_URI + "#x"))
    assert_error_page(r)


# -- native apps: loopback ports and private-use schemes (RFC 8252 §7) ------------------------------
@pytest.fixture
def native(db):
    return PublicClientFactory(name="CLI", redirect_uris="http://127.0.0.1/cb http://[::1]/cb com.example.app:/cb")


@pytest.mark.req("8252-7.3-loopback-any-port")
@pytest.mark.parametrize("sent", ["http://127.0.0.1:51004/cb", "http://127.0.0.1/cb", "http://[::1]:61023/cb",
                                  "http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb"])
def test_loopback_ip_accepts_any_port(sent, oauth, native, issuer):
    params = params_for(native, redirect_uri=sent)
    r = oauth.browser.get(AUTHORIZE, params)
    assert r.status_code == 200  # a public client always sees the consent page
    r = oauth.approve(r)
    query = assert_redirect_to(r, sent)
    assert urlsplit(r["Location"]).port == urlsplit(sent).port
    assert query["state"] == params["state"] and query["iss"] == issuer


@pytest.mark.req("8252-7.3-loopback-any-port")
def test_loopback_code_redeems_with_the_port_used(oauth, native):
    sent = "http://127.0.0.1:49152/cb"
    code, verifier = oauth.get_code(native, redirect_uri=sent)
    r = oauth.exchange(native, code, verifier, redirect_uri=sent)
    assert r.status_code == 200, r.content


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize("sent", [
    "http://127.0.0.1:5000/cb?x=1", "http://127.0.0.1:5000/cb/", "http://127.0.0.1:5000/other",
    "https://127.0.0.1:5000/cb", "http://127.0.0.1.evil.example:5000/cb", "http://localhost:80@evil.example/cb",
    "http://localhost:5000/cb", "http://localhost/cb", "http://127.0.0.1:5000@evil.example/cb",
    "http://127.0.0.1:5000/cb#x", "http://127.0.0.2:5000/cb", "http://127.0.0.1:5000/CB", "http://[::2]:5000/cb",
])
def test_loopback_everything_but_the_port_must_match(sent, browser, native):
    r = browser.get(AUTHORIZE, params_for(native, redirect_uri=sent))
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize("port", [
    "\u0665\u0665\u0665\u0665",  # Arabic-Indic digits: int() reads 5555
    "\uff15\uff15\uff15\uff15",  # full-width digits
    "\u09eb\u09eb",  # Bengali digits
    "+5555", "-1", " 5555", "5555 ", "0", "65536", "000000",
])
def test_loopback_port_is_ascii_digits_in_range(port, browser, native):
    """RFC 3986 §3.2.3: ``port = *DIGIT``, and DIGIT is ASCII (RFC 5234 B.1). A port any other
    way is not the registered URI with another port: no code goes to it."""
    r = browser.get(AUTHORIZE, params_for(native, redirect_uri=f"http://127.0.0.1:{port}/cb"))
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
def test_ipv6_loopback_port_only_when_registered(browser, public_client):
    """``public_client`` registers only 127.0.0.1: [::1] is another host, not another port."""
    r = browser.get(AUTHORIZE, params_for(public_client, redirect_uri="http://[::1]:5000/cb"))
    assert_error_page(r)


@pytest.mark.req("8252-8.4-private-scheme-dot")
def test_private_use_scheme_matched_exactly_and_redirected(oauth, native, issuer):
    params = params_for(native, redirect_uri="com.example.app:/cb")
    r = oauth.approve(oauth.browser.get(AUTHORIZE, params))
    assert r.status_code == 302
    assert r["Location"].startswith("com.example.app:/cb?")
    query = query_of(r["Location"])
    assert query["code"] and query["state"] == params["state"] and query["iss"] == issuer
    for near in ("com.example.app:/cb/", "com.example.app://cb", "Com.example.app:/cb", "com.example.app:/cb?x"):
        assert_error_page(oauth.browser.get(AUTHORIZE, params_for(native, redirect_uri=near)))


# -- after verification: errors are redirected with state and iss ----------------------------------
LONG_STATE = base64.urlsafe_b64encode(os.urandom(384)).rstrip(b"=").decode()
ODD_STATE = "a+b/c d?e&f=g%h%20i"


@pytest.mark.req("6749-4.1.2-state-echo")
@pytest.mark.req("9207-2-iss-in-authz-response")
@pytest.mark.parametrize("state", ["xyz", LONG_STATE, ODD_STATE, "<script>alert(1)</script>"])
@pytest.mark.parametrize("overrides,error", [
    ({"response_type": None}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "id_token token"}, "unsupported_response_type"),
    ({"response_type": "code token"}, "unsupported_response_type"),
    ({"response_type": "CODE"}, "unsupported_response_type"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": "S512"}, "invalid_request"),
    ({"code_challenge_method": "s256"}, "invalid_request"),
    ({"code_challenge": "A" * 42}, "invalid_request"),
    ({"code_challenge": "A" * 44}, "invalid_request"),
    ({"code_challenge": "A" * 43 + "="}, "invalid_request"),
    ({"code_challenge": "A" * 41 + "+/"}, "invalid_request"),
    ({"code_challenge": "A" * 42 + " "}, "invalid_request"),
    ({"scope": "nonexistent"}, "invalid_scope"),
    ({"scope": "read nonexistent"}, "invalid_scope"),
    ({"scope": "READ"}, "invalid_scope"),
    ({"scope": 'read "x'}, "invalid_scope"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"code_challenge": "A" * 5000}, "invalid_request"),
    ({"scope": "read\x00"}, "invalid_request"),
])
def test_error_after_verification_is_redirected(overrides, error, state, browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, state=state, **overrides))
    query = assert_error_redirect(r, REDIRECT_URI, error, state, issuer)
    assert "code_challenge" not in query
    assert minted() == 0


@pytest.mark.req("O21-4.1.1-pkce-public")
@pytest.mark.req("O21-4.1.1-pkce-confidential")
@pytest.mark.req("BCP-2.1.1-s256-only")
@pytest.mark.parametrize("factory", ["confidential", "public"])
@pytest.mark.parametrize("overrides", [
    {"code_challenge": None}, {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge_method": None}, {"code_challenge_method": "plain"},
    {"code_challenge_method": "plain", "code_challenge": "a" * 43},
])
def test_pkce_s256_required_for_every_client(factory, overrides, browser, issuer):
    # the confidential one skips consent, so a missed check would yield a code at once
    client = ClientFactory(skip_consent=True) if factory == "confidential" else PublicClientFactory()
    r = browser.get(AUTHORIZE, params_for(client, state="s", **overrides))
    assert_error_redirect(r, client.redirect_uri_list[0], "invalid_request", "s", issuer)
    assert minted() == 0


@pytest.mark.req("7636-4.4.1-unsupported-method")
@pytest.mark.req("7636-4.1-verifier-syntax")
def test_pkce_errors_name_the_problem(browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, code_challenge_method="S512", state="s"))
    query = assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", issuer)
    assert "S256" in query["error_description"]
    r = browser.get(AUTHORIZE, params_for(trusted_client, code_challenge="A" * 44, state="s"))
    query = assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", issuer)
    assert "code_challenge" in query["error_description"]


@pytest.mark.req("DERIVED-client-policy")
def test_scope_outside_client_allow_list(browser, issuer):
    client = ClientFactory(allowed_scopes="read", skip_consent=True)
    r = browser.get(AUTHORIZE, params_for(client, scope="read write", state="s"))
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", "s", issuer)
    r = browser.get(AUTHORIZE, params_for(client, scope="read", state="s"))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("DERIVED-client-policy")
def test_client_without_authorization_code_grant(browser, issuer):
    client = ClientFactory(grant_types="client_credentials", skip_consent=True)
    r = browser.get(AUTHORIZE, params_for(client, state="s"))
    assert_error_redirect(r, REDIRECT_URI, "unauthorized_client", "s", issuer)
    assert minted() == 0


@pytest.mark.req("DERIVED-client-policy")
def test_authorization_code_grant_disabled_in_settings(browser, trusted_client, issuer):
    grants = {"client_credentials": "oauth_provider.grants.client_credentials.ClientCredentialsGrant"}
    with override_settings(OAUTH_PROVIDER=provider_settings(GRANT_TYPES=grants)):
        r = browser.get(AUTHORIZE, params_for(trusted_client, state="s"))
    assert_error_redirect(r, REDIRECT_URI, "unauthorized_client", "s", issuer)


@pytest.mark.req("O21-3.1-no-repeated-params")
@pytest.mark.parametrize("name", ["state", "scope", "response_type", "code_challenge", "code_challenge_method",
                                  "prompt"])
def test_repeated_parameter_is_invalid_request(name, browser, trusted_client, issuer):
    params = params_for(trusted_client, state="s", prompt="consent")
    query = urlencode(params) + "&" + urlencode({name: params[name]})
    r = browser.get(f"{AUTHORIZE}?{query}")
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["error"] == "invalid_request" and query["iss"] == issuer
    assert name in query["error_description"]
    assert minted() == 0


@pytest.mark.req("O21-3.1-empty-equals-absent")
def test_empty_state_is_absent(browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, state=""))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert "code" in query and "state" not in query and query["iss"] == issuer
    r = browser.get(AUTHORIZE, params_for(trusted_client, state="", scope="nonexistent"))
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", None, issuer)


@pytest.mark.req("O21-3.1-empty-equals-absent")
def test_empty_scope_is_absent(browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, scope="", state="s"))
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", "s", issuer)
    with override_settings(OAUTH_PROVIDER=provider_settings(DEFAULT_SCOPES=["read"])):
        r = browser.get(AUTHORIZE, params_for(trusted_client, scope=""))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("O21-3.1-empty-equals-absent")
@pytest.mark.parametrize("name", ["response_type", "code_challenge"])
def test_empty_required_parameter_is_missing(name, browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, state="s", **{name: ""}))
    assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", issuer)


@pytest.mark.req("6749-3.1-ignore-unknown-params")
@pytest.mark.req("OIDC-15.1-tolerated-params")
def test_unknown_parameters_are_ignored(oauth, conf_client):
    query = urlencode([("extra", "foobar"), ("extra", "twice"), ("display", "popup"), ("ui_locales", "fr"),
                       ("login_hint", XSS[0]), ("acr_values", "1"), ("claims_locales", "de")])
    params, verifier = oauth.authorize_params(conf_client)
    r = oauth.browser.get(f"{AUTHORIZE}?{urlencode(params)}&{query}")
    assert r.status_code == 200 and XSS[0] not in r.content.decode()
    r = oauth.approve(r)
    code = assert_redirect_to(r, REDIRECT_URI)["code"]
    assert oauth.exchange(conf_client, code, verifier).status_code == 200


@pytest.mark.req("O21-4.1.2.1-error-charset")
@pytest.mark.parametrize("overrides", [
    {"scope": "read\r\n\t\"\\é"}, {"scope": "réad"}, {"code_challenge": "é" * 43},
    {"code_challenge_method": "\"\\\r\n"}, {"prompt": "é\t"}, {"response_type": "c\u00f6de\r\n"},
])
def test_error_description_charset(overrides, browser, trusted_client):
    r = browser.get(AUTHORIZE, params_for(trusted_client, **overrides))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert re.fullmatch(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+", query["error"])
    assert re.fullmatch(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*", query.get("error_description", ""))


#: text an attacker would like the client to show its user, in a form every parameter accepts
PHISH = "Session_expired:_call_+1-555-0100_or_visit_evil.example"


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("logged_in", [False, True])
@pytest.mark.parametrize("name,value", [
    ("scope", f"read {PHISH}"),
    ("scope", f"openid {PHISH}"),
    ("scope", PHISH.replace("_", " ")),
    ("prompt", f"none {PHISH}"),
    ("response_type", PHISH),
    ("response_mode", PHISH),
    ("code_challenge_method", PHISH),
    ("code_challenge", PHISH),
    ("max_age", PHISH),
    ("claims", f'{{"userinfo": "{PHISH}"}}'),
    ("claims", PHISH),
    ("id_token_hint", PHISH),
    ("request", PHISH),
    ("request_uri", PHISH),
    ("registration", PHISH),
])
def test_redirected_errors_never_carry_text_the_request_chose(name, value, logged_in, user, trusted_client, issuer):
    """An error redirected to the client carries our own fixed text, never a parameter's value:
    a client shows error_description to its users, and a prompt=none request is answered before
    anyone logs in, so anyone could make it say anything (OAuth 2.1 §7.12)."""
    browser = HttpClient()
    if logged_in:
        browser.force_login(user)
    params = params_for(trusted_client, scope="openid", prompt="none", state="s")
    params[name] = value
    # With JAR and PAR on, request and request_uri are resolved before the redirect URI is
    # trusted (an error page: tests/endpoints/test_par.py); off, they are redirected errors.
    off = provider_settings(REQUEST_OBJECTS=False, PUSHED_AUTHORIZATION_REQUESTS=False)
    with override_settings(OAUTH_PROVIDER=off):
        r = browser.get(AUTHORIZE, params)
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["error"] and "code" not in query
    for fragment in ("evil.example", "555-0100", "Session", "expired"):
        assert fragment not in query.get("error_description", ""), query
        assert fragment not in r["Location"], r["Location"]


def test_safe_description_strips_forbidden_characters():
    assert safe_description('a"b\\c\r\nd\té') == "a?b?c??d??"
    # what our own messages cite reads as text, not as "?"
    cited = "needs jwks (RFC 7523 §2.2); the client\u2019s keys \u2014 or jwks_uri"
    assert safe_description(cited) == "needs jwks (RFC 7523 section 2.2); the client's keys - or jwks_uri"


# -- the user: login first (RFC 9700 §4.11.2), GET and POST (OIDC Core §3.1.2.1) ------------------
@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
def test_anonymous_user_goes_to_login_with_next(user, conf_client):
    anon = HttpClient()
    params = params_for(conf_client)
    r = anon.get(AUTHORIZE, params)
    assert r.status_code == 302
    login = urlsplit(r["Location"])
    assert login.path == "/accounts/login/" and not login.netloc
    next_url = query_of(r["Location"])["next"]
    assert urlsplit(next_url).path == AUTHORIZE and query_of(next_url) == params
    assert minted() == 0


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
def test_provider_login_url_setting(conf_client):
    with override_settings(OAUTH_PROVIDER=provider_settings(LOGIN_URL="/sso/login/")):
        r = HttpClient().get(AUTHORIZE, params_for(conf_client))
    assert r.status_code == 302 and urlsplit(r["Location"]).path == "/sso/login/"
    assert "next" in query_of(r["Location"])


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
@pytest.mark.parametrize("overrides,error", [
    ({"scope": "nonexistent"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge": None}, "invalid_request"),
])
def test_anonymous_bad_request_goes_to_login_not_to_client(overrides, error, user, trusted_client, issuer):
    """An unauthenticated visitor must not be bounced to the client: the AS would be an open
    redirector for anyone who registers a client. After login the error is redirected."""
    anon = HttpClient()
    r = anon.get(AUTHORIZE, params_for(trusted_client, state="s", **overrides))
    assert r.status_code == 302
    assert urlsplit(r["Location"]).path == "/accounts/login/"
    login_page = anon.get(r["Location"])
    assert login_page.status_code == 200 and login_page["Content-Type"].startswith("text/html")
    anon.force_login(user)
    r = anon.get(query_of(r["Location"])["next"])
    assert_error_redirect(r, REDIRECT_URI, error, "s", issuer)


@pytest.mark.req("O21-3.1-get-supported")
@pytest.mark.req("OIDC-3.1.2.1-get-and-post")
@pytest.mark.parametrize("method", ["get", "post"])
def test_get_and_post_both_complete(method, oauth, conf_client, issuer):
    params, verifier = oauth.authorize_params(conf_client)
    r = getattr(oauth.browser, method)(AUTHORIZE, params)
    assert r.status_code == 200
    assert consent_blob(r.content.decode())
    r = oauth.approve(r)
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == params["state"] and query["iss"] == issuer
    assert oauth.exchange(conf_client, query["code"], verifier).status_code == 200


@pytest.mark.req("OIDC-3.1.2.1-get-and-post")
def test_post_errors_behave_like_get(browser, trusted_client, issuer):
    r = browser.post(AUTHORIZE, params_for(trusted_client, redirect_uri="https://evil.example/cb"))
    assert_error_page(r)
    r = browser.post(AUTHORIZE, params_for(trusted_client, scope="nonexistent", state="s"))
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", "s", issuer)
    r = browser.post(AUTHORIZE, params_for(trusted_client, state="s"))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("OIDC-3.1.2.1-get-and-post")
@pytest.mark.req("BCP-4.12-no-307")
def test_anonymous_post_resumes_by_get_after_login(user, oauth, conf_client):
    anon = HttpClient()
    params, verifier = oauth.authorize_params(conf_client)
    r = anon.post(AUTHORIZE, params)
    assert r.status_code in (302, 303)
    next_url = query_of(r["Location"])["next"]
    assert query_of(next_url) == params
    anon.force_login(user)
    r = anon.get(next_url)
    assert r.status_code == 200
    r = anon.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == params["state"]
    assert oauth.exchange(conf_client, query["code"], verifier).status_code == 200


@pytest.mark.req("BCP-2.6-no-cors-authorize")
@pytest.mark.parametrize("method", ["get", "options", "post"])
def test_no_cors_on_authorize(method, browser, trusted_client):
    r = getattr(browser, method)(AUTHORIZE, params_for(trusted_client) if method != "options" else None,
                                 HTTP_ORIGIN="https://evil.example",
                                 HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert r.status_code != 500
    assert not any(h.lower().startswith("access-control-") for h in r.headers), dict(r.headers)


@pytest.mark.req("9207-2-iss-in-authz-response")
@pytest.mark.req("6749-4.1.2-state-echo")
@pytest.mark.parametrize("state", [LONG_STATE, ODD_STATE])
def test_success_carries_state_and_iss(state, browser, trusted_client, issuer):
    r = browser.get(AUTHORIZE, params_for(trusted_client, state=state))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == state and query["iss"] == issuer and query["code"]
    assert set(query) == {"code", "state", "iss"}


@pytest.mark.req("6749-4.1.2-state-echo")
def test_registered_query_is_kept(browser, issuer):
    client = ClientFactory(redirect_uris="https://rp.example/cb?tenant=a", skip_consent=True)
    r = browser.get(AUTHORIZE, params_for(client, state="s"))
    query = assert_redirect_to(r, "https://rp.example/cb")
    assert query["tenant"] == "a" and query["code"]
    r = browser.get(AUTHORIZE, params_for(client, state="s", scope="nope"))
    query = assert_error_redirect(r, "https://rp.example/cb", "invalid_scope", "s", issuer)
    assert query["tenant"] == "a"


@pytest.mark.req("O21-4.1.2-challenge-not-exposed")
def test_code_is_opaque(browser, trusted_client):
    params = params_for(trusted_client)
    r = browser.get(AUTHORIZE, params)
    code = assert_redirect_to(r, REDIRECT_URI)["code"]
    assert params["code_challenge"] not in r["Location"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", code)
    assert params["code_challenge"].encode() not in base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    stored = AuthorizationCode.objects.get()
    assert code not in (stored.code_hash, stored.code_challenge)


class BetaTesters(DefaultAdapter):
    """A host policy deciding with the client and the request (its user)."""

    def is_user_allowed(self, request, client, user):
        return not client.name.startswith("Beta ") or request.user.username.startswith("beta-")


def test_the_hosts_policy_decides_who_may_authorize_which_client(oauth, user, settings):
    """``is_user_allowed`` (the adapter): a user it refuses for this client gets
    ``access_denied`` back at the client, no consent page and no code; another client, or an
    allowed user, is asked as usual."""
    from tests.support.endpoints import assert_error_redirect
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.BetaTesters")
    beta = ClientFactory(name="Beta RP")
    params, _ = oauth.authorize_params(beta)
    refused = oauth.browser.get("/o/authorize/", params)
    assert_error_redirect(refused, beta.redirect_uri_list[0], "access_denied", params["state"], "https://testserver/o")
    assert not AuthorizationCode.objects.exists()
    params, _ = oauth.authorize_params(ClientFactory(name="Stable RP"))
    assert oauth.browser.get("/o/authorize/", params).status_code == 200  # the consent page
    tester = HttpClient()
    tester.force_login(type(user).objects.create(username="beta-bob"))
    params, _ = oauth.authorize_params(beta)
    assert tester.get("/o/authorize/", params).status_code == 200


# -- a loopback redirect registered without a path (RFC 8252 §7.3; outside review, session 17) --

@pytest.mark.req("BCP-2.1-redirect-exact-match")
@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize(("registered", "sent"), [
    ("http://127.0.0.1", "http://127.0.0.1:5000\n"),
    ("http://127.0.0.1", "http://127.0.0.1\n"),
    ("http://[::1]", "http://[::1]:5000\n"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080\n"),
])
def test_a_loopback_uri_without_a_path_is_matched_to_its_last_character(registered, sent, browser):
    """``$`` also matches before a final newline: only the port may differ, nothing may be added."""
    native = PublicClientFactory(redirect_uris=registered)
    r = browser.get(AUTHORIZE, params_for(native, redirect_uri=sent))
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize("sent", [
    "http://127.0.0.1.evil.example", "http://127.0.0.1.evil.example/", "http://127.0.0.1@evil.example",
    "http://127.0.0.1:5000@evil.example", "http://127.0.0.1:5000.evil.example", "http://[::1].evil.example",
    "http://[::1]@evil.example", "http://127.0.0.1#x", "http://127.0.0.1:5000#@evil.example",
    "http://127.0.0.1\\@evil.example", "http://127.0.0.1%2eevil.example", "http://127.0.0.1:",
])
def test_a_loopback_uri_without_a_path_gets_no_suffix(sent, browser):
    """A native app may register its loopback address with no path; the port rule must not let
    anything follow it (a host, user information, a fragment)."""
    native = PublicClientFactory(redirect_uris="http://127.0.0.1 http://[::1]")
    r = browser.get(AUTHORIZE, params_for(native, redirect_uri=sent))
    assert_error_page(r)
    assert minted() == 0
    assert browser.get(AUTHORIZE, params_for(native, redirect_uri="http://127.0.0.1:5000")).status_code == 200

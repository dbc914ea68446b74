"""Redirect-URI registration rules (through ``Client.full_clean()``, as the admin and the
factories run them) and request-time matching (:func:`oauth_provider.redirect_uris.matches`)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from oauth_provider.models import get_client_model
from oauth_provider.redirect_uris import ascii_host, find_match, matches, validate_redirect_uri

pytestmark = pytest.mark.django_db


def make_client(redirect_uris: str, *, public: bool = False):
    Client = get_client_model()
    return Client(
        name="RP",
        client_type="public" if public else "confidential",
        # a public client here stands for a native app (RFC 8252), a confidential one for a web site
        application_type="native" if public else "web",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        redirect_uris=redirect_uris,
        grant_types="authorization_code refresh_token",
    )


def redirect_errors(uri: str, *, public: bool = False) -> list[str]:
    """The redirect_uris validation messages for a client registering ``uri`` (empty: OK)."""
    try:
        make_client(uri, public=public).full_clean()
    except ValidationError as exc:
        return exc.message_dict.get("redirect_uris", [])
    return []


# -- registration ------------------------------------------------------------------------------
@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", [
    "https://rp.example/*",
    "https://*.rp.example/cb",
    "https://rp.example/cb*",
    "https://rp.example/*/cb",
    "*",
])
@pytest.mark.parametrize("public", [False, True])
def test_wildcards_refused(uri, public):
    assert redirect_errors(uri, public=public)


@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", ["/cb", "cb", "//rp.example/cb", "rp.example/cb", "?x=1", "https:/cb",
                                 "https:rp.example/cb", "https:///cb", "://rp.example/cb"])
def test_relative_or_hostless_refused(uri):
    assert redirect_errors(uri)


@pytest.mark.req("O21-2.3.1-no-fragment")
@pytest.mark.parametrize("uri", ["https://rp.example/cb#x", "https://rp.example/cb#", "http://127.0.0.1/cb#frag",
                                 "com.example.app:/cb#x"])
def test_fragment_refused(uri):
    assert redirect_errors(uri, public=True)


@pytest.mark.req("BCP-2.6-no-http-redirect")
@pytest.mark.parametrize("uri", [
    "http://rp.example/cb",
    "http://127.0.0.1.evil.example/cb",
    "http://localhost.evil.example/cb",
    "http://10.0.0.1/cb",
    "http://127.0.0.2/cb",
    "HTTP://rp.example/cb",
])
@pytest.mark.parametrize("public", [False, True])
def test_http_on_non_loopback_refused(uri, public):
    assert redirect_errors(uri, public=public)


@pytest.mark.req("DERIVED-redirect-scheme-denylist")
@pytest.mark.parametrize("uri", [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "javascript://rp.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "blob:https://rp.example/0b4e7b7c-0000-0000-0000-000000000000",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
])
@pytest.mark.parametrize("public", [False, True])
def test_dangerous_schemes_refused(uri, public):
    assert redirect_errors(uri, public=public)


@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", [
    "https://user@rp.example/cb",
    "https://user:pass@rp.example/cb",
    "https://rp.example@evil.example/cb",
    "http://localhost:80@evil.example/cb",
    "http://127.0.0.1@evil.example/cb",
    # a private-use scheme's authority means nothing to the app, but the consent page shows it
    "com.example.app://accounts.example@evil.example/cb",
    "com.example.app://u:p@callback",
])
def test_userinfo_refused(uri):
    assert redirect_errors(uri, public=True) == ["A redirect URI must not contain user information (user@host)."]


def test_a_private_use_uri_may_have_an_authority_without_user_information():
    """RFC 8252 §7.1 shows ``com.example.app:/oauth2redirect``; apps also register
    ``com.example.app://callback``: both stay valid."""
    assert redirect_errors("com.example.app:/oauth2redirect/provider", public=True) == []
    assert redirect_errors("com.example.app://callback", public=True) == []


@pytest.mark.parametrize("uri", [
    "https://rp.example\\@evil.example/cb",
    "https://rp.example/cb\x00",
    "https://rp.example/cb\x7f",
    'https://rp.example/"><script>',
    "https://rp.example:99999/cb",
    "https://rp.example:port/cb",
    "https://[::1/cb",
    "https://rp.example:0/cb",
    "https://rp.example:\u0665\u0665/cb",
    "https://rp.example:\uff18\uff10/cb",
    "http://127.0.0.1:+80/cb",
    "http://127.0.0.1:\u0665\u0665/cb",
])
def test_malformed_refused(uri):
    assert redirect_errors(uri)


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("host", ["rp%2eexample", "rp.example;script-src", "rp.example,evil.example", "rp!.example",
                                  "rp$.example", "rp&.example", "rp'.example", "rp(1).example",
                                  "rp+.example", "rp=.example"])
def test_a_host_that_is_no_domain_name_or_address_is_refused(host):
    """RFC 3986 §3.2.2 lets a host hold sub-delims and percent-encodings; no DNS name does.
    Pages would show "rp%2eexample" where the browser opens rp.example, and a ";" ends a
    CSP source list (the front-channel logout page's frame-src)."""
    errors = redirect_errors(f"https://{host}/cb", public=True)
    assert errors == [f"The host of the redirect URI https://{host}/cb is not a domain name or an IP address."]


@pytest.mark.parametrize("uri", ["https://rp-1.example/cb", "https://rp_1.example/cb", "https://xn--bcher-kva.example/cb",
                                 "https://bücher.example/cb", "https://192.0.2.1/cb", "https://[2001:db8::1]:8443/cb",
                                 "https://rp.example./cb", "https://rp.example/cb?a=1&b=2;c,d"])
def test_domain_names_and_addresses_are_hosts(uri):
    assert redirect_errors(uri, public=False) == []


@pytest.mark.parametrize("uri", ["https://rp.example/c b", "https://rp.example/cb\r\nSet-Cookie:x=1",
                                 "https://rp.example/cb\n", "https://rp.example/cb\t", "\u00a0https://rp.example/cb"])
def test_whitespace_inside_one_uri_refused(uri):
    """The field separates URIs by whitespace, so the validator of one URI is asked directly."""
    with pytest.raises(ValidationError):
        validate_redirect_uri(uri, public=True)


@pytest.mark.req("8252-8.4-private-scheme-dot")
@pytest.mark.parametrize("uri", ["myapp:/cb", "myapp://cb", "app:cb"])
def test_private_scheme_without_dot_refused(uri):
    assert redirect_errors(uri, public=True)


@pytest.mark.req("8252-8.4-private-scheme-dot")
@pytest.mark.parametrize("uri", ["com.example.app:/cb", "com.example.app://cb"])
def test_private_scheme_on_confidential_client_refused(uri):
    assert redirect_errors(uri, public=False)
    assert redirect_errors(uri, public=True) == []


@pytest.mark.req("BCP-2.6-no-http-redirect")
@pytest.mark.req("8252-8.4-private-scheme-dot")
@pytest.mark.parametrize("uri,public", [
    ("https://rp.example/cb", False),
    ("https://rp.example/cb", True),
    ("https://rp.example:8443/cb?tenant=1", False),
    ("http://127.0.0.1/cb", True),
    ("http://127.0.0.1:8080/cb", True),
    ("http://[::1]/cb", True),
    ("http://127.0.0.1/cb", False),
    ("com.example.app:/cb", True),
])
def test_acceptable_uris(uri, public):
    assert redirect_errors(uri, public=public) == []


def test_every_line_is_checked():
    """One bad URI among good ones still fails registration."""
    assert redirect_errors("https://rp.example/cb\njavascript:alert(1)")
    assert redirect_errors("https://rp.example/cb https://rp.example/other") == []


def test_authorization_code_needs_a_redirect_uri():
    with pytest.raises(ValidationError) as info:
        make_client("").full_clean()
    assert "redirect_uris" in info.value.message_dict


# -- request-time matching ---------------------------------------------------------------------
REGISTERED = "https://rp.example/cb"


@pytest.mark.req("BCP-2.1-redirect-exact-match")
def test_exact_match():
    assert matches(REGISTERED, REGISTERED)


@pytest.mark.req("BCP-2.1-redirect-exact-match")
@pytest.mark.parametrize("candidate", [
    "https://RP.example/cb", "HTTPS://rp.example/cb", "https://rp.example/CB", "https://rp.example/cb/",
    "https://rp.example/cb?", "https://rp.example/cb?x=1", "https://rp.example/cb#", "https://rp.example:443/cb",
    "https://rp.example/cb/../cb", "https://rp.example/%63b", "http://rp.example/cb", "https://rp.example./cb",
    "https://rp.example/cb ", " https://rp.example/cb", "https://rp.exаmple/cb", "",
])
def test_no_normalisation(candidate):
    """Simple string comparison (RFC 3986 §6.2.1): equivalent-looking forms do not match."""
    assert not matches(candidate, REGISTERED)


@pytest.mark.req("8252-7.3-loopback-any-port")
@pytest.mark.parametrize("candidate,registered", [
    ("http://127.0.0.1:51004/cb", "http://127.0.0.1/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1/cb"),
    ("http://127.0.0.1:1/cb", "http://127.0.0.1:8080/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"),
    ("http://[::1]:61023/cb", "http://[::1]/cb"),
    ("http://127.0.0.1:5000/cb?x=1", "http://127.0.0.1/cb?x=1"),
    ("http://127.0.0.1:5000", "http://127.0.0.1"),
])
def test_loopback_ip_any_port(candidate, registered):
    assert matches(candidate, registered)


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize("candidate", [
    "http://127.0.0.1:5000/cb?x=1",
    "http://127.0.0.1:5000/cb/",
    "http://127.0.0.1:5000/other",
    "http://127.0.0.1:5000/cb#x",
    "http://127.0.0.1:5000/CB",
    "https://127.0.0.1:5000/cb",
    "HTTP://127.0.0.1:5000/cb",
    "http://127.0.0.1.evil.example:5000/cb",
    "http://127.0.0.1:5000@evil.example/cb",
    "http://127.0.0.1@evil.example/cb",
    "http://localhost:80@evil.example/cb",
    "http://localhost:5000/cb",
    "http://localhost/cb",
    "http://[::1]:5000/cb",
    "http://127.0.0.2:5000/cb",
    "http://127.0.0.1:/cb",
    "http://127.0.0.1:5000:6000/cb",
    "http://127.0.0.1:5000/cb\n",
    "http://127.0.0.1:5000/cb\r\nX: y",
    "http://127.0.0.1:5000\\@evil.example/cb",
    "http://127.0.0.1:abc/cb",
])
def test_loopback_only_port_varies(candidate):
    assert not matches(candidate, "http://127.0.0.1/cb")


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
def test_localhost_is_matched_exactly():
    """Only IP literals get the port exemption; ``localhost`` can be re-pointed by DNS or hosts file."""
    assert matches("http://localhost/cb", "http://localhost/cb")
    assert not matches("http://localhost:5000/cb", "http://localhost/cb")


@pytest.mark.req("8252-8.4-private-scheme-dot")
@pytest.mark.parametrize("candidate", ["com.example.app:/cb/", "com.example.app://cb", "COM.example.app:/cb",
                                       "com.example.app:/cb?x", "com.example.ap:/cb"])
def test_private_scheme_exact(candidate):
    assert matches("com.example.app:/cb", "com.example.app:/cb")
    assert not matches(candidate, "com.example.app:/cb")


def test_find_match_returns_the_registered_uri():
    registered = ["https://rp.example/cb", "http://127.0.0.1/cb"]
    assert find_match("http://127.0.0.1:4242/cb", registered) == "http://127.0.0.1/cb"
    assert find_match("https://rp.example/cb", registered) == "https://rp.example/cb"
    assert find_match("https://rp.example/other", registered) is None
    assert find_match("https://rp.example/cb", []) is None


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize("port", ["0", "65536", "99999", "\u0665\u0665\u0665\u0665", "\uff18\uff10",
                                  "+80", " 80", "\u00b2"])
def test_loopback_port_out_of_range_is_refused(port):
    from oauth_provider.redirect_uris import matches

    assert not matches(f"http://127.0.0.1:{port}/cb", "http://127.0.0.1/cb")
    assert matches("http://127.0.0.1:65535/cb", "http://127.0.0.1/cb")


def test_registered_query_is_kept_verbatim_in_the_redirect():
    from oauth_provider.responses import add_query

    assert add_query("https://rp.example/cb?x&y=a%20b", {"code": "c", "state": None}) == (
        "https://rp.example/cb?x&y=a%20b&code=c"
    )
    assert add_query("com.example.app:/cb", {"code": "c d"}) == "com.example.app:/cb?code=c+d"


# -- found by mutation testing (docs/mutation-report.md) ---------------------------------------------
@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", ["https://:443/cb", "http://:8080/cb", "https://:1/"])
def test_a_port_without_a_host_is_hostless(uri):
    """A netloc that is only a port has no host: refused like an empty one."""
    assert any("no host" in m for m in redirect_errors(uri))


@pytest.mark.req("BCP-2.6-no-http-redirect")
@pytest.mark.parametrize("uri", ["http://[::1]:51000/cb", "http://[::1]:8/cb", "http://127.0.0.1:51000/cb",
                                 "http://LOCALHOST:3000/cb", "http://[::1]/cb"])
def test_http_on_loopback_with_a_port_is_accepted(uri):
    """The loopback check reads the host alone: a port (or an upper-case host) after it
    does not make a loopback URI look like a remote one (RFC 8252 §7.3)."""
    assert redirect_errors(uri, public=True) == []


@pytest.mark.req("8252-7.3-loopback-only-port-varies")
@pytest.mark.parametrize(("candidate", "registered"), [
    ("http://127.0.0.1/cb", "http://[::1]/cb"),
    ("http://127.0.0.1:5000/cb", "http://[::1]:5000/cb"),
    ("http://[::1]/cb", "http://127.0.0.1/cb"),
    ("http://[::1]:5000/cb", "http://127.0.0.1/cb"),
])
def test_one_loopback_address_does_not_stand_for_the_other(candidate, registered):
    """Only the port may vary: 127.0.0.1 and [::1] are different hosts, in either direction."""
    assert not matches(candidate, registered)
    assert find_match(candidate, [registered]) is None


@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", ["com.example.app", "com.example.app/cb", "localhost"])
def test_a_scheme_without_its_colon_is_not_absolute(uri):
    """Without ":" there is no scheme, even when the text would be a valid scheme name: a
    public (native) client cannot register "com.example.app" as if it were "com.example.app:"."""
    assert any("not absolute" in m for m in redirect_errors(uri, public=True))


def test_redirect_uris_longer_than_the_limit_are_refused():
    """2,000 characters, the limit the error message states (and browsers reliably keep)."""
    MAX_LENGTH = 2000
    base = "https://rp.example/"
    too_long = base + "a" * (MAX_LENGTH + 1 - len(base))
    assert redirect_errors(too_long) == ["A redirect URI must be 1 to 2000 characters."]
    assert redirect_errors(base + "a" * (MAX_LENGTH - len(base))) == []
    for extra in (1, 2, 500):
        uri = base + "a" * (MAX_LENGTH - len(base) + extra)
        with pytest.raises(ValidationError):
            validate_redirect_uri(uri, public=False)


def test_origin_is_scheme_host_and_explicit_port_of_http_urls_only():
    """RFC 6454 §4 as the front-channel and same-origin rules use it: the default port made
    explicit, the host lower-cased; no origin for another scheme (even one naming a host, as a
    native app's private-use URI may), for a URL without a host, or for an impossible port."""
    from oauth_provider.redirect_uris import origin

    assert origin("https://App.Example/cb") == ("https", "app.example", 443)
    assert origin("HTTP://app.example/cb") == ("http", "app.example", 80)
    assert origin("https://app.example:8443/cb") == ("https", "app.example", 8443)
    assert origin("http://127.0.0.1:80/") == ("http", "127.0.0.1", 80)
    assert origin("com.example.app://app.example/cb") is None
    assert origin("ftp://app.example/") is None
    assert origin("https:///cb") is None
    assert origin("https://app.example:99999/cb") is None


@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.parametrize("uri", ["https://user@rp.example/cb", "https://user:pass@rp.example/cb",
                                 "https://user:pass@rp.example:8443/cb", "http://localhost:80@evil.example/cb",
                                 "https://a@b:c@rp.example/cb",
                                 # an IP literal left open, a "]" hidden in the user information before it
                                 "com.example.app://u]@[::1/cb", "com.example.app://u]@[::1:8080/cb"])
def test_user_information_is_refused_as_such_whatever_it_holds(uri):
    """The port is read after the user information: a "user:pass@" is not taken for a host
    and port, and the refusal says what is wrong (user information), not "malformed"."""
    assert redirect_errors(uri, public=True) == ["A redirect URI must not contain user information (user@host)."]


@pytest.mark.parametrize(("uri", "ok"), [
    ("https://[2001:db8::]/cb", True), ("https://[2001:db8::]:8443/cb", True), ("http://[::1]:51000/cb", True),
    ("http://[::1]:99999/cb", False), ("http://[::1]:0/cb", False), ("http://[::1]:+80/cb", False),
    ("https://[2001:db8::1]:65536/cb", False), ("http://[::1]:80:90/cb", False), ("https://rp.example:80:90/cb", False),
    # after the literal's "]" only ":port": no text, no second "]" hiding a port behind it
    ("https://[2001:db8::1]x]/cb", False), ("https://[2001:db8::1]x/cb", False), ("http://[::1]:1]:80/cb", False),
    ("http://[::1]]/cb", False), ("http://[::1]:/cb", False),
])
def test_the_port_of_an_ip_literal_is_read_after_its_closing_bracket(uri, ok):
    """RFC 3986 §3.2.2-3.2.3: the port follows the "]" of an IP literal (whose own colons are
    no port, even when it ends in "::"), and is one number from 1 to 65535; anything else after
    the host, or an IP literal without its "]", is malformed."""
    errors = redirect_errors(uri, public=True)
    assert errors == ([] if ok else [f"The redirect URI {uri} is malformed."])


def test_an_ascii_host_is_shown_as_written_even_where_idna_would_refuse_it():
    """Only a non-ASCII host is converted (and may have no IDNA form); an ASCII one is the
    name a browser contacts already, whatever IDNA thinks of its labels (a 64-letter label,
    an empty one)."""
    for host in ("a" * 64 + ".example", "rp..example", "RP.Example"):
        assert ascii_host(host) == host
    with pytest.raises(ValueError):
        ascii_host("\u00fc" * 64 + ".example")


@pytest.mark.parametrize(("uri", "public", "message"), [
    ("", True, "A redirect URI must be 1 to 2000 characters."),
    ("https://rp.example/c b", True,
     "The redirect URI https://rp.example/c b contains whitespace or an illegal character."),
    ("https://*.rp.example/cb", True, "Wildcards are not allowed in redirect URIs: register each full URI."),
    ("https://rp.example/cb#x", True, "A redirect URI must not contain a fragment (#)."),
    ("/cb", True, "The redirect URI /cb is not absolute."),
    ("javascript:alert(1)", True, "The javascript: scheme is not allowed."),
    ("https://[::1/cb", True, "The redirect URI https://[::1/cb is malformed."),
    ("https:///cb", True, "The redirect URI https:///cb has no host."),
    ("https://rp%2eexample/cb", True,
     "The host of the redirect URI https://rp%2eexample/cb is not a domain name or an IP address."),
    ("http://rp.example/cb", True,
     "Plain http is only allowed on loopback hosts (127.0.0.1, [::1], localhost); use https."),
    ("com.example.app:/cb", False, "Private-use URI schemes are only allowed for public (native) clients."),
    ("myapp:/cb", True, "A private-use scheme must be a reverse domain name, like com.example.app:/callback."),
])
def test_each_refusal_says_what_is_wrong_with_the_uri_it_names(uri, public, message):
    """The developer registering a client reads why a URI was refused, with the URI in it
    (the admin form and dynamic registration show these messages as they are)."""
    with pytest.raises(ValidationError) as refused:
        validate_redirect_uri(uri, public=public)
    assert refused.value.messages == [message]

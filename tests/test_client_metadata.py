"""``oauth_provider.client_metadata``: the one validator of RFC 7591 §2 client metadata, used by
the admin, ``createclient``, dynamic registration and client ID metadata documents."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from oauth_provider import client_metadata
from oauth_provider.client_metadata import InvalidClientMetadata, to_dict, validate
from oauth_provider.models import get_client_model
from tests.support.dpop import random_rsa_jwk
from tests.support.settings import override_oauth

pytestmark = pytest.mark.django_db
Client = get_client_model()
WEB = {"redirect_uris": ["https://rp.example/cb"]}


def public_jwk(kid: str = "k1", key=None) -> dict:
    key = key or ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads((ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm)
                     .to_jwk(key.public_key()))
    return {**jwk, "kid": kid}


def refused(data: dict, *, source: str = "dynamic", **kw) -> InvalidClientMetadata:
    with pytest.raises(InvalidClientMetadata) as info:
        validate(data, source=source, **kw)
    return info.value


def test_defaults_follow_rfc_7591():
    """RFC 7591 §2: grant_types defaults to authorization_code, response_types to code, the
    auth method to client_secret_basic; OIDC Registration §2: application_type to web."""
    meta = validate(WEB, source="dynamic")
    assert meta.grant_types == ["authorization_code"] and meta.response_types == ["code"]
    assert meta.token_endpoint_auth_method == "client_secret_basic" and meta.application_type == "web"
    assert meta.scope is None and not meta.is_public


def test_the_error_is_an_object_of_json_members():
    problem = refused(["https://rp.example/cb"])  # type: ignore[arg-type]
    assert problem.error == "invalid_client_metadata"


@pytest.mark.req("OIDCREG-2-application-type")
@pytest.mark.parametrize(("application_type", "uri", "ok"), [
    (None, "http://127.0.0.1/cb", False),
    ("native", "http://127.0.0.1/cb", True),
    ("native", "http://[::1]:8080/cb", True),
    ("web", "com.example.app:/cb", False),
    ("native", "com.example.app:/cb", True),
    ("native", "https://app.example/cb", False),
    ("web", "https://app.example/cb", True),
    ("web", "https://localhost/cb", False),
    ("web", "http://localhost:8000/cb", False),
])
def test_self_registered_redirect_uris_follow_the_application_type(application_type, uri, ok):
    data = {"redirect_uris": [uri], "token_endpoint_auth_method": "none"}
    if application_type:
        data["application_type"] = application_type
    if ok:
        assert validate(data, source="dynamic").redirect_uris == [uri]
    else:
        problem = refused(data)
        assert problem.error == "invalid_redirect_uri" and problem.field == "redirect_uris"


@pytest.mark.req("MCP-2026-07-28-application-type")
def test_an_application_type_conflict_says_how_to_fix_it():
    problem = refused({"application_type": "web", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                       "token_endpoint_auth_method": "none"})
    assert problem.error == "invalid_redirect_uri" and "application_type native" in problem.description
    assert validate({"application_type": "native", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                     "token_endpoint_auth_method": "none"}, source="dynamic")


@pytest.mark.req("OIDCREG-2-application-type")
def test_claimed_https_for_native_apps_needs_the_setting_unless_an_operator_registers_it():
    data = {"application_type": "native", "redirect_uris": ["https://app.example/cb"]}
    refused(data)
    with override_oauth(NATIVE_HTTPS_REDIRECT_URIS=True):
        assert validate(data, source="dynamic").redirect_uris == ["https://app.example/cb"]
    assert validate(data, source="command").redirect_uris == ["https://app.example/cb"]


@pytest.mark.parametrize("uri", ["com.example.app:/cb", "org.example.app:/cb"])
@pytest.mark.parametrize("source", ["admin", "dynamic"])
def test_a_private_use_scheme_is_for_native_apps_whoever_registers_the_client(source, uri):
    """RFC 8252 §7.1, whichever way the scheme sorts against ``http``."""
    problem = refused({"redirect_uris": [uri]}, source=source)
    assert problem.error == "invalid_redirect_uri"
    assert "private-use URI schemes are for native apps" in problem.description
    native = {"redirect_uris": [uri], "application_type": "native", "token_endpoint_auth_method": "none"}
    assert validate(native, source=source).redirect_uris == [uri]


def test_operators_may_register_loopback_http_for_a_web_client():
    """Local development of a web app, as before application_type existed."""
    data = {"redirect_uris": ["http://127.0.0.1:8000/callback"]}
    assert validate(data, source="admin").redirect_uris == data["redirect_uris"]
    refused(data, source="dynamic")


@pytest.mark.req("7591-5-redirect-required")
@pytest.mark.parametrize("uri", [
    "http://rp.example/cb", "https://rp.example/*", "https://rp.example/cb#x", "javascript:alert(1)//",
    "https://user@rp.example/cb", "/cb", "",
])
def test_bad_redirect_uris_are_invalid_redirect_uri(uri):
    problem = refused({"redirect_uris": ["https://rp.example/ok", uri]})
    assert problem.error == "invalid_redirect_uri"


@pytest.mark.req("7591-5-redirect-required")
def test_the_code_grant_needs_redirect_uris():
    assert refused({}).error == "invalid_redirect_uri"
    assert refused({"redirect_uris": "https://rp.example/cb"}).error == "invalid_redirect_uri"


@pytest.mark.req("OIDCREG-3.2-no-redirect-substitution")
def test_one_bad_redirect_uri_refuses_the_registration_rather_than_being_dropped():
    problem = refused({"redirect_uris": ["https://rp.example/cb", "http://evil.example/cb"]})
    assert "http://evil.example/cb" not in str(validate(WEB, source="dynamic").redirect_uris)
    assert problem.error == "invalid_redirect_uri"


def test_every_bad_redirect_uri_is_named_not_only_the_first():
    """A form shows every problem: each bad redirect URI has its own message, in order."""
    uris = ["http://evil.example/cb", "https://rp.example/ok", "javascript:alert(1)//", "com.example.app:/cb"]
    problem = refused({"redirect_uris": uris})
    messages = [p.description for p in problem.errors if p.field == "redirect_uris"]
    assert len(messages) == 3, messages
    assert "Plain http" in messages[0] and messages[2].startswith("com.example.app:/cb: private-use")


def test_a_client_registers_at_most_50_redirect_uris():
    uris = [f"https://rp.example/cb{i}" for i in range(51)]
    assert validate({"redirect_uris": uris[:50]}, source="dynamic").redirect_uris == uris[:50]
    problem = refused({"redirect_uris": uris})
    assert problem.error == "invalid_redirect_uri" and problem.description == "At most 50 redirect URIs."


@pytest.mark.req("7591-2.1-consistent-types")
@pytest.mark.parametrize("data", [
    {**WEB, "response_types": ["code"], "grant_types": ["implicit"]},
    {**WEB, "response_types": ["token"]},
    {**WEB, "response_types": ["code"], "grant_types": ["client_credentials"]},
    {**WEB, "response_types": [], "grant_types": ["authorization_code"]},
    {**WEB, "grant_types": ["password"]},
    {**WEB, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
    {**WEB, "grant_types": []},
])
def test_inconsistent_or_forbidden_grant_and_response_types_are_refused(data):
    assert refused(data).error == "invalid_client_metadata"


def test_client_credentials_alone_needs_no_redirect_uri():
    meta = validate({"grant_types": ["client_credentials"]}, source="command")
    assert meta.response_types == [] and meta.redirect_uris == []


@pytest.mark.req("7591-2.1-consistent-types")
@pytest.mark.parametrize("source", ["dynamic", "metadata_document"])
@pytest.mark.parametrize("grant", ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange",
                                   "urn:ietf:params:oauth:grant-type:jwt-bearer"])
def test_a_self_registered_client_cannot_take_a_grant_no_user_approves(source, grant):
    """Anyone may register itself (open registration, metadata documents): with
    client_credentials it would get a token for every scope that no user approved, accepted by
    every TokenHasScope view. Only an operator (admin, createclient) may give these grants."""
    data = {"grant_types": [grant], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk()]}}
    client_id = "https://app.example/client.json" if source == "metadata_document" else None
    if client_id:
        data["client_id"] = client_id
    with pytest.raises(InvalidClientMetadata) as caught:
        validate(data, source=source, client_id=client_id)
    assert caught.value.error == "invalid_client_metadata"
    assert "grant_types" in [p.field for p in caught.value.errors], caught.value.errors
    assert validate({k: v for k, v in data.items() if k != "client_id"}, source="command").grant_types == [grant]


def test_auth_method_must_be_registered():
    problem = refused({**WEB, "token_endpoint_auth_method": "client_secret_jwt"})
    assert problem.field == "token_endpoint_auth_method" and "Supported" in problem.description


def test_a_registered_extension_grant_and_method_are_accepted():
    """Issue 13 item 1: what the registries hold is what a client may use."""
    grants = {"urn:example:grant": "tests.test_client_metadata.ExampleGrant",
              "authorization_code": "oauth_provider.grants.authorization_code.AuthorizationCodeGrant"}
    methods = {"example_mtls": "tests.test_client_metadata.ExampleMethod",
               "none": "oauth_provider.client_auth.NoClientAuthentication"}
    data = {**WEB, "grant_types": ["authorization_code", "urn:example:grant"],
            "token_endpoint_auth_method": "example_mtls"}
    refused(data)
    with override_oauth(GRANT_TYPES=grants, CLIENT_AUTH_METHODS=methods):
        meta = validate(data, source="command")
    assert meta.grant_types == ["authorization_code", "urn:example:grant"]
    assert meta.token_endpoint_auth_method == "example_mtls"


class ExampleGrant:
    pass


class ExampleMethod:
    name = "example_mtls"


@pytest.mark.req("7591-2-jwks")
def test_jwks_and_jwks_uri_are_exclusive():
    problem = refused({**WEB, "jwks": {"keys": [public_jwk()]}, "jwks_uri": "https://rp.example/jwks"})
    assert problem.error == "invalid_client_metadata" and "not both" in problem.description


@pytest.mark.req("7591-2-jwks")
@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_a_jwks_with_private_key_material_is_refused(member):
    key = {**public_jwk(), member: "AQAB"}
    problem = refused({**WEB, "jwks": {"keys": [key]}})
    assert problem.field == "jwks" and "public keys only" in problem.description


@pytest.mark.req("7591-2-jwks")
def test_a_real_private_jwk_is_refused():
    private = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    assert "d" in private
    assert refused({**WEB, "jwks": {"keys": [private]}}).field == "jwks"


@pytest.mark.req("7591-2-jwks")
@pytest.mark.parametrize("jwks", [
    {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
    {"keys": [{"kty": "oct"}]},
    {"keys": []},
    {"keys": "nope"},
    [{"kty": "EC"}],
    "not json",
    {"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]},
    {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]},
])
def test_malformed_or_symmetric_jwks_are_refused(jwks):
    assert refused({**WEB, "jwks": jwks}).field == "jwks"


@pytest.mark.req("FAPI2-5.4.1-keys-and-entropy")
def test_rsa_keys_under_2048_bits_are_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert "2048" in refused({**WEB, "jwks": {"keys": [public_jwk(key=small)]}}).description


@pytest.mark.parametrize(("n_bits", "e", "match"), [
    (4097, 65537, "at most 4096 bits"), (8192, 65537, "at most 4096 bits"),
    (2048, 3, "public exponent"), (2048, 2**16 + 1 - 2, "public exponent"), (3072, 2**3071 + 1, "public exponent"),
    (2048, 2**31 - 1, None), (2048, 2**31 + 1, "public exponent"),  # the largest taken, the next odd one
    (2048, 65538, "malformed"),  # even: refused by cryptography
])
def test_rsa_keys_too_large_or_with_an_exponent_outside_fips_186_5_are_refused(n_bits, e, match):
    """A registered key verifies every assertion the client sends: one over 4,096 bits or with
    an exponent outside odd 2^16..2^31 would make each verification cost milliseconds (a
    client registered by anyone, or a metadata document anyone hosts, could bring one)."""
    jwk = {**random_rsa_jwk(n_bits, e), "kid": "big"}
    if match is None:
        assert validate({**WEB, "jwks": {"keys": [jwk]}}, source="dynamic").jwks == {"keys": [jwk]}
        return
    problem = refused({**WEB, "jwks": {"keys": [jwk]}})
    assert problem.field == "jwks" and match in problem.description


def test_rsa_keys_of_2048_to_4096_bits_are_taken():
    for size in (2048, 3072, 4096):
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
        assert validate({**WEB, "jwks": {"keys": [public_jwk(key=key)]}}, source="dynamic").jwks


def test_a_jwks_holds_at_most_20_keys():
    """Bounded work: a signature without a kid is tried against each key of the set."""
    keys = [public_jwk(f"k{i}") for i in range(21)]
    assert validate({**WEB, "jwks": {"keys": keys[:20]}}, source="dynamic").jwks == {"keys": keys[:20]}
    problem = refused({**WEB, "jwks": {"keys": keys}})
    assert problem.field == "jwks" and "1 to 20 keys" in problem.description


def test_a_jwks_is_at_most_64_kib_as_text_and_as_an_object():
    """Bounded work: a set is parsed, stored and fetched whole, whoever registers or hosts it."""
    from oauth_provider.client_keys import InvalidKeySet, load_jwks, parse_jwks

    key = public_jwk("k1")

    def jwks_of_length(n: int) -> dict:  # a member the key does not use pads it to n characters
        pad = n - len(json.dumps({"keys": [{**key, "note": ""}]}))
        return {"keys": [{**key, "note": "a" * pad}]}

    largest, over = jwks_of_length(64 * 1024), jwks_of_length(64 * 1024 + 1)
    assert len(json.dumps(largest)) == 65536
    assert load_jwks(json.dumps(largest)) == largest and len(parse_jwks(largest)) == 1
    with pytest.raises(InvalidKeySet, match="too large"):
        parse_jwks(over)
    with pytest.raises(InvalidKeySet, match="too large"):
        load_jwks(json.dumps(largest) + " ")  # the text too, before it is parsed
    assert refused({**WEB, "jwks": over}).field == "jwks"


def test_a_symmetric_key_is_refused_as_such_from_json():
    """The reason is given for a set decoded from a request's JSON, not only for one built in Python."""
    problem = refused({**WEB, "jwks": json.loads('{"keys": [{"kty": "oct", "kid": "x"}]}')})
    assert problem.field == "jwks" and "symmetric (oct)" in problem.description
    # kty is case-sensitive (RFC 7517 §4.1): "rsa" is no key type of ours, and no symmetric one either
    unknown = refused({**WEB, "jwks": {"keys": [{"kty": "rsa", "n": "AQAB", "e": "AQAB"}]}})
    assert "Unsupported key type" in unknown.description


@pytest.mark.parametrize("kty", [None, 5, ["RSA"], {"RSA": 1}, True])
def test_a_key_type_that_is_not_a_string_is_refused_as_unsupported(kty):
    """Whatever JSON a client sends as ``kty`` gets an invalid_client_metadata answer naming
    the key type, never an exception from comparing it (a 500 at registration)."""
    problem = refused({**WEB, "jwks": {"keys": [{"kty": kty, "n": "AQAB", "e": "AQAB", "crv": "P-256"}]}})
    assert problem.field == "jwks" and "Unsupported key type" in problem.description


def test_a_registered_set_is_parsed_once_and_its_keys_cannot_be_changed():
    """The keys of a registered set are parsed once per process and shared by every request
    that verifies with them: none of those may alter a key for the others."""
    import dataclasses

    from oauth_provider.client_keys import registered_keys

    client = Client(jwks=json.dumps({"keys": [public_jwk("k1")]}))
    keys = registered_keys(client)
    assert registered_keys(Client(jwks=client.jwks))[0] is keys[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys[0].algorithms = ("HS256",)
    # a set stored before validation, or edited by hand, verifies nothing (and raises nothing)
    assert registered_keys(Client(jwks="{not json")) == ()
    assert registered_keys(Client(jwks=json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))) == ()


def test_an_unusable_alg_is_named_in_the_error_cut_to_20_characters():
    """The error names the client's value, bounded: whatever was sent, 20 characters of it."""
    alg = "ES256" + "X" * 14 + "YZ"  # 21 characters
    problem = refused({**WEB, "jwks": {"keys": [{**public_jwk(), "alg": alg}]}})
    assert problem.field == "jwks" and alg[:20] in problem.description and alg[:21] not in problem.description


def test_published_keys_are_refetched_for_an_unknown_kid_at_most_once_a_minute_per_client():
    """DERIVED-jwks-refresh-bounded: the marker that holds back the next forced fetch lives
    exactly REFRESH_INTERVAL (60 s) in the shared cache, one per client."""
    import time

    from django.core.cache import caches

    from oauth_provider.client_keys import may_refresh

    caches["default"].clear()
    first, other = Client(pk=123456), Client(pk=123457)
    assert may_refresh(first, "default") and not may_refresh(first, "default")
    assert may_refresh(other, "default"), "per client"
    left = [expiry - time.time() for key, expiry in caches["default"]._expire_info.items()
            if key.endswith("jwks-refresh:123456")]
    assert len(left) == 1 and 59 < left[0] <= 60


@pytest.mark.parametrize(("kid", "ok"), [
    ("a" * 128, True), ("!~", True), ("k1", True),
    ("", False), ("a" * 129, False), ("two words", False), ("k\n1", False), ("clé", False), (5, False),
])
def test_a_kid_is_1_to_128_printable_ascii_characters(kid, ok):
    """A ``kid`` is matched against what assertions name and shown back in errors and logs:
    a string of 1 to 128 printable ASCII characters (no space, no line break), or refused."""
    jwks = {"keys": [public_jwk(kid)]}
    if ok:
        assert validate({**WEB, "jwks": jwks}, source="dynamic").jwks == jwks
        return
    problem = refused({**WEB, "jwks": jwks})
    assert problem.field == "jwks" and "1 to 128 printable ASCII" in problem.description


def test_duplicate_kids_and_mismatched_alg_are_refused():
    assert refused({**WEB, "jwks": {"keys": [public_jwk("a"), public_jwk("a")]}}).field == "jwks"
    assert refused({**WEB, "jwks": {"keys": [{**public_jwk(), "alg": "RS256"}]}}).field == "jwks"
    assert refused({**WEB, "jwks": {"keys": [{**public_jwk(), "alg": "HS256"}]}}).field == "jwks"


def test_a_public_jwks_is_kept_as_given():
    jwks = {"keys": [public_jwk("a"), public_jwk("b", rsa.generate_private_key(public_exponent=65537, key_size=2048))]}
    assert validate({**WEB, "jwks": jwks}, source="dynamic").jwks == jwks
    assert validate({**WEB, "jwks": json.dumps(jwks)}, source="admin").jwks == jwks


@pytest.mark.req("7591-2-jwks")
@pytest.mark.parametrize("uri", ["http://rp.example/jwks", "ftp://rp.example/jwks", "https://u:p@rp.example/jwks",
                                 "https://rp.example/jwks#x", "jwks.json", "https:///jwks"])
def test_jwks_uri_must_be_a_fetchable_https_url(uri):
    assert refused({**WEB, "jwks_uri": uri}).field == "jwks_uri"


def test_signing_alg_is_asymmetric_only():
    for alg in ("none", "HS256", "RS1"):
        assert refused({**WEB, "token_endpoint_auth_signing_alg": alg}).field == "token_endpoint_auth_signing_alg"
    assert validate({**WEB, "token_endpoint_auth_signing_alg": "PS256"}, source="dynamic") \
        .token_endpoint_auth_signing_alg == "PS256"


@pytest.mark.req("7591-5-display-uris")
@pytest.mark.parametrize("name", ["logo_uri", "client_uri", "policy_uri", "tos_uri"])
@pytest.mark.parametrize("value", ["javascript:alert(1)", "data:image/png;base64,AAAA", "http://rp.example/x"])
def test_self_registered_display_uris_are_https(name, value):
    assert refused({**WEB, name: value}).field == name


def test_operators_may_link_http_pages_but_not_scripts():
    """Only the logo is loaded by our page; the other display URIs are links, which an operator
    may point at a plain-http page."""
    for name in ("client_uri", "policy_uri", "tos_uri"):
        assert getattr(validate({**WEB, name: "http://rp.example/"}, source="command"), name) == "http://rp.example/"
    refused({**WEB, "client_uri": "javascript:alert(1)"}, source="command")
    refused({**WEB, "logo_uri": "http://rp.example/logo.png"}, source="command")


def test_contacts_are_email_addresses():
    assert validate({**WEB, "contacts": ["ops@rp.example"]}, source="dynamic").contacts == ["ops@rp.example"]
    assert refused({**WEB, "contacts": ["not an address"]}).field == "contacts"
    assert refused({**WEB, "contacts": "ops@rp.example"}).field == "contacts"


def test_scope_names_registered_scopes_only():
    assert validate({**WEB, "scope": "read openid"}, source="dynamic").scope == ("read", "openid")
    problem = refused({**WEB, "scope": "read admin"})
    assert problem.field == "scope" and "admin" in problem.description


@pytest.mark.parametrize("scope", ['read "x"', "read a\\b", "r\u00e9ad", "read\x7f"])
def test_a_scope_with_a_character_outside_rfc_6749_is_invalid_metadata(scope):
    """RFC 6749 §3.3: a scope token is printable ASCII without space, '"' or '\\'. Anything
    else is the client's mistake, refused on the scope member, never an error of ours."""
    problem = refused({**WEB, "scope": scope})
    assert problem.field == "scope" and "illegal character" in problem.description


@pytest.mark.parametrize("given", [["bogus"], ["code", "a"], ["token"], ["code", "id_token"]])
def test_an_unsupported_response_type_is_named(given):
    """OAuth 2.1 §10.1: only ``code``; the refusal names what is unsupported, whichever way it sorts."""
    problem = refused({**WEB, "response_types": given})
    assert problem.field == "response_types"
    assert problem.description.startswith(f"Unsupported response type: {' '.join(r for r in given if r != 'code')}.")


@pytest.mark.parametrize("member", ["redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
                                    "contacts"])
@pytest.mark.parametrize("value", [5, "https://rp.example/cb", {"https://rp.example/cb": 1}, ["authorization_code", 1],
                                   [None], True])
def test_a_list_member_that_is_not_an_array_of_strings_is_refused_as_such(member, value):
    """RFC 7591 §2: these members are JSON arrays of strings. Anything else is refused on the
    member itself (a string is not read as its characters, a number never raises)."""
    problem = refused({**WEB, member: value})
    assert problem.field == member
    assert problem.description == f"{member} must be an array of strings."
    assert problem.error == ("invalid_redirect_uri" if member.endswith("redirect_uris") else "invalid_client_metadata")


def test_only_private_key_jwt_needs_registered_keys_not_a_hosts_own_method():
    """RFC 7523 §2.2 asks for keys for private_key_jwt alone; a method a host registers
    (``CLIENT_AUTH_METHODS``, e.g. an RFC 8705 mTLS one) is not held to that rule."""
    from oauth_provider.conf import DEFAULTS

    methods = {**DEFAULTS["CLIENT_AUTH_METHODS"].default,
               "tls_client_auth": "oauth_provider.client_auth.ClientSecretPost"}
    with override_oauth(CLIENT_AUTH_METHODS=methods):
        meta = validate({**WEB, "token_endpoint_auth_method": "tls_client_auth"}, source="command")
        assert meta.token_endpoint_auth_method == "tls_client_auth" and meta.jwks is None
        assert refused({**WEB, "token_endpoint_auth_method": "private_key_jwt"}, source="command").field == "jwks"


def test_an_update_may_send_back_the_secret_it_was_issued():
    """RFC 7592 §2.2: an update carries the client's whole metadata as read, client_secret and
    client_secret_expires_at included; only a metadata document may not carry them (CIMD §4.1)."""
    data = {**WEB, "client_id": "c1", "client_secret": "s", "client_secret_expires_at": 0}
    for source in ("dynamic", "admin", "command"):
        assert validate(data, source=source, client_id="c1").redirect_uris == WEB["redirect_uris"]


def test_text_fields_are_bounded_strings():
    assert refused({**WEB, "client_name": "x" * 300}).field == "client_name"
    assert refused({**WEB, "client_name": {"en": "x"}}).field == "client_name"
    assert refused({**WEB, "software_id": "a\x00b"}).field == "software_id"
    meta = validate({**WEB, "client_name": "Notes", "software_id": "4NRB1-0XZABZI9E6-5SM3R",
                     "software_version": "2.1"}, source="dynamic")
    assert (meta.client_name, meta.software_id, meta.software_version) == ("Notes", "4NRB1-0XZABZI9E6-5SM3R", "2.1")


def test_private_key_jwt_needs_keys():
    problem = refused({**WEB, "token_endpoint_auth_method": "private_key_jwt"})
    assert problem.field == "jwks" and "jwks_uri" in problem.description
    assert validate({**WEB, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://rp.example/jwks"},
                    source="dynamic").jwks_uri == "https://rp.example/jwks"


@pytest.mark.req("CIMD-4.1-no-shared-secret")
@pytest.mark.parametrize("extra", [
    {"token_endpoint_auth_method": "client_secret_basic"}, {"token_endpoint_auth_method": "client_secret_post"},
    {"client_secret": "s3cret"}, {"client_secret_expires_at": 0},
])
def test_a_metadata_document_holds_no_shared_secret(extra):
    url = "https://cimd.example/c.json"
    data = {"client_id": url, "application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"], **extra}
    refused(data, source="metadata_document", client_id=url)


@pytest.mark.req("CIMD-4.1-no-shared-secret")
def test_the_metadata_document_rules_hold_for_a_source_read_at_run_time():
    """The model's ``clean()`` passes ``registration_method`` as read from the database: the same
    source, though not the interned literal. A document naming no method is still public, and
    an operator cannot switch a metadata-document client to a shared secret in the admin."""
    url = "https://cimd.example/c.json"
    source = "".join(["metadata_", "document"])
    data = {"client_id": url, "application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"]}
    assert validate(data, source=source, client_id=url).token_endpoint_auth_method == "none"
    assert refused({**data, "client_secret": "s"}, source=source, client_id=url).field == "client_secret"
    assert refused({**data, "client_id": url + "?x"}, source=source, client_id=url).description.startswith(
        "The document's client_id must be exactly the URL")
    Client.objects.create(client_id=url, name="Doc", client_type="public", token_endpoint_auth_method="none",
                          application_type="native", redirect_uris="http://127.0.0.1/cb",
                          registration_method="metadata_document")
    stored = Client.objects.get(client_id=url)
    stored.client_type, stored.token_endpoint_auth_method = "confidential", "client_secret_basic"
    with pytest.raises(Exception) as info:
        stored.full_clean()
    assert "shared secret" in " ".join(info.value.message_dict["token_endpoint_auth_method"])


@pytest.mark.req("CIMD-4.1-client-id-match")
@pytest.mark.parametrize("given", [None, "https://cimd.example/c.json/", "https://CIMD.example/c.json",
                                   ["https://cimd.example/c.json"]])
def test_a_metadata_document_names_its_own_url(given):
    url = "https://cimd.example/c.json"
    data = {"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"], "client_id": given}
    assert refused(data, source="metadata_document", client_id=url).field == "client_id"
    data["client_id"] = url
    assert validate(data, source="metadata_document", client_id=url).is_public


def test_every_problem_is_listed_with_the_first_deciding_the_error():
    problem = refused({"redirect_uris": ["http://rp.example/cb"], "contacts": ["x"], "scope": "nope"})
    assert problem.error == "invalid_redirect_uri"
    assert [p.field for p in problem.errors] == ["redirect_uris", "scope", "contacts"]


def test_unknown_members_are_ignored():
    assert validate({**WEB, "is_staff": True, "frobnicate": [1]}, source="dynamic")


def test_apply_and_to_dict_round_trip():
    jwks = {"keys": [public_jwk()]}
    data = {"client_name": "Agent", "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/cb", "http://[::1]/cb"],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks, "contacts": ["a@rp.example", "b@rp.example"], "scope": "read", "software_id": "agent",
            "software_version": "1", "token_endpoint_auth_signing_alg": "ES256", "client_uri": "https://rp.example/",
            "post_logout_redirect_uris": ["http://127.0.0.1/bye", "http://127.0.0.1/logged-out"]}
    meta = validate(data, source="dynamic")
    client = Client(registration_method="dynamic")
    meta.apply(client)
    client.full_clean()
    client.save()
    rendered = to_dict(Client.objects.get(pk=client.pk))
    assert rendered["client_id"] == client.client_id and rendered["response_types"] == ["code"]
    assert {k: rendered[k] for k in data} == data
    assert client.client_type == "confidential" and client.client_secret_hash == ""
    # What to_dict renders validates again to the same thing (RFC 7592 read, then update).
    assert validate(rendered, source="dynamic", client_id=client.client_id) == meta


def test_to_dict_renders_the_logout_and_sender_constraint_members_only_when_set():
    """RFC 7591 §3.2.1: the response holds every registered value; an empty optional one is
    left out, not sent as "" or false."""
    data = {"redirect_uris": ["https://rp.example/cb"], "backchannel_logout_uri": "https://rp.example/bcl",
            "backchannel_logout_session_required": True, "frontchannel_logout_uri": "https://rp.example/fcl",
            "frontchannel_logout_session_required": True, "dpop_bound_access_tokens": True,
            "require_pushed_authorization_requests": True, "require_signed_request_object": True}
    client = Client(registration_method="dynamic")
    validate(data, source="dynamic").apply(client)
    client.full_clean()
    client.save()
    rendered = to_dict(Client.objects.get(pk=client.pk))
    assert {k: rendered[k] for k in data} == data
    bare = Client(registration_method="dynamic")
    validate({"redirect_uris": ["https://rp.example/cb"]}, source="dynamic").apply(bare)
    bare.save()
    assert not set(to_dict(bare)) & set(data) - {"redirect_uris"}


def test_to_dict_gives_response_types_only_to_a_client_of_the_code_grant():
    """RFC 7591 §2.1: ``response_types`` go with the grants; a client_credentials-only client
    uses the authorization endpoint not at all, so it registers none."""
    service = Client(registration_method="dynamic")
    validate({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"},
             source="admin").apply(service)
    rendered = to_dict(service)
    assert rendered["grant_types"] == ["client_credentials"] and rendered["response_types"] == []
    web = Client(registration_method="dynamic")
    validate({"redirect_uris": ["https://rp.example/cb"]}, source="dynamic").apply(web)
    assert to_dict(web)["response_types"] == ["code"]


def test_source_must_be_known():
    with pytest.raises(ValueError, match="source"):
        validate(WEB, source="api")


def test_the_model_applies_the_same_rules_with_the_same_messages():
    client = Client(name="x", redirect_uris="https://rp.example/cb", jwks='{"keys": [{"kty": "oct", "k": "AA"}]}')
    with pytest.raises(Exception) as info:
        client.full_clean()
    expected = refused({**WEB, "jwks": {"keys": [{"kty": "oct", "k": "AA"}]}}, source="admin").description
    assert info.value.message_dict["jwks"] == [expected]
    assert client_metadata.SOURCES == {"admin", "command", "dynamic", "metadata_document"}


# -- dpop_bound_access_tokens (RFC 9449 §5.2) ---------------------------------------------------
@pytest.mark.req("9449-5.2-dpop-required")
def test_dpop_bound_access_tokens_is_a_boolean_kept_on_the_client():
    assert validate(WEB, source="dynamic").dpop_bound_access_tokens is False
    meta = validate({**WEB, "dpop_bound_access_tokens": True}, source="dynamic")
    assert meta.dpop_bound_access_tokens is True
    client = get_client_model()(client_id="c1")
    meta.apply(client)
    assert client.dpop_bound_access_tokens is True
    assert to_dict(client)["dpop_bound_access_tokens"] is True
    client.dpop_bound_access_tokens = False
    assert "dpop_bound_access_tokens" not in to_dict(client)
    for value in ("true", 1, [True]):
        assert refused({**WEB, "dpop_bound_access_tokens": value}).field == "dpop_bound_access_tokens"
def test_par_and_jar_client_metadata():
    """RFC 9126 §6 ``require_pushed_authorization_requests``, RFC 9101 §10.5
    ``require_signed_request_object``, OIDC Registration §2 ``request_object_signing_alg``."""
    out = validate({**WEB, "require_pushed_authorization_requests": True, "require_signed_request_object": True,
                    "request_object_signing_alg": "PS256", "jwks": {"keys": [public_jwk()]}}, source="dynamic")
    assert out.require_pushed_authorization_requests and out.require_signed_request_object
    assert out.request_object_signing_alg == "PS256"
    client = Client(client_id="c1", name="c1")
    out.apply(client)
    assert client.require_pushed_authorization_requests and client.request_object_signing_alg == "PS256"
    data = to_dict(client)
    assert data["require_pushed_authorization_requests"] is True and data["request_object_signing_alg"] == "PS256"
    assert "require_pushed_authorization_requests" not in to_dict(Client(client_id="c2", name="c2"))


@pytest.mark.parametrize("data,field", [
    ({"request_object_signing_alg": "none"}, "request_object_signing_alg"),
    ({"request_object_signing_alg": "HS256"}, "request_object_signing_alg"),
    ({"require_pushed_authorization_requests": "true"}, "require_pushed_authorization_requests"),
    ({"require_signed_request_object": 1}, "require_signed_request_object"),
])
def test_par_and_jar_client_metadata_is_refused_when_malformed(data, field):
    assert refused({**WEB, **data}).field == field


def column_size(name: str) -> int:
    return Client._meta.get_field(name).max_length


def at_the_column_size(data: dict, member: str, value: str, size: int, extra: int) -> None:
    """``value`` (``size + extra`` characters) in ``data[member]``: kept whole at the column's
    size, refused one character over it with the limit named (never stored cut, never a
    database error)."""
    if not extra:
        assert getattr(validate(data, source="dynamic"), member) == value
    else:
        error = refused(data)
        assert error.field == member
        assert f"at most {size} characters" in error.description


@pytest.mark.parametrize("extra", [0, 1])
def test_the_frontchannel_logout_uri_is_at_most_the_url_length(extra):
    """The page the provider frames at logout is a URL of at most the column's size; one
    character more is refused with that limit named, never stored cut (or, on PostgreSQL, a
    database error)."""
    size = column_size("frontchannel_logout_uri")
    base = "https://rp.example/logout?pad="
    uri = base + "x" * (size + extra - len(base))
    data = {**WEB, "frontchannel_logout_uri": uri}
    at_the_column_size(data, "frontchannel_logout_uri", uri, size, extra)


@pytest.mark.req("7591-5-display-uris")
@pytest.mark.parametrize("name", ["logo_uri", "client_uri", "policy_uri", "tos_uri"])
def test_display_uris_are_at_most_the_url_length(name):
    """A display URI as long as its column is kept; one more character is refused, the limit named."""
    size = column_size(name)
    base = "https://rp.example/page?pad="
    longest = base + "x" * (size - len(base))
    assert getattr(validate({**WEB, name: longest}, source="dynamic"), name) == longest
    error = refused({**WEB, name: longest + "x"})
    assert error.field == name and f"at most {size} characters" in error.description


def test_at_most_twenty_contacts():
    """Twenty contacts are kept; a longer list is refused as such (invalid_client_metadata),
    never stored cut."""
    many = [f"ops{i}@rp.example" for i in range(20)]
    assert validate({**WEB, "contacts": many}, source="dynamic").contacts == many
    error = refused({**WEB, "contacts": [*many, "one-more@rp.example"]})
    assert (error.error, error.field) == ("invalid_client_metadata", "contacts")
    assert "At most 20 contacts" in error.description


@pytest.mark.req("BCL-2.2-uri-registration")
def test_a_public_clients_back_channel_logout_uri_is_https_even_on_the_loopback():
    """Back-Channel Logout 1.0 §2.2: http only for confidential clients. With loopback fetching
    allowed, a confidential client may register an http loopback URI; a public client may not."""
    uri = "http://127.0.0.1:8001/logout"
    public = {**WEB, "token_endpoint_auth_method": "none"}
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True):
        assert validate({**WEB, "backchannel_logout_uri": uri}, source="dynamic").backchannel_logout_uri == uri
        error = refused({**public, "backchannel_logout_uri": uri})
        assert error.field == "backchannel_logout_uri" and "must use https" in error.description
        secure = "https://rp.example/logout"
        assert validate({**public, "backchannel_logout_uri": secure}, source="dynamic").backchannel_logout_uri == secure


def test_an_unsupported_auth_method_is_refused_when_the_default_is_not_enabled_either():
    """A site whose only method is not the default (client_secret_basic) answers an unknown
    token_endpoint_auth_method with invalid_client_metadata, never an error of its own."""
    methods = {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT"}
    with override_oauth(CLIENT_AUTH_METHODS=methods):
        error = refused({**WEB, "token_endpoint_auth_method": "client_secret_jwt"})
    assert (error.error, error.field) == ("invalid_client_metadata", "token_endpoint_auth_method")
    assert "Supported: private_key_jwt" in error.description


@pytest.mark.parametrize("member", ["backchannel_logout_uri", "jwks_uri"])
@pytest.mark.parametrize("extra", [0, 1])
def test_fetched_urls_are_at_most_their_columns_size(member, extra):
    """As the front-channel one: at the column's size a URL is kept whole, one more is refused."""
    size = column_size(member)
    base = "https://rp.example/u?pad="
    uri = base + "x" * (size + extra - len(base))
    data = {**WEB, member: uri}
    if member == "jwks_uri":
        data["token_endpoint_auth_method"] = "private_key_jwt"
    at_the_column_size(data, member, uri, size, extra)


@pytest.mark.parametrize("given", ["0", "zzzz", "A"])
def test_metadata_naming_another_client_id_is_refused_whichever_way_it_sorts(given):
    """RFC 7592 §2.2: a client_id in an update's body must be the client's own; one that sorts
    before or after it is refused alike."""
    own = "mAbCdEf0123456789"
    assert validate({**WEB, "client_id": own}, source="dynamic", client_id=own).redirect_uris == WEB["redirect_uris"]
    error = refused({**WEB, "client_id": given}, source="dynamic", client_id=own)
    assert error.field == "client_id"


@pytest.mark.parametrize(("member", "column"), [("client_name", "name"), ("software_id", "software_id"),
                                                ("software_version", "software_version")])
@pytest.mark.parametrize("extra", [0, 1])
def test_texts_are_at_most_their_columns_size(member, column, extra):
    """A name or software string as long as its column is kept whole; one character more is
    refused with the limit named (never cut, never a database error)."""
    size = column_size(column)
    value = "n" * (size + extra)
    data = {**WEB, member: value}
    at_the_column_size(data, member, value, size, extra)


@pytest.mark.req("7591-5-display-uris")
def test_a_logo_may_be_http_only_on_a_loopback_host():
    """The consent page loads the logo: https, or http on a loopback host (a developer's machine);
    no other scheme there, nor http elsewhere."""
    for logo in ("http://127.0.0.1:8000/logo.png", "http://localhost/logo.png", "https://rp.example/logo.png"):
        assert validate({**WEB, "logo_uri": logo}, source="command").logo_uri == logo
    for logo in ("ftp://127.0.0.1/logo.png", "ws://127.0.0.1/logo.png", "data://127.0.0.1/x",
                 "http://rp.example/logo.png"):
        assert refused({**WEB, "logo_uri": logo}, source="command").field == "logo_uri"


def test_a_logo_over_plain_http_is_an_invalid_field_in_django_forms_too():
    """The model field's validator (the admin's form) refuses it with Django's ``invalid`` code,
    as its URL validators do, so a host's form can tell the error kind."""
    from django.core.exceptions import ValidationError

    from oauth_provider.client_metadata import validate_logo_url

    with pytest.raises(ValidationError) as caught:
        validate_logo_url("http://rp.example/logo.png")
    assert caught.value.code == "invalid"
    validate_logo_url("http://[::1]:8000/logo.png")  # loopback http: accepted


def test_only_https_or_loopback_http_is_a_secure_image_url():
    """``is_secure_image_url`` holds its rule alone, not only behind the http(s) checks of its
    callers: any other scheme is refused even on a loopback host."""
    from oauth_provider.client_metadata import is_secure_image_url

    for url in ("https://rp.example/logo.png", "HTTPS://rp.example/l.png", "http://127.0.0.1/l.png",
                "http://[::1]:8000/l.png", "http://localhost/l.png"):
        assert is_secure_image_url(url), url
    for url in ("http://rp.example/l.png", "ws://127.0.0.1/l.png", "javascript://127.0.0.1/%0aalert(1)",
                "wss://localhost/l.png", "ftp://127.0.0.1/l.png", "data:image/png;base64,AAAA",
                "//127.0.0.1/l.png", "http://[::1/l.png"):
        assert not is_secure_image_url(url), url


def test_a_null_boolean_is_false():
    """RFC 7591 §2: a member sent as null is as if absent; every boolean defaults to false."""
    names = ("require_pushed_authorization_requests", "require_signed_request_object",
             "dpop_bound_access_tokens", "backchannel_logout_session_required",
             "frontchannel_logout_session_required")
    meta = validate({**WEB, **dict.fromkeys(names)}, source="dynamic")
    assert [getattr(meta, name) for name in names] == [False] * len(names)


@pytest.mark.parametrize("grant,words", [
    ("urn:ietf:params:oauth:grant-type:token-exchange", "Token exchange needs a confidential client"),
    ("urn:ietf:params:oauth:grant-type:jwt-bearer", "The JWT bearer grant needs a confidential client"),
    ("client_credentials", "client_credentials needs a confidential client"),
])
def test_a_public_client_may_not_register_a_grant_that_trades_a_credential(grant, words):
    """RFC 8693 §2.1, RFC 7523 §3.1, OAuth 2.1 §4.2: these grants need an authenticated client;
    a public client asking for one is refused with the reason, even registered by an operator."""
    data = {**WEB, "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", grant]}
    error = refused(data, source="command")
    assert (error.error, error.field) == ("invalid_client_metadata", "grant_types")
    assert words in error.description


@pytest.mark.req("BCL-2.2-uri-registration")
@pytest.mark.parametrize("uri", ["https://rp.example/logout#frag", "/logout", "https://user@rp.example/logout"])
def test_an_invalid_back_channel_logout_uri_is_refused_not_dropped(uri):
    """A back-channel logout URI the fetcher's rules refuse makes the registration fail, with
    the reason: dropping it would register a client that is never told of a logout."""
    error = refused({**WEB, "backchannel_logout_uri": uri})
    assert error.field == "backchannel_logout_uri" and error.description


@pytest.mark.req("7591-2.1-consistent-types")
@pytest.mark.parametrize("grants,responses", [
    (["client_credentials"], ["code"]),  # a code response type without the code grant
    (["authorization_code"], []),  # the code grant without its response type
])
def test_response_types_and_grant_types_must_agree(grants, responses):
    """RFC 7591 §2.1: ``code`` if and only if ``authorization_code``, refused as a disagreement
    even where an operator registers the client (no other rule refuses these)."""
    data = {**WEB, "grant_types": grants, "response_types": responses}
    error = refused(data, source="command")
    assert (error.error, error.field) == ("invalid_client_metadata", "response_types")
    assert "disagree" in error.description


def test_an_unknown_scope_is_refused_with_the_known_ones_named():
    with override_oauth(SCOPES={"read": "Read", "write": "Write"}, OIDC_ENABLED=False):
        error = refused({**WEB, "scope": "read admin"})
    assert error.field == "scope"
    assert "Unknown scope: admin. Known scopes: read write." in error.description


@pytest.mark.django_db
def test_a_value_no_database_can_store_is_a_field_error_in_the_admin_not_a_crash():
    """The model's ``clean`` (what the admin form calls) lists every problem of the one validator
    under its field: a name holding a NUL character (PostgreSQL refuses it) is reported on
    ``name`` like any other problem, even though the validator stops at it at once."""
    from django.core.exceptions import ValidationError

    from tests.support.factories import ClientFactory

    client = ClientFactory()
    client.name = "Evil\x00Name"
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    assert "NUL" in " ".join(caught.value.message_dict["name"])


@pytest.mark.parametrize("value", ["desktop", "Web", 1, ["web"]])
def test_an_unknown_application_type_is_reported_on_that_member(value):
    """OIDC Registration §2: ``web`` or ``native``. The problem names the member, so the
    registration error (RFC 7591 §3.2.2) and the admin form point at it."""
    problem = refused({**WEB, "application_type": value})
    assert (problem.error, problem.field) == ("invalid_client_metadata", "application_type")
    assert problem.description == "application_type must be web or native."


def test_null_grant_types_are_the_default_like_any_null_member():
    """RFC 7591 §2: omitted, grant_types is authorization_code; a client library that writes
    unset members as null (as many do) gets the same, as a null means "not given" for every
    other member. A value that is no array of strings is refused, once."""
    assert validate({**WEB, "grant_types": None}, source="dynamic").grant_types == ["authorization_code"]
    problem = refused({**WEB, "grant_types": "authorization_code"})
    assert (problem.field, [p.field for p in problem.errors]) == ("grant_types", ["grant_types"])
    assert refused({**WEB, "grant_types": []}).description == "Choose at least one grant type."


def test_a_scope_of_only_spaces_is_no_scope_named():
    """``"scope": " "`` names no scope, as an absent or empty one: every scope for a client an
    operator registers, ``SELF_REGISTERED_SCOPES`` for one that registers itself."""
    assert validate({**WEB, "scope": "  "}, source="admin").scope is None
    with override_oauth(SELF_REGISTERED_SCOPES=["read"]):
        assert validate({**WEB, "scope": "  "}, source="dynamic").scope == ("read",)
        assert validate({**WEB, "scope": ""}, source="dynamic").scope == ("read",)

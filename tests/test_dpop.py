"""DPoP proof verification (RFC 9449 §4.3, §8, §9, §11), attacked: forged signatures and
algorithms, private or symmetric keys, wrong type, method, URI, time or token hash, replays,
stale and foreign nonces; with real EC P-256, RSA-PSS and Ed25519 keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.core.cache import caches
from django.test import RequestFactory

from oauth_provider import dpop
from oauth_provider.errors import InvalidDPoPProof, UseDPoPNonce
from tests.support.dpop import DPoPKey, b64url, random_rsa_jwk, unsigned
from tests.support.settings import override_oauth
from tests.support.token_helpers import FrozenClock

URL = "https://testserver/o/token/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    caches["default"].clear()


@pytest.fixture(scope="module")
def k1() -> DPoPKey:
    return DPoPKey("EC")


@pytest.fixture(scope="module")
def k2() -> DPoPKey:
    return DPoPKey("EC")


def verify(proof: str, **kwargs):
    return dpop.verify_proof(proof, **{"method": "POST", "url": URL, **kwargs})


def refused(proof: str, match: str | None = None, **kwargs) -> InvalidDPoPProof:
    with pytest.raises(InvalidDPoPProof, match=match) as caught:
        verify(proof, **kwargs)
    assert caught.value.error == "invalid_dpop_proof" and caught.value.status == 400
    return caught.value


# -- RFC 7638 thumbprints ---------------------------------------------------------------------

def test_thumbprint_matches_rfc7638_example():
    """RFC 7638 §3.1: the example RSA key's thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
             "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
             "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
             "r3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
    }
    assert dpop.jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("kind", ["EC", "RSA", "OKP"])
def test_thumbprint_ignores_optional_members_and_order(kind):
    key = DPoPKey(kind)
    shuffled = dict(reversed(list({**key.jwk, "kid": "x", "use": "sig"}.items())))
    assert dpop.jwk_thumbprint(shuffled) == key.jkt
    assert dpop.is_thumbprint(key.jkt)


def test_thumbprint_of_unusable_jwk_is_a_value_error():
    for jwk in ({"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-256", "x": "a"},
                {"kty": "EC", "crv": 1, "x": "a", "y": "b"}):
        with pytest.raises(ValueError):
            dpop.jwk_thumbprint(jwk)


# -- valid proofs ------------------------------------------------------------------------------

@pytest.mark.req("9449-5-token-binding")
@pytest.mark.parametrize(("kind", "alg"), [("EC", "ES256"), ("RSA", "PS256"), ("OKP", "EdDSA"), ("RSA", "RS256")])
def test_valid_proof_of_each_key_type(kind, alg):
    key = DPoPKey(kind, alg)
    issued = int(time.time()) - 3
    result = verify(key.proof("POST", URL, iat=issued, jti=f"{kind}-{alg}"))
    assert (result.jkt, result.alg, result.iat, result.jti) == (key.jkt, alg, issued, f"{kind}-{alg}")
    assert result.jwk == key.jwk
    assert isinstance(result, dpop.DPoPProof)


def test_a_proof_header_of_any_length_is_read(k1):
    """RFC 7515 §2: the header segment is base64url without its padding, so its length may be
    anything but 1 modulo 4; the key is read from it (and cached) whatever that length is. A
    ``kid`` of 1-20 characters walks the header through every length a client may send."""
    lengths = set()
    for size in range(1, 21):
        proof = k1.proof("POST", URL, header={"kid": "k" * size})
        lengths.add(len(proof.partition(".")[0]) % 4)
        assert verify(proof).jkt == k1.jkt
    assert lengths == {0, 2, 3}


def test_proof_is_frozen(k1):
    result = verify(k1.proof("POST", URL))
    with pytest.raises(AttributeError):
        result.jkt = "x"  # type: ignore[misc]


@pytest.mark.req("9449-4.3-typ-alg")
def test_algorithm_outside_the_setting_is_refused():
    key = DPoPKey("RSA", "RS256")
    with override_oauth(DPOP_SIGNING_ALGORITHMS=["ES256", "PS256", "EdDSA"]):
        refused(key.proof("POST", URL), "algorithm not allowed")


# -- §4.3 items 1-2: the header --------------------------------------------------------------

@pytest.mark.req("9449-4.3-single-header")
def test_proof_from_request(k1):
    factory = RequestFactory()
    assert dpop.proof_from_request(factory.post("/o/token/")) is None
    proof = k1.proof("POST", URL)
    assert dpop.proof_from_request(factory.post("/o/token/", HTTP_DPOP=proof)) == proof
    for bad in (f"{proof}, {proof}", f"{proof},{proof}", "", "garbage", "a.b", "x" * 10_000, proof + "."):
        with pytest.raises(InvalidDPoPProof):
            dpop.proof_from_request(factory.post("/o/token/", HTTP_DPOP=bad))


@pytest.mark.req("9449-4.3-single-header")
def test_a_proof_of_the_maximum_size_is_read_and_one_character_more_is_not():
    """The header's size is bounded before anything is parsed (a proof is a few hundred bytes;
    an RSA key makes it about a kilobyte): jwt.MAX_LENGTH characters are read, one more is
    refused as it comes in, even when it has the shape of a compact JWS."""
    from oauth_provider import jwt

    factory = RequestFactory()
    longest = "a" * (jwt.MAX_LENGTH - 4) + ".b.c"
    assert len(longest) == jwt.MAX_LENGTH
    assert dpop.proof_from_request(factory.post("/o/token/", HTTP_DPOP=longest)) == longest
    with pytest.raises(InvalidDPoPProof, match="exactly one DPoP header"):
        dpop.proof_from_request(factory.post("/o/token/", HTTP_DPOP="a" + longest))


@pytest.mark.req("9449-4.3-single-header")
def test_a_megabyte_proof_is_refused_quickly():
    factory = RequestFactory()
    started = time.perf_counter()
    with pytest.raises(InvalidDPoPProof):
        dpop.proof_from_request(factory.post("/o/token/", HTTP_DPOP="a" * 1_000_000))
    with pytest.raises(InvalidDPoPProof):
        verify("a" * 500_000 + "." + "b" * 500_000 + ".c")
    assert time.perf_counter() - started < 0.1


# -- §4.3 items 4-7: type, algorithm, key, signature -------------------------------------------

@pytest.mark.req("9449-4.3-typ-alg")
@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt", "dpop"])
def test_wrong_typ(k1, typ):
    header = {"typ": typ} if typ else {}
    proof = k1.proof("POST", URL, header=header)
    if typ is None:  # drop typ altogether
        head, rest = proof.split(".", 1)
        decoded = json.loads(base64.urlsafe_b64decode(head + "=="))
        del decoded["typ"]
        proof = b64url(json.dumps(decoded).encode()) + "." + rest
    refused(proof, "typ|signature")


def test_typ_media_type_form_is_accepted(k1):
    assert verify(k1.proof("POST", URL, header={"typ": "application/dpop+jwt"})).jkt == k1.jkt


@pytest.mark.req("9449-4.3-typ-alg")
def test_alg_none(k1):
    forged = unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": k1.jwk},
                      {"jti": "n1", "htm": "POST", "htu": URL, "iat": int(time.time())})
    refused(forged, "unsigned")  # nothing after the last dot: named as alg none
    refused(forged + "c2ln", "algorithm not allowed")


@pytest.mark.req("9449-4.3-typ-alg")
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_jwk_bytes(k1, alg):
    """RFC 8725 §2.1: an HMAC "signed" with the public key the header carries."""
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": k1.jwk}
    payload = {"jti": "h1", "htm": "POST", "htu": URL, "iat": int(time.time())}
    signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(payload).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    for secret in (json.dumps(k1.jwk).encode(), json.dumps(k1.jwk, sort_keys=True, separators=(",", ":")).encode(),
                   k1.jwk["x"].encode()):
        signature = hmac.new(secret, signing_input.encode(), digest).digest()
        refused(signing_input + "." + b64url(signature), "algorithm not allowed")


@pytest.mark.req("9449-4.3-jwk")
def test_private_jwk_is_refused(k1):
    from jwt.algorithms import ECAlgorithm

    private_jwk = ECAlgorithm.to_jwk(k1.private, as_dict=True)
    assert "d" in private_jwk
    refused(k1.proof("POST", URL, header={"jwk": private_jwk}), "private")


@pytest.mark.req("9449-4.3-jwk")
def test_symmetric_jwk_is_refused(k1):
    refused(k1.proof("POST", URL, header={"jwk": {"kty": "oct", "k": b64url(b"secret" * 8)}}), "jwk")


@pytest.mark.req("9449-4.3-jwk")
def test_missing_or_malformed_jwk(k1):
    refused(k1.proof("POST", URL, header={"jwk": "not an object"}), "jwk")
    proof = k1.proof("POST", URL)
    head, rest = proof.split(".", 1)
    decoded = json.loads(base64.urlsafe_b64decode(head + "=="))
    del decoded["jwk"]
    refused(b64url(json.dumps(decoded).encode()) + "." + rest, "jwk")


@pytest.mark.req("9449-4.3-jwk")
def test_signature_by_another_key(k1, k2):
    """The proof carries K1's public key but K2 signed it."""
    refused(k2.proof("POST", URL, header={"jwk": k1.jwk}), "signature")


@pytest.mark.req("9449-4.3-jwk")
def test_key_type_must_match_alg(k1):
    rsa = DPoPKey("RSA", "PS256")
    refused(rsa.proof("POST", URL, header={"jwk": k1.jwk}), "cannot sign")
    refused(k1.proof("POST", URL, header={"jwk": {**k1.jwk, "alg": "ES384"}}), "jwk")
    refused(k1.proof("POST", URL, header={"jwk": {**k1.jwk, "use": "enc"}}), "cannot sign")


def test_small_rsa_key_is_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = DPoPKey("RSA", "PS256")
    key.private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key.jwk = RSAAlgorithm.to_jwk(key.private.public_key(), as_dict=True)
    with pytest.warns(Warning, match="1024"):  # PyJWT, signing the forgery
        proof = key.proof("POST", URL)
    refused(proof, "2048")


@pytest.mark.parametrize(("n_bits", "e", "match"), [
    (16_384, 65537, "at most 4096 bits"),  # ~10 ms to verify one signature with it
    (4097, 65537, "at most 4096 bits"),
    (3072, 2**3071 + 1, "public exponent"),  # a full modular exponentiation: ~16 ms
    (2048, 3, "public exponent"), (2048, 2**31 + 1, "public exponent"), (2048, 65536, "malformed"),
])
def test_an_rsa_jwk_that_would_make_verifying_slow_is_refused_before_any_verification(n_bits, e, match):
    """Anyone can send a proof, and its key with it: an RSA modulus over 4,096 bits, or a
    public exponent outside odd 2^16 to 2^31, would make the server spend
    milliseconds on one signature. Such a key is refused as a key, before its signature is
    checked (the signature here is made with another key: it never gets that far)."""
    signer = DPoPKey("RSA", "PS256")
    refused(signer.proof("POST", URL, header={"jwk": random_rsa_jwk(n_bits, e)}), match)


def test_rsa_keys_of_4096_bits_with_the_usual_exponent_are_taken():
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = DPoPKey("RSA", "PS256")
    key.private = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    key.jwk = RSAAlgorithm.to_jwk(key.private.public_key(), as_dict=True)
    assert verify(key.proof("POST", URL)).jkt == dpop.jwk_thumbprint(key.jwk)


@pytest.mark.req("9449-4.3-typ-alg")
def test_jku_x5u_crit_headers_are_refused(k1):
    for extra in ({"jku": "https://evil.example/jwks"}, {"x5u": "https://evil.example/c"}, {"crit": ["exp"]}):
        refused(k1.proof("POST", URL, header=extra), "header parameter not allowed")


# -- §4.3 items 3, 8, 9: claims, htm, htu ------------------------------------------------------

@pytest.mark.req("9449-4.3-claims")
@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_required_claims(k1, claim):
    refused(k1.proof("POST", URL, drop=(claim,)))


@pytest.mark.req("9449-4.3-claims")
def test_wrong_htm(k1):
    refused(k1.proof("GET", URL), "htm")
    refused(k1.proof("post", URL), "htm")


@pytest.mark.req("9449-4.3-claims")
@pytest.mark.parametrize("htu", [
    "https://rs-b.example/o/token/", "https://testserver/o/other/", "http://testserver/o/token/",
    "https://testserver:8443/o/token/", "https://testserver/o/token", "https://user@testserver/o/token/",
    "https://testserver/o/token/x/", "urn:x:y", "not a url", "https://[::1/o/token/",
])
def test_wrong_htu(k1, htu):
    refused(k1.proof("POST", htu), "htu")


@pytest.mark.req("9449-4.3-claims")
@pytest.mark.parametrize("htu", [
    "https://testserver/o/token/?x=1", "https://testserver/o/token/#frag", "https://TESTSERVER/o/token/",
    "HTTPS://testserver/o/token/", "https://testserver:443/o/token/", "https://testserver/o/%74oken/",
    "https://testserver/o/./token/", "https://testserver/o/x/../token/", "https://testserver/o/token/x/..",
    "https://testserver/o/token/.",  # a last "." segment keeps the trailing slash (RFC 3986 §5.2.4)
])
def test_equivalent_htu_is_accepted(k1, htu):
    """§4.3 item 9: query and fragment ignored; RFC 3986 §6.2.2 and §6.2.3 normalisation."""
    assert verify(k1.proof("POST", htu)).jkt == k1.jkt


@pytest.mark.req("9449-4.3-claims")
def test_dot_segments_never_climb_out_of_the_path_into_the_host(k1):
    """RFC 3986 §5.2.4: ``..`` at the root stays at the root, so ``https://testserver/../o/token/``
    is the token endpoint; and a proof made for the host ``test`` with the path
    ``/../server/o/token/`` is not one for ``testserver``: its htu keeps its own host."""
    assert dpop.normalise_uri("https://testserver/../o/token/") == URL
    assert dpop.normalise_uri("https://h/a/../../../b") == "https://h/b"
    assert verify(k1.proof("POST", "https://testserver/../o/token/")).jkt == k1.jkt
    refused(k1.proof("POST", "https://test/../server/o/token/"), "htu")


def test_request_url_query_is_ignored(k1):
    assert verify(k1.proof("GET", "https://rs.example/api/notes"), method="GET",
                  url="https://rs.example/api/notes?page=2").jkt == k1.jkt


def test_normalise_uri():
    assert dpop.normalise_uri("HTTP://Example.COM:80") == "http://example.com/"
    assert dpop.normalise_uri("https://[::1]:443/a/%7e/%2f") == "https://[::1]/a/~/%2F"
    assert dpop.normalise_uri("https://h:8443/a/b/../../c") == "https://h:8443/c"
    assert dpop.normalise_uri("https://h/a/..") == "https://h/"  # RFC 3986 §5.2.4: nothing left is "/"
    assert dpop.normalise_uri("ftp://h/") is None
    assert dpop.normalise_uri("https://h:99999/") is None


@pytest.mark.req("9449-11.1-jti-replay")
def test_long_jti_is_refused(k1):
    refused(k1.proof("POST", URL, jti="j" * 257), "jti")
    assert verify(k1.proof("POST", URL, jti="j" * 256)).jti == "j" * 256


def test_a_jti_with_a_lone_surrogate_is_refused_not_a_server_error(k1):
    """JSON may escape a lone UTF-16 surrogate (``"\\ud800"``), which Python reads into a string
    that has no UTF-8 encoding (hashing it for the replay cache would raise): such a proof is
    refused (I-JSON, RFC 7493 §2.1), never a server error."""
    refused(k1.proof("POST", URL, jti="\ud800"))
    refused(k1.proof("POST", URL, jti="a\udfffb"))


def test_a_token_that_is_not_ascii_fails_the_ath_check_not_the_server(k1):
    """``ath`` is the hash of the token's ASCII octets (§4.2); a header may carry other
    characters (Django reads header values as Latin-1): the proof is refused, the request
    answered, never a server error."""
    proof = k1.proof("GET", "https://rs.example/api", claims={"ath": b64url(hashlib.sha256(b"tok\xe9n").digest())})
    refused(proof, "ath", method="GET", url="https://rs.example/api", access_token="tok\xe9n")


def test_claims_of_the_wrong_type(k1):
    refused(k1.proof("POST", URL, claims={"iat": "now"}), "iat")
    refused(k1.proof("POST", URL, claims={"iat": True}), "iat")
    refused(k1.proof("POST", URL, claims={"jti": 5}), "jti")
    refused(k1.proof("POST", URL, claims={"htu": [URL]}), "htu")


@pytest.mark.req("9449-11.1-time-window")
@pytest.mark.parametrize("iat", [float("nan"), float("inf"), float("-inf")])
def test_an_iat_json_cannot_hold_is_refused(k1, iat):
    """RFC 9449 §4.3 item 11 (RFC 8259 §6: JSON has no NaN nor Infinity). Anyone can sign a
    proof with a key of their own: one dated ``NaN`` passed both bounds of the time window
    (every comparison with NaN is false), then failed the replay cache's timeout with a
    ValueError, a 500 at the token endpoint, the PAR endpoint and protected views."""
    refused(k1.proof("POST", URL, iat=iat))


# -- §4.3 item 11, §11.1: time window and replay ----------------------------------------------

@pytest.mark.req("9449-11.1-time-window")
@pytest.mark.req("FAPI2-5.3.2.1-13-clock-skew")
def test_time_window(k1):
    now = int(time.time())
    FrozenClock(__import__("datetime").datetime.fromtimestamp(now, tz=__import__("datetime").timezone.utc))
    refused(k1.proof("POST", URL, iat=now - 300), "too old")
    refused(k1.proof("POST", URL, iat=now - 61), "too old")
    refused(k1.proof("POST", URL, iat=now + 70), "future")
    refused(k1.proof("POST", URL, iat=now + 11), "future")
    assert verify(k1.proof("POST", URL, iat=now + 10))
    assert verify(k1.proof("POST", URL, iat=now + 8))
    assert verify(k1.proof("POST", URL, iat=now - 60))


def test_max_age_setting(k1):
    now = int(time.time())
    with override_oauth(DPOP_PROOF_MAX_AGE=10):
        refused(k1.proof("POST", URL, iat=now - 30), "too old")
    with override_oauth(DPOP_PROOF_MAX_AGE=120):
        assert verify(k1.proof("POST", URL, iat=now - 100))


@pytest.mark.req("9449-11.1-jti-replay")
def test_replayed_proof_is_refused(k1):
    proof = k1.proof("POST", URL)
    verify(proof)
    refused(proof, "already used")


def test_a_jti_json_can_spell_but_utf_8_cannot_is_refused_not_a_500(k1):
    """JSON can carry a lone surrogate (``"\\ud800"``), which UTF-8 cannot encode, so it
    could be neither hashed for the replay cache nor stored; a proof with such a ``jti``
    (anyone can sign one with a key of their own) is refused as unreadable, never a
    UnicodeEncodeError (a 500)."""
    refused(k1.proof("POST", URL, jti="\ud800-lone"))


def _remembered() -> list[float]:
    """Seconds the replay cache (locmem) still keeps each used proof's jti."""
    return [expiry - time.time() for key, expiry in caches["default"]._expire_info.items() if "dpop-jti" in key]


@pytest.mark.req("9449-11.1-jti-replay")
@pytest.mark.parametrize("age", [-10, 0, 1, 30, 59])
def test_a_jti_is_remembered_until_the_proof_can_no_longer_be_accepted(k1, age):
    """§11.1: a proof is accepted until its iat is DPOP_PROOF_MAX_AGE (60 s) past, so its jti
    must be remembered at least that long (a proof dated 10 s ahead: 70 s), or the same proof
    could be replayed while the time check still accepts it; and not much longer, as the cache
    holds one entry per proof. Our clock is half a second past the whole second of iat, as
    it is for a real proof. The timeout keeps a second more than the window, since a cache
    counting whole seconds (memcached) may drop a key up to a second early, and no more."""
    import datetime

    start = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=500_000)
    FrozenClock(start)
    verify(k1.proof("POST", URL, iat=int(start.timestamp()) - age))
    window = 60 - age - 0.5
    kept = _remembered()
    assert len(kept) == 1 and window + 1 <= kept[0] <= window + 2


@pytest.mark.req("9449-11.1-jti-replay")
def test_same_jti_at_another_uri_or_by_another_key_is_accepted(k1, k2):
    verify(k1.proof("POST", URL, jti="same"))
    verify(k1.proof("GET", "https://rs.example/api", jti="same"), method="GET", url="https://rs.example/api")
    verify(k2.proof("POST", URL, jti="same"))
    refused(k1.proof("POST", URL + "?again", jti="same"), "already used")


@pytest.mark.req("9449-11.1-jti-replay")
def test_replay_is_remembered_for_the_whole_window(k1):
    import datetime

    start = datetime.datetime.now(tz=datetime.timezone.utc)
    clock = FrozenClock(start)
    proof = k1.proof("POST", URL, iat=int(start.timestamp()))
    verify(proof)
    clock.advance(55)
    refused(proof, "already used")
    clock.advance(10)
    refused(proof, "too old")


def test_refused_proof_does_not_burn_its_jti(k1):
    """A proof refused for its nonce (the client retries) must not spend the jti first."""
    with override_oauth(DPOP_NONCE=True):
        with pytest.raises(UseDPoPNonce):
            verify(k1.proof("POST", URL, jti="retry"))
        verify(k1.proof("POST", URL, jti="retry", nonce=dpop.issue_nonce("token")))


# -- §4.3 item 12: ath -------------------------------------------------------------------------

@pytest.mark.req("9449-7.1-rs-checks")
def test_ath(k1):
    api = "https://rs.example/api/notes"
    ok = verify(k1.proof("GET", api, access_token="tok-1"), method="GET", url=api, access_token="tok-1")
    assert ok.jkt == k1.jkt
    refused(k1.proof("GET", api, access_token="tok-2"), "ath", method="GET", url=api, access_token="tok-1")
    refused(k1.proof("GET", api), "ath", method="GET", url=api, access_token="tok-1")
    refused(k1.proof("GET", api, claims={"ath": 7}), "ath", method="GET", url=api, access_token="tok-1")


def test_access_token_hash_is_rfc9449_example():
    """RFC 9449 §7.1: the ath of the example access token."""
    assert dpop.access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == \
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


# -- §8, §9, §11.3: nonces ---------------------------------------------------------------------

@pytest.mark.req("9449-8-as-nonce")
@pytest.mark.req("9449-11.3-nonce-downgrade")
def test_nonce_mode(k1):
    with override_oauth(DPOP_NONCE=True):
        with pytest.raises(UseDPoPNonce) as caught:
            verify(k1.proof("POST", URL))
        error = caught.value
        assert error.error == "use_dpop_nonce" and error.status == 400
        assert error.headers == {"DPoP-Nonce": error.nonce, "Cache-Control": "no-store"}
        assert verify(k1.proof("POST", URL, nonce=error.nonce)).jkt == k1.jkt
        # A nonce once given, a proof without one is still refused.
        with pytest.raises(UseDPoPNonce):
            verify(k1.proof("POST", URL))
        with pytest.raises(UseDPoPNonce):
            verify(k1.proof("POST", URL, nonce="made-up"))
        # one character changed where it carries six bits of the value (the last one of a
        # base64url string may carry padding bits, and "AA" was sometimes what it ended with)
        middle = len(error.nonce) // 2
        tampered = error.nonce[:middle] + ("B" if error.nonce[middle] == "A" else "A") + error.nonce[middle + 1:]
        with pytest.raises(UseDPoPNonce):
            verify(k1.proof("POST", URL, nonce=tampered))


def test_nonce_ignored_when_nonce_mode_is_off(k1):
    assert verify(k1.proof("POST", URL, nonce="anything")).jkt == k1.jkt


@pytest.mark.req("9449-8-as-nonce")
def test_nonce_expires(k1):
    import datetime

    clock = FrozenClock(datetime.datetime.now(tz=datetime.timezone.utc))
    nonce = dpop.issue_nonce("token")
    clock.advance(dpop.NONCE_LIFETIME + 1)
    with override_oauth(DPOP_NONCE=True), pytest.raises(UseDPoPNonce) as caught:
        verify(k1.proof("POST", URL, nonce=nonce, iat=int(clock.current.timestamp())))
    assert caught.value.nonce != nonce and dpop.nonce_valid(caught.value.nonce, "token")


@pytest.mark.req("9449-8-as-nonce")
def test_a_nonce_is_good_for_exactly_its_lifetime_and_not_from_far_ahead():
    """§8: a nonce bounds how long a proof made with it is good for: 5 minutes, as the README
    says (``DPOP_NONCE``), and not one second more. One dated more than 10 seconds (the clock
    skew FAPI 2.0 §5.3.2.1 item 13 tolerates) ahead of our clock -- a worker whose clock runs
    fast, a clock stepped back -- is refused too, or it would live longer than 5 minutes."""
    import datetime

    start = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)
    clock = FrozenClock(start)
    nonce = dpop.issue_nonce("token")
    clock.advance(300)
    assert dpop.nonce_valid(nonce, "token")
    clock.advance(1)
    assert not dpop.nonce_valid(nonce, "token")
    clock.current = start - datetime.timedelta(seconds=10)
    assert dpop.nonce_valid(nonce, "token")
    clock.advance(-1)
    assert not dpop.nonce_valid(nonce, "token")


@pytest.mark.req("9449-9-rs-nonce")
def test_nonce_is_accepted_only_by_the_server_that_issued_it(k1):
    api = "https://rs.example/api"
    with override_oauth(DPOP_NONCE=True):
        with pytest.raises(UseDPoPNonce) as caught:
            verify(k1.proof("POST", URL, nonce=dpop.issue_nonce("resource")))
        assert dpop.nonce_valid(caught.value.nonce, "token")
        with pytest.raises(UseDPoPNonce):
            verify(k1.proof("GET", api, nonce=dpop.issue_nonce("token")), method="GET", url=api, server="resource")
        verify(k1.proof("GET", api, nonce=dpop.issue_nonce("resource")), method="GET", url=api, server="resource")
    with pytest.raises(ValueError):
        dpop.issue_nonce("elsewhere")


@pytest.mark.req("9449-8-as-nonce")
def test_nonces_are_unpredictable():
    nonces = [dpop.issue_nonce("token") for _ in range(1000)]
    assert len(set(nonces)) == 1000
    randoms = [base64.urlsafe_b64decode(n + "==")[:16] for n in nonces]
    assert len(set(randoms)) == 1000
    # no common prefix beyond chance across the random part: not a counter
    assert len({r[:2] for r in randoms}) > 900
    assert all(len(n) == 54 and dpop.nonce_valid(n, "token") for n in nonces)


@pytest.mark.req("9449-8-as-nonce")
def test_a_nonce_whose_date_or_random_part_was_changed_is_refused():
    """The MAC covers the whole nonce body: a client (or an attacker holding an old nonce)
    cannot re-date one to keep it alive, nor mint new ones from one it saw."""
    nonce = dpop.issue_nonce("token")
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=="))
    body_length = len(raw) - dpop._NONCE_MAC
    for index in (0, dpop._NONCE_RANDOM - 1, body_length - 1):  # the random part, the date's last byte
        forged = bytearray(raw)
        forged[index] ^= 1
        text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        assert not dpop.nonce_valid(text, "token"), index
    assert dpop.nonce_valid(nonce, "token")


def test_nonce_depends_on_secret_key(k1, settings):
    nonce = dpop.issue_nonce("token")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert not dpop.nonce_valid(nonce, "token")


# -- §10.1: pushed authorization requests ----------------------------------------------------

@pytest.mark.req("9449-10.1-par")
def test_pushed_request_binding(k1, k2):
    par = "https://testserver/o/par/"
    factory = RequestFactory()
    plain = factory.post("/o/par/")
    assert dpop.pushed_request_jkt(plain, None, url=par) is None
    assert dpop.pushed_request_jkt(plain, k1.jkt, url=par) == k1.jkt
    assert dpop.pushed_request_jkt(factory.post("/o/par/", HTTP_DPOP=k1.proof("POST", par)), None, url=par) == k1.jkt
    same = factory.post("/o/par/", HTTP_DPOP=k1.proof("POST", par))
    assert dpop.pushed_request_jkt(same, k1.jkt, url=par) == k1.jkt
    with pytest.raises(InvalidDPoPProof, match="different keys"):
        dpop.pushed_request_jkt(factory.post("/o/par/", HTTP_DPOP=k2.proof("POST", par)), k1.jkt, url=par)
    with pytest.raises(InvalidDPoPProof, match="htu"):
        dpop.pushed_request_jkt(factory.post("/o/par/", HTTP_DPOP=k1.proof("POST", URL)), None, url=par)
    with pytest.raises(InvalidDPoPProof, match="thumbprint"):
        dpop.pushed_request_jkt(plain, "not-a-thumbprint", url=par)
    # in nonce mode the PAR endpoint is the authorization server's: its token nonces are good
    # there, the resource server's are not (§8, §9)
    with override_oauth(DPOP_NONCE=True):
        with_token_nonce = k1.proof("POST", par, nonce=dpop.issue_nonce("token"))
        assert dpop.pushed_request_jkt(factory.post("/o/par/", HTTP_DPOP=with_token_nonce), None, url=par) == k1.jkt
        with pytest.raises(UseDPoPNonce):
            with_resource_nonce = k1.proof("POST", par, nonce=dpop.issue_nonce("resource"))
            dpop.pushed_request_jkt(factory.post("/o/par/", HTTP_DPOP=with_resource_nonce), None, url=par)


@pytest.mark.parametrize("claim", ["jti", "htu"])
def test_a_claim_holding_a_lone_surrogate_is_refused(k1, claim):
    """RFC 7493 §2.1: a ``\\ud800`` string is no Unicode text; a proof holding one is
    malformed, whatever claim holds it."""
    refused(k1.proof("POST", URL, claims={claim: "a\ud800"}))

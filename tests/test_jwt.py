"""RFC 8725 attack corpus against :mod:`oauth_provider.jwt` (checklist section K)."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from oauth_provider import jwt, keys, secrets

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"


def b64(data) -> str:
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra):
    now = int(secrets.now().timestamp())
    return {"iss": ISS, "sub": "1", "iat": now, "exp": now + 300, **extra}


def forge(header: dict, body: dict, signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(body)}.{b64(signature)}"


def sign_rs256(header: dict, body: dict, private) -> str:
    """An RS256 JWS over arbitrary (even non-conforming) header and body members."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{b64(header)}.{b64(body)}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def resign(token: str, header_changes: dict, private_key) -> str:
    """Re-sign ``token``'s claims with ``private_key`` under a modified header."""
    head = pyjwt.get_unverified_header(token)
    head.update(header_changes)
    alg = head.pop("alg")
    body = pyjwt.decode(token, options={"verify_signature": False})
    return pyjwt.encode(body, private_key, algorithm=alg, headers=head)


@pytest.fixture
def rsa_key(db):
    return keys.create_key("RS256", prepublish=False)


@pytest.fixture
def good(rsa_key):
    return jwt.encode(claims())


def rejected(token, **kwargs):
    kwargs.setdefault("typ", None)
    kwargs.setdefault("issuer", ISS)
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(token, **kwargs)


def test_good_token_verifies(good):
    assert jwt.decode(good, typ=None, issuer=ISS)["sub"] == "1"


@pytest.mark.req("8725-3.2-none")
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"x"])
def test_alg_none_in_every_spelling(good, rsa_key, alg, signature):
    rejected(forge({"alg": alg, "kid": rsa_key.kid, "typ": "JWT"}, claims(), signature))
    stripped = ".".join(good.split(".")[:2]) + "."
    rejected(stripped)


@pytest.mark.req("8725-3.1-one-alg-per-key")
@pytest.mark.req("8725-3.1-alg-allowlist")
def test_hmac_with_our_public_key_in_every_encoding(rsa_key):
    loaded = keys.verification_key(rsa_key.kid).public
    encodings = [
        loaded.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        loaded.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        loaded.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        json.dumps(rsa_key.public_jwk).encode(),
    ]
    import hashlib
    import hmac

    for secret in encodings:
        for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
            head = b64({"alg": alg, "kid": rsa_key.kid, "typ": "JWT"})
            body = b64(claims())
            sig = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
            rejected(f"{head}.{body}.{b64(sig)}")


@pytest.mark.req("8725-3.1-alg-allowlist")
def test_alg_that_does_not_match_the_key(rsa_key):
    ec_key = keys.create_key("ES256")  # published, not yet signing
    attacker = ec.generate_private_key(ec.SECP256R1())
    # an ES256 token claiming the RSA key's kid
    token = pyjwt.encode(claims(), attacker, algorithm="ES256", headers={"kid": rsa_key.kid})
    rejected(token)
    # PS256 with the RSA kid (a different algorithm for the same key)
    rsa_attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rejected(pyjwt.encode(claims(), rsa_attacker, algorithm="PS256", headers={"kid": rsa_key.kid}))
    assert ec_key.kid != rsa_key.kid


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
@pytest.mark.req("7515-4.1.11-crit")
@pytest.mark.parametrize("member, value", [
    ("jku", "http://127.0.0.1:9/jwks"),
    ("x5u", "http://127.0.0.1:9/cert"),
    ("jwk", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
    ("x5c", ["MIIB"]),
    ("crit", ["bork"]),
])
def test_key_selecting_and_critical_headers_are_refused(good, rsa_key, member, value):
    private = keys.signing_key().private
    rejected(resign(good, {member: value, **({"bork": 1} if member == "crit" else {})}, private))


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
def test_attacker_key_embedded_in_jwk_header():
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    token = pyjwt.encode(claims(), attacker, algorithm="RS256", headers={"jwk": jwk, "kid": "attacker"})
    rejected(token)


@pytest.mark.req("8725-3.10-kid")
@pytest.mark.parametrize("kid", [
    "' OR 1=1--", "../../../../dev/null", "http://evil/", "a\x00b", "k" * 10_000, "", None, 7, ["x"],
])
def test_hostile_kids(rsa_key, kid):
    private = keys.signing_key().private
    head = {"alg": "RS256", "typ": "JWT"}
    if kid is not None:
        head["kid"] = kid
    rejected(sign_rs256(head, claims(), private))


def test_unknown_kid_and_attacker_key_with_our_kid(rsa_key):
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rejected(pyjwt.encode(claims(), attacker, algorithm="RS256", headers={"kid": "not-a-key-of-ours"}))
    rejected(pyjwt.encode(claims(), attacker, algorithm="RS256", headers={"kid": rsa_key.kid}))


@pytest.mark.req("8725-3.3-all-crypto")
def test_empty_and_tampered_signatures(good):
    head, body, sig = good.split(".")
    rejected(f"{head}.{body}.")
    tampered_body = b64(claims(sub="2"))
    rejected(f"{head}.{tampered_body}.{sig}")
    rejected(f"{head}.{body}.{sig[:-4]}AAAA")
    rejected('{"payload":"x","signatures":[]}')


@pytest.mark.req("8725-3.4-ec-inputs")
def test_zero_and_wrong_length_ecdsa_signatures():
    key = keys.create_key("ES256", prepublish=False)
    token = jwt.encode(claims())
    assert jwt.header(token)["kid"] == key.kid
    head, body, _sig = token.split(".")
    rejected(f"{head}.{body}.{b64(bytes(64))}")
    rejected(f"{head}.{body}.{b64(bytes(63))}")


@pytest.mark.req("8725-3.8-iss")
@pytest.mark.parametrize("iss", [ISS[:-1], ISS + "x", "x" + ISS, "https://testserver", [ISS], [ISS, "x"], None])
def test_issuer_is_compared_exactly(rsa_key, iss):
    body = claims()
    body["iss"] = iss
    if iss is None:
        del body["iss"]
    signer = keys.signing_key()
    rejected(sign_rs256({"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, body, signer.private))


@pytest.mark.req("8725-3.9-aud")
def test_audience_when_required(rsa_key):
    token = jwt.encode(claims(aud="client-a"))
    assert jwt.decode(token, typ=None, issuer=ISS, audience="client-a")
    rejected(token, audience="client-b")
    rejected(jwt.encode(claims()), audience="client-a")


@pytest.mark.req("8725-3.11-typ / 3.12-exclusive")
def test_access_and_id_tokens_cannot_pass_as_each_other(rsa_key):
    access = jwt.encode(claims(), typ="at+jwt")
    id_token = jwt.encode(claims())
    rejected(access, typ=None)
    rejected(id_token, typ="at+jwt")
    assert jwt.decode(access, typ="at+jwt", issuer=ISS)
    assert jwt.decode(jwt.encode(claims(), typ="application/at+jwt"), typ="at+jwt", issuer=ISS)


@pytest.mark.req("DERIVED-jwt-time")
def test_time_claims(rsa_key):
    # Freeze the clock on a whole second: the 61 s case sits one second past the bound.
    frozen = (secrets.now() + timedelta(seconds=1)).replace(microsecond=0)  # after the key's start
    secrets.set_clock(lambda: frozen)
    now = int(frozen.timestamp())
    rejected(jwt.encode({"iss": ISS, "sub": "1", "iat": now - 600, "exp": now - 300}))
    rejected(jwt.encode({"iss": ISS, "sub": "1", "iat": now}))  # no exp
    assert jwt.decode(jwt.encode(claims(nbf=now + 8)), typ=None, issuer=ISS)
    rejected(jwt.encode(claims(nbf=now + 61)))


@pytest.mark.req("DERIVED-jose-size")
def test_oversized_tokens_are_refused_before_decoding(rsa_key):
    huge_header = forge({"alg": "RS256", "kid": rsa_key.kid, "pad": "x" * 300_000}, claims(), b"s")
    rejected(huge_header)
    rejected(forge({"alg": "RS256", "kid": rsa_key.kid}, {"x": "y" * 10_000_000}, b"s"))
    rejected("not.a.jwt!")
    rejected("a.b")


def test_hand_signed_control_token_is_accepted(rsa_key):
    """The corpus above signs by hand; prove such a token passes when nothing is wrong with it."""
    signer = keys.signing_key()
    token = sign_rs256({"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, claims(), signer.private)
    assert jwt.decode(token, typ=None, issuer=ISS)["sub"] == "1"


def _alternative_encoding(segment: str) -> str | None:
    """The same bytes as ``segment`` under a second base64url spelling (a different last
    character whose extra low bits are ignored by lenient decoders), if there is one."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = {2: 4, 3: 2}.get(len(segment) % 4, 0)
    if not unused_bits:
        return None
    index = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[index ^ 1]


@pytest.mark.req("8725-3.3-all-crypto")
def test_a_second_spelling_of_a_valid_token_is_refused(rsa_key):
    """A lenient base64 decoder would accept the signature (or payload) segment with its
    ignored low bits changed: the same token under another text, which the JWT denylist
    (keyed by the token's digest) would not know. Only the canonical spelling verifies."""
    seen = 0
    for n in range(12):  # payload and signature lengths vary with the claims
        token = jwt.encode(claims(jti="x" * n))
        head, body, sig = token.split(".")
        for spelled in ((head, _alternative_encoding(body), sig), (head, body, _alternative_encoding(sig))):
            if None not in spelled:
                seen += 1
                assert base64.urlsafe_b64decode(spelled[1] + "==") == base64.urlsafe_b64decode(body + "==")
                rejected(".".join(spelled))
        assert jwt.decode(token, typ=None, issuer=ISS)
    assert seen


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def high_s_twin(token: str) -> str:
    """The same ES256 token with its signature's other ECDSA spelling, (r, n - s): it verifies
    as well, and anyone holding the token can make it."""
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    s = int.from_bytes(raw[32:], "big")
    twin = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return f"{head}.{body}.{base64.urlsafe_b64encode(twin).rstrip(b'=').decode()}"


@pytest.mark.req("8725-3.3-all-crypto")
def test_es256_tokens_are_signed_low_s_and_their_high_s_twin_is_refused(db):
    """ECDSA signature malleability: a revoked ES256 access token must not come back under its
    twin spelling (the denylist knows a revoked token by the digest of its text). Every token
    is signed with s <= n/2 (half of raw signatures are not) and only that form verifies."""
    key = keys.verification_key(keys.create_key("ES256", prepublish=False).kid)
    for n in range(24):
        token = jwt.encode(claims(jti="x" * n), key=key)
        raw = base64.urlsafe_b64decode(token.split(".")[2] + "==")
        assert len(raw) == 64 and int.from_bytes(raw[32:], "big") <= P256_ORDER // 2
        assert jwt.decode(token, typ=None, issuer=ISS)
        twin = high_s_twin(token)
        assert pyjwt.decode(twin, key.public, algorithms=["ES256"], options={"verify_aud": False})  # valid ECDSA
        rejected(twin)


def test_an_es256_token_with_a_signature_of_another_length_or_spelling_is_refused(db):
    """The low-s check reads the signature before it is verified: one of another length (a
    longer one would make n - s negative) or in a non-canonical base64url spelling is an
    invalid token like any other, never an error of the check itself."""
    key = keys.verification_key(keys.create_key("ES256", prepublish=False).kid)
    token = jwt.encode(claims(), key=key)
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    for other in (raw + b"\xff" * 32, b"\xff" * 96, raw[:48]):
        rejected(f"{head}.{body}.{base64.urlsafe_b64encode(other).rstrip(b'=').decode()}")
    rejected(f"{head}.{body}.{_alternative_encoding(sig)}")


def test_eddsa_and_rs256_tokens_are_left_as_signed(db):
    """Only ES256 signatures are made low-s: an Ed25519 signature (whose S, read as an ECDSA s,
    is above n/2 one time in two) or an RS256 one is neither rewritten nor refused."""
    for algorithm in ("EdDSA", "RS256"):
        key = keys.verification_key(keys.create_key(algorithm, prepublish=False).kid)
        for n in range(24):
            token = jwt.encode(claims(jti="y" * n), key=key)
            assert pyjwt.decode(token, key.public, algorithms=[algorithm], options={"verify_aud": False})
            assert jwt.decode(token, typ=None, issuer=ISS)


@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_verify_foreign_takes_eddsa_only_from_an_ed25519_key_under_fapi2(settings):
    """FAPI 2.0 §5.4.1: "EdDSA using the Ed25519 variant". Under the profile an Ed448 key's
    EdDSA signature is refused; Ed25519, ES256 and PS256 keys verify; without the profile Ed448
    does too."""
    from cryptography.hazmat.primitives.asymmetric import ed448

    from tests.support.settings import oauth_settings

    body = {"iss": "c", "sub": "c", "aud": ISS, "exp": 2_000_000_000}
    signers = {
        "Ed25519": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
        "Ed448": (ed448.Ed448PrivateKey.generate(), "EdDSA"),
        "P-256": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        "RSA": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    }
    tokens = {name: (pyjwt.encode(body, private, algorithm=alg), alg, private.public_key())
              for name, (private, alg) in signers.items()}
    plain = oauth_settings()
    settings.OAUTH_PROVIDER = oauth_settings(PROFILE="fapi2")
    for name, (token, _alg, public) in tokens.items():
        alg = jwt.foreign_header(token, ("EdDSA", "ES256", "PS256"))["alg"]  # as callers pass it: parsed
        if name == "Ed448":
            with pytest.raises(jwt.InvalidJWT):
                jwt.verify_foreign(token, alg, public)
        else:
            assert jwt.verify_foreign(token, alg, public)["sub"] == "c", name
    settings.OAUTH_PROVIDER = plain
    token, alg, public = tokens["Ed448"]
    assert jwt.verify_foreign(token, alg, public)["sub"] == "c"


@pytest.mark.req("8725-3.9-aud")
@pytest.mark.parametrize(("aud", "ok"), [
    ("client-a", True), (["x", "client-a"], True), (["x"], False), ("", False), ([], False),
    ([1, "client-a"], False), ({"client-a": 1}, False), (None, False),
])
def test_audience_forms(rsa_key, aud, ok):
    body = claims(aud=aud) if aud is not None else claims()
    token = jwt.encode(body)
    if ok:
        assert jwt.decode(token, typ=None, issuer=ISS, audience=["y", "client-a"])
    else:
        rejected(token, audience=["y", "client-a"])


def test_required_claims_and_payload_shape(rsa_key):
    signer = keys.signing_key()
    head = {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
    rejected(jwt.encode(claims(sub=None)), require=("iss", "exp", "sub"))
    for payload in (b"[1, 2]", b"not json", b"\xff\xfe", b'"text"'):
        signing_input = f"{b64(head)}.{b64(payload)}"
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = signer.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        rejected(f"{signing_input}.{b64(signature)}")


# -- JWTs signed by others: client assertions, DPoP proofs, request objects --------------------
FOREIGN_ALGS = ("RS256", "ES256")


@pytest.fixture(scope="module")
def foreign_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def foreign(private, header=None, body=None, alg="RS256") -> str:
    return pyjwt.encode(body or {"iss": "client-a"}, private, algorithm=alg, headers=header or {})


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
@pytest.mark.req("7515-4.1.11-crit")
@pytest.mark.parametrize("member, value", [
    ("jku", "http://127.0.0.1:9/jwks"), ("x5u", "http://127.0.0.1:9/cert"), ("x5c", ["MIIB"]), ("crit", ["exp"]),
])
def test_a_foreign_jwt_naming_where_to_find_its_key_is_refused(foreign_key, member, value):
    """RFC 8725 §3.10: a key-selecting header is never followed, and RFC 7515 §4.1.11: no
    ``crit`` extension is understood. Refused as InvalidJWT (a protocol error, never a crash),
    for a client's assertion and for a DPoP proof alike."""
    token = foreign(foreign_key, {member: value})
    for embedded_key in (False, True):
        with pytest.raises(jwt.InvalidJWT, match="header parameter not allowed: " + member):
            jwt.foreign_header(token, FOREIGN_ALGS, embedded_key=embedded_key)


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
def test_an_embedded_jwk_is_let_through_only_for_a_dpop_proof(foreign_key):
    """RFC 9449 §4.2: a DPoP proof carries its own key in ``jwk``; any other foreign JWT
    with one is refused (RFC 8725 §3.10)."""
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(foreign_key.public_key()))
    token = foreign(foreign_key, {"jwk": jwk, "typ": "dpop+jwt"})
    with pytest.raises(jwt.InvalidJWT, match="header parameter not allowed: jwk"):
        jwt.foreign_header(token, FOREIGN_ALGS)
    assert jwt.foreign_header(token, FOREIGN_ALGS, embedded_key=True)["jwk"] == jwk


@pytest.mark.req("8725-3.10-kid")
@pytest.mark.parametrize("kid", ["", "a b", "k" * 129, "caf\u00e9", "a\x00b", 7, ["x"], {"k": 1}])
def test_a_foreign_kid_that_is_not_short_printable_text_is_refused(foreign_key, kid):
    """RFC 8725 §3.10: ``kid`` is attacker-controlled input; a foreign one is at most 128
    visible ASCII characters, and a string."""
    with pytest.raises(jwt.InvalidJWT, match="malformed kid"):
        jwt.foreign_header(sign_rs256({"alg": "RS256", "kid": kid}, {"iss": "client-a"}, foreign_key), FOREIGN_ALGS)


@pytest.mark.parametrize("kid", [None, "k", "key#1:2024/rsa", "k" * 128])
def test_a_foreign_kid_is_optional_and_may_use_any_visible_ascii(foreign_key, kid):
    """A client's key need not carry a ``kid`` (RFC 7515 §4.1.4 makes it optional), and a
    client may name its keys with characters our own kids never use."""
    header = {} if kid is None else {"kid": kid}
    head = jwt.foreign_header(foreign(foreign_key, header), FOREIGN_ALGS)
    assert head.get("kid") == kid and head["alg"] == "RS256"


@pytest.mark.req("8725-3.1-alg-allowlist")
def test_a_foreign_jwt_must_use_one_of_the_callers_algorithms(foreign_key):
    """RFC 8725 §3.1: only the algorithms the caller allows for this input verify; ``none``
    and every HMAC are refused even in a caller's list (a public key is never an HMAC secret)."""
    token = foreign(foreign_key)
    assert jwt.foreign_header(token, ("RS256",))["alg"] == "RS256"
    with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
        jwt.foreign_header(token, ("ES256", "PS256"))
    for alg in ("HS256", "HS384", "HS512"):
        hmac_token = pyjwt.encode({"iss": "client-a"}, "s" * 64, algorithm=alg)
        with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
            jwt.foreign_header(hmac_token, ("RS256", alg))
    none = forge({"alg": "none"}, {"iss": "client-a"}, b"x")
    with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
        jwt.foreign_header(none, ("RS256", "none"))


def test_a_foreign_signature_verifies_only_with_the_right_key(foreign_key):
    """RFC 7515 §5.2: the claims come back only when the signature verifies with the key the
    caller chose; another key, an algorithm outside the foreign list, or a key of another type
    than the algorithm's is an InvalidJWT (never a TypeError that would answer 500)."""
    token = foreign(foreign_key, body={"iss": "client-a", "sub": "client-a"})
    assert jwt.verify_foreign(token, "RS256", foreign_key.public_key()) == {"iss": "client-a", "sub": "client-a"}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(jwt.InvalidJWT, match="signature verification failed"):
        jwt.verify_foreign(token, "RS256", other.public_key())
    with pytest.raises(jwt.InvalidJWT, match="signature verification failed"):
        jwt.verify_foreign(token, "RS256", ec.generate_private_key(ec.SECP256R1()).public_key())
    for alg in ("HS256", "none", "RS1"):
        with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
            jwt.verify_foreign(token, alg, foreign_key.public_key())
    head, body, sig = token.split(".")
    with pytest.raises(jwt.InvalidJWT):
        jwt.verify_foreign(f"{head}.{b64({'iss': 'client-b', 'sub': 'client-a'})}.{sig}", "RS256",
                           foreign_key.public_key())


def test_unverified_claims_read_a_payload_object_and_nothing_else(foreign_key):
    """Only to choose the keys (a client assertion's ``sub`` names its client): the payload of
    a well-formed compact JWS, which must be a JSON object in canonical base64url."""
    token = foreign(foreign_key, body={"iss": "client-a", "sub": "client-a"})
    assert jwt.unverified_claims(token) == {"iss": "client-a", "sub": "client-a"}
    head = {"alg": "RS256"}
    for payload in (b"[1, 2]", b"not json", b"\xff\xfe", b'"text"', b"null"):
        with pytest.raises(jwt.InvalidJWT, match="malformed payload"):
            jwt.unverified_claims(forge(head, payload, b"s"))
    with pytest.raises(jwt.InvalidJWT):
        jwt.unverified_claims("a.b")


# -- the bounds of the time claims, the key period and the size ---------------------------------
def _frozen():
    """Freeze the clock on a whole second (after any key's start); returns that second."""
    frozen = (secrets.now() + timedelta(seconds=1)).replace(microsecond=0)
    secrets.set_clock(lambda: frozen)
    return int(frozen.timestamp())


def _signed(body, **header):
    signer = keys.signing_key()
    return sign_rs256({"alg": "RS256", "kid": signer.kid, "typ": "JWT", **header}, body, signer.private)


@pytest.mark.req("DERIVED-jwt-time")
def test_time_claims_allow_exactly_the_leeway_and_not_a_second_more(rsa_key):
    """RFC 7519 §4.1.4-4.1.6 with a bounded clock skew (60 s by default, ``leeway``): a token
    expired 60 s ago, or valid or issued 60 s from now, passes; one second further is refused."""
    now = _frozen()
    assert jwt.decode(_signed({"iss": ISS, "iat": now - 360, "exp": now - 60}), typ=None, issuer=ISS)
    rejected(_signed({"iss": ISS, "iat": now - 361, "exp": now - 61}))
    assert jwt.decode(_signed(claims(nbf=now + 60)), typ=None, issuer=ISS)
    rejected(_signed(claims(nbf=now + 61)))
    assert jwt.decode(_signed({"iss": ISS, "iat": now + 60, "exp": now + 300}), typ=None, issuer=ISS)
    rejected(_signed({"iss": ISS, "iat": now + 61, "exp": now + 300}))
    # a caller's own leeway (token exchange passes 0)
    rejected(_signed({"iss": ISS, "iat": now - 300, "exp": now - 1}), leeway=0)
    assert jwt.decode(_signed({"iss": ISS, "iat": now - 300, "exp": now}), typ=None, issuer=ISS, leeway=0)
    # verify_exp=False (an id_token_hint may have expired): only exp is let go
    expired = _signed({"iss": ISS, "iat": now - 4000, "exp": now - 3000})
    rejected(expired)
    assert jwt.decode(expired, typ=None, issuer=ISS, verify_exp=False)["exp"] == now - 3000
    rejected(_signed({"iss": ISS, "iat": now - 4000, "exp": now - 3000, "nbf": now + 61}), verify_exp=False)



@pytest.mark.req("DERIVED-jwt-time")
def test_the_leeway_is_sixty_seconds_whatever_second_the_clock_reads(rsa_key):
    """The bounds hold at every second, not only where the clock's low bits leave room for
    the leeway: at a second that is 4 past a multiple of 64 (where adding 60 carries, unlike
    or-ing or xor-ing it), a token expired 60 s ago, or valid or issued 60 s from now, passes."""
    second = ((int(secrets.now().timestamp()) >> 6) + 1 << 6) + 4  # after the key's start
    secrets.set_clock(lambda: datetime.fromtimestamp(second, tz=UTC))
    for times in ({"iat": second - 360, "exp": second - 60}, {"iat": second, "exp": second + 300, "nbf": second + 60},
                  {"iat": second + 60, "exp": second + 300}):
        assert jwt.decode(_signed({"iss": ISS, **times}), typ=None, issuer=ISS)

@pytest.mark.req("DERIVED-jwt-time")
@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False, "0", None, [1], {"t": 1}])
def test_a_time_claim_that_is_not_a_number_is_refused(rsa_key, name, value):
    """RFC 7519 §2 NumericDate: a JSON number; a boolean (which Python counts as an int), a
    string or null is refused, whether or not the caller requires the claim."""
    body = {"iss": ISS, **{k: v for k, v in claims().items() if k in ("iat", "exp")}, name: value}
    with pytest.raises(jwt.InvalidJWT, match=f"{name} is not a number"):
        jwt.decode(_signed(body), typ=None, issuer=ISS, require=("iss",))


def test_a_token_without_iat_is_read_when_iat_is_not_required(rsa_key):
    """An id_token_hint is decoded with ``require=("iss", "sub")`` (OIDC Core §3.1.2.1): one
    without ``iat`` (or without ``exp``) is read, not turned into a server error."""
    now = _frozen()
    no_iat = jwt.decode(_signed({"iss": ISS, "sub": "1", "exp": now + 300}), typ=None, issuer=ISS,
                        require=("iss", "sub"))
    assert no_iat["sub"] == "1"
    assert jwt.decode(_signed({"iss": ISS, "sub": "1", "iat": now}), typ=None, issuer=ISS, require=("iss", "sub"))


def test_a_lifetime_no_longer_than_the_longest_issued_passes_and_a_longer_one_is_refused(rsa_key, settings):
    """A token may live as long as the longest-lived token this server issues (ID token or
    access token, 3600 s by default) plus the leeway; a longer one cannot be ours, even signed
    with our key (a leaked key must not mint long-lived tokens)."""
    now = _frozen()
    assert jwt.decode(_signed({"iss": ISS, "iat": now, "exp": now + 3660}), typ=None, issuer=ISS)
    rejected(_signed({"iss": ISS, "iat": now, "exp": now + 3661}))
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "ID_TOKEN_LIFETIME": 7200}
    assert jwt.decode(_signed({"iss": ISS, "iat": now, "exp": now + 7260}), typ=None, issuer=ISS)
    rejected(_signed({"iss": ISS, "iat": now, "exp": now + 7261}))
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "ID_TOKEN_LIFETIME": 60, "ACCESS_TOKEN_LIFETIME": 7200}
    assert jwt.decode(_signed({"iss": ISS, "iat": now, "exp": now + 7260}), typ=None, issuer=ISS)
    rejected(_signed({"iss": ISS, "iat": now, "exp": now + 7261}))



def test_the_lifetime_is_exp_minus_iat_for_any_iat(rsa_key):
    """The lifetime bound holds for any ``iat``: exactly the bound passes whatever the digits
    of ``iat`` (here one just below a multiple of 4096, where ``exp`` carries into new digits),
    and a token claiming to be issued decades ago with an ``exp`` still ahead is refused."""
    now = _frozen()
    iat = ((now >> 12) + 1 << 12) - 1  # the next second before a multiple of 4096, at most 4096 s ahead
    secrets.set_clock(lambda: datetime.fromtimestamp(iat + 10, tz=UTC))
    assert jwt.decode(_signed({"iss": ISS, "iat": iat, "exp": iat + 3660}), typ=None, issuer=ISS)
    with pytest.raises(jwt.InvalidJWT, match="lifetime longer than any token this server issues"):
        jwt.decode(_signed({"iss": ISS, "iat": iat, "exp": iat + 3661}), typ=None, issuer=ISS)
    secrets.set_clock(lambda: datetime.fromtimestamp(now, tz=UTC))
    for exp in (now + 300, now + 301):
        with pytest.raises(jwt.InvalidJWT, match="lifetime longer than any token this server issues"):
            jwt.decode(_signed({"iss": ISS, "iat": exp // 2, "exp": exp}), typ=None, issuer=ISS)


def test_a_hint_read_past_its_expiry_is_not_judged_by_its_lifetime(rsa_key):
    """An ``id_token_hint`` is read without its ``exp`` check, so its lifetime protects
    nothing (a leaked retired key is still held by when it signed); and the ID tokens of the
    server this one replaced may have lived longer than ours (django-oauth-toolkit's: ten hours),
    yet they must still name their user at logout."""
    now = _frozen()
    ten_hours = _signed({"iss": ISS, "iat": now - 60, "exp": now - 60 + 36000})
    assert jwt.decode(ten_hours, typ=None, issuer=ISS, verify_exp=False)["iss"] == ISS
    with pytest.raises(jwt.InvalidJWT, match="lifetime longer than any token this server issues"):
        jwt.decode(ten_hours, typ=None, issuer=ISS)

def test_a_just_retired_key_verifies_what_it_signed_within_one_key_cache_period(db):
    """A worker may sign with a just-retired key until its key cache expires
    (``SIGNING_KEY_CACHE_SECONDS``, 60 s) and clocks may differ by the leeway (60 s): a token
    the retired key signed before its retirement, or up to 120 s after it, verifies; one signed
    later is a leaked key minting tokens, refused."""
    start = _frozen()
    old = keys.create_key("RS256", prepublish=False)
    private = keys.signing_key().private
    keys.create_key("RS256", prepublish=False)  # old retires now, at ``start``
    keys.clear_cache()
    assert keys.verification_key(old.kid).retired_at.timestamp() == start

    def by_old_key(iat):
        return sign_rs256({"alg": "RS256", "kid": old.kid, "typ": "JWT"}, {"iss": ISS, "iat": iat, "exp": iat + 300},
                          private)

    secrets.set_clock(lambda: datetime.fromtimestamp(start + 121, tz=UTC))
    assert jwt.decode(by_old_key(start - 30), typ=None, issuer=ISS)
    assert jwt.decode(by_old_key(start + 120), typ=None, issuer=ISS)
    with pytest.raises(jwt.InvalidJWT, match="signed after its key was retired"):
        jwt.decode(by_old_key(start + 121), typ=None, issuer=ISS)


@pytest.mark.req("DERIVED-jose-size")
def test_a_token_of_exactly_the_maximum_size_is_read_and_one_byte_more_is_not(rsa_key):
    """The size bound (``MAX_LENGTH``, 8192 bytes) is checked before anything is decoded; a
    token at the bound is still verified."""
    signer = keys.signing_key()
    by_length = {}
    for pad in range(5700, 5800):
        for extra in ("", "x", "xx"):
            token = sign_rs256({"alg": "RS256", "kid": signer.kid, "typ": "JWT", "p": extra},
                               claims(pad="y" * pad), signer.private)
            by_length.setdefault(len(token), token)
    assert jwt.decode(by_length[8192], typ=None, issuer=ISS)
    with pytest.raises(jwt.InvalidJWT, match="not a compact JWS of acceptable size"):
        jwt.decode(by_length[8193], typ=None, issuer=ISS)


# -- the header of our own tokens ----------------------------------------------------------------
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_under_the_fapi2_profile_only_its_algorithms_verify(rsa_key, foreign_key, settings):
    """FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA only, in our own tokens and in others' JWTs; an
    RS256 token signed by our own (still published) key is refused once the profile is on."""
    rs256 = jwt.encode(claims())
    es256 = jwt.encode(claims(), key=keys.verification_key(keys.create_key("ES256", prepublish=False).kid))
    theirs = foreign(foreign_key)
    theirs_ps256 = foreign(foreign_key, alg="PS256")
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "PROFILE": "fapi2"}
    with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
        jwt.header(rs256)
    rejected(rs256)
    assert jwt.decode(es256, typ=None, issuer=ISS)["sub"] == "1"
    with pytest.raises(jwt.InvalidJWT, match="algorithm not allowed"):
        jwt.foreign_header(theirs, ("RS256", "PS256"))
    assert jwt.foreign_header(theirs_ps256, ("RS256", "PS256"))["alg"] == "PS256"


@pytest.mark.req("8725-3.11-typ / 3.12-exclusive")
@pytest.mark.parametrize(("typ", "as_access_token", "as_id_token"), [
    ("at+jwt", True, False), ("AT+JWT", True, False), ("application/at+jwt", True, False),
    ("Application/AT+JWT", True, False), ("JWT", False, True), ("jwt", False, True),
    ("application/jwt", False, True), (None, False, True), ("", False, True),
    ("logout+jwt", False, False), ("dpop+jwt", False, False),
    ("at+jwt+x", False, False), ("application/", False, False), ("APPLICATION/", False, False),
])
def test_the_typ_header_is_compared_case_insensitively_without_its_application_prefix(rsa_key, typ, as_access_token,
                                                                                      as_id_token):
    """RFC 7515 §4.1.9: ``typ`` is a media type, compared case-insensitively, whose
    ``application/`` prefix may be left out; RFC 9068 §4 / RFC 8725 §3.11: an access token
    must say ``at+jwt``, and an ID token is untyped or ``JWT`` (a logout token is neither)."""
    signer = keys.signing_key()
    head = {"alg": "RS256", "kid": signer.kid} | ({} if typ is None else {"typ": typ})
    token = sign_rs256(head, claims(), signer.private)
    for expected, ok in (("at+jwt", as_access_token), (None, as_id_token)):
        if ok:
            assert jwt.decode(token, typ=expected, issuer=ISS)["sub"] == "1"
        else:
            rejected(token, typ=expected)


def test_an_access_token_offered_as_an_id_token_says_so(rsa_key):
    """The refusal names the confusion (InvalidJWT's message says why)."""
    with pytest.raises(jwt.InvalidJWT, match="an access token is not accepted here"):
        jwt.decode(jwt.encode(claims(), typ="application/at+jwt"), typ=None, issuer=ISS)


@pytest.mark.req("8725-3.10-jku-x5u-jwk")
@pytest.mark.req("7515-4.1.11-crit")
def test_our_header_names_the_refused_parameters(good, rsa_key):
    """RFC 8725 §3.10, RFC 7515 §4.1.11: the refusal names exactly the forbidden members present."""
    private = keys.signing_key().private
    token = resign(good, {"jku": "https://x/jwks", "x5u": "https://x/c", "bork": 1, "crit": ["bork"]}, private)
    with pytest.raises(jwt.InvalidJWT, match=r"^header parameter not allowed: crit, jku, x5u$"):
        jwt.header(token)
    assert jwt.header(good) == {"alg": "RS256", "kid": rsa_key.kid, "typ": "JWT"}


@pytest.mark.parametrize("segment", [
    b64(b"[1, 2]"), b64(b"not json"), b64(b"\xff\xfe"), b64(b'"RS256"'), b64(b"null"), "A",
])
def test_a_header_that_is_not_a_json_object_is_malformed(rsa_key, segment):
    """RFC 7515 §5.2 steps 2-4: the header is a base64url-encoded UTF-8 JSON object."""
    for read in (jwt.header, lambda t: jwt.foreign_header(t, FOREIGN_ALGS), jwt.unverified_claims):
        with pytest.raises(jwt.InvalidJWT, match="malformed header"):
            read(f"{segment}.{b64(claims())}.{b64(b'sig')}")


@pytest.mark.parametrize("token", [None, 7, b"a.b.c", ["a", "b", "c"], "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c ",
                                   "a+b.c.d", "a/b.c.d", "a=.b.c"])
def test_anything_but_a_compact_jws_string_is_refused_before_decoding(token):
    """RFC 7515 §7.1: three base64url segments, no padding, nothing else; refused as an
    InvalidJWT (a 401 at the resource, never a crash), whatever the caller passed. An
    Unsecured JWS (``alg`` ``none``: an empty signature) is named as such."""
    expected = "unsigned .*alg none" if token == "a.b." else "not a compact JWS of acceptable size"
    for read in (jwt.header, lambda t: jwt.foreign_header(t, FOREIGN_ALGS), jwt.unverified_claims,
                 lambda t: jwt.decode(t, typ=None, issuer=ISS)):
        with pytest.raises(jwt.InvalidJWT, match=expected):
            read(token)


def test_encode_signs_with_the_key_it_is_given(rsa_key):
    """ID tokens and logout tokens pass the key to sign with (a profile may narrow it): the
    token carries that key's kid and algorithm, not the active key's."""
    es256 = keys.verification_key(keys.create_key("ES256").kid)  # published, not signing yet
    assert keys.signing_key().kid == rsa_key.kid
    token = jwt.encode(claims(), key=es256, typ="logout+jwt")
    assert jwt.header(token) == {"alg": "ES256", "kid": es256.kid, "typ": "logout+jwt"}
    assert jwt.header(jwt.encode(claims()))["kid"] == rsa_key.kid


@pytest.mark.req("8725-3.1-one-alg-per-key")
@pytest.mark.parametrize("key_alg", ["RS256", "ES256", "EdDSA"])
def test_a_kid_under_another_of_our_algorithms_is_refused_before_its_signature_is_checked(db, key_alg):
    """RFC 8725 §3.1: each of our keys verifies with exactly its one algorithm; a header that
    names the key's kid with any other algorithm is refused as naming no key of ours, in
    whichever order the two algorithm names sort."""
    key = keys.create_key(key_alg, prepublish=False)
    for alg, private in (("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                         ("ES256", ec.generate_private_key(ec.SECP256R1())),
                         ("EdDSA", ed25519.Ed25519PrivateKey.generate())):
        if alg == key_alg:
            continue
        token = pyjwt.encode(claims(), private, algorithm=alg, headers={"kid": key.kid})
        with pytest.raises(jwt.InvalidJWT, match="unknown key"):
            jwt.decode(token, typ=None, issuer=ISS)


#: JSON nested deeper than Python's parser recurses (about 1,000 levels), in 3 KB: far inside
#: MAX_LENGTH once base64url-encoded
DEEP = b"[" * 1500 + b"]" * 1500
#: RFC 8259 §6: "Numeric values that cannot be represented in the grammar below (such as
#: Infinity and NaN) are not permitted"; Python's parser reads them (and 1e999 as infinity)
NOT_JSON_NUMBERS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"1" + b"0" * 400, b"-" + b"9" * 400)


def test_a_header_nested_past_the_parser_is_malformed_not_a_crash(rsa_key):
    """RFC 7515 §5.2 step 3: the header must be a JSON object. One nested past the depth
    Python's parser recurses to raised RecursionError (not a ValueError), which every caller
    let through: a 500 for any bearer token starting ``eyJ`` at a protected view, and for any
    ``client_assertion`` at the token endpoint, from anyone."""
    head = b'{"alg":"RS256","x":' + DEEP + b"}"
    token = f"{b64(head)}.{b64(claims())}.{b64(b'sig')}"
    assert token.startswith("eyJ") and len(token) < jwt.MAX_LENGTH
    for read in (jwt.header, lambda t: jwt.foreign_header(t, FOREIGN_ALGS), jwt.unverified_claims,
                 lambda t: jwt.decode(t, typ=None, issuer=ISS)):
        with pytest.raises(jwt.InvalidJWT, match="malformed header"):
            read(token)


def test_the_largest_integer_a_float_holds_is_still_a_number():
    """RFC 8259 §6: numbers within IEEE 754 binary64's range interoperate; the bound that
    refuses a 400-digit ``exp`` keeps the largest finite one (and its negative)."""
    import sys

    largest = int(sys.float_info.max)
    assert jwt.parse_json(f'{{"exp": {largest}, "iat": 1764800000}}') == {"exp": largest, "iat": 1764800000}
    assert jwt.parse_json(f"[{-largest}, 1.5e308]") == [-largest, 1.5e308]
    with pytest.raises(ValueError):
        jwt.parse_json(str(largest + 2 ** 971))  # the next binary64 value: infinity


@pytest.mark.parametrize("value", [DEEP, *NOT_JSON_NUMBERS])
def test_a_payload_nested_past_the_parser_or_holding_a_number_json_has_not_is_malformed(rsa_key, foreign_key, value):
    """RFC 7519 §7.2 step 10: the claims are a JSON object (RFC 8259). Deep nesting raised
    RecursionError (a 500) from the payload of an unverified client assertion or of a DPoP
    proof signed with the sender's own key; ``NaN`` made every time check pass (each comparison
    with it is false) and a replay-cache timeout fail (``int(nan)``: another 500); an integer
    beyond a float's range failed ``float()`` in the assertion and request-object time checks."""
    body = b'{"iss":"client-a","sub":"client-a","exp":' + value + b"}"
    unsigned = forge({"alg": "RS256"}, body, b"s")
    with pytest.raises(jwt.InvalidJWT, match="malformed payload"):
        jwt.unverified_claims(unsigned)
    head = b64({"alg": "RS256", "typ": "JWT"})
    signing_input = f"{head}.{b64(body)}"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = foreign_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(jwt.InvalidJWT, match="malformed payload"):
        jwt.verify_foreign(f"{signing_input}.{b64(signature)}", "RS256", foreign_key.public_key())
    signer = keys.signing_key()
    ours = f"{b64({'alg': 'RS256', 'kid': signer.kid, 'typ': 'JWT'})}.{b64(body)}"
    ours += "." + b64(signer.private.sign(ours.encode(), padding.PKCS1v15(), hashes.SHA256()))
    with pytest.raises(jwt.InvalidJWT, match="malformed payload"):
        jwt.decode(ours, typ=None, issuer=ISS, require=())


@pytest.mark.parametrize("body", [
    b'{"sub":"\\ud800"}', b'{"jti":"a\\uDFFF"}', b'{"\\udc00":1}', b'{"aud":["x","\\ud83d"]}',
], ids=["value", "upper-case-escape", "member-name", "in-an-array"])
def test_a_string_holding_a_lone_surrogate_is_malformed(body):
    """I-JSON (RFC 7493 §2.1): no string may hold a surrogate code point. JSON's ``\\ud800``
    escape makes one, which has no UTF-8 encoding: a signed client assertion whose ``jti`` held
    one answered 500 (hashing it for the replay cache), and so would a ``sub`` sent to
    PostgreSQL. Anyone with a registered key, or any DPoP key, can sign such a text."""
    with pytest.raises(ValueError):
        jwt.parse_json(body)
    with pytest.raises(jwt.InvalidJWT, match="malformed payload"):
        jwt.unverified_claims(forge({"alg": "RS256"}, body, b"s"))


def test_a_surrogate_pair_and_an_escaped_backslash_are_text():
    """A pair of escapes is one code point (an emoji), and ``\\\\ud800`` is a backslash and five
    letters: both are Unicode text, read as such."""
    assert jwt.parse_json(b'{"name":"\\ud83d\\ude00"}') == {"name": "\U0001F600"}
    assert jwt.parse_json(b'{"name":"\\\\ud800"}') == {"name": "\\ud800"}


@pytest.mark.req("8725-3.3-all-crypto")
@pytest.mark.parametrize(("alg", "length"), [("ES256", 86), ("RS256", 683)], ids=["2-mod-4", "3-mod-4"])
def test_every_other_spelling_of_a_foreign_signature_is_refused(alg, length):
    """The signature segment is the one base64url text a signature does not cover: its last
    character's unused low bits (4 of them when the length is 2 mod 4, as for ES256's 64
    bytes; 2 when it is 3 mod 4, as for a 4096-bit RSA key's 512) may be set in any of
    15 or 3 other ways and a lenient decoder reads the same bytes. Each is refused; only the
    canonical spelling verifies (a client assertion's replay is known by its jti, our own
    tokens' revocation by the digest of their text)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 4096)
    token = pyjwt.encode({"iss": "client-a"}, private, algorithm=alg)
    head, body, sig = token.split(".")
    assert len(sig) == length
    assert jwt.verify_foreign(token, alg, private.public_key()) == {"iss": "client-a"}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = 4 if length % 4 == 2 else 2
    index = alphabet.index(sig[-1])
    for low in range(1, 2 ** unused):
        other = f"{head}.{body}.{sig[:-1]}{alphabet[index ^ low]}"
        with pytest.raises(jwt.InvalidJWT):
            jwt.verify_foreign(other, alg, private.public_key())


def test_the_parameter_bound_of_tokens_is_the_longest_jwt_read():
    """params.py sits below jwt.py and keeps its own copy of the bound."""
    from oauth_provider import params

    assert params.JWT_MAX_LENGTH == jwt.MAX_LENGTH

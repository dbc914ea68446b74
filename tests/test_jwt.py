"""RFC 8725 attack corpus against :mod:`oauth_provider.jwt` (checklist section K)."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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

"""Secrets are compared in constant time (OIDC Core §16.12), hashed before storage and
generated with 256 bits of randomness (RFC 6749 §10.10).

Why these are structural tests and not timing tests: an early-exit comparison of two 64-byte
SHA-256 hex digests differs from ``hmac.compare_digest`` by tens of nanoseconds, far below the
noise of a Django request (hundreds of microseconds, more on a busy machine). No wall-clock test
can see the difference reliably, so the rule is pinned down where it lives: ``constant_time_equals``
must hand its two byte strings to ``hmac.compare_digest``, and every secret comparison on the
token endpoint (client secret, unknown client's dummy digest, PKCE verifier) must go through it.
"""

from __future__ import annotations

import hashlib
import hmac
from unittest import mock

import pytest
from django.test import Client as HttpClient

from oauth_provider import client_auth, secrets
from tests.support.token_helpers import assert_error, post_form

from .conftest import basic_auth

pytestmark = pytest.mark.req("OIDC-16.12-timing")


# -- the comparison itself ----------------------------------------------------------------------------


@pytest.mark.cve("CVE-2016-7036")
@pytest.mark.parametrize(("a", "b"), [
    ("same-secret", "same-secret"),
    ("secret-a", "secret-b"),
    (b"bytes", "bytes"),
    ("é\U0001f511", "é\U0001f511"),
    ("\ud800", "\ud800"),  # a lone surrogate (from a form body) must not raise
])
def test_constant_time_equals_delegates_to_hmac_compare_digest(a, b):
    """The comparison is ``hmac.compare_digest`` on the UTF-8 bytes of both sides, and its
    answer is returned unchanged: a hand-written loop that stops at the first differing byte
    (CVE-2016-7036's bug) would not call it."""
    as_bytes = [v if isinstance(v, bytes) else v.encode("utf-8", "surrogatepass") for v in (a, b)]
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
        result = secrets.constant_time_equals(a, b)
    compare.assert_called_once_with(*as_bytes)
    assert result is (as_bytes[0] == as_bytes[1])
    for answer in (True, False):
        with mock.patch.object(hmac, "compare_digest", return_value=answer):
            assert secrets.constant_time_equals(a, b) is answer


def test_constant_time_equals_compares_whole_values():
    assert secrets.constant_time_equals("abc", "abc")
    assert not secrets.constant_time_equals("abc", "abd")
    assert not secrets.constant_time_equals("abc", "abcd")  # a prefix is not equal
    assert not secrets.constant_time_equals("abcd", "abc")
    assert not secrets.constant_time_equals("", "a")
    assert secrets.constant_time_equals("", "")
    assert not secrets.constant_time_equals("é", "e")


# -- every secret comparison on the token endpoint goes through it -------------------------------------


@pytest.fixture
def api():
    return HttpClient()


@pytest.fixture
def comparisons(monkeypatch):
    """Records every (a, b) handed to ``secrets.constant_time_equals`` (and still compares)."""
    seen: list[tuple[str | bytes, str | bytes]] = []
    real = secrets.constant_time_equals

    def recording(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(secrets, "constant_time_equals", recording)
    return seen


@pytest.mark.django_db
@pytest.mark.parametrize("right", [True, False])
def test_a_client_secret_is_checked_through_the_constant_time_comparison(api, conf_client, comparisons, right):
    secret = conf_client.raw_secret if right else conf_client.raw_secret[:-1] + "!"
    r = post_form(api, {"grant_type": "client_credentials", "scope": "read"},
                  HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, secret))
    assert r.status_code == (200 if right else 401), r.content
    assert comparisons == [(secrets.hash_token(secret), conf_client.client_secret_hash)]


@pytest.mark.django_db
def test_an_unknown_client_is_compared_against_the_dummy_digest(api, comparisons):
    """An unknown client_id costs the same hash and constant-time comparison as a known one
    (against a digest computed once at import), so timing does not tell which ids exist."""
    r = post_form(api, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth("no-such-client", "x" * 43))
    assert r.status_code == 401
    assert comparisons == [(secrets.hash_token("x" * 43), client_auth._DUMMY_HASH)]
    assert client_auth._DUMMY_HASH == hashlib.sha256(b"unknown-client").hexdigest()


@pytest.mark.django_db
def test_client_secret_post_and_check_secret_go_through_it(api, conf_client, comparisons):
    r = post_form(api, {"grant_type": "client_credentials", "client_id": conf_client.client_id,
                        "client_secret": "wrong"})
    assert r.status_code == 401
    assert conf_client.check_secret(conf_client.raw_secret)
    assert not conf_client.check_secret("wrong")
    hashed = conf_client.client_secret_hash
    assert (secrets.hash_token(conf_client.raw_secret), hashed) in comparisons
    assert (secrets.hash_token("wrong"), hashed) in comparisons


@pytest.mark.django_db
@pytest.mark.req("7636-4.6-verifier-match")
def test_the_pkce_verifier_is_checked_through_the_constant_time_comparison(oauth, public_client, comparisons):
    code, verifier = oauth.get_code(public_client)
    comparisons.clear()
    wrong = verifier[:-1] + ("A" if verifier[-1] != "A" else "B")
    assert_error(oauth.exchange(public_client, code, wrong), "invalid_grant")
    challenge = secrets.s256_challenge(verifier)
    assert comparisons == [(secrets.s256_challenge(wrong), challenge)]
    comparisons.clear()
    assert oauth.exchange(public_client, code, verifier).status_code == 200
    assert comparisons == [(challenge, challenge)]


# -- hashing and generation ----------------------------------------------------------------------------


@pytest.mark.req("7636-4.6-verifier-match")
def test_s256_challenge_matches_rfc7636_appendix_b():
    assert secrets.s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_hash_token_is_the_sha256_hex_digest():
    assert secrets.hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert secrets.hash_token("\ud800") == hashlib.sha256("\ud800".encode("utf-8", "surrogatepass")).hexdigest()


def test_generated_values_carry_256_bits():
    values = {secrets.generate_token() for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 43 for v in values)  # 32 bytes, base64url without padding
    assert secrets.TOKEN_BYTES == 32
    client_ids = {secrets.generate_client_id() for _ in range(50)}
    assert len(client_ids) == 50 and all(len(v) == 32 for v in client_ids)


def test_a_generated_client_id_never_reads_as_a_command_line_option(monkeypatch):
    """One urlsafe value in 64 starts with "-"; argparse then takes ``--client-id -Xy`` for
    two options (seen in CI with the example's service_client.py)."""
    draws = iter(["-" + "a" * 31, "-b" + "c" * 30, "Zd" + "-" * 30])
    monkeypatch.setattr(secrets._random, "token_urlsafe", lambda n: next(draws))
    assert secrets.generate_client_id() == "Zd" + "-" * 30


def test_the_clock_is_injectable_and_restorable():
    from datetime import datetime, timezone

    fixed = datetime(2030, 1, 1, tzinfo=timezone.utc)
    secrets.set_clock(lambda: fixed)
    try:
        assert secrets.now() == fixed
    finally:
        secrets.set_clock(None)
    assert secrets.now() != fixed and secrets.now().tzinfo is not None


# -- device flow user codes (RFC 8628 §6.1) ---------------------------------------------------------


@pytest.mark.req("8628-5.1-user-code-entropy")
def test_a_user_code_is_two_groups_of_five_consonants_carrying_over_40_bits():
    """Ten characters of the 20-consonant alphabet (20^10 = 2^43.2: what makes guessing a
    pending code hopeless within its lifetime), shown as two groups of five for reading aloud."""
    import re

    shape = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{5}-[BCDFGHJKLMNPQRSTVWXZ]{5}")
    codes = [secrets.generate_user_code() for _ in range(200)]
    assert all(shape.fullmatch(code) for code in codes), [c for c in codes if not shape.fullmatch(c)][:3]
    assert len(set(codes)) == 200
    assert len(secrets.USER_CODE_ALPHABET) ** 10 >= 2**43


@pytest.mark.req("8628-5.1-user-code-entropy")
@pytest.mark.parametrize(("typed", "normalized"), [
    ("WDJBM-KHTXZ", "WDJBMKHTXZ"),
    ("wdjbm-khtxz", "WDJBMKHTXZ"),  # case-insensitive
    (" wdjbm khtxz\t", "WDJBMKHTXZ"),  # spaces, tabs and dashes ignored
    ("W-D-J-B-M-K-H-T-X-Z", "WDJBMKHTXZ"),
    ("WDJBM-KHTX", None),  # nine characters: no code we issued
    ("WDJBM-KHTXZB", None),  # eleven
    ("", None),
    ("WDJBA-KHTXZ", None),  # a vowel is not in the alphabet
    ("WDJB0-KHTXZ", None),  # nor a digit
    ("WDJBM_KHTXZ", None),  # nor other punctuation
])
def test_a_typed_user_code_is_normalized_or_refused_without_a_lookup(typed, normalized):
    assert secrets.normalize_user_code(typed) == normalized


def test_a_user_codes_stored_form_is_a_keyed_sha256_fixed_across_versions(settings):
    """A user code (43 bits) is stored as HMAC-SHA256 under a key derived from SECRET_KEY for
    this one purpose: 64 hex characters, other under another SECRET_KEY, and the derivation
    fixed, so the codes of devices pending during an upgrade still match after it."""
    from django.utils.crypto import salted_hmac

    from oauth_provider.secrets import user_code_digest

    digest = user_code_digest("BCDFGHJK")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == salted_hmac("oauth_provider.device-user-code", "BCDFGHJK", algorithm="sha256").hexdigest()
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert user_code_digest("BCDFGHJK") != digest

"""Random values, hashing and constant-time comparison, with an injectable clock.

Codes, tokens and client secrets are 256-bit random strings (RFC 6749 §10.10, OAuth 2.1
§7.7 asks for <= 2^-160 guessing odds) and are stored only as SHA-256 hex digests, looked up
through a unique index. High-entropy values need no slow password hash; the digest is the
same ``token_checksum`` django-oauth-toolkit keeps, so migrated tokens keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone
from django.utils.crypto import salted_hmac

#: bytes of randomness in every generated code, token and client secret (256 bits)
TOKEN_BYTES = 32

_clock: Callable[[], datetime] = timezone.now


def now() -> datetime:
    """The current time, from the injectable clock (tests move it with :func:`set_clock`)."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores ``django.utils.timezone.now``)."""
    global _clock
    _clock = clock or timezone.now


def generate_token() -> str:
    """A fresh 256-bit random value, base64url without padding (43 characters)."""
    return _random.token_urlsafe(TOKEN_BYTES)


def generate_client_id() -> str:
    """A public client identifier: random, URL-safe, not guessable from other clients.

    Never begins with ``-``: one in 64 would otherwise, and a command line then reads it as
    an option (``manage.py ... --client-id -Xy...`` or a positional argument fails).
    """
    while True:
        value = _random.token_urlsafe(24)
        if value[0] != "-":
            return value


def hash_token(value: str) -> str:
    """SHA-256 hex digest of a code, token or generated secret: the only stored form."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets without leaking where they differ (OIDC Core §16.12)."""
    if isinstance(a, str):
        a = a.encode("utf-8", "surrogatepass")
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(a, b)


def s256_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


#: RFC 8628 §6.1's example alphabet: consonants only (no words, no vowels to misread), and
#: none of the look-alikes 0/O, 1/I/L... 20 characters, 4.32 bits each
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
#: 10 characters: 20^10 = 2^43.2 codes (the issue asks for at least 40 bits)
USER_CODE_LENGTH = 10
_USER_CODE_IGNORED = str.maketrans("", "", "- \t")


def generate_user_code() -> str:
    """A device flow ``user_code`` (RFC 8628 §3.2, §5.1, §6.1) from the CSPRNG, grouped for
    reading aloud: two groups of five, e.g. ``WDJBM-KHTXZ``."""
    raw = "".join(_random.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    half = USER_CODE_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}"


def normalize_user_code(value: str) -> str | None:
    """The canonical form of a typed user code: upper case, without dashes and spaces
    (RFC 8628 §6.1: compare case-insensitively, ignore punctuation). None when what is left
    cannot be a code we issued (wrong length or character): no lookup is needed for it."""
    code = value.translate(_USER_CODE_IGNORED).upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def user_code_digest(normalized: str) -> str:
    """The stored form of a user code: HMAC-SHA256 under a key derived from ``SECRET_KEY``.
    A user code has only 43 bits, so a plain SHA-256 would be reversed by trying them all;
    keyed, a copy of the database alone does not reveal the codes of pending devices (whoever
    knows one could claim that device's authorization for their own account)."""
    return salted_hmac("oauth_provider.device-user-code", normalized, algorithm="sha256").hexdigest()

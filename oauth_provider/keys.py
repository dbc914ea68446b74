"""Signing keys: creation, rotation, encryption at rest, and the published JWKS.

Keys live in the database (:class:`~oauth_provider.models.SigningKey`), so every worker
process sees the same set. Their life (OIDC Core §10.1.1, RFC 7517):

``next``     created by a rotation and already published in the JWKS, not yet signing, so
             relying parties that cache the JWKS learn it before the first token it signs
             (``SIGNING_KEY_PREPUBLICATION`` seconds);
``active``   signs new tokens (the newest key whose ``not_before`` has passed);
``retired``  signs nothing, still published until every token it signed has expired.

The state follows from timestamps, so no job has to flip it. Private keys are encrypted with
Fernet under ``KEY_ENCRYPTION_KEYS`` (default: derived from ``SECRET_KEY`` and
``SECRET_KEY_FALLBACKS``); the first key encrypts, all of them decrypt, so the encryption
key can rotate too. Loaded keys are kept in process memory for ``SIGNING_KEY_CACHE_SECONDS``
so signing and verifying cost no query; an unknown ``kid`` reloads at most once a second.

A rotation or withdrawal must reach every worker at once, not a cache period later: each one
bumps a key-set *generation* in Django's ``default`` cache (shared by every worker in
production: Redis, Memcached), and each process compares it with the generation it loaded at
most once a second (one cache read), reloading the key set when it changed. With a
per-process cache (a deploy check warns) only the TTL is left.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from . import profiles, secrets
from .conf import provider_settings
from .errors import TemporarilyUnavailable

ALGORITHMS = ("RS256", "ES256", "EdDSA")
_MISS_RELOAD_INTERVAL = 1.0
#: how often a process asks the shared cache whether the key set changed (seconds)
GENERATION_CHECK_INTERVAL = 1.0
#: the cache alias and key of the key-set generation
GENERATION_CACHE = "default"
GENERATION_KEY = "oauth_provider:signing-keys:generation"
#: "never" for the key cache's monotonic timestamps: that clock counts from the machine's boot,
#: so a worker started at boot reads a few seconds on it, and 0.0 would mean "just now"
_NEVER = float("-inf")
logger = logging.getLogger("oauth_provider.keys")


class NoSigningKey(TemporarilyUnavailable, ImproperlyConfigured):
    """No key signs now and DEBUG is off: ``manage.py rotatekeys`` never ran (or every key
    was deleted). A protocol error, ``temporarily_unavailable`` (RFC 6749 §4.1.2.1; 503 on the
    JSON channel), so endpoints answer it rather than crash; still an ImproperlyConfigured."""

    default_description = "The server cannot sign tokens yet: its operator must run `manage.py rotatekeys`."


@dataclass(frozen=True)
class LoadedKey:
    """A key ready to use: the private key signs, the public key verifies."""

    kid: str
    algorithm: str
    public: Any
    private: Any
    not_before: datetime
    retired_at: datetime | None
    public_jwk: dict[str, Any]

    def signs_at(self, when: datetime) -> bool:
        return self.not_before <= when and (self.retired_at is None or self.retired_at > when)


# -- encryption at rest ----------------------------------------------------------------------
def _fernet() -> MultiFernet:
    secrets_list = list(provider_settings.KEY_ENCRYPTION_KEYS) or [
        settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS
    ]
    if not secrets_list or not secrets_list[0]:
        raise ImproperlyConfigured("No key to encrypt signing keys with: set SECRET_KEY or KEY_ENCRYPTION_KEYS.")
    derived = [
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"oauth_provider.signing-key:" + str(s).encode()).digest()))
        for s in secrets_list
    ]
    return MultiFernet(derived)


def encrypt_private_key(pem: bytes) -> str:
    return _fernet().encrypt(pem).decode("ascii")


def decrypt_private_key(token: str) -> bytes:
    try:
        return _fernet().decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A signing key cannot be decrypted: SECRET_KEY / KEY_ENCRYPTION_KEYS changed without keeping "
            "the old value as a fallback."
        ) from exc


# -- key material ----------------------------------------------------------------------------
def generate_private_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"Unsupported signing algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}.")


def public_jwk(public_key: Any, algorithm: str) -> dict[str, Any]:
    """The public JWK with ``kid`` (its RFC 7638 thumbprint), ``use`` and ``alg``."""
    members: tuple[str, ...]
    if algorithm == "RS256":
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        members = ("e", "kty", "n")
    elif algorithm == "ES256":
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        members = ("crv", "kty", "x", "y")
    else:
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        members = ("crv", "kty", "x")
    required = {m: jwk[m] for m in members}
    return {**required, "kid": thumbprint(required), "use": "sig", "alg": algorithm}


#: RFC 7638 §3.2: the members of each key type that enter its thumbprint
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding: the
    required members only, sorted, no whitespace (§3). jwcrypto's ``JWK.thumbprint()``, which
    django-oauth-toolkit uses as its ``kid``, computes the same value."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _load(row: Any) -> LoadedKey:
    private: Any = serialization.load_pem_private_key(decrypt_private_key(row.private_key), password=None)
    public = private.public_key()
    return LoadedKey(row.kid, row.algorithm, public, private, row.not_before, row.retired_at, dict(row.public_jwk))


# -- rotation --------------------------------------------------------------------------------
def create_key(algorithm: str | None = None, *, prepublish: bool = True, compromised: bool = False) -> Any:
    """Create a key and retire the current signing key(s) when it starts signing.

    With ``prepublish`` and a key already signing, the new key is published now and signs
    after ``SIGNING_KEY_PREPUBLICATION`` seconds; otherwise it signs at once. With
    ``compromised`` the new key signs at once and every other key is withdrawn at once: gone
    from the JWKS and refused for verification, so whatever it signed (genuine or forged) stops
    being accepted. Users' ID tokens and JWT access tokens signed by it die with it."""
    algorithm = algorithm or provider_settings.SIGNING_KEY_ALGORITHM
    return add_key(generate_private_key(algorithm), algorithm, prepublish=prepublish, compromised=compromised)


def add_key(
    private: Any, algorithm: str, *, kid: str | None = None, prepublish: bool, compromised: bool
) -> Any:
    """Store ``private`` (a ``cryptography`` private key for ``algorithm``) as a signing key,
    encrypted at rest, under the rules of :func:`create_key`. ``kid`` defaults to the RFC 7638
    thumbprint of the public key (see :func:`public_jwk`); an imported key may keep the one
    relying parties know (:mod:`oauth_provider.key_import`)."""
    from .models import SigningKey

    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = public_jwk(private.public_key(), algorithm)
    if kid is not None:
        jwk["kid"] = kid
    now = secrets.now()
    with transaction.atomic():
        # Two rotations at once (two deploy hooks) take turns: each locks the keys there are,
        # so the second sees the first's new key and retires it, instead of both staying current
        # (an outside race review; PostgreSQL's READ COMMITTED showed neither the other's key).
        list(SigningKey.objects.select_for_update().values_list("pk"))
        current = SigningKey.objects.signing(now)
        start = now
        if prepublish and not compromised and current.exists():
            start = now + timedelta(seconds=provider_settings.SIGNING_KEY_PREPUBLICATION)
        key = SigningKey.objects.create(
            kid=jwk["kid"], algorithm=algorithm, private_key=encrypt_private_key(pem), public_jwk=jwk,
            created_at=now, not_before=start,
        )
        # The new key supersedes every other from its start, scheduled ones included.
        # A withdrawn key is dated back past the publication window, so it is unpublished now.
        retire_at = now - publication_window() - timedelta(seconds=1) if compromised else start
        SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=retire_at)).exclude(
            pk=key.pk
        ).update(retired_at=retire_at)
        # Now, and again once committed: a worker reloading between the two reads the old
        # rows but sees the second bump a second later.
        transaction.on_commit(announce_change)
    announce_change()
    clear_cache()
    return key


def publication_window() -> timedelta:
    """How long a retired key stays published (the rule lives with the model:
    :func:`oauth_provider.models.signing.publication_window`)."""
    from .models.signing import publication_window as window

    return window()


# -- the key-set generation in the shared cache ----------------------------------------------
def _generation() -> str | None:
    """The key-set generation every worker sees, or None (never announced, evicted, or the
    cache is unreachable: then the TTL alone applies)."""
    from django.core.cache import caches

    try:
        value = caches[GENERATION_CACHE].get(GENERATION_KEY)
    except Exception:  # noqa: BLE001 - a cache outage must not stop signing or verifying
        logger.warning("Cannot read the signing-key generation from the %r cache.", GENERATION_CACHE,
                       exc_info=True)
        return None
    return value if isinstance(value, str) else None


def announce_change() -> None:
    """Tell every worker that the key set changed (a rotation, a withdrawal, a deletion):
    each reloads it within :data:`GENERATION_CHECK_INTERVAL` seconds."""
    from django.core.cache import caches

    try:
        caches[GENERATION_CACHE].set(GENERATION_KEY, secrets.generate_token(), timeout=None)
    except Exception:  # noqa: BLE001
        logger.warning("Cannot announce the new signing keys through the %r cache: other workers see them "
                       "within SIGNING_KEY_CACHE_SECONDS.", GENERATION_CACHE, exc_info=True)


# -- the in-process cache --------------------------------------------------------------------
class _KeyCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded_at = _NEVER
        self.last_miss_reload = _NEVER
        self.keys: dict[str, LoadedKey] = {}
        #: the generation the loaded keys belong to, and when it was last compared
        self.generation: str | None = None
        self.generation_checked_at = _NEVER

    def get(self, force: bool = False) -> dict[str, LoadedKey]:
        now = time.monotonic()
        if force or now - self.loaded_at > provider_settings.SIGNING_KEY_CACHE_SECONDS:
            self.reload()
        elif now - self.generation_checked_at >= GENERATION_CHECK_INTERVAL:
            self.generation_checked_at = now
            # no key yet: the first one (``rotatekeys --now`` in another process, announced to
            # a cache this one does not share) is looked for once a second, not once a period
            if not self.keys or _generation() != self.generation:
                self.reload()
        return self.keys

    def reload(self) -> None:
        from .models import SigningKey

        # read before the rows: a change announced meanwhile is seen at the next check
        generation = _generation()
        rows = list(SigningKey.objects.published(secrets.now()))
        previous = self.keys
        loaded = {}
        for row in rows:
            old = previous.get(row.kid)
            # kept only while it is the same key: a kid deleted and imported again (rotatekeys
            # --import --kid=...) names other material, which every worker must load
            if (old is not None and old.private is not None and old.retired_at == row.retired_at
                    and old.not_before == row.not_before and old.public_jwk == row.public_jwk):
                loaded[row.kid] = old
            else:
                loaded[row.kid] = _load(row)
        with self.lock:
            self.keys = loaded
            self.loaded_at = self.generation_checked_at = time.monotonic()
            self.generation = generation


_cache = _KeyCache()


def clear_cache() -> None:
    """Forget the keys loaded in this process (the next use reloads them)."""
    _cache.loaded_at = _cache.generation_checked_at = _NEVER
    _cache.keys = {}
    _cache.generation = None


def _signs(key: LoadedKey, now: datetime) -> bool:
    """Does ``key`` sign now? Under a profile that narrows the algorithms (FAPI 2.0 §5.4.1:
    PS256, ES256, EdDSA), a key of another algorithm signs nothing (check W133 names it)."""
    return key.signs_at(now) and key.algorithm in profiles.allowed_algorithms((key.algorithm,))


def signing_key() -> LoadedKey:
    """The key that signs now. In DEBUG a first key is created when none exists."""
    now = secrets.now()
    candidates = [k for k in _cache.get().values() if _signs(k, now)]
    if not candidates:
        candidates = [k for k in _cache.get(force=True).values() if _signs(k, now)]
    if not candidates:
        if not settings.DEBUG:
            logger.error("No signing key signs now, so no ID token or JWT access token can be issued: "
                         "run `python manage.py rotatekeys` once.")
            raise NoSigningKey()
        create_key(prepublish=False)
        now = secrets.now()
        candidates = [k for k in _cache.get(force=True).values() if _signs(k, now)]
    return max(candidates, key=lambda k: k.not_before)


def verification_key(kid: str) -> LoadedKey | None:
    """The published key with this ``kid``, or None. An unknown kid reloads the set at most
    once per second, so a flood of made-up kids cannot flood the database."""
    key = _cache.get().get(kid)
    if key is None and time.monotonic() - _cache.last_miss_reload > _MISS_RELOAD_INTERVAL:
        _cache.last_miss_reload = time.monotonic()
        key = _cache.get(force=True).get(kid)
    return key


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The public JWK Set: next, active and still-published retired keys (RFC 7517 §5)."""
    return {"keys": [k.public_jwk for k in sorted(_cache.get().values(), key=lambda k: k.not_before)]}

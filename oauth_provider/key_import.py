"""Importing a signing key from a PEM file (``manage.py rotatekeys --import FILE``).

A host moving from another provider (django-oauth-toolkit's ``OIDC_RSA_PRIVATE_KEY``, a
Keycloak or Auth0 export) brings its private key, so the ID tokens and JWT access tokens in
circulation keep verifying and relying parties that cached the JWKS keep working.

Accepted: one unencrypted or password-protected PEM private key, in PKCS#1 (``RSA PRIVATE
KEY``), SEC1 (``EC PRIVATE KEY``) or PKCS#8 (``PRIVATE KEY`` / ``ENCRYPTED PRIVATE KEY``)
form, of one of the kinds we sign with (RFC 7518 §3.1, RFC 8037 §3.1):

* RSA of at least 2,048 bits (RFC 7518 §3.3; FAPI 2.0 §5.4.1) with a public exponent of at
  least 65,537 (NIST SP 800-56B §6.2.1) -> ``RS256``;
* EC on P-256 -> ``ES256`` (RFC 7518 §3.4: ES256 is P-256 and SHA-256 only);
* Ed25519 -> ``EdDSA`` (RFC 8037 §3.1).

Refused, each with its own message: a public key or certificate (no private half to sign
with), an encrypted key without its password or with a wrong one, a weaker RSA key, another
curve (P-384, P-521, secp256k1, Ed448), DSA and the other kinds, and a file holding more than
one PEM block (which key was meant would be a guess).

The ``kid`` is the RFC 7638 thumbprint of the public key, as for generated keys; this is also
what django-oauth-toolkit publishes and puts in its tokens (jwcrypto's ``JWK.thumbprint()``,
SHA-256), so a key imported from it keeps its ``kid`` without being told. ``kid=`` keeps any
other value relying parties know. The same key material is never stored twice.
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import keys

#: A PEM file is small: a 16,384-bit RSA key is under 13 KB.
MAX_PEM_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
MIN_RSA_EXPONENT = 65537
#: what a ``kid`` may hold: RFC 3986 unreserved characters and the base64 ones (RFC 7515
#: §4.1.4 allows any string; these keep it safe in headers, URLs and logs)
KID = re.compile(r"[A-Za-z0-9._~+/=:-]{1,128}")
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


class KeyImportError(ValueError):
    """The file cannot become a signing key; the message says why, in words an operator can
    act on (it never contains key material)."""


def _pem_label(pem: bytes) -> str:
    labels = _BLOCK.findall(pem)
    if not labels:
        raise KeyImportError("The file is not a PEM key: no '-----BEGIN ...-----' line.")
    if len(labels) > 1:
        raise KeyImportError(
            f"The file holds {len(labels)} PEM blocks; put only the private key to import in it."
        )
    label: str = labels[0].decode("ascii")
    if "PUBLIC KEY" in label or label in {"CERTIFICATE", "TRUSTED CERTIFICATE"}:
        raise KeyImportError(
            f"The file holds a {label.lower()}, which cannot sign: import the private key."
        )
    if "PRIVATE KEY" not in label:
        raise KeyImportError(f"The file holds a {label!r} PEM block, not a private key.")
    return label


def _is_encrypted(pem: bytes, label: str) -> bool:
    # PKCS#8 encryption shows in the label, the traditional OpenSSL one in a Proc-Type header
    return label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in pem


def load_private_key(pem: bytes, password: bytes | None = None) -> Any:
    """Parse ``pem`` into a ``cryptography`` private key. Raises :class:`KeyImportError` for
    anything that is not one private key, for an encrypted key without ``password`` or with a
    wrong one, and for a ``password`` given with an unencrypted key (a sign of the wrong file)."""
    if len(pem) > MAX_PEM_BYTES:
        raise KeyImportError(f"The file is larger than {MAX_PEM_BYTES // 1024} KB: not a PEM private key.")
    label = _pem_label(pem)
    encrypted = _is_encrypted(pem, label)
    if encrypted and not password:
        raise KeyImportError(
            "The private key is encrypted: give its password with --password-env VAR or --password-prompt."
        )
    if password and not encrypted:
        raise KeyImportError("A password was given but the private key is not encrypted.")
    try:
        return serialization.load_pem_private_key(pem, password=password if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise KeyImportError("The private key cannot be decrypted: wrong password?") from None
        raise KeyImportError(f"The private key cannot be read ({exc}).") from None
    except TypeError:
        raise KeyImportError("The private key cannot be read with or without a password.") from None
    except Exception:  # noqa: BLE001 - cryptography raises UnsupportedAlgorithm for DSA variants etc.
        raise KeyImportError("The private key is of a kind that cannot be read.") from None


def algorithm_for(private: Any) -> str:
    """The JWS algorithm ``private`` signs with, or :class:`KeyImportError` when it is not a
    kind (or size, or curve) we sign with."""
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < MIN_RSA_BITS:
            raise KeyImportError(
                f"The RSA key has {private.key_size} bits; at least {MIN_RSA_BITS} are required (RFC 7518 §3.3)."
            )
        if private.public_key().public_numbers().e < MIN_RSA_EXPONENT:
            raise KeyImportError(f"The RSA key's public exponent is below {MIN_RSA_EXPONENT}.")
        return "RS256"
    if isinstance(private, ec.EllipticCurvePrivateKey):
        if not isinstance(private.curve, ec.SECP256R1):
            raise KeyImportError(
                f"The EC key is on {private.curve.name}; only P-256 (secp256r1, for ES256) is supported."
            )
        return "ES256"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise KeyImportError(
        f"A {type(private).__name__.removeprefix('_')} cannot sign our tokens: import an RSA (>= 2048 bits), "
        "EC P-256 or Ed25519 key."
    )


def check_kid(kid: str) -> str:
    """``kid`` if it is acceptable as a key ID, else :class:`KeyImportError`."""
    if not KID.fullmatch(kid):
        raise KeyImportError(
            "A kid is 1 to 128 characters among letters, digits and . _ ~ + / = : -"
        )
    return kid


def import_key(
    pem: bytes, *, password: bytes | None = None, kid: str | None = None, prepublish: bool = True,
    compromised: bool = False,
) -> Any:
    """Store the private key in ``pem`` as a signing key and return its
    :class:`~oauth_provider.models.SigningKey` row. Publication and activation follow
    :func:`oauth_provider.keys.create_key`: published at once, signing after
    ``SIGNING_KEY_PREPUBLICATION`` when a key signs already (``prepublish=False``: at once).
    Raises :class:`KeyImportError` for a refused key, a taken ``kid`` or a key already stored."""
    from .models import SigningKey

    private = load_private_key(pem, password)
    algorithm = algorithm_for(private)
    own = keys.public_jwk(private.public_key(), algorithm)["kid"]
    kid = own if kid is None else check_kid(kid)
    for row in SigningKey.objects.only("kid", "public_jwk"):
        if row.kid == kid:
            raise KeyImportError(f"A signing key with kid {kid!r} exists already.")
        if keys.thumbprint(row.public_jwk) == own:
            raise KeyImportError(f"This key is stored already, with kid {row.kid!r}.")
    return keys.add_key(private, algorithm, kid=kid, prepublish=prepublish, compromised=compromised)


__all__ = ["KeyImportError", "algorithm_for", "check_kid", "import_key", "load_private_key"]

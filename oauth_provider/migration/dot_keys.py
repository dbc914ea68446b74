"""django-oauth-toolkit's signing keys as ours, with the ``kid`` DOT publishes.

DOT signs ID tokens with ``OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]`` and publishes it, and each
of ``OIDC_RSA_PRIVATE_KEYS_INACTIVE``, in its JWKS under ``kid`` = jwcrypto's
``JWK.thumbprint()``: the RFC 7638 SHA-256 thumbprint, which is also the ``kid`` this library
gives a key (:func:`oauth_provider.keys.public_jwk`). Imported, the active key signs here at
once (relying parties already trust it: OIDC Core §10.1.1 asks for no pre-publication of a key
they know) and the inactive ones stay published while what they signed may live, so cached
JWKS and ID tokens in circulation keep verifying.
"""

from __future__ import annotations

from typing import Any

from .. import key_import, keys
from ..models import SigningKey
from .report import IMPORTED, PRESENT, Report

KIND = "signing key"


def kid_of(pem: str) -> str:
    """The ``kid`` DOT publishes for ``pem`` (its RFC 7638 thumbprint, as ours); ValueError
    when the text is not a private key of a kind we sign with."""
    private = key_import.load_private_key(pem.encode())
    return str(keys.public_jwk(private.public_key(), key_import.algorithm_for(private))["kid"])


def store_key(pem: str) -> Any:
    """Store ``pem`` as a signing key that signs at once; returns the row. The one call that
    writes a key: ``rotatekeys --import``'s (:func:`oauth_provider.key_import.import_key`), so a
    key from DOT follows the same rules (RSA of 2,048 bits or more, encryption at rest,
    publication) whichever way it came. Raises :class:`~oauth_provider.key_import.KeyImportError`
    (a ValueError) with a reason an operator can act on."""
    return key_import.import_key(pem.encode(), prepublish=False)


def check_issuer(dot_settings: Any, report: Report) -> None:
    """Relying parties compare an ID token's ``iss`` with the issuer they know (OIDC Core
    §3.1.3.7): when DOT's ``OIDC_ISS_ENDPOINT`` differs from ``ISSUER``, the ID tokens signed
    here, with the same key, are still refused. Said in the report."""
    from ..conf import provider_settings

    dot_issuer = (getattr(dot_settings, "OIDC_ISS_ENDPOINT", "") or "").rstrip("/")
    ours = (provider_settings.ISSUER or "").rstrip("/")
    if getattr(dot_settings, "OIDC_ENABLED", False) and dot_issuer and dot_issuer != ours:
        report.note("issuer", ours or "(ISSUER not set)",
                    f"differs from DOT's OIDC_ISS_ENDPOINT {dot_issuer}: relying parties refuse ID tokens whose iss "
                    "they do not know (OIDC Core §3.1.3.7); set ISSUER to it, or have them change it")


def import_keys(dot_settings: Any, report: Report, *, dry_run: bool) -> None:
    """Import DOT's inactive keys, then its active one (which retires them as it starts
    signing, so they stay published for the lifetime of what they signed)."""
    check_issuer(dot_settings, report)
    active = (getattr(dot_settings, "OIDC_RSA_PRIVATE_KEY", "") or "").strip()
    inactive = [pem.strip() for pem in getattr(dot_settings, "OIDC_RSA_PRIVATE_KEYS_INACTIVE", []) or [] if pem]
    if not active:
        report.note(KIND, "OIDC_RSA_PRIVATE_KEY", "DOT has no RSA key: create one here with "
                    "`manage.py rotatekeys --now` if you use OpenID Connect or JWT access tokens")
        return
    stored = set(SigningKey.objects.values_list("kid", flat=True))
    try:
        active_kid = kid_of(active)
    except ValueError as exc:
        report.refuse(KIND, "OIDC_RSA_PRIVATE_KEY", str(exc))
        return
    if active_kid in stored:
        report.count(KIND, PRESENT, 1 + len(inactive))
        return
    for position, pem in enumerate([*inactive, active]):
        name = "OIDC_RSA_PRIVATE_KEY" if pem is active else f"OIDC_RSA_PRIVATE_KEYS_INACTIVE[{position}]"
        try:
            kid = kid_of(pem)
        except ValueError as exc:
            report.refuse(KIND, name, str(exc))
            continue
        if kid in stored:
            report.count(KIND, PRESENT)
            continue
        if dry_run:
            report.count(KIND, IMPORTED)
            report.note(KIND, name, f"kid {kid}" + (" signs at once" if pem is active else " stays published"))
            continue
        try:
            row = store_key(pem)
        except ValueError as exc:
            report.refuse(KIND, name, str(exc))
            continue
        stored.add(row.kid)
        report.count(KIND, IMPORTED)
        report.note(KIND, name, f"kid {row.kid}" + (" signs from now on" if pem is active else " stays published"))

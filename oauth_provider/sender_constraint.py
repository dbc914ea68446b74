"""DPoP-bound access tokens at a protected resource (RFC 9449 §6-§7, §9): the rules
:mod:`oauth_provider.resource` applies once it has the token, and the challenges it answers
with. The proof itself (its signature, ``typ``, ``alg``, ``jwk``, ``htm``, ``htu``, ``iat``,
``ath``, ``jti`` replay and nonce) is :func:`oauth_provider.dpop.verify_proof`'s.

* **Which scheme for which token** (:func:`check_scheme`, §7.1-7.2): a token bound to a key
  is good only with the ``DPoP`` scheme, so a stolen one cannot be downgraded to a bearer
  token; the ``DPoP`` scheme only with a bound token (there is no key to match otherwise);
  with ``REQUIRE_DPOP`` no bearer token at all.
* **Where the proof must point** (:func:`htu`): the request's path on the origin of the
  resource's configured identifier, never on the ``Host`` header or the forwarded scheme.
* **Whose key** (:func:`proof_error`): the proof verifies, names this request, hashes this
  token in ``ath``, and its key's thumbprint is the token's ``jkt``.
* **The challenges** (:func:`challenges`): ``DPoP`` with ``algs`` (§7.1), beside ``Bearer``
  while bearer tokens are accepted (§7.2), the error in the challenge of the scheme the
  request used. A proof error answers 401 here (:func:`error_status`), not 400 as at the
  token endpoint; so does ``use_dpop_nonce``, whose nonce is the resource's own (§9).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.encoding import escape_uri_path

from . import dpop, jwt, secrets
from .conf import provider_settings
from .errors import InvalidDPoPProof, InvalidToken, OAuthError, UseDPoPNonce
from .issuer import get_issuer
from .responses import bearer_challenge, dpop_challenge


def bearer_accepted() -> bool:
    """Are bearer tokens good here at all? Not with ``REQUIRE_DPOP`` (RFC 9449 §7.2)."""
    return not provider_settings.REQUIRE_DPOP


def error_status(error: OAuthError) -> int:
    """The status ``error`` answers with at a resource: a DPoP proof error is 401 here (RFC 9449
    §7.1, §9), though 400 at the token endpoint; the others keep theirs (RFC 6750 §3.1)."""
    return 401 if isinstance(error, (InvalidDPoPProof, UseDPoPNonce)) else error.status


def challenges(
    error: OAuthError | None, *, by_dpop: bool, realm: str, scope: str | None, resource_metadata: str
) -> str:
    """The ``WWW-Authenticate`` value: ``Bearer`` (RFC 6750 §3) while bearer tokens are
    accepted and ``DPoP`` with ``algs`` (RFC 9449 §7.1), each with ``realm``, ``scope`` and
    ``resource_metadata`` (RFC 9728 §5.1). ``error`` goes in the DPoP challenge when the
    request used that scheme (``by_dpop``) or bearer tokens are refused, else in the Bearer one;
    the other challenge stays bare: it only says what else this resource takes. The challenge
    of the request's scheme comes first, as clients that read only the first expect (a DPoP
    client looks for ``DPoP`` there to retry with the resource's nonce; a bearer-only client
    for ``Bearer``)."""
    in_dpop = by_dpop or not bearer_accepted()
    found = dpop_challenge(
        error if in_dpop else None, algs=dpop.signing_algorithms(), realm=realm, scope=scope,
        resource_metadata=resource_metadata,
    )
    if not bearer_accepted():
        return found
    bearer = bearer_challenge(None if in_dpop else error, realm=realm, scope=scope, resource_metadata=resource_metadata)
    return f"{found}, {bearer}" if by_dpop else f"{bearer}, {found}"


def confirmation(claims: dict[str, Any]) -> str | None:
    """RFC 9449 §6.1 ``cnf.jkt`` of a JWT access token: the thumbprint it is bound to, None for
    a bearer token. A ``cnf`` this resource cannot check (another confirmation method, a
    malformed one) makes the token good for nobody rather than a bearer token. Raises
    :class:`InvalidToken`."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise InvalidToken("The access token is bound to a key in a way this resource cannot check.")
    return jkt


def check_scheme(jkt: str | None, *, by_dpop: bool) -> None:
    """RFC 9449 §7.1-7.2 for a token bound to ``jkt`` (None: unbound) sent with the DPoP scheme
    (``by_dpop``) or as a bearer token. Raises :class:`InvalidToken`."""
    if by_dpop and jkt is None:
        raise InvalidToken("The access token is not DPoP-bound: send it with the Bearer scheme.")
    if not by_dpop and jkt is not None:
        raise InvalidToken("The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof.")
    if not by_dpop and not bearer_accepted():
        raise InvalidToken("This resource accepts DPoP-bound access tokens only.")


@lru_cache(maxsize=64)
def _origin(url: str) -> str | None:
    """The origin of the http(s) URL ``url`` as RFC 3986 §6.2.2-6.2.3 normalise it (scheme and
    host in lower case, no default port), so that two spellings of one origin compare equal, as
    :func:`oauth_provider.dpop.verify_proof` compares ``htu``; None for anything else. Kept per
    process, as :func:`oauth_provider.dpop.normalise_uri` is: the configured identifiers and the
    issuer on every request, and a proof's claimed ``htu`` where a resource has two origins
    (attacker-chosen, so the cache is bounded: at most 64 URLs of at most a proof's size)."""
    normal = dpop.normalise_uri(url)
    if normal is None:
        return None
    parts = urlsplit(normal)
    return f"{parts.scheme}://{parts.netloc}"


def _claimed_origin(proof: str) -> str | None:
    """The origin of the proof's ``htu``, not yet verified: only to choose which of our own
    origins to check it against (:func:`oauth_provider.dpop.verify_proof` checks everything)."""
    try:
        claims = jwt.parse_json(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
    except (IndexError, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    claimed = claims.get("htu") if isinstance(claims, dict) else None
    return _origin(claimed) if isinstance(claimed, str) else None


def htu(request: HttpRequest, identifier: str, *, default: bool, proof: str | None = None) -> str:
    """The URL a DPoP proof for ``request`` must name (RFC 9449 §4.3 item 9, §7.1): the
    request's path (percent-encoded; no query, no fragment) on the origin of the resource
    ``identifier``. The default resource (``default``) is also reached on the issuer's origin,
    where the provider's own endpoints (UserInfo) live; ``proof``'s claimed origin chooses
    between the two. An identifier that is no http(s) URL (a URN) uses the issuer's origin.

    Never the ``Host`` header nor the scheme a proxy forwarded: the configured identifiers say
    where this resource is, so neither a forged ``Host`` nor a proxy that terminates TLS can
    make a proof made for another URL good here, nor a good one fail. The path is the one
    Django routed (``SCRIPT_NAME`` included)."""
    origins = [origin for origin in (_origin(identifier),) if origin]
    if default or not origins:
        issuer = _origin(get_issuer(request))
        if issuer and issuer not in origins:
            origins.append(issuer)
    claimed = _claimed_origin(proof) if proof and len(origins) > 1 else None
    chosen = next((origin for origin in origins if origin == claimed), origins[0])
    return chosen + escape_uri_path(request.path)


def proof_error(request: HttpRequest, proof: str | None, url: str, raw: str, jkt: str) -> OAuthError | None:
    """What is wrong with ``proof`` for this request to ``url`` with the access token ``raw``
    bound to ``jkt`` (RFC 9449 §7.1), or None when it proves possession. Checking it spends
    its ``jti``: call once per request and URL."""
    if proof is None:
        return InvalidDPoPProof("A DPoP-bound access token needs a DPoP proof (the DPoP header).")
    try:
        checked = dpop.verify_proof(proof, method=request.method or "GET", url=url, access_token=raw, server="resource")
    except (InvalidDPoPProof, UseDPoPNonce) as exc:
        return exc
    if not secrets.constant_time_equals(checked.jkt, jkt):
        return InvalidToken("Invalid DPoP key binding: the proof is signed by another key than the token's.")
    return None

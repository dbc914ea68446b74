"""The consumer's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 §2.6-2.8).

When a user logs out at Example (or revokes this site on Example's connected-apps page), Example
POSTs a signed logout token here, server to server. This view validates it as §2.6 requires:

1. the signature, with a key from Example's JWKS (``jwks_uri`` of the discovery document; fetched
   again once when the ``kid`` is unknown, after a key rotation), an asymmetric algorithm only;
2. the header ``typ`` is ``logout+jwt`` (so an ID token cannot be replayed here, §4.1);
3. ``iss`` is Example's issuer, ``aud`` names this site's client_id, ``iat`` is not in the future,
   ``exp`` has not passed;
4. ``events`` holds ``http://schemas.openid.net/event/backchannel-logout`` with an object value;
5. ``sub`` or ``sid`` is present, and ``nonce`` is not;
6. ``jti`` has not been seen before (kept in the cache until the token expires).

Any failure is a 400 and no session changes. A valid token ends every session of this site that
came from that login (``sid``), or from that user (``sub``) when there is no ``sid``: the session
rows are deleted, so the next page the user opens here shows "Log in with Example". This demo scans
its sessions for the ID token claims; a busy site keeps an index from ``sid`` to session key.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from .oidc import SESSION_CLAIMS, example

logger = logging.getLogger("consumer.backchannel")
EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
LEEWAY = 60


class InvalidLogoutToken(Exception):
    """The logout token fails one of the §2.6 checks; the message says which."""


def _decode(token: str) -> dict[str, Any]:
    client = example()
    for force in (False, True):  # a kid we do not know yet: the provider rotated its keys
        keys = KeySet.import_key_set(client.fetch_jwk_set(force=force))
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            if force:
                raise InvalidLogoutToken("signature: unknown key") from None
            continue
        except (JoseError, ValueError) as exc:
            raise InvalidLogoutToken(f"signature: {exc.__class__.__name__}") from None
        if str(decoded.header.get("typ", "")).lower() not in ("logout+jwt", "application/logout+jwt"):
            raise InvalidLogoutToken("typ is not logout+jwt")
        return dict(decoded.claims)
    raise InvalidLogoutToken("signature")  # pragma: no cover - the loop returns or raises


def validate(token: str) -> dict[str, Any]:
    """The claims of a valid logout token; raises :class:`InvalidLogoutToken`."""
    claims = _decode(token)
    now = time.time()
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    events = claims.get("events")
    checks = (
        (claims.get("iss") == settings.PROVIDER_ISSUER, "iss"),
        (example().client_id in audiences, "aud"),
        (isinstance(claims.get("iat"), (int, float)) and claims["iat"] <= now + LEEWAY, "iat"),
        (isinstance(claims.get("exp"), (int, float)) and claims["exp"] > now - LEEWAY, "exp"),
        (isinstance(events, dict) and isinstance(events.get(EVENT), dict), "events"),
        (bool(claims.get("sub") or claims.get("sid")), "sub or sid"),
        ("nonce" not in claims, "nonce present"),
        (isinstance(claims.get("jti"), str) and claims["jti"], "jti"),
    )
    for ok, what in checks:
        if not ok:
            raise InvalidLogoutToken(what)
    lifetime = max(int(claims["exp"] - now) + LEEWAY, 1)
    if not cache.add(f"consumer.logout-jti:{claims['jti']}", True, timeout=lifetime):
        raise InvalidLogoutToken("jti already used")
    return claims


def end_sessions(claims: dict[str, Any]) -> int:
    """Delete this site's sessions of that login (``sid``) or that user (``sub``)."""
    sid, sub = claims.get("sid"), claims.get("sub")
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()):
        held = session.get_decoded().get(SESSION_CLAIMS) or {}
        if held.get("iss") != claims["iss"]:
            continue
        if (sid and held.get("sid") == sid) or (not sid and sub and held.get("sub") == sub):
            session.delete()
            ended += 1
    return ended


@csrf_exempt  # a server-to-server POST, authenticated by the token's signature
@require_POST
def backchannel_logout(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("logout_token", "")
    try:
        claims = validate(token)
    except InvalidLogoutToken as exc:
        logger.warning("Refused a logout token: %s", exc)
        response = HttpResponse(f'{{"error": "invalid_request", "error_description": "{exc}"}}',
                                status=400, content_type="application/json")
    else:
        ended = end_sessions(claims)
        logger.info("Back-channel logout: %d session(s) ended", ended)
        response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response

"""The consumer's side of "Log in with Example": an Authlib Django client, and calls to the
notes API with the access token it got.

Authlib reads the provider's OpenID Connect discovery document, sends the user to the
authorization endpoint with PKCE (S256), a ``state`` and a ``nonce``, exchanges the code
with the client secret (HTTP Basic), and verifies the ID token (signature from the JWKS,
``iss``, ``aud``, ``exp``, ``nonce``). This module adds what a real relying party adds: a
refresh when the API says the access token is no longer good, and forgetting the tokens
when the provider says the refresh token is dead too (the user revoked the app). With DPoP
(:mod:`consumer.dpop`) every token request and API call also carries a proof signed with the
login's key, and the API is called with ``Authorization: DPoP``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.http import HttpRequest

from . import dpop

TIMEOUT = 10
SESSION_TOKEN = "token"
SESSION_CLAIMS = "claims"


class NotConfigured(Exception):
    """The client id and secret are unknown: seed_demo has not run."""


class AccessRevoked(Exception):
    """The provider refuses this site's tokens, access and refresh: the user must log in again."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class ApiAnswer:
    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def client_credentials(path: Path, name: str) -> tuple[str, str]:
    """The client id and secret ``seed_demo`` stored for ``name``; empty strings if none."""
    try:
        entry = json.loads(path.read_text()).get(name) or {}
    except (OSError, ValueError, AttributeError):
        return "", ""
    return str(entry.get("client_id") or ""), str(entry.get("client_secret") or "")


@lru_cache(maxsize=4)
def _registry(client_id: str, client_secret: str) -> OAuth:
    # Cached per credentials: a re-seeded secret gets a fresh client, and the discovery
    # document is fetched once per client rather than on every request.
    oauth = OAuth()
    oauth.register(
        "example",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=settings.PROVIDER_ISSUER + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.SCOPE, "code_challenge_method": "S256", "timeout": TIMEOUT},
    )
    return oauth


def example() -> Any:
    """The Authlib client of the example provider."""
    client_id, client_secret = settings.CLIENT_ID, settings.CLIENT_SECRET
    if not (client_id and client_secret):
        client_id, client_secret = client_credentials(settings.CREDENTIALS_FILE, settings.CLIENT_NAME)
    if not (client_id and client_secret):
        raise NotConfigured(f"No credentials for {settings.CLIENT_NAME!r} in {settings.CREDENTIALS_FILE}")
    return _registry(client_id, client_secret).example


def logged_in(request: HttpRequest) -> bool:
    return SESSION_TOKEN in request.session


def remember(request: HttpRequest, token: dict[str, Any]) -> None:
    """Keep the tokens (server side: the session lives in this site's database) and the
    verified ID token claims. A new session key on login stops session fixation."""
    claims = dict(token.pop("userinfo", None) or {})
    request.session.cycle_key()
    request.session[SESSION_TOKEN] = dict(token)
    request.session[SESSION_CLAIMS] = claims


def forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_TOKEN, None)
    request.session.pop(SESSION_CLAIMS, None)
    request.session.pop(dpop.SESSION_KEY, None)


def dpop_key(request: HttpRequest) -> dict[str, Any] | None:
    """The login's DPoP key, when the user asked for sender-constrained tokens."""
    key: dict[str, Any] | None = request.session.get(dpop.SESSION_KEY)
    return key


def token_request_headers(request: HttpRequest) -> dict[str, str]:
    """The headers of a request to Example's token endpoint: a DPoP proof for it (RFC 9449 §5)
    when this login uses DPoP, so the tokens come back bound to the key."""
    key = dpop_key(request)
    if key is None:
        return {}
    endpoint = example().load_server_metadata()["token_endpoint"]
    return {"DPoP": dpop.proof(key, "POST", endpoint)}


def call_api(request: HttpRequest, method: str, path: str, payload: dict[str, Any] | None = None) -> ApiAnswer:
    """``method`` the notes API at ``path`` with the user's access token (RFC 6750 §2.1).

    On 401 it refreshes once (the refresh token rotates: the new one replaces the old) and
    retries. If the refresh is refused, the grant is gone: the tokens are forgotten and
    :class:`AccessRevoked` says why."""
    token = request.session[SESSION_TOKEN]
    answer = _send(method, path, token, payload, dpop_key(request))
    if answer.status != 401:
        return answer
    if not token.get("refresh_token"):
        forget(request)
        raise AccessRevoked(_error_of(answer))
    try:
        fresh = example().fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"],
                                             headers=token_request_headers(request))
    except OAuthError as exc:
        forget(request)
        raise AccessRevoked(exc.error or "invalid_grant") from None
    # a refresh answer may omit what did not change (OIDC Core §12.2: the id_token)
    request.session[SESSION_TOKEN] = {**token, **dict(fresh)}
    answer = _send(method, path, request.session[SESSION_TOKEN], payload, dpop_key(request))
    if answer.status == 401:
        forget(request)
        raise AccessRevoked(_error_of(answer))
    return answer


def _send(method: str, path: str, token: dict[str, Any], payload: dict[str, Any] | None,
          key: dict[str, Any] | None = None) -> ApiAnswer:
    url = settings.PROVIDER_API + path
    response = _request(method, url, token, payload, key)
    if key is not None and response.status_code == 401 and response.headers.get("DPoP-Nonce") and (
        'error="use_dpop_nonce"' in response.headers.get("WWW-Authenticate", "")
    ):  # RFC 9449 §9: the API wants its nonce in the proof; retry once with it
        response = _request(method, url, token, payload, key, nonce=response.headers["DPoP-Nonce"])
    try:
        data = response.json()
    except ValueError:
        data = {"detail": response.text[:200]}
    if response.status_code >= 400 and "WWW-Authenticate" in response.headers:
        data = {"www_authenticate": response.headers["WWW-Authenticate"], **(data if isinstance(data, dict) else {})}
    return ApiAnswer(response.status_code, data)


def _request(method: str, url: str, token: dict[str, Any], payload: dict[str, Any] | None,
             key: dict[str, Any] | None, nonce: str | None = None) -> requests.Response:
    """One call: ``Authorization: Bearer``, or for a DPoP-bound token ``Authorization: DPoP``
    with a fresh proof for this method and URL (RFC 9449 §7.1)."""
    access_token = token["access_token"]
    headers = {"Accept": "application/json"}
    if key is not None and str(token.get("token_type", "")).lower() == "dpop":
        headers["Authorization"] = f"DPoP {access_token}"
        headers["DPoP"] = dpop.proof(key, method, url, access_token=access_token, nonce=nonce)
    else:
        headers["Authorization"] = f"Bearer {access_token}"
    return requests.request(method, url, json=payload, timeout=TIMEOUT, headers=headers)


def _error_of(answer: ApiAnswer) -> str:
    challenge = answer.data.get("www_authenticate", "") if isinstance(answer.data, dict) else ""
    return "invalid_token" if 'error="invalid_token"' in challenge else f"HTTP {answer.status}"

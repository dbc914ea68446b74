"""Helpers shared by the resource-server tests: minting tokens straight into the database,
and reading an RFC 6750 §3 Bearer challenge completely."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.http import HttpResponse

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, RefreshToken
from tests.support.factories import AccessTokenFactory, AuthorizationFactory, RefreshTokenFactory
from tests.support.settings import oauth_settings as provider_settings  # noqa: F401  (the one helper)

ISSUER = "https://testserver/o"
RESOURCE = "https://testserver"
RESOURCE_METADATA = "https://testserver/.well-known/oauth-protected-resource"
_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')




def user_token(client, user, scope: str = "read", **fields: Any) -> tuple[str, AccessToken]:
    """A live access token of ``user`` for ``client`` in a family of its own."""
    family = fields.pop("authorization", None) or AuthorizationFactory(client=client, user=user, scope=scope)
    raw = secrets.generate_token()
    row = AccessTokenFactory(raw=raw, client=client, user=user, scope=scope, authorization=family, **fields)
    return raw, row


def client_token(client, scope: str = "read", **fields: Any) -> tuple[str, AccessToken]:
    """A client_credentials token: no user, no family."""
    raw = secrets.generate_token()
    return raw, AccessTokenFactory(raw=raw, client=client, user=None, scope=scope, authorization=None, **fields)


def refresh_token(family: Authorization, **fields: Any) -> tuple[str, RefreshToken]:
    raw = secrets.generate_token()
    return raw, RefreshTokenFactory(raw=raw, authorization=family, scope=family.scope, **fields)


def expired() -> dict[str, Any]:
    return {"expires_at": secrets.now() - timedelta(seconds=1)}


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def challenge(response: HttpResponse) -> dict[str, str]:
    """The parameters of the response's Bearer challenge (asserts there is one)."""
    header = response.get("WWW-Authenticate", "")
    assert header.startswith("Bearer"), (response.status_code, header)
    rest = header[len("Bearer"):].strip()
    params = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _PARAM.findall(rest)}
    assert _PARAM.sub("", rest).replace(",", "").strip() == "", header  # nothing unparsed
    return params


def assert_challenge(
    response: HttpResponse, status: int, error: str | None, scope: str | None = None
) -> dict[str, str]:
    """``response`` is the RFC 6750 §3 answer: ``status``, a Bearer challenge with ``error``
    (None: no error attribute at all, §3.1), the required ``scope`` if given, ``realm`` and,
    RFC 9728 §5.1, ``resource_metadata``."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    params = challenge(response)
    if error is None:
        assert "error" not in params, params
    else:
        assert params.get("error") == error, params
    if scope is not None:
        assert params.get("scope") == scope, params
    assert params.get("realm") == RESOURCE, params
    assert params.get("resource_metadata") == RESOURCE_METADATA, params
    return params

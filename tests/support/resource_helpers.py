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
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?=\s|,|$)\s*")
_PARAM_AT = re.compile(r'\s*,?\s*(\w+)="((?:[^"\\]|\\.)*)"\s*')
#: the comma between two challenges (the next token is a scheme, not a parameter)
_SEPARATOR = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*(?:\s|,|$))")




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


def challenges(response: HttpResponse) -> dict[str, dict[str, str]]:
    """Every challenge of the response's ``WWW-Authenticate`` (RFC 9110 §11.6.1: one value may
    hold several, ``Bearer ..., DPoP ...``), by scheme, with its parameters; asserts nothing
    in the value is left unparsed and no scheme appears twice."""
    header = response.get("WWW-Authenticate", "")
    found: dict[str, dict[str, str]] = {}
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        assert scheme is not None, (header, position)
        assert scheme.group(1) not in found, header
        params = found[scheme.group(1)] = {}
        position = scheme.end()
        while (param := _PARAM_AT.match(header, position)) is not None:
            params[param.group(1)] = param.group(2).replace('\\"', '"').replace("\\\\", "\\")
            position = param.end()
        separator = _SEPARATOR.match(header, position)
        position = separator.end() if separator else position
        assert separator or position >= len(header), (header, position)
    return found


def challenge(response: HttpResponse, scheme: str = "Bearer") -> dict[str, str]:
    """The parameters of the response's ``scheme`` challenge (asserts there is one, and that
    it comes first: clients that read only the first challenge find the one of the scheme they
    used, a request without a token finds ``Bearer``)."""
    found = challenges(response)
    assert scheme in found, (response.status_code, response.get("WWW-Authenticate"))
    assert response["WWW-Authenticate"].startswith(scheme), response["WWW-Authenticate"]
    return found[scheme]


def assert_challenge(
    response: HttpResponse, status: int, error: str | None, scope: str | None = None, *, scheme: str = "Bearer",
) -> dict[str, str]:
    """``response`` is the RFC 6750 §3 / RFC 9449 §7.1 answer: ``status``, a ``scheme``
    challenge with ``error`` (None: no error attribute at all, §3.1), the required ``scope`` if
    given, ``realm`` and, RFC 9728 §5.1, ``resource_metadata``. The other scheme's challenge is
    there too, bare (bearer tokens are accepted in the test settings): the DPoP one always
    lists the proof algorithms, ``algs``."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    found = challenges(response)
    params = challenge(response, scheme)
    if error is None:
        assert "error" not in params, params
    else:
        assert params.get("error") == error, params
    if scope is not None:
        assert params.get("scope") == scope, params
    assert set(found) == {"Bearer", "DPoP"}, found
    for name, each in found.items():
        assert each.get("realm") == RESOURCE, (name, each)
        assert each.get("resource_metadata") == RESOURCE_METADATA, (name, each)
        if name != scheme:
            assert "error" not in each, (name, each)
    assert found["DPoP"].get("algs"), found
    return params

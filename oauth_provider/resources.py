"""Resource indicators (RFC 8707): the protected resources tokens are issued for.

A **resource** is named by an absolute URI without a fragment (RFC 8707 §2), compared as an
exact string (RFC 8725 §3.9: no normalisation, so ``https://rs.example`` and
``https://rs.example/`` are two resources). Two kinds:

* the **default resource**: the host's own views, ``RESOURCE_IDENTIFIER``
  (:func:`oauth_provider.issuer.resource_identifier`); a token request naming no resource
  gets a token for it, as before resource indicators existed;
* the resources of ``OAUTH_PROVIDER["RESOURCES"]``, each with a ``name`` (consent page) and
  the ``scopes`` it accepts.

The rules, each with the RFC sentence it comes from:

* :func:`requested`: every ``resource`` value must be well formed and known, and the client
  allowed to have it (the adapter decides); otherwise ``invalid_target`` (§2). Several distinct
  resources only where the adapter allows multi-audience tokens (§3 favours one audience). The
  same value twice counts once.
* :func:`within`: a token request naming resources after an authorization may only name ones
  the grant covers (§2.2: "the authorization server ... MUST NOT issue ... for a resource not
  authorized"; the refresh token stays bound to the whole grant, never widened).
* :func:`downscope`: a token carries only the scopes its audience accepts (§2.2 lets the
  server use ``resource`` and ``scope`` together "to determine the appropriate" rights): a
  requested scope that none of the audience's resources lists is **dropped**, and the token
  response says the effective ``scope`` (RFC 6749 §5.1). Nothing left is ``invalid_scope``.
  The OpenID Connect scopes (``openid``, ``profile``... ``offline_access``) concern the provider
  itself (ID token, UserInfo, refresh) and are never dropped.

An audience is stored space-separated (a URI has no space); the empty string means "the
default resource", which is what rows from before resource indicators hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .conf import provider_settings
from .errors import InvalidScope, InvalidTarget
from .issuer import METADATA_WELL_KNOWN, resource_identifier

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import AbstractClient

#: RFC 3986 §4.3 absolute-URI: a scheme, a colon, then only URI characters; §2 of RFC 8707
#: forbids the fragment, so no ``#`` at all.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")
#: OIDC Core §5.4 and §11: scopes of the provider itself, kept whatever the audience
PROVIDER_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})


@dataclass(frozen=True)
class Resource:
    """One protected resource: its identifier, the name shown on the consent page and the
    scopes it accepts (None: every scope, the default resource's unless it is configured)."""

    identifier: str
    name: str
    scopes: tuple[str, ...] | None

    def accepts(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def metadata_path(self) -> str:
        """The path of its RFC 9728 §3.1 metadata: the well-known prefix inserted between
        the host and the identifier's path (a lone ``/`` path is dropped, §3.1)."""
        path = urlsplit(self.identifier).path
        return METADATA_WELL_KNOWN + ("" if path == "/" else path)

    @property
    def metadata_url(self) -> str:
        parts = urlsplit(self.identifier)
        return f"{parts.scheme}://{parts.netloc}{self.metadata_path}"


def is_valid_identifier(value: str) -> bool:
    """RFC 8707 §2: an absolute URI (RFC 3986 §4.3) without a fragment."""
    return _ABSOLUTE_URI.fullmatch(value) is not None


def default_identifier(request: HttpRequest | None = None) -> str:
    """The default resource: the host's own views (``RESOURCE_IDENTIFIER``)."""
    return resource_identifier(request)


def _entry(identifier: str, settings: Any) -> Resource:
    settings = settings if isinstance(settings, dict) else {}
    scopes = settings.get("scopes")
    return Resource(
        identifier=identifier,
        name=str(settings.get("name") or identifier),
        scopes=None if scopes is None else tuple(str(s) for s in scopes),
    )


def configured(request: HttpRequest | None = None) -> dict[str, Resource]:
    """Every known resource by identifier: the default one first, then ``RESOURCES``."""
    default = default_identifier(request)
    table = provider_settings.RESOURCES or {}
    known = {default: _entry(default, table.get(default, {}))}
    for identifier, settings in table.items():
        if identifier != default:
            known[str(identifier)] = _entry(str(identifier), settings)
    return known


def get(identifier: str, request: HttpRequest | None = None) -> Resource | None:
    return configured(request).get(identifier)


def requested(
    values: Iterable[str], client: AbstractClient, request: HttpRequest | None = None, *, required: bool = True
) -> tuple[str, ...]:
    """The resources a request names (its ``resource`` values), checked: well formed, known,
    allowed for ``client``, one unless several are allowed. Empty when none was named (and
    ``REQUIRE_RESOURCE`` is off, or ``required`` is False: a code or refresh token redeemed
    without naming resources gets those of its grant). Raises :class:`InvalidTarget` with fixed text, never a value
    (the authorization endpoint redirects it to the client, OAuth 2.1 §7.12)."""
    from .registry import adapter

    values = tuple(values)
    if not values:
        if required and provider_settings.REQUIRE_RESOURCE:
            raise InvalidTarget("The resource parameter is required.")
        return ()
    policy = adapter()
    known = configured(request)
    out: list[str] = []
    for value in values:
        if not is_valid_identifier(value):
            raise InvalidTarget(
                "The resource parameter must be an absolute URI without a fragment (RFC 8707 section 2).")
        if value not in known:
            raise InvalidTarget("The requested resource is unknown.")
        if not policy.allows_resource(client, value):
            raise InvalidTarget("This client may not request a token for the requested resource.")
        if value not in out:
            out.append(value)
    if len(out) > 1 and not policy.allows_multiple_resources(client):
        raise InvalidTarget("Request one resource per token.")
    return tuple(out)


def inferred(
    scopes: Iterable[str], client: AbstractClient, request: HttpRequest | None = None
) -> tuple[str, ...]:
    """The audience of a request that names no resource (RFC 9068 §3: the server then picks a
    default, "for example inferred from the requested scopes"): the default resource when it
    accepts every requested scope (always, unless ``RESOURCES`` lists it with its scopes),
    else the one resource that does. Empty means the default resource. Scopes that no single
    resource accepts are ``invalid_scope`` (RFC 9068 §3: a token is not for two resources
    because its scopes were)."""
    if not provider_settings.RESOURCES:
        return ()
    known = configured(request)
    default = known[default_identifier(request)]
    wanted = [s for s in scopes if s not in PROVIDER_SCOPES]
    if all(default.accepts(s) for s in wanted):
        return ()
    common = [r.identifier for r in known.values() if r is not default and all(r.accepts(s) for s in wanted)]
    if len(common) != 1:
        raise InvalidScope("The requested scopes belong to different resources: name one with the resource parameter.")
    return requested(common, client, request, required=False)


def audience(stored: str, request: HttpRequest | None = None) -> tuple[str, ...]:
    """The audience a stored value stands for (empty: the default resource)."""
    return tuple(stored.split()) or (default_identifier(request),)


def served_by(client: AbstractClient, stored_audience: str, request: HttpRequest | None = None) -> bool:
    """Is ``client`` a resource server the token of ``stored_audience`` is meant for? RFC 7662
    §4: the server "MUST determine whether or not the token can be used at the protected
    resource making the introspection call". A resource server serves the resources its
    ``served_resources`` lists, or the default resource when it lists none; a token for
    several resources is visible to each of them."""
    if not client.is_resource_server:
        return False
    served = client.served_resource_list or [default_identifier(request)]
    return any(identifier in served for identifier in audience(stored_audience, request))


def store(resources: Iterable[str]) -> str:
    """The stored form of an audience (:func:`audience` reads it back)."""
    return " ".join(resources)


def within(asked: tuple[str, ...], granted: str, request: HttpRequest | None = None) -> str:
    """The audience of a token minted from a grant of ``granted`` (stored form) when the token
    request names ``asked``: all of the grant when it names none, else ``asked``, which must
    be part of the grant (RFC 8707 §2.2: narrowed, never widened). Returns the stored form."""
    if not asked:
        return granted
    if not set(asked) <= set(audience(granted, request)):
        raise InvalidTarget("The requested resource was not part of the authorization grant.")
    return store(asked)


def downscope(scopes: Iterable[str], stored_audience: str, request: HttpRequest | None = None) -> tuple[str, ...]:
    """``scopes`` minus those no resource of the audience accepts (the provider's own scopes
    always stay); see the module docstring. Raises :class:`InvalidScope` when scopes were
    asked for and none is left."""
    wanted = tuple(scopes)
    if not provider_settings.RESOURCES:
        return wanted  # only the default resource, which accepts every scope
    known = configured(request)
    targets = [known.get(identifier) for identifier in audience(stored_audience, request)]
    kept = tuple(
        scope for scope in wanted
        if scope in PROVIDER_SCOPES or any(t is not None and t.accepts(scope) for t in targets)
    )
    if wanted and not kept:
        raise InvalidScope("None of the requested scopes is accepted by the requested resource.")
    return kept

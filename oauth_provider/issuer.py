"""The issuer identifier, absolute endpoint URLs and the host API's resource identifier
(RFC 8414 §2, RFC 9207, RFC 9728).

The issuer is ``OAUTH_PROVIDER["ISSUER"]``. Only in DEBUG, when it is unset, is it derived
from the request (the absolute URL of the mount), for local development; a system check
requires it otherwise, so production never trusts the Host header (RFC 9700 §4.13).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import reverse

from .conf import provider_settings

METADATA_SUFFIX = ".well-known/oauth-authorization-server"
#: RFC 9728 §3: where protected-resource metadata lives, inserted before the resource's path.
METADATA_WELL_KNOWN = "/.well-known/oauth-protected-resource"


def mount_path() -> str:
    """The path ``oauth_provider.urls`` is included at, e.g. ``/o/``."""
    path = reverse("oauth_provider:metadata")
    return path[: -len(METADATA_SUFFIX)]


def get_issuer(request: HttpRequest | None = None) -> str:
    issuer = provider_settings.ISSUER
    if issuer:
        return str(issuer).rstrip("/")
    if settings.DEBUG and request is not None:
        return request.build_absolute_uri(mount_path()).rstrip("/")
    raise ImproperlyConfigured("OAUTH_PROVIDER['ISSUER'] must be set when DEBUG is off.")


def endpoint_url(request: HttpRequest | None, name: str) -> str:
    """Absolute URL of a named endpoint (``oauth_provider:<name>``) under the issuer's origin."""
    parts = urlsplit(get_issuer(request))
    return f"{parts.scheme}://{parts.netloc}{reverse('oauth_provider:' + name)}"


def resource_identifier(request: HttpRequest | None = None) -> str:
    """The host API's resource identifier (RFC 9728 §1.2): ``RESOURCE_IDENTIFIER``, or the
    issuer's origin when it is unset."""
    configured = provider_settings.RESOURCE_IDENTIFIER
    if configured:
        return str(configured).rstrip("/")
    parts = urlsplit(get_issuer(request))
    return f"{parts.scheme}://{parts.netloc}"


def metadata_url(request: HttpRequest | None = None) -> str:
    """The URL of the protected-resource metadata document (RFC 9728 §3.1): the well-known
    path inserted between the identifier's origin and its path."""
    parts = urlsplit(resource_identifier(request))
    return f"{parts.scheme}://{parts.netloc}{METADATA_WELL_KNOWN}{parts.path.rstrip('/')}"

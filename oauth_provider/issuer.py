"""The issuer identifier and absolute endpoint URLs (RFC 8414 §2, RFC 9207).

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

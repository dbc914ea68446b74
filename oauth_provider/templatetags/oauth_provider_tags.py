"""Template filters for the pages users see: ``{% load oauth_provider_tags %}``.

``{% prefilled %}`` fills the shipped login page's username with the ``login_hint`` the
authorization endpoint passed on (OIDC Core §3.1.2.1).

A client's logo and links are client-supplied URLs (RFC 7591 §2 ``logo_uri``, ``client_uri``,
``policy_uri``, ``tos_uri``). The model only accepts http(s), but a row written before that
check, by a swapped model or straight to the database could hold anything; these filters are
the last gate before a value reaches an ``href`` or ``src`` (OAuth 2.1 §7.12: treat client
input as hostile). Django's autoescaping still applies to what they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django import template
from django.forms import BoundField

from ..params import LOGIN_HINT_MAX_LENGTH

if TYPE_CHECKING:
    from ..models import AbstractClient

register = template.Library()

_SCHEMES = frozenset({"http", "https"})


@register.filter
def http_url(value: Any) -> str:
    """``value`` if it is an absolute http(s) URL, else ``""`` (so ``{% if %}`` hides it).

    Anything with whitespace or control characters is refused too: browsers strip them
    before parsing, which is how ``java\\tscript:`` URLs slip past naive scheme checks. So is
    a backslash, which browsers read as ``/`` in an http(s) URL and Python does not:
    ``https://evil.example\\@rp.example/`` opens evil.example, while :func:`url_host` (and
    anyone checking with Python) would have read ``rp.example``."""
    if not isinstance(value, str) or not value:
        return ""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return ""
    return value


@register.filter
def image_url(value: Any) -> str:
    """``value`` if it passes :func:`http_url` and is https (or http on a loopback host, which
    browsers treat as secure), else ``""``: for what the page loads itself (the logo). An http
    image on the consent page is mixed content, and lets anyone on the path see who is
    consenting to what, and change the picture."""
    from ..models.clients import is_secure_image_url

    url = http_url(value)
    return url if url and is_secure_image_url(url) else ""


@register.filter
def url_host(value: Any) -> str:
    """The host (and port) of an http(s) URL, for link text a user can check; ``""`` otherwise.
    A non-ASCII host is shown in its IDNA form, never as a look-alike of another name."""
    from ..redirect_uris import ascii_host

    url = http_url(value)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        shown = parts.netloc.rpartition("@")[2]
        if shown.isascii():
            return shown
        host = ascii_host(parts.hostname or "")
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return ""


@register.filter
def client_link(value: Any, client: AbstractClient | None) -> str:
    """``value`` as :func:`http_url` gives it, for a client's ``client_uri``, ``policy_uri`` or
    ``tos_uri``; for a client that registered itself (dynamic registration, a client ID
    metadata document), only if its host is the host of one of the client's redirect URIs
    (RFC 7591 §5: the server should check they share it).
    Otherwise anyone could register as "Claude" with ``client_uri`` https://claude.ai, and the
    consent page would show that site's name and links under the heading while the user is
    sent to another host."""
    from ..client_metadata import is_self_registered

    url = http_url(value)
    if not url or not is_self_registered(client):  # no client (None) did not register itself either
        return url
    try:
        host = (urlsplit(url).hostname or "").lower()
        redirect_hosts = {(urlsplit(uri).hostname or "").lower() for uri in client.redirect_uri_list}
    except ValueError:
        return ""
    return url if host in redirect_hosts else ""


@register.filter
def document_host(client: AbstractClient | None) -> str:
    """The host a client ID metadata document client is served from (shown next to its
    self-chosen name, draft-ietf-oauth-client-id-metadata-document §6.4); ``""`` for other
    clients."""
    from ..metadata_documents import display_host

    return display_host(client) if client is not None else ""


@register.filter
def client_label(client: AbstractClient | None) -> str:
    """The client's name as pages show it: a client ID metadata document client's followed by
    the host its document is served from (``Name (host)``, §6.4); ``""`` for no client."""
    from ..metadata_documents import display_label

    return display_label(client) if client is not None else ""


@register.simple_tag(takes_context=True)
def prefilled(context: template.Context, field: Any) -> Any:
    """``{% prefilled form.username %}``: a login form's field rendered with the request's
    ``login_hint`` as its value, the hint the authorization endpoint adds to the login URL
    ("the login identifier the End-User might use", OIDC Core §3.1.2.1). Only while the form is
    not bound and the field has no value of its own (a failed login shows what was typed), and
    only a hint of at most 255 characters (the endpoint passes no longer one on) with no control
    or formatting character (nothing a person could not see or type); anything else (no
    ``request`` in the context, no hint) renders ``field`` as it is. The value is escaped by the
    widget like any other."""
    request = context.get("request")
    query = getattr(request, "GET", None)
    hint = query.get("login_hint") if query is not None else None
    if not hint or len(hint) > LOGIN_HINT_MAX_LENGTH or not hint.isprintable():
        return field
    if not isinstance(field, BoundField) or field.form.is_bound or field.value():
        return field
    return field.as_widget(attrs={"value": hint})


@register.inclusion_tag("oauth_provider/frontchannel_logout.html", takes_context=True)
def frontchannel_logout(context: template.Context) -> dict[str, Any]:
    """``{% frontchannel_logout %}``: in the page a site shows after its own logout view, one
    invisible iframe per client of the session that ended with a front-channel logout URI
    (OpenID Connect Front-Channel Logout 1.0 §3). Renders nothing when there are none, or when
    they were shown already (by this tag, the end-session page, or the middleware)."""
    from ..oidc import frontchannel

    request = context.get("request")
    return {"frontchannel_frames": frontchannel.pending(request) if request is not None else []}

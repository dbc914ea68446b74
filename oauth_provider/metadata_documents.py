"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-01).

With ``OAUTH_PROVIDER["CLIENT_ID_METADATA_DOCUMENTS"] = True`` a client may use as its
``client_id`` an https URL at which it publishes its own metadata (RFC 7591 §2 names), with
no registration beforehand: MCP clients do this (MCP authorization, Client Registration).

How a URL ``client_id`` becomes a client (:func:`lookup`, called wherever the authorization
and token endpoints resolve a ``client_id``; other ``client_id`` values take the usual one
query and nothing else):

1. The URL must be a client identifier (§3): ``https``, a path, no ``.``/``..`` segment
   (percent-encoded or followed by ``;`` either), no percent-encoded ``/`` or ``\\``, no
   fragment, no user information, and (our policy, §3 "SHOULD NOT") no query; and it must pass
   every rule of :mod:`oauth_provider.fetch`. The adapter's
   :meth:`~oauth_provider.adapter.DefaultAdapter.allow_client_id_metadata_document` may refuse
   it (an allow-list of domains, §6.8). Otherwise nothing is fetched.
2. While the document is fresh in the cache, the stored client row is used as it is.
3. Otherwise, once the caller's address is within ``REGISTRATION_THROTTLE`` (a fetch makes a
   client: it counts as a registration; past the limit 429, nothing fetched), the document is
   fetched through :func:`oauth_provider.fetch.get_json`: no
   redirects (§4), only a 200 (§4), at most :data:`MAX_DOCUMENT_BYTES` (§6.6), special-use
   addresses refused after resolution (§6.5). It is validated by
   :func:`oauth_provider.client_metadata.validate` with ``source="metadata_document"``: its
   ``client_id`` must equal the URL by simple string comparison (§4.1), redirect URIs are
   registered exactly (§4.5), and no shared-secret authentication may be declared (§4.1):
   ``none`` makes a public client, ``private_key_jwt`` with ``jwks``/``jwks_uri`` a
   confidential one (§6.2).
4. The client is stored as a row of the client model (``client_id`` = the URL,
   ``registration_method = "metadata_document"``, no secret), created on first use and updated
   on every refetch, so grants and tokens point at it like any client's. The row is marked
   fresh for the document's cache lifetime (``Cache-Control`` within ``FETCH``'s bounds, §4.4).
   Errors and invalid documents are never cached (§4.4): the next request fetches again.
   With ``CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN`` each redirect URI must also be on the
   ``client_id``'s origin or on loopback (§6.1), and so must its post-logout redirect URIs,
   ``jwks_uri`` and ``backchannel_logout_uri`` (the last two, which the provider contacts
   itself, on the origin only).
5. When a refetched document differs in anything the row holds (redirect URIs, keys, auth
   method, name, logo...), every remembered consent for the client is forgotten (§6.3): the
   next authorization shows the consent page again, so a client cannot get a user's approval
   for one set of redirect URIs and later use it silently for another.

An operator may still register a URL ``client_id`` in the admin (§6.10): such a row
(``registration_method`` other than ``metadata_document``) is used as registered and its
document is never fetched. Deactivating a metadata-document client in the admin (``is_active``
off) sticks: refetches never turn it back on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from . import fetch, throttling
from .conf import provider_settings
from .models.store import CLIENT_ID_MAX_LENGTH, client_by_id
from .redirect_uris import ascii_host

if TYPE_CHECKING:
    from .models import AbstractClient

logger = logging.getLogger("oauth_provider.metadata_documents")

#: the largest document accepted, in bytes (the draft's recommendation, §6.6)
MAX_DOCUMENT_BYTES = 5 * 1024
METADATA_DOCUMENT = "metadata_document"
#: a ``.``/``..`` segment however spelled: percent-encoded (RFC 3986 §2.1) or with a ``;``
#: parameter after it (``..;``, which servlet containers strip before resolving dot segments);
#: checked after :func:`oauth_provider.fetch.parse`, so the URL holds no control character
_DOT_SEGMENT = re.compile(r"^(\.|%2e){1,2}(;.*)?$", re.IGNORECASE)
#: a percent-encoded ``/`` or ``\``: a server that decodes it before routing sees other
#: segments than the URL shows (``/a/..%2Fother.json``)
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)


class DocumentError(Exception):
    """A URL ``client_id`` that names no usable client; ``str(error)`` says why, in words
    safe to show the user (fetch failures all read the same, :data:`fetch.FETCH_FAILED`)."""


class NotFetched(Exception):  # noqa: N818 - a state, not an error
    """The document would have to be fetched, and the caller said not to (``may_fetch=False``):
    the authorization endpoint for a browser that is not logged in, which any page can make
    its visitors' browsers call."""


def enabled() -> bool:
    return bool(provider_settings.CLIENT_ID_METADATA_DOCUMENTS)


def is_url_client_id(client_id: str) -> bool:
    """Does ``client_id`` have the form of a document URL (not yet: is it a valid one)?
    ``http`` only counts with ``ALLOW_INSECURE_LOOPBACK_FETCH`` (local development)."""
    return client_id.startswith("https://") or (
        client_id.startswith("http://") and bool(provider_settings.ALLOW_INSECURE_LOOPBACK_FETCH))


def lookup(client_id: str, request: HttpRequest | None = None, may_fetch: bool = True) -> AbstractClient | None:
    """The client named by ``client_id``: :func:`~oauth_provider.models.store.client_by_id`,
    and, when the feature is on and ``client_id`` is a URL, the client its metadata document
    describes (fetched, validated and stored as above). None for an unknown client; raises
    :class:`DocumentError` when a URL ``client_id`` cannot be used, saying why.

    ``request`` is the HTTP request that names the client: a fetch for it is counted against
    its address (:func:`oauth_provider.throttling.count_document_fetch`, which raises
    :class:`~oauth_provider.errors.MetadataDocumentThrottled`). Every endpoint passes it; None
    (a host's own code, a management command) fetches uncounted. With ``may_fetch`` False, a
    document not fresh in the cache raises :class:`NotFetched` instead of being fetched."""
    if not (enabled() and is_url_client_id(client_id)):
        return unless_documented(client_by_id(client_id))
    return _document_client(client_id, request, may_fetch)


def unless_documented(client: AbstractClient | None) -> AbstractClient | None:
    """``client``, or None when the feature is off and only a document described it: switched
    off, a URL ``client_id`` is an unknown client unless the site registered it (the rows a
    document made stay, unused, for when it is switched on again; their tokens live until they
    expire, and none is refreshed: deactivate them to end those at once)."""
    if client is not None and not enabled() and client.registration_method == METADATA_DOCUMENT:
        return None
    return client


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a client identifier (§3, plus :mod:`oauth_provider.fetch`'s
    rules), or None. No network access."""
    if len(url) > CLIENT_ID_MAX_LENGTH:
        return f"A client_id URL may be at most {CLIENT_ID_MAX_LENGTH} characters long."
    try:
        fetch.parse(url)
    except fetch.FetchError as exc:
        return f"The client_id URL cannot be used: {exc}"
    parts = urlsplit(url)
    if not parts.path:
        return "A client_id URL must have a path (draft-ietf-oauth-client-id-metadata-document §3)."
    if any(_DOT_SEGMENT.match(segment) for segment in parts.path.split("/")):
        return "A client_id URL must not contain . or .. path segments."
    if _ENCODED_SEPARATOR.search(parts.path):
        return "A client_id URL must not contain a percent-encoded / or \\ in its path."
    if parts.query or url.endswith("?"):
        return "A client_id URL must not have a query string."
    return None


def _cache_key(url: str) -> str:
    return "oauth_provider.cimd:" + hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def _document_client(url: str, request: HttpRequest | None, may_fetch: bool) -> AbstractClient | None:
    from .registry import adapter

    problem = url_problem(url)
    allowed = problem is None and adapter().allow_client_id_metadata_document(url)
    cache = caches[fetch.options()["cache"]]
    if allowed and cache.get(_cache_key(url)) is not None:
        fresh = client_by_id(url)
        if fresh is not None:
            return fresh
    stored = client_by_id(url)
    if stored is not None and getattr(stored, "registration_method", METADATA_DOCUMENT) != METADATA_DOCUMENT:
        return stored  # registered by the site (§6.10): never fetched
    if problem is not None:
        raise DocumentError(problem)
    if not allowed:
        raise DocumentError("This authorization server does not accept clients from this address.")
    if not may_fetch:
        raise NotFetched()
    if request is not None:
        throttling.count_document_fetch(request)
    metadata, seconds = _fetch_and_validate(url)
    client = _store(url, metadata, stored)
    cache.set(_cache_key(url), 1, seconds)
    return client


def _fetch_and_validate(url: str) -> tuple[Any, int]:
    """The validated metadata of the document at ``url`` and how long it stays fresh."""
    from .client_metadata import InvalidClientMetadata, validate

    try:
        fetched = fetch.get_json(url, max_bytes=MAX_DOCUMENT_BYTES, max_redirects=0)
    except fetch.FetchError as exc:
        raise DocumentError(f"The client's metadata document could not be used. {exc}") from None
    try:
        metadata = validate(fetched.data, source=METADATA_DOCUMENT, client_id=url)
    except InvalidClientMetadata as exc:
        # The page names the member at fault, never its value: whoever links a user here wrote
        # the document, and would write on our error page (OAuth 2.1 §7.12). Details: the log.
        logger.warning("Invalid client ID metadata document at %r: %s", url[:300], exc.description)
        member = f" ({exc.field})" if exc.field else ""
        raise DocumentError(f"The client's metadata document is invalid{member}.") from None
    if provider_settings.CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN:
        foreign = _off_origin(metadata, url)
        if foreign is not None:
            logger.warning("Client ID metadata document at %r: %r not on its origin", url[:300], foreign[:200])
            raise DocumentError("The client's metadata document is invalid: its redirect, logout and key URLs "
                                "must be on the client_id's own origin (redirect URIs also on this device).")
    return metadata, fetched.cache_seconds


def _off_origin(metadata: Any, client_id: str) -> str | None:
    """§6.1, with ``CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN``: the first of the document's URLs
    not on the ``client_id``'s origin, None when all are. What the user's browser is sent to
    (redirect and post-logout redirect URIs) may also be on loopback (RFC 8252 §7.3); what this
    server itself contacts (``jwks_uri``, ``backchannel_logout_uri``) may not, so a document
    cannot make the provider send requests to someone else's host either. (A front-channel
    logout URI must already share a redirect URI's origin: OIDC Front-Channel Logout §2.)"""
    for uri in (*metadata.redirect_uris, *metadata.post_logout_redirect_uris):
        if not _same_origin_or_loopback(uri, client_id):
            return str(uri)
    for uri in (metadata.jwks_uri, metadata.backchannel_logout_uri):
        if uri and not _same_origin(uri, client_id):
            return str(uri)
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``, a URL the document's validation (or, for the
    ``client_id``, :func:`url_problem`) already accepted, so its port is a valid one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _same_origin_or_loopback(uri: str, client_id: str) -> bool:
    """draft §6.1: a redirect URI on the client_id's origin, or loopback (RFC 8252 §7.3)."""
    scheme, host, _port = _origin(uri)
    return (scheme == "http" and host in fetch.LOOPBACK_NAMES) or _same_origin(uri, client_id)


def _same_origin(uri: str, client_id: str) -> bool:
    return _origin(uri) == _origin(client_id)


def _fingerprint(client: AbstractClient) -> tuple[Any, ...]:
    """Every stored value of ``client``: whatever a document sets (``ClientMetadata.apply``)
    and changes is a change of the client (§6.3), its logout URIs and its DPoP, PAR and
    signed-request demands as much as its name; a new field there is covered without a list."""
    return tuple(getattr(client, field.attname) for field in client._meta.concrete_fields)


def _store(url: str, metadata: Any, stored: AbstractClient | None) -> AbstractClient | None:
    """Create or update the row for ``url`` from validated ``metadata``; forget remembered
    consents when an existing client changed (§6.3). Writes nothing when nothing changed."""
    from .models import Consent, get_client_model

    if stored is None:
        client = get_client_model()(client_id=url)
        metadata.apply(client)
        client.registration_method = METADATA_DOCUMENT
        client.set_secret(None)
        _check_fields(client)
        try:
            with transaction.atomic():
                client.save()
        except IntegrityError:  # a concurrent request stored it first
            return client_by_id(url)
        return client  # type: ignore[no-any-return]
    if not _changes(stored, metadata):
        return stored
    with transaction.atomic():
        # the row as it is now, not as read before the fetch (which the document's host may
        # draw out): an operator's deactivation made meanwhile stands
        current: AbstractClient | None = type(stored)._default_manager.select_for_update().filter(pk=stored.pk).first()
        if current is None or not current.is_active or not _changes(current, metadata):
            return current
        metadata.apply(current)
        if current.is_public:
            current.skip_consent = False  # never for a public client (RFC 8252 §8.6; a database constraint)
        _check_fields(current)
        current.save()
        forgotten, _ = Consent.objects.filter(client_id=current.pk).delete()
    logger.info("Client ID metadata document %r changed: client updated, %d remembered consent(s) forgotten",
                url[:300], forgotten)
    return current


def _changes(client: AbstractClient, metadata: Any) -> bool:
    """Would ``metadata`` change ``client``? (Applied to a copy: ``client`` is left as it is.
    Turning it public, which clears ``skip_consent`` when stored, is itself a change.)"""
    import copy

    changed = copy.copy(client)
    metadata.apply(changed)
    return _fingerprint(changed) != _fingerprint(client)


def _check_fields(client: AbstractClient) -> None:
    """The column limits (a 600-character ``logo_uri`` is valid metadata but no storable value):
    :class:`DocumentError`, never a database error."""
    from django.core.exceptions import ValidationError

    try:
        client.clean_fields(exclude=["client_id"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DocumentError(f"The client's metadata document is invalid: {field}: {' '.join(messages)}") from None


def display_host(client: AbstractClient) -> str:
    """The host a metadata-document client is served from, to show next to its self-chosen
    name (§6.4); empty for other clients."""
    if client.registration_method != METADATA_DOCUMENT:
        return ""
    try:
        parts = urlsplit(client.client_id)
        host = ascii_host(parts.hostname or "")
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return ""


def display_label(client: AbstractClient) -> str:
    """The client's name as pages show it: a metadata-document client's followed by the host
    its document is served from (``Name (host)``, §6.4), any other client's alone."""
    host = display_host(client)
    return f"{client.name} ({host})" if host else client.name

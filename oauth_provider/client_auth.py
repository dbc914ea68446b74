"""Client authentication at the token endpoint (RFC 6749 §2.3, OAuth 2.1 §2.4).

One small class per ``token_endpoint_auth_method``, in a registry built from
``OAUTH_PROVIDER["CLIENT_AUTH_METHODS"]``. :func:`authenticate` finds the one method the
request uses (more than one is ``invalid_request``, OAuth 2.1 §3.2.4), loads the client in
one query, verifies the secret in constant time and checks that the method may be used by
that client (the two secret methods stand for each other unless
``STRICT_CLIENT_AUTH_METHOD``). An unknown client_id costs the same hash and comparison, and
a lookup that finds no client spends as much CPU time as one that finds a client
(:class:`LookupTimer`), so the time taken does not tell whether a client_id exists (OIDC
Core §16.12). Wrong credentials are counted, and past the threshold answered 429
(:mod:`oauth_provider.throttling`, OAuth 2.1 §2.4.1); correct ones are always accepted, except
that a secret still stored as a password hash (migrated from django-oauth-toolkit, until the
client's next authentication converts it) is not checked at all for an address that has used
up its failures: each check costs the hasher's full work.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import deque
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import unquote_plus

from django.http import HttpRequest

from . import metadata_documents, secrets, throttling
from .conf import provider_settings
from .errors import InvalidClient, InvalidRequest
from .models import get_client_model
from .models.store import client_by_id
from .registry import client_auth_methods
from .signals import client_authentication_failed

if TYPE_CHECKING:
    from .models import AbstractClient


class ClientAuthenticationFailed(InvalidClient):
    """:class:`InvalidClient` raised by :func:`authenticate`; ``challenge`` is the
    ``WWW-Authenticate`` value of the method the client tried (None for a method without
    one). The endpoint's renderer decides whether to send it."""

    def __init__(self, description: str | None = None, *, challenge: str | None = None) -> None:
        self.challenge = challenge
        super().__init__(description)


#: the two places a client secret may be sent (RFC 6749 §2.3.1)
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})

# Compared against when the client is unknown, so that path costs the same hash + compare.
_DUMMY_HASH = secrets.hash_token("unknown-client")


class LookupTimer:
    """Makes a lookup that finds no client cost as much as one that finds a client.

    Loading a client's row (fetching its columns, converting them, building the model) costs
    tens of microseconds of CPU that a miss does not, enough for a patient attacker to tell
    which client_ids exist (OIDC Core §16.12). The timer keeps the CPU time of the last
    :attr:`SAMPLES` lookups that found a client and, after a miss, spins until the miss has
    used their median (recomputed every :attr:`EVERY` hits, so neither path sorts anything
    per request). CPU time, not wall-clock time: the two paths then do the same work and a
    busy machine delays both alike (a wall-clock wait would spin through time the thread
    spent waiting for a CPU). Per process; a miss before any hit is not padded."""

    SAMPLES = 64
    EVERY = 8
    #: never spin longer than this, whatever the samples say
    LONGEST = 0.01

    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=self.SAMPLES)
        self.target = 0.0
        self._count = 0

    @staticmethod
    def start() -> float:
        return time.thread_time()

    def found(self, started: float) -> None:
        self.samples.append(time.thread_time() - started)
        self._count += 1
        if self._count % self.EVERY == 1 or len(self.samples) < self.EVERY:
            try:
                ordered = sorted(self.samples)
            except RuntimeError:  # another thread appended meanwhile: the next hit recomputes
                return
            self.target = min(ordered[(len(ordered) - 1) // 2], self.LONGEST)

    def missed(self, started: float) -> None:
        until = started + self.target
        while time.thread_time() < until:
            pass


_lookup_timer = LookupTimer()


def _client_by_id(client_id: str, request: HttpRequest) -> AbstractClient | None:
    """:func:`~oauth_provider.models.store.client_by_id` (or a client ID metadata document's
    client, :func:`oauth_provider.metadata_documents.lookup`), taking the same time whether or
    not the client exists. A document that cannot be used names no client; such lookups are
    left out of the timer's samples (a fetch is no measure of a row lookup)."""
    if metadata_documents.enabled() and metadata_documents.is_url_client_id(client_id):
        try:
            return metadata_documents.lookup(client_id, request)
        except metadata_documents.DocumentError:
            return None
    started = _lookup_timer.start()
    client = metadata_documents.unless_documented(client_by_id(client_id))
    if client is None:
        _lookup_timer.missed(started)
    else:
        _lookup_timer.found(started)
    return client


class ClientAuthMethod:
    """Contract for one client-authentication method.

    ``attempted`` says whether the request carries this method's credentials;
    ``credentials`` returns ``(client_id, secret)`` (secret None for methods without one)
    or raises :class:`InvalidClient`; ``challenge`` is the WWW-Authenticate value for a
    401 when this method was tried, or None; ``hint`` tells a client registered for this
    method what to send (it completes "This client is registered for <name>: ...")."""

    name: str = ""
    challenge: str | None = None
    #: what a client registered for this method must do, for error descriptions
    hint: str = ""
    #: does a client registered for this method have a secret (the admin and ``createclient``
    #: generate one)? True unless a method says otherwise, as before methods could say it
    uses_secret: bool = True

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        raise NotImplementedError

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        raise NotImplementedError

    def proves(self, request: HttpRequest, client: AbstractClient | None, credential: str | None) -> bool:
        """Does ``credential`` (from :meth:`credentials`) prove the request comes from
        ``client`` (None: no such client)? May raise :class:`InvalidClient` to say why not.
        Default: ``credential`` is the client's secret, compared in constant time; an unknown
        client costs the same hash and comparison (OIDC Core §16.12)."""
        return _proves_secret(client, credential)


class ClientSecretBasic(ClientAuthMethod):
    """HTTP Basic with the form-urlencoded client_id and secret (RFC 6749 §2.3.1)."""

    name = "client_secret_basic"
    challenge = 'Basic realm="oauth"'
    hint = "send client_id and secret in the Authorization header (HTTP Basic), not in the body"

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return str(request.META.get("HTTP_AUTHORIZATION", ""))[:6].lower() == "basic "

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        encoded = request.META.get("HTTP_AUTHORIZATION", "")[6:].strip()
        try:
            decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidClient("Malformed HTTP Basic credentials.") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidClient("Malformed HTTP Basic credentials.")
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if params.get("client_id", client_id) != client_id:
            raise InvalidClient("client_id in the body differs from the one in the Authorization header.")
        return client_id, secret


class ClientSecretPost(ClientAuthMethod):
    """client_id and client_secret in the form body (RFC 6749 §2.3.1)."""

    name = "client_secret_post"
    hint = "send client_id and client_secret in the form body, not in the Authorization header"

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return "client_secret" in params

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        if "client_id" not in params:
            raise InvalidClient("client_secret was sent without client_id.")
        return params["client_id"], params["client_secret"]


class NoClientAuthentication(ClientAuthMethod):
    """A public client identifies itself with client_id only (OAuth 2.1 §2.1)."""

    name = "none"
    hint = "it is a public client: send its client_id in the body, with no secret and no Authorization header"
    uses_secret = False

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return "client_id" in params

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        return params["client_id"], None

    def proves(self, request: HttpRequest, client: AbstractClient | None, credential: str | None) -> bool:
        return client is not None and bool(client.is_public)


def uses_secret(client: AbstractClient) -> bool:
    """Does ``client`` authenticate with a secret (so it must have one)? Not a public client,
    nor one whose registered method says it has none (``private_key_jwt``)."""
    if client.is_public:
        return False
    method = client_auth_methods().get(client.token_endpoint_auth_method)
    return bool(getattr(method, "uses_secret", True))


def _chosen_method(request: HttpRequest, params: dict[str, str]) -> ClientAuthMethod:
    methods = client_auth_methods()
    tried = [m for m in methods.values() if m.attempted(request, params) and m.name != "none"]
    if len(tried) > 1:
        raise InvalidRequest(
            "The client used more than one authentication method: send the secret either in the "
            "Authorization header or in the body, not both."
        )
    if tried:
        return tried[0]
    if "none" in methods and methods["none"].attempted(request, params):
        return methods["none"]
    raise InvalidClient(
        "No client authentication was provided: send the client_id (and the secret of a "
        "confidential client, in the Authorization header or the body)."
    )


def _proves(method: ClientAuthMethod, request: HttpRequest, client: AbstractClient | None,
            secret: str | None) -> bool:
    """Do the credentials prove the request comes from ``client`` (None: unknown)? The method's
    own :meth:`ClientAuthMethod.proves` (a registered class that predates it: the secret check)."""
    proves = getattr(method, "proves", None)
    if proves is None:
        return _proves_secret(client, secret)
    return bool(proves(request, client, secret))


def _proves_secret(client: AbstractClient | None, secret: str | None) -> bool:
    if client is None:
        # The same hash and comparison as a known client's, so the time taken does not
        # say whether the client_id exists (OIDC Core §16.12).
        secrets.constant_time_equals(secrets.hash_token(secret or ""), _DUMMY_HASH)
        return False
    return bool(client.check_secret(secret or ""))


def method_accepted(method: ClientAuthMethod, client: AbstractClient) -> bool:
    """May ``client`` authenticate with ``method``? Its registered method always; the other
    of the two secret methods too (the secret is the same, only its place differs), unless
    ``STRICT_CLIENT_AUTH_METHOD`` is on."""
    registered = client.token_endpoint_auth_method
    if method.name == registered:
        return True
    return (
        not provider_settings.STRICT_CLIENT_AUTH_METHOD
        and method.name in SECRET_METHODS and registered in SECRET_METHODS
    )


def _method_problem(client: AbstractClient) -> str:
    registered = client.token_endpoint_auth_method
    how = client_auth_methods().get(registered)
    hint = how.hint if how is not None and how.hint else f"authenticate with {registered}"
    return f"This client is registered for {registered}: {hint}."


def _failed(request: HttpRequest, method: ClientAuthMethod, client_id: str | None, client: AbstractClient | None,
            description: str | None = None) -> NoReturn:
    """Refuse credentials that prove nothing: 429 once the caller's address or (for a
    confidential client, the only kind with a secret to guess) the client has used up its
    failures (:mod:`oauth_provider.throttling`), else counted and 401."""
    guessed = client.client_id if client is not None and not client.is_public else None
    throttling.check(request, guessed)
    throttling.record_failure(request, guessed)
    client_authentication_failed.send(
        sender=get_client_model(), request=request, client_id=client_id, method=method.name
    )
    raise ClientAuthenticationFailed(description, challenge=method.challenge)


def authenticate(request: HttpRequest, params: dict[str, str]) -> AbstractClient:
    """Return the authenticated, active client or raise :class:`ClientAuthenticationFailed`
    (an :class:`InvalidClient` naming the challenge of the method tried),
    :class:`InvalidRequest` or :class:`~oauth_provider.errors.ClientAuthThrottled`.

    The credentials are checked first: correct ones are accepted whatever others failed
    before (nobody can lock a client out); only wrong ones meet the throttle. The exception: a
    secret stored as a password hash is not checked for an address past its failures."""
    method = _chosen_method(request, params)
    try:
        client_id, secret = method.credentials(request, params)
    except InvalidClient as exc:
        _failed(request, method, None, None, exc.description)
    client = _client_by_id(client_id, request)
    if client is not None and method.name in SECRET_METHODS and client.has_password_hashed_secret:
        # A secret migrated as a password hash costs the hasher's full work to check (a million
        # PBKDF2 rounds by default): an address that has used up its failures gets no more of
        # that work, or anyone knowing the client_id could spend most of a second per request.
        throttling.check(request, None)
    try:
        proven = _proves(method, request, client, secret)
    except InvalidClient as exc:
        _failed(request, method, client_id, client, exc.description)
    if not proven or client is None:
        description = None
        if method.name == "none":
            description = ("Client authentication failed: the client_id is unknown, or the client is "
                           "confidential and must send its secret.")
        elif (client is not None and client.is_public and client.is_active and not secret
              and method.name in SECRET_METHODS and "none" in client_auth_methods()):
            # requests-oauthlib's default for a client without a secret: HTTP Basic with an empty
            # password. Where public clients may authenticate (``none`` offered), sending the
            # client_id alone already tells an active public client apart, so saying so tells
            # nothing more; otherwise, or for a disabled one, the usual words.
            description = _method_problem(client)
        _failed(request, method, client_id, client, description)
    problem = None
    if not method_accepted(method, client):
        problem = _method_problem(client)
    elif not client.is_active:
        problem = "This client is disabled."
    if problem is not None:
        # The credentials were right: nothing was guessed, so nothing is counted.
        client_authentication_failed.send(
            sender=get_client_model(), request=request, client_id=client_id, method=method.name
        )
        raise ClientAuthenticationFailed(problem, challenge=method.challenge)
    return client

"""Request objects (JAR, RFC 9101) and pushed authorization requests (PAR, RFC 9126).

Both keep the parameters of an authorization request off the front channel, where anyone
can read or change them:

* **A request object** is the authorization request as the claims of a JWT the client signed
  with one of its registered keys (``request`` at the authorization or PAR endpoint).
  :func:`verify` checks it, in this order:

  1. the header: ``alg`` asymmetric and, when the client registered
     ``request_object_signing_alg``, exactly that one (RFC 9101 §6.2, RFC 8725 §3.1-3.2: never
     ``none`` -- unsigned request objects are refused, §10.1 -- never an HMAC, whose key would be
     a secret we never store); no ``jku``/``x5u``/``jwk``/``x5c``/``crit`` (RFC 8725 §3.10);
     ``typ`` absent, ``JWT`` or ``oauth-authz-req+jwt``, any other explicit type refused
     (RFC 9101 §10.8, RFC 8725 §3.11: an access token, DPoP proof or client assertion is no
     request object); encrypted request objects (JWE) are not supported;
  2. the signature, with a key of *that* client (``jwks``, or ``jwks_uri`` fetched through
     :mod:`oauth_provider.fetch`); a ``kid`` must name one of them;
  3. ``client_id`` exactly the client_id sent with it (RFC 9101 §6.3), and so is ``iss`` when
     present; ``aud`` our issuer identifier (or a list naming it) when present (RFC 9101 §4
     says both SHOULD be there, and clients such as requests-oauth2client leave them out;
     §10.2: a request object made for another server is not replayed here);
  4. ``exp`` required and not past, the object living at most :data:`MAX_LIFETIME`;
     ``nbf`` and ``iat`` not more than :data:`LEEWAY` seconds ahead (FAPI 2.0 §5.3.2.1 item 13:
     10 seconds ahead accepted, more than 60 refused);
  5. no ``request`` or ``request_uri`` inside (RFC 9101 §4).

  Only its claims count: parameters sent beside it are ignored (RFC 9101 §6.3). Failures are
  ``invalid_request_object``.

* **A pushed request** (:func:`push`) is validated like an authorization request, by the same
  checks (:mod:`oauth_provider.authorization_request`), and stored
  (:class:`~oauth_provider.models.PushedAuthorization`); the client gets a single-use
  ``request_uri`` good for ``PUSHED_AUTHORIZATION_REQUEST_LIFETIME`` seconds.

At the authorization endpoint :func:`expand` replaces the front-channel parameters by the
pushed ones or the request object's (never merged with the query: RFC 9101 §6.3, RFC 9126 §4),
and :func:`spend` spends a pushed request when the authorization completes. A ``request_uri``
is only ever one of ours: nothing is fetched from a URL (RFC 9101 §10.4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, QueryDict

from . import client_keys, dpop, jwt, metadata_documents, profiles, secrets
from .authorization_request import LOGIN_AFTER, PARAMETERS, AuthorizationRequest, establish_client, validate
from .conf import provider_settings
from .errors import InvalidRequest, InvalidRequestObject, InvalidRequestUri, RequestNotSupported, UntrustedRedirect
from .issuer import endpoint_url
from .models import PushedAuthorization
from .models.pushed import REQUEST_URI_PREFIX
from .params import REPEATABLE, Params

if TYPE_CHECKING:
    from .models import AbstractClient

#: RFC 9101 §10.8: the explicit type of a request object; ``JWT`` and no ``typ`` are accepted too
TYP = "oauth-authz-req+jwt"
_ACCEPTED_TYPES = frozenset({"", "jwt", TYP})
#: seconds a request object's ``nbf``/``iat`` may be ahead of our clock, and its ``exp`` behind
LEEWAY = 60
#: the longest a request object may live, ``iat`` (or now) to ``exp``, in seconds
MAX_LIFETIME = 3600
#: JWT claims that are not authorization request parameters
_JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})
GENERIC_FAILURE = "The request object could not be verified with the client's registered keys."


# -- request objects (RFC 9101) -----------------------------------------------------------------

def verify(client: AbstractClient, token: str, issuer: str) -> dict[str, Any]:
    """The claims of the request object ``token`` of ``client``, once the rules in the module
    docstring hold. Raises :class:`InvalidRequestObject`."""
    if token.count(".") == 4:
        raise InvalidRequestObject("Encrypted request objects are not supported: sign it (JWS) instead.")
    try:
        head = jwt.foreign_header(token, _algorithms(client))
    except jwt.InvalidJWT as exc:
        raise InvalidRequestObject(f"The request object was refused: {exc} (RFC 9101 section 6.2).") from None
    if jwt.normalise_typ(head.get("typ")) not in _ACCEPTED_TYPES:
        raise InvalidRequestObject(f"The request object is typed as another kind of JWT: typ must be {TYP}.")
    claims = _verified(client, token, head)
    _check_claims(client, claims, issuer)
    return claims


def _algorithms(client: AbstractClient) -> tuple[str, ...]:
    pinned = client.request_object_signing_alg
    if pinned:
        return (pinned,) if pinned in client_keys.SIGNING_ALGORITHMS else ()
    return client_keys.SIGNING_ALGORITHMS


def _keys(client: AbstractClient, *, refresh: bool = False) -> tuple[client_keys.ClientKey, ...]:
    from .fetch import FetchError

    if client.jwks:
        return client_keys.registered_keys(client)
    if not client.jwks_uri:
        raise InvalidRequestObject("This client has registered no keys (jwks or jwks_uri) to sign request objects.")
    try:
        return client_keys.published_keys(client, refresh=refresh)
    except (FetchError, client_keys.InvalidKeySet):
        raise InvalidRequestObject("The client's keys could not be obtained from its jwks_uri.") from None


def _verified(client: AbstractClient, token: str, head: dict[str, Any]) -> dict[str, Any]:
    """The claims, once a key of ``client`` verifies the signature."""
    claims = client_keys.verified_claims(client, token, head, _keys, provider_settings.REPLAY_CACHE)
    if claims is None:
        raise InvalidRequestObject(GENERIC_FAILURE)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestObject(f"The request object's {name} is not a number.")
    return float(value)


def _check_claims(client: AbstractClient, claims: dict[str, Any], issuer: str) -> None:
    if "iss" in claims and claims["iss"] != client.client_id:
        raise InvalidRequestObject("The request object's iss must be the client_id (RFC 9101 section 4).")
    if claims.get("client_id") != client.client_id:
        raise InvalidRequestObject("The request object's client_id must be the client_id sent with it "
                                   "(RFC 9101 section 6.3).")
    aud = claims.get("aud")
    if aud is not None and aud != issuer and not (isinstance(aud, list) and issuer in aud):
        raise InvalidRequestObject(f"The request object's aud must be the issuer identifier: {issuer}.")
    now = secrets.now().timestamp()
    expires, not_before, issued = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if expires is None:
        raise InvalidRequestObject("The request object must have an exp.")
    if now > expires + LEEWAY:
        raise InvalidRequestObject("The request object has expired.")
    if expires - (issued if issued is not None else now) > MAX_LIFETIME + LEEWAY:
        raise InvalidRequestObject(f"The request object lives too long: at most {MAX_LIFETIME} seconds.")
    if not_before is not None and not_before > now + LEEWAY:
        raise InvalidRequestObject("The request object is not valid yet (nbf).")
    if issued is not None and issued > now + LEEWAY:
        raise InvalidRequestObject("The request object was issued in the future (iat).")
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObject("A request object must not contain request or request_uri (RFC 9101 section 4).")


def parameters(claims: dict[str, Any]) -> QueryDict:
    """The authorization request parameters a request object's claims carry (RFC 9101 §4: the
    claims are the parameters; JSON values become their string forms, ``claims`` a JSON text,
    repeatable ones such as ``resource`` may be arrays). Raises :class:`InvalidRequestObject`."""
    data = QueryDict(mutable=True)
    for name, value in claims.items():
        if name in _JWT_CLAIMS or name == LOGIN_AFTER or value is None:
            continue
        if isinstance(value, list) and name in REPEATABLE and all(isinstance(v, str) for v in value):
            data.setlist(name, list(value))
        elif isinstance(value, str):
            data[name] = value
        elif isinstance(value, bool):
            data[name] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            data[name] = str(int(value)) if float(value).is_integer() else str(value)
        elif isinstance(value, dict):
            data[name] = json.dumps(value, separators=(",", ":"))
        else:
            if name in PARAMETERS:
                raise InvalidRequestObject(f"The request object's {name} claim has a value of the wrong type.")
            # a claim name we do not know is the client's own text: never written on our page
            raise InvalidRequestObject("One of the request object's claims has a value of the wrong type.")
    return data


# -- pushed authorization requests (RFC 9126) ----------------------------------------------------

def push(request: HttpRequest, client: AbstractClient, params: Params, issuer: str) -> tuple[str, int]:
    """Validate the authorization request ``params`` pushed by the authenticated ``client``
    (RFC 9126 §2.1) and store it; return ``(request_uri, expires_in)``. Raises the
    :class:`~oauth_provider.errors.OAuthError` an authorization request would get, answered as
    JSON by the endpoint (never a redirect, RFC 9126 §2.3)."""
    if "request_uri" in params:
        raise InvalidRequest("A pushed authorization request cannot carry request_uri (RFC 9126 section 2.1).")
    signed = "request" in params
    if signed:
        if not provider_settings.REQUEST_OBJECTS:
            raise RequestNotSupported()
        data = parameters(verify(client, params["request"], issuer))
    else:
        # the validated request keeps authorization parameters only (PARAMETERS: never the
        # client's secret or assertion), and never our login marker (pushed, it would be stored)
        data = _as_query(params)
        data.pop(LOGIN_AFTER, None)
    data["client_id"] = client.client_id
    if profiles.fapi2() and not data.get("redirect_uri"):
        # FAPI 2.0 §5.3.2.2-6: even a client with one registered redirect URI names it
        raise InvalidRequest("redirect_uri is required in a pushed authorization request (FAPI 2.0 section 5.3.2.2).")
    req = establish_client(data, client=client)
    req.issuer, req.request, req.pushing, req.signed = issuer, request, True, signed
    validate(req, data)
    # RFC 9449 §10.1: a DPoP proof sent with the push binds the code like dpop_jkt (both: one key)
    jkt = dpop.pushed_request_jkt(request, req.params.get("dpop_jkt") or None, url=endpoint_url(request, "par"))
    raw = secrets.generate_token()
    lifetime = int(provider_settings.PUSHED_AUTHORIZATION_REQUEST_LIFETIME)
    stored = dict(req.params)
    if jkt:
        stored["dpop_jkt"] = jkt
    PushedAuthorization.objects.create(
        request_uri_hash=secrets.hash_token(REQUEST_URI_PREFIX + raw), client=client,
        parameters={"p": stored, "l": {k: list(v) for k, v in req.params.lists.items()}, "signed": signed},
        expires_at=secrets.now() + timedelta(seconds=lifetime),
    )
    return REQUEST_URI_PREFIX + raw, lifetime


def _as_query(params: Params) -> QueryDict:
    """``params`` (the endpoint's flattened form) as a query again, repeated values included."""
    data = QueryDict(mutable=True)
    for key, value in params.items():
        data[key] = value
    for key, values in params.lists.items():
        data.setlist(key, list(values))
    return data


# -- at the authorization endpoint ----------------------------------------------------------------

@dataclass
class Expanded:
    """The parameters an authorization request really carries, once ``request`` or
    ``request_uri`` is resolved; :meth:`mark` tells the request where they came from."""

    data: QueryDict
    client: AbstractClient | None = None
    pushed: PushedAuthorization | None = None
    request_uri: str = ""
    signed: bool = False
    #: the request object sent by value (``request``), as sent
    token: str = ""

    def mark(self, req: AuthorizationRequest) -> AuthorizationRequest:
        req.pushed, req.request_uri, req.signed = self.pushed, self.request_uri, self.signed
        req.request_object = self.token
        return req


def expand(data: QueryDict, issuer: str, request: HttpRequest | None, may_fetch: bool) -> Expanded:
    """Resolve ``request_uri`` (a pushed request of this client) or ``request`` (a request
    object of this client) into the parameters that count; a request with neither is returned
    as it is, and so is one using a feature that is off (the checks then say
    ``request_not_supported`` / ``request_uri_not_supported``). Raises an error that is never
    redirected (:class:`InvalidRequestUri`, :class:`InvalidRequestObject`,
    :class:`UntrustedRedirect`): the redirect URI is part of what failed. ``request`` (the
    HTTP request) and ``may_fetch`` are passed on to :func:`.metadata_documents.lookup`."""
    has_request, has_uri = "request" in data, "request_uri" in data
    if has_uri and not has_request and not any(v.startswith(REQUEST_URI_PREFIX) for v in data.getlist("request_uri")):
        # a URL, never fetched (RFC 9101 §10.4): the checks answer request_uri_not_supported
        # to the redirect URI the query proves, as OIDC Core §6.2 expects
        has_uri = False
    if not (has_request and provider_settings.REQUEST_OBJECTS) and not (
            has_uri and provider_settings.PUSHED_AUTHORIZATION_REQUESTS):
        return Expanded(data)
    if has_request and has_uri:
        raise UntrustedRedirect("request and request_uri cannot be sent together (RFC 9101 section 5).")
    client_id = _one(data, "client_id")
    if client_id is None:
        raise UntrustedRedirect("The client_id parameter is required with request or request_uri (RFC 9101 section 5).")
    expanded = _pushed(data, client_id) if has_uri else _by_value(data, client_id, issuer, request, may_fetch)
    marker = data.get(LOGIN_AFTER)
    if marker:  # our own marker, added on the way back from a forced login
        expanded.data[LOGIN_AFTER] = marker
    return expanded


def _one(data: QueryDict, name: str) -> str | None:
    """The one value of ``name`` (None when absent or empty); repeated or hostile values are
    refused before any lookup."""
    values = data.getlist(name)
    if len(values) > 1:
        raise UntrustedRedirect(f"The {name} parameter was sent more than once.")
    value = values[0] if values else ""
    if not value:
        return None
    if "\x00" in value or len(value) > provider_settings.MAX_PARAMETER_LENGTH:
        raise UntrustedRedirect(f"The {name} parameter is malformed.")
    return value


def _pushed(data: QueryDict, client_id: str) -> Expanded:
    """RFC 9126 §4: the pushed request of this ``request_uri``, if ``client_id`` pushed it."""
    request_uri = _one(data, "request_uri") or ""
    if not request_uri.startswith(REQUEST_URI_PREFIX):
        # RFC 9101 §10.4: fetching a client-named URL is an SSRF risk; only PAR's URNs are taken.
        # (A lone URL does not come here: expand() leaves it to the checks' redirected answer.)
        raise InvalidRequestUri("Only a request_uri returned by this server's PAR endpoint is accepted.")
    rows = list(PushedAuthorization.objects.by_request_uri(request_uri).select_related("client")[:1])
    row = rows[0] if rows else None
    if row is None or row.client.client_id != client_id:
        raise InvalidRequestUri("The request_uri is unknown, or was pushed by another client.")
    if row.consumed_at is not None:
        raise InvalidRequestUri("The request_uri was already used: push the request again.")
    if not row.is_live():
        raise InvalidRequestUri("The request_uri has expired: push the request again.")
    stored = row.parameters if isinstance(row.parameters, dict) else {}
    pushed = QueryDict(mutable=True)
    for key, value in dict(stored.get("p", {})).items():
        pushed[str(key)] = str(value)
    for key, values in dict(stored.get("l", {})).items():
        pushed.setlist(str(key), [str(v) for v in values])
    pushed["client_id"] = row.client.client_id
    return Expanded(pushed, client=row.client, pushed=row, request_uri=request_uri,
                    signed=bool(stored.get("signed")))


def _by_value(data: QueryDict, client_id: str, issuer: str, request: HttpRequest | None,
              may_fetch: bool) -> Expanded:
    """RFC 9101 §6: the verified request object ``request`` of the client ``client_id``."""
    try:
        client = metadata_documents.lookup(client_id, request, may_fetch=may_fetch)
    except metadata_documents.DocumentError as exc:
        raise UntrustedRedirect(str(exc)) from None
    if client is None or not client.is_active:
        raise UntrustedRedirect("The client is unknown or disabled.")
    token = _one(data, "request") or ""
    claims = verify(client, token, issuer)
    params = parameters(claims)
    params["client_id"] = client.client_id
    return Expanded(params, client=client, signed=True, token=token)


def front_channel(req: AuthorizationRequest) -> dict[str, str]:
    """The parameters the consent form carries for ``req``: for a pushed request only its
    ``client_id`` and ``request_uri`` (the pushed parameters are read again when the user
    decides, and the request_uri must still be unspent then), for a request object sent by
    value its ``client_id`` and the object (verified again when the user decides; a login the
    decision needs takes it back as sent, never its parameters as a plain query, which a client
    requiring signed requests would refuse), else the request's own."""
    if req.request_object:
        carried = {"client_id": req.client.client_id, "request": req.request_object}
    elif req.pushed is None:
        return dict(req.params)
    else:
        carried = {"client_id": req.client.client_id, "request_uri": req.request_uri}
    if LOGIN_AFTER in req.params:
        carried[LOGIN_AFTER] = req.params[LOGIN_AFTER]
    return carried


def spend(req: AuthorizationRequest) -> None:
    """The authorization of a pushed request completes: spend its ``request_uri`` (one
    conditional UPDATE; RFC 9126 §4 single use). Raises :class:`InvalidRequestUri` when another
    approval spent it first or it expired meanwhile. Call it in the transaction that stores
    the grant, so that of two parallel approvals exactly one gets a code."""
    if req.pushed is not None and not PushedAuthorization.objects.consume(req.pushed.pk):
        raise InvalidRequestUri("The request_uri was already used: push the request again.")


def retire(req: AuthorizationRequest) -> None:
    """The authorization of a pushed request ended with an error sent to the client (the user
    declined, the host's policy refused, ``prompt=none`` could not be answered): its
    ``request_uri`` is spent too. RFC 9126 §2.2: the server SHOULD treat it as one-time use;
    otherwise a declined request could be brought back, by whoever holds the link, to a user
    who might approve it the second time. One conditional UPDATE; spent already is fine."""
    if req.pushed is not None:
        PushedAuthorization.objects.consume(req.pushed.pk)

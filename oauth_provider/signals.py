"""Signals a host can listen to. They announce what happened, after the fact; no receiver
can change or veto the outcome. Every signal is sent with ``sender`` = the client model
class and these keyword arguments:

``token_issued``
    ``request``, ``client``, ``user`` (None for client_credentials), ``grant_type``,
    ``scope`` (space-separated string), ``access_token`` (the AccessToken row),
    ``refresh_token`` (the RefreshToken row or None). Raw token values are never sent.
    Sent once the tokens are stored (committed, unless the request runs in a transaction of
    the host's, ``ATOMIC_REQUESTS``), so an exception in a receiver no longer undoes them.
``consent_granted``
    ``request``, ``client``, ``user``, ``scope``.
``consent_denied``
    ``request``, ``client``, ``user``, ``scope`` (what was asked for).
``authorization_code_replayed``
    ``request``, ``client``, ``authorization`` (the revoked family).
``refresh_token_reused``
    ``request``, ``client``, ``authorization`` (the revoked family).
``token_revoked``
    ``request``, ``client``, ``token_type`` (``"access_token"``, ``"refresh_token"`` -- whose
    whole family was revoked -- or ``"authorization"`` for everything a client held for a
    user), ``user`` (or None) and ``reason``: ``"revocation_endpoint"`` (RFC 7009) or
    ``"user"`` (the connected-apps page). Replays have their own signals below.
``client_authentication_failed``
    ``request``, ``client_id`` (as presented, may be unknown), ``method``.
``device_authorization_approved``
    ``request``, ``client``, ``user`` (who entered the user code and approved), ``scope``
    (what was granted) and ``device_code`` (the DeviceCode row; never a code's value). The
    tokens follow with ``token_issued`` when the device next polls (RFC 8628 §3.4).
``device_authorization_denied``
    ``request``, ``client``, ``user``, ``scope`` (what was asked for), ``device_code``.
``token_exchanged``
    ``request``, ``client`` (who asked), ``user`` (the subject's user or None),
    ``subject_token_type``, ``subject_token`` (the AccessToken row exchanged, None for an ID
    token), ``actor_token`` (the actor's AccessToken row or None), ``act`` (the issued token's
    ``act`` claim or None) and ``access_token`` (the new row), after a token exchange (RFC 8693).
    ``token_issued`` is sent too, with the token-exchange ``grant_type``.
``backchannel_logout``
    ``client``, ``delivery`` (the :class:`~oauth_provider.models.LogoutDelivery` row, its
    ``attempts``, ``last_status`` and ``last_error`` updated) and ``outcome``: ``"delivered"``
    (the client answered 200 or 204), ``"retried"`` (it will be tried again) or ``"failed"``
    (given up). Sent after each attempt, outside any request (no ``request`` argument).
"""

from __future__ import annotations

from django.dispatch import Signal

token_issued = Signal()
consent_granted = Signal()
consent_denied = Signal()
authorization_code_replayed = Signal()
refresh_token_reused = Signal()
token_revoked = Signal()
client_authentication_failed = Signal()
device_authorization_approved = Signal()
device_authorization_denied = Signal()
token_exchanged = Signal()
backchannel_logout = Signal()

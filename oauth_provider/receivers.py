"""Signal receivers the library needs, connected in ``AppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete, post_save, pre_delete
from django.http import HttpRequest

from .session import login_ended, record_login, replaced_login


def _forget_keys(sender: Any, **kwargs: Any) -> None:
    from .keys import clear_cache

    clear_cache()


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in``: record the login (time, ``sid``); when it replaced the login session
    the browser's OpenID Connect grants were made in (another user's, or an expired one: no
    ``user_logged_out`` was sent for it), end that session as a logout would."""
    record_login(sender, request, user)
    if request is None or not hasattr(request, "session"):
        return
    replaced = replaced_login(request)
    if replaced is not None:
        from .oidc import frontchannel
        from .oidc.logout import login_replaced

        frontchannel.login_replaced(request, replaced)  # before its grants are revoked
        login_replaced(request, replaced)


def _session_ended(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out`` (sent before the session is flushed, so its ``sid`` is still known):
    back-channel logout for the clients of this session; the answer to the request then drops
    the login cookie (:func:`~oauth_provider.session.forget_ended_login`)."""
    from .oidc.logout import session_ended

    session_ended(request, user)
    login_ended(request)


def _frontchannel_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: note, on the request, the front-channel logout URIs of the clients
    of this session for the page shown next (before the flush, while the ``sid`` is known)."""
    from .oidc.frontchannel import session_ended

    session_ended(request, user)


def _revoke_session_grants(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``, connected last (the two above look at the session's live grants):
    revoke the grants that end with the login session (Back-Channel Logout 1.0 §2.7)."""
    from .oidc.logout import revoke_session_grants

    revoke_session_grants(request, user)


def _revoke_client_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` of a client: with the JWT denylist on, revoke its tokens first, so its
    JWT access tokens are refused at once (the delete cascades the rows away, and a JWT is
    checked against the denylist, not the rows)."""
    from . import denylist
    from .models.tokens import revoke_client_tokens

    if denylist.enabled():
        revoke_client_tokens(type(instance)._default_manager.filter(pk=instance.pk))


def _revoke_user_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` of a user: the same, for every grant and token of the user."""
    from . import denylist
    from .models import AccessToken, Authorization

    if denylist.enabled():
        Authorization.objects.filter(user=instance.pk).revoke()
        AccessToken.objects.filter(user=instance.pk).revoke()


def connect() -> None:
    from .models import SigningKey, advertised, get_client_model

    user_logged_in.connect(_logged_in, dispatch_uid="oauth_provider.record_login")
    # the metadata lists opt-in grants (the device grant) only while a client is registered
    post_save.connect(advertised.forget, sender=get_client_model(), dispatch_uid="oauth_provider.client_saved")
    post_delete.connect(advertised.forget, sender=get_client_model(), dispatch_uid="oauth_provider.client_deleted")
    pre_delete.connect(_revoke_client_before_delete, sender=get_client_model(),
                       dispatch_uid="oauth_provider.client_deleting")
    pre_delete.connect(_revoke_user_before_delete, sender=get_user_model(), dispatch_uid="oauth_provider.user_deleting")
    user_logged_out.connect(_session_ended, dispatch_uid="oauth_provider.backchannel_logout")
    user_logged_out.connect(_frontchannel_logout, dispatch_uid="oauth_provider.frontchannel_logout")
    user_logged_out.connect(_revoke_session_grants, dispatch_uid="oauth_provider.revoke_session_grants")
    post_save.connect(_forget_keys, sender=SigningKey, dispatch_uid="oauth_provider.keys_saved")
    post_delete.connect(_forget_keys, sender=SigningKey, dispatch_uid="oauth_provider.keys_deleted")

"""Signal receivers the library needs, connected in ``AppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save

from .session import record_login


def _forget_keys(sender: Any, **kwargs: Any) -> None:
    from .keys import clear_cache

    clear_cache()


def connect() -> None:
    from .models import SigningKey, advertised, get_client_model

    user_logged_in.connect(record_login, dispatch_uid="oauth_provider.record_login")
    # the metadata lists opt-in grants (the device grant) only while a client is registered
    post_save.connect(advertised.forget, sender=get_client_model(), dispatch_uid="oauth_provider.client_saved")
    post_delete.connect(advertised.forget, sender=get_client_model(), dispatch_uid="oauth_provider.client_deleted")
    post_save.connect(_forget_keys, sender=SigningKey, dispatch_uid="oauth_provider.keys_saved")
    post_delete.connect(_forget_keys, sender=SigningKey, dispatch_uid="oauth_provider.keys_deleted")

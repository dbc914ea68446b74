"""Registries of protocol plug-ins built from settings: grant types, client-authentication
methods and the host adapter. Built once, and reset by this module itself when
``OAUTH_PROVIDER`` changes (as Django's ``hashers`` resets its hasher cache)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .conf import provider_settings

if TYPE_CHECKING:
    from .adapter import DefaultAdapter
    from .client_auth import ClientAuthMethod
    from .grants.base import Grant


@lru_cache(maxsize=1)
def grant_types() -> dict[str, Grant]:
    """grant_type -> grant instance, for every enabled grant."""
    return {name: import_string(path)() for name, path in provider_settings.GRANT_TYPES.items()}


@lru_cache(maxsize=1)
def client_auth_methods() -> dict[str, ClientAuthMethod]:
    """token_endpoint_auth_method -> authentication instance, in settings order."""
    return {name: import_string(path)() for name, path in provider_settings.CLIENT_AUTH_METHODS.items()}


def grant_type_names() -> list[str]:
    """The registered grant types, by name only (nothing imported): what a client may be
    registered for (admin, ``createclient``, dynamic registration, metadata documents)."""
    return list(provider_settings.GRANT_TYPES)


def client_auth_method_names() -> list[str]:
    """The registered ``token_endpoint_auth_method`` values, by name only, in settings order."""
    return list(provider_settings.CLIENT_AUTH_METHODS)


@lru_cache(maxsize=1)
def adapter() -> DefaultAdapter:
    """The host's adapter instance (``OAUTH_PROVIDER["ADAPTER"]``)."""
    cls: Any = import_string(provider_settings.ADAPTER)
    return cls()  # type: ignore[no-any-return]


def clear_caches() -> None:
    grant_types.cache_clear()
    client_auth_methods.cache_clear()
    adapter.cache_clear()


@receiver(setting_changed)
def _reset_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "OAUTH_PROVIDER":
        clear_caches()

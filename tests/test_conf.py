"""``provider_settings``: defaults, the user's dict merged over them, reload on
``override_settings``, and nothing but documented names."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from oauth_provider import registry
from oauth_provider.checks import _type_ok
from oauth_provider.conf import DEFAULTS, ProviderSettings, Setting, provider_settings


def test_every_default_is_readable_documented_and_valid():
    fresh = ProviderSettings()
    with override_settings(OAUTH_PROVIDER={}):
        for name, spec in DEFAULTS.items():
            assert isinstance(spec, Setting)
            assert getattr(fresh, name) == spec.default
            assert getattr(provider_settings, name) == spec.default
            assert spec.doc.strip(), f"{name} has no documentation"
            assert _type_ok(name, spec.default), f"the default of {name} fails its own type check"


def test_user_values_override_defaults_and_the_rest_stay_default():
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://a.example/o", "ACCESS_TOKEN_LIFETIME": 120}):
        assert provider_settings.ISSUER == "https://a.example/o"
        assert provider_settings.ACCESS_TOKEN_LIFETIME == 120
        assert provider_settings.REFRESH_TOKEN_LIFETIME == DEFAULTS["REFRESH_TOKEN_LIFETIME"].default


def test_settings_reload_on_override_and_restore_after():
    before = provider_settings.ACCESS_TOKEN_LIFETIME
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ACCESS_TOKEN_LIFETIME": 5}):
        assert provider_settings.ACCESS_TOKEN_LIFETIME == 5
        with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ACCESS_TOKEN_LIFETIME": 7}):
            assert provider_settings.ACCESS_TOKEN_LIFETIME == 7
        assert provider_settings.ACCESS_TOKEN_LIFETIME == 5
    assert provider_settings.ACCESS_TOKEN_LIFETIME == before


@override_settings(OAUTH_PROVIDER={"ISSUER": "https://decorated.example/o"})
def test_override_settings_as_a_decorator():
    assert provider_settings.ISSUER == "https://decorated.example/o"


def test_settings_fixture_override_is_seen(settings):
    settings.OAUTH_PROVIDER = {"ISSUER": "https://fixture.example/o"}
    assert provider_settings.ISSUER == "https://fixture.example/o"


def test_registries_are_rebuilt_when_settings_change():
    assert type(registry.adapter()).__name__ == "DefaultAdapter"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ADAPTER": "tests.test_conf.OtherAdapter"}):
        assert type(registry.adapter()) is OtherAdapter
    assert type(registry.adapter()).__name__ == "DefaultAdapter"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "GRANT_TYPES": {}}):
        assert registry.grant_types() == {}
    assert "authorization_code" in registry.grant_types()


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="UNKNOWN"):
        provider_settings.UNKNOWN  # noqa: B018
    with pytest.raises(AttributeError):
        provider_settings._cache_of_something  # noqa: B018
    assert not hasattr(provider_settings, "UNKNOWN")


def test_unknown_user_keys_are_not_exposed():
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://a.example/o", "SURPRISE": 1}):
        with pytest.raises(AttributeError):
            provider_settings.SURPRISE  # noqa: B018


@pytest.mark.parametrize("value", [None, "not a dict", ["ISSUER"]])
def test_a_missing_or_broken_dict_falls_back_to_defaults(value):
    with override_settings(OAUTH_PROVIDER=value):
        assert provider_settings.ACCESS_TOKEN_LIFETIME == DEFAULTS["ACCESS_TOKEN_LIFETIME"].default


def test_reading_never_writes_into_django_settings():
    original = dict(settings.OAUTH_PROVIDER)
    for name in DEFAULTS:
        getattr(provider_settings, name)
    assert settings.OAUTH_PROVIDER == original


class OtherAdapter:
    """An adapter class for the registry test."""

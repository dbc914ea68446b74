"""System checks: every error and deploy warning of ``oauth_provider.checks`` fires on the
configuration it names, and a sound configuration is silent."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings
from django.utils.translation import gettext_lazy

from oauth_provider.conf import DEFAULTS

BASE = {"ISSUER": "https://id.example.com/o", "SCOPES": {"read": "Read", "write": "Write"}}


def ids(config: Any = None, *, deploy: bool = False, debug: bool = False, **extra: Any) -> list[str]:
    """The oauth_provider check ids raised for ``OAUTH_PROVIDER = BASE | extra`` (or ``config``)."""
    value = {**BASE, **extra} if config is None else config
    with override_settings(OAUTH_PROVIDER=value, DEBUG=debug):
        messages = run_checks(include_deployment_checks=deploy)
    return sorted(m.id for m in messages if m.id.startswith("oauth_provider."))


def test_sound_configuration_is_silent():
    assert ids() == []
    assert ids(deploy=True) == []


def test_test_settings_pass_the_checks():
    messages = run_checks(include_deployment_checks=True)
    assert [m for m in messages if m.id.startswith("oauth_provider.")] == []


def test_e001_not_a_dict():
    assert ids(["ISSUER", "https://id.example.com/o"]) == ["oauth_provider.E001"]
    assert ids("https://id.example.com/o", deploy=True) == ["oauth_provider.E001"]


def test_e002_unknown_key():
    with override_settings(OAUTH_PROVIDER={**BASE, "ACCESS_TOKEN_LIFETIM": 60}):
        (error,) = [m for m in run_checks() if m.id.startswith("oauth_provider.")]
    assert error.id == "oauth_provider.E002" and "ACCESS_TOKEN_LIFETIM" in error.msg
    assert "ACCESS_TOKEN_LIFETIME" in error.hint


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_e003_every_setting_is_type_checked(key):
    assert ids(**{key: object()}) == ["oauth_provider.E003"]


@pytest.mark.parametrize(("key", "value"), [
    ("ACCESS_TOKEN_LIFETIME", "3600"),
    ("ACCESS_TOKEN_LIFETIME", 3600.0),
    ("ACCESS_TOKEN_LIFETIME", None),
    ("SCOPES", ["read"]),
    ("DEFAULT_SCOPES", "read"),
    ("REMEMBER_CONSENT", 1),
    ("ADAPTER", None),
])
def test_e003_wrong_types(key, value):
    assert ids(**{key: value}) == ["oauth_provider.E003"]


@pytest.mark.parametrize("key", sorted(k for k, s in DEFAULTS.items() if int in s.types and bool not in s.types))
def test_e003_bool_is_not_an_int(key):
    assert ids(**{key: True}) == ["oauth_provider.E003"]


def test_nullable_settings_accept_none():
    nullable = {k: None for k, s in DEFAULTS.items() if s.nullable and k != "ISSUER"}
    assert nullable, "some settings are documented as nullable"
    assert ids(**nullable) == []


def test_e004_issuer_required_without_debug():
    no_issuer = {"SCOPES": BASE["SCOPES"]}
    assert ids(no_issuer) == ["oauth_provider.E004"]
    assert ids({**no_issuer, "ISSUER": None}) == ["oauth_provider.E004"]
    assert ids({**no_issuer, "ISSUER": ""}) == ["oauth_provider.E004"]
    assert ids(no_issuer, debug=True) == []
    assert ids(no_issuer, debug=True, deploy=True) == []


@pytest.mark.parametrize("issuer", [
    "https://id.example.com/o?tenant=1",
    "https://id.example.com/o#frag",
    "/o",
    "id.example.com/o",
    "ftp://id.example.com/o",
    "https:///o",
])
def test_e005_issuer_must_be_absolute_without_query_or_fragment(issuer):
    assert ids(ISSUER=issuer) == ["oauth_provider.E005"]


@pytest.mark.parametrize(("key", "value"), [
    ("ACCESS_TOKEN_LIFETIME", 0),
    ("AUTHORIZATION_CODE_LIFETIME", -1),
    ("REFRESH_TOKEN_LIFETIME", 0),
    ("REFRESH_TOKEN_IDLE_TIMEOUT", 0),
    ("DYNAMIC_CLIENT_IDLE_TIMEOUT", 0),
    ("MAX_PARAMETER_LENGTH", 0),
    ("REFRESH_TOKEN_GRACE_PERIOD", -1),
])
def test_e006_lifetimes_must_be_positive(key, value):
    assert ids(**{key: value}) == ["oauth_provider.E006"]


def test_e006_grace_period_zero_is_allowed():
    assert ids(REFRESH_TOKEN_GRACE_PERIOD=0) == []


@pytest.mark.parametrize("name", ["has space", 'quo"te', "back\\slash", "", "non-ascii-é", 42])
def test_e007_scope_must_be_a_legal_token(name):
    assert ids(SCOPES={"read": "Read", name: "Bad"}) == ["oauth_provider.E007"]


@pytest.mark.parametrize("key", ["DEFAULT_SCOPES", "OPTIONAL_SCOPES", "SELF_REGISTERED_SCOPES"])
def test_e007_default_and_optional_scopes_must_be_registered(key):
    assert ids(**{key: ["read"]}) == []
    assert ids(**{key: ["read", "admin"]}) == ["oauth_provider.E007"]
    assert ids(**{key: [["read"]]}) == ["oauth_provider.E007"]


def test_e007_self_registered_scopes_cannot_be_empty():
    """A client's empty scope list means every scope: an empty limit would open them all."""
    assert ids(SELF_REGISTERED_SCOPES=None) == []
    assert ids(SELF_REGISTERED_SCOPES=[]) == ["oauth_provider.E007"]


def test_e007_openid_connect_scopes_count_as_registered():
    assert ids(OIDC_ENABLED=True, DEFAULT_SCOPES=["openid"]) == []
    assert ids(OIDC_ENABLED=False, DEFAULT_SCOPES=["openid"]) == ["oauth_provider.E007"]


@pytest.mark.parametrize("extra", [
    {"GRANT_TYPES": {"authorization_code": "oauth_provider.grants.nope.Grant"}},
    {"GRANT_TYPES": {"authorization_code": "oauth_provider.grants.authorization_code.Nope"}},
    {"GRANT_TYPES": {"authorization_code": "nodots"}},
    {"GRANT_TYPES": {"authorization_code": 42}},
    {"CLIENT_AUTH_METHODS": {"client_secret_basic": "no.such.module.Basic"}},
    {"ADAPTER": "no.such.Adapter"},
], ids=["module", "class", "not-a-path", "not-a-string", "auth-method", "adapter"])
def test_e008_unimportable_paths(extra):
    assert ids(**extra) == ["oauth_provider.E008"]


def test_w001_issuer_not_https():
    assert ids(ISSUER="http://id.example.com/o") == []
    assert ids(ISSUER="http://id.example.com/o", deploy=True) == ["oauth_provider.W001"]


def test_w002_long_lived_access_token_and_code():
    assert ids(ACCESS_TOKEN_LIFETIME=3600, AUTHORIZATION_CODE_LIFETIME=600, deploy=True) == []
    assert ids(ACCESS_TOKEN_LIFETIME=3601, deploy=True) == ["oauth_provider.W002"]
    assert ids(AUTHORIZATION_CODE_LIFETIME=601, deploy=True) == ["oauth_provider.W002"]
    assert ids(ACCESS_TOKEN_LIFETIME=3601, AUTHORIZATION_CODE_LIFETIME=601, deploy=True) == [
        "oauth_provider.W002", "oauth_provider.W002"]
    assert ids(ACCESS_TOKEN_LIFETIME=86400) == [], "posture warnings only with --deploy"


def test_w003_long_refresh_lifetime_needs_an_idle_timeout():
    ninety_days = 90 * 86400
    assert ids(REFRESH_TOKEN_LIFETIME=ninety_days, deploy=True) == []
    assert ids(REFRESH_TOKEN_LIFETIME=ninety_days + 1, deploy=True) == ["oauth_provider.W003"]
    assert ids(REFRESH_TOKEN_LIFETIME=ninety_days + 1, REFRESH_TOKEN_IDLE_TIMEOUT=86400, deploy=True) == []


def test_deploy_check_stays_quiet_on_a_broken_configuration():
    """The errors say what is wrong; the deploy check must not crash on the same input."""
    assert ids(ACCESS_TOKEN_LIFETIME="long", deploy=True) == ["oauth_provider.E003"]
    assert ids(BASE | {"NOPE": 1, "ISSUER": "http://x"}, deploy=True) == ["oauth_provider.E002"]


def test_w004_no_signing_key_on_deploy(db):
    from django.core.checks import run_checks

    from oauth_provider import keys

    assert "oauth_provider.W004" not in {m.id for m in run_checks(include_deployment_checks=True)}
    ids = {m.id for m in run_checks(include_deployment_checks=True, databases=["default"])}
    assert "oauth_provider.W004" in ids
    keys.create_key("RS256", prepublish=False)
    ids = {m.id for m in run_checks(include_deployment_checks=True, databases=["default"])}
    assert "oauth_provider.W004" not in ids


@pytest.mark.parametrize("changes, check_id", [
    ({"SIGNING_KEY_ALGORITHM": "HS256"}, "oauth_provider.E010"),
    ({"ACCESS_TOKEN_FORMAT": "JWT"}, "oauth_provider.E010"),
    ({"JWT_ACCESS_TOKEN_DENYLIST": True, "DENYLIST_CACHE": "nope"}, "oauth_provider.E011"),
    ({"RESOURCE_IDENTIFIER": "api.example.com"}, "oauth_provider.E012"),
    ({"ID_TOKEN_LIFETIME": 0}, "oauth_provider.E006"),
    ({"SIGNING_KEY_PREPUBLICATION": -1}, "oauth_provider.E006"),
])
def test_remaining_settings_are_validated(changes, check_id):
    from django.core.checks import run_checks

    from tests.support.settings import override_oauth

    with override_oauth(**changes):
        assert check_id in {m.id for m in run_checks()}


# -- no signing key on a production site (issue 12, item 17) ----------------------------------
def _deploy_ids(**kwargs: Any) -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True, **kwargs)}


def test_e014_plain_check_deploy_says_when_no_signing_key_signs(db):
    """``manage.py check --deploy``, without ``--database``, says that sign-ins with OpenID
    Connect will fail until ``rotatekeys`` runs, and says what to run."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from oauth_provider import keys

    with override_settings(DEBUG=False):
        assert "oauth_provider.E014" in _deploy_ids()
        assert "oauth_provider.E014" in _deploy_ids(databases=["default"])
        with pytest.raises(SystemCheckError, match="rotatekeys"):
            call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
        keys.create_key("RS256", prepublish=False)
        assert "oauth_provider.E014" not in _deploy_ids()
    assert "oauth_provider.E014" not in {m.id for m in run_checks()}, "only with --deploy"


def test_e014_counts_only_a_key_that_signs_now(db):
    """A withdrawn key (``rotatekeys --compromised`` leaves one active key; deleting that one
    leaves none) or a key scheduled for later signs nothing now."""
    from oauth_provider import keys
    from oauth_provider.models import SigningKey

    keys.create_key("RS256", prepublish=False)
    keys.create_key("RS256", compromised=True)
    SigningKey.objects.filter(retired_at__isnull=True).delete()
    with override_settings(DEBUG=False):
        assert "oauth_provider.E014" in _deploy_ids()
        assert "oauth_provider.W004" in _deploy_ids(databases=["default"])


def test_e014_needs_something_to_sign(db):
    """Without OpenID Connect and with opaque access tokens nothing is signed: no message.
    One client switched to JWT access tokens brings it back."""
    from tests.support.factories import ClientFactory

    plain = {**BASE, "OIDC_ENABLED": False}
    with override_settings(DEBUG=False, OAUTH_PROVIDER=plain):
        assert "oauth_provider.E014" not in _deploy_ids()
        assert "oauth_provider.W004" not in _deploy_ids(databases=["default"])
        ClientFactory(access_token_format="jwt")
        assert "oauth_provider.E014" in _deploy_ids()
        assert "oauth_provider.W004" in _deploy_ids(databases=["default"])


def test_e014_is_quiet_with_debug_on_and_without_a_database(db):
    """DEBUG creates a key on first need (W004 still says so with ``--database``); a database
    that cannot be read leaves the check silent, never crashing the check run."""
    from unittest import mock

    from django.db import OperationalError

    with override_settings(DEBUG=True):
        assert "oauth_provider.E014" not in _deploy_ids()
    with override_settings(DEBUG=False), mock.patch(
        "oauth_provider.models.SigningKey.objects.signing", side_effect=OperationalError("no such table")
    ):
        assert "oauth_provider.E014" not in _deploy_ids()


# -- caches every worker must share (DESIGN.md "Storage rules"; issue 12, item 8) ---------------
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
SHARED = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379"}


def _w007(caches: dict, **changes: Any) -> list[str]:
    with override_settings(CACHES=caches, OAUTH_PROVIDER={**BASE, **changes}):
        return [m.msg for m in run_checks(include_deployment_checks=True, databases=["default"])
                if m.id == "oauth_provider.W007"]


def test_w007_a_per_process_default_cache_is_named_with_what_it_breaks(db):
    (message,) = _w007({"default": LOCMEM})
    assert "CACHES['default']" in message and "LocMemCache" in message
    assert "signing-key rotations" in message and "client authentications" in message
    assert _w007({"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}})
    assert _w007({"default": SHARED}) == []
    with override_settings(CACHES={"default": LOCMEM}):
        assert "oauth_provider.W007" not in {m.id for m in run_checks(include_deployment_checks=True)}, \
            "with the database checks only, as W004 and W005"


def test_w008_a_file_cache_holding_the_replay_cache_is_named(db, tmp_path):
    """The file cache is shared by a host's workers (so W007 is quiet) but its ``add()`` looks
    then writes: one DPoP proof or client assertion sent several times at once was accepted
    more than once (an outside race review)."""
    files = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    with override_settings(CACHES={"default": SHARED, "replay": files},
                           OAUTH_PROVIDER={**BASE, "REPLAY_CACHE": "replay"}):
        found = [m for m in run_checks(include_deployment_checks=True, databases=["default"])
                 if m.id in ("oauth_provider.W007", "oauth_provider.W008")]
    assert [m.id for m in found] == ["oauth_provider.W008"]
    assert "CACHES['replay']" in found[0].msg and "more than once" in found[0].msg
    with override_settings(CACHES={"default": SHARED, "replay": SHARED},
                           OAUTH_PROVIDER={**BASE, "REPLAY_CACHE": "replay"}):
        assert "oauth_provider.W008" not in {
            m.id for m in run_checks(include_deployment_checks=True, databases=["default"])}


def test_w007_names_the_registration_and_public_client_counts(db):
    """Registrations, document fetches and public clients' requests are counted per address
    in the throttle's cache: per worker with a local-memory one, so N workers allow N times the
    limit, even with the client-authentication throttle off (outside MCP review S5)."""
    (message,) = _w007({"default": LOCMEM}, DYNAMIC_REGISTRATION="open", CLIENT_ID_METADATA_DOCUMENTS=True,
                       CLIENT_AUTH_THROTTLE={"enabled": False})
    assert "dynamic registrations are counted per worker" in message
    assert "metadata document fetches are counted per worker" in message
    assert "public clients' device and pushed requests" in message
    assert "client authentications" not in message
    (message,) = _w007({"default": LOCMEM}, REGISTRATION_THROTTLE={"enabled": False})
    assert "registrations" not in message and "public clients'" in message


def test_w007_names_each_cache_that_must_be_shared(db):
    caches = {"default": SHARED, "tokens": LOCMEM, "throttle": LOCMEM}
    messages = _w007(caches, JWT_ACCESS_TOKEN_DENYLIST=True, DENYLIST_CACHE="tokens",
                     CLIENT_AUTH_THROTTLE={"cache": "throttle"})
    assert len(messages) == 2
    assert any("CACHES['tokens']" in m and "revoked JWT" in m for m in messages)
    assert any("CACHES['throttle']" in m and "client authentications" in m for m in messages)
    assert _w007(caches, CLIENT_AUTH_THROTTLE={"cache": "throttle", "enabled": False},
                 PUBLIC_CLIENT_THROTTLE={"enabled": False}) == []


# -- E015 / W009: the endpoints have an address, and it is the issuer's ---------------------------
URLS, ROOT = "oauth_provider.urls", "oauth_provider.root_urls"


def _urlconf(*mounts: tuple[str, str]):
    """A URLconf module including each ``(prefix, urlconf)``, with a login page so that W006
    stays out of the way."""
    from types import ModuleType

    from django.contrib.auth import views as auth_views
    from django.urls import include, path

    module = ModuleType("urlconf_for_check")
    module.urlpatterns = [path("accounts/login/", auth_views.LoginView.as_view(), name="login")] + [
        path(prefix, include(urlconf)) for prefix, urlconf in mounts
    ]
    return module


@pytest.mark.parametrize("mounts, config, debug, expected", [
    # the root metadata document reverses every endpoint: a 500 without them
    ([("", ROOT)], BASE, False, ["oauth_provider.E015"]),
    # DEBUG with no ISSUER derives it from the mount: every protected view would answer 500
    ([], {"SCOPES": BASE["SCOPES"]}, True, ["oauth_provider.E015"]),
    # the resource side alone, the issuer given: nothing needs the endpoints' addresses
    ([], BASE, False, []),
    ([("o/", URLS), ("", ROOT)], BASE, False, []),
    ([("auth/", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com/auth"}, False, []),
    # OpenID Connect discovery looks under the issuer's path, where nothing is mounted
    ([("o/", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com"}, False, ["oauth_provider.W009"]),
    ([("o/", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com/oauth"}, False,
     ["oauth_provider.W009"]),
    # a server-side prefix (SCRIPT_NAME) before the mount is the site's, not a mismatch
    ([("o/", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com/site/o"}, False, []),
    # mounted at the root, the issuer has no path of its own (every path "ends with" an empty mount)
    ([("", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com/o"}, False, ["oauth_provider.W009"]),
    ([("", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com"}, False, []),
    # without OpenID Connect, RFC 8414's root document finds the metadata at any issuer path
    ([("o/", URLS), ("", ROOT)], {**BASE, "ISSUER": "https://id.example.com", "OIDC_ENABLED": False}, False, []),
])
def test_e015_w009_where_the_endpoints_are_mounted(mounts, config, debug, expected):
    with override_settings(ROOT_URLCONF=_urlconf(*mounts)):
        found = [i for i in ids(config, debug=debug) if i in ("oauth_provider.E015", "oauth_provider.W009")]
    assert found == expected


def test_e015_stops_manage_py_check_and_says_how_to_mount():
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(ROOT_URLCONF=_urlconf(("", ROOT)), OAUTH_PROVIDER=BASE), \
            pytest.raises(SystemCheckError) as err:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "oauth_provider.E015" in str(err.value) and "include('oauth_provider.urls')" in str(err.value)


def test_w009_names_the_address_discovery_would_miss():
    with override_settings(OAUTH_PROVIDER={**BASE, "ISSUER": "https://id.example.com"}):
        (message,) = [m for m in run_checks() if m.id == "oauth_provider.W009"]
    assert "https://id.example.com/.well-known/openid-configuration" in message.msg
    assert "https://example.com/o" in message.hint


# -- W006: the login page exists ------------------------------------------------------------------
@pytest.mark.parametrize("django_login_url, provider_login_url, warns", [
    ("/accounts/login/", None, False),          # tests/urls.py mounts LoginView there
    ("login", None, False),                     # a URL name that reverses
    ("/nowhere/login/", None, True),            # startproject's site before a login page is mounted
    ("/nowhere/login/", "/accounts/login/", False),
    ("/accounts/login/", "/nowhere/login/", True),
    ("https://sso.example.com/login", None, False),  # another host: not ours to resolve
    ("no-such-name", None, True),
])
def test_w006_login_url_must_resolve(django_login_url, provider_login_url, warns):
    config = {**BASE, "LOGIN_URL": provider_login_url} if provider_login_url else BASE
    with override_settings(LOGIN_URL=django_login_url, OAUTH_PROVIDER=config):
        messages = [m for m in run_checks() if m.id == "oauth_provider.W006"]
    assert bool(messages) == warns
    if warns:
        setting = "OAUTH_PROVIDER['LOGIN_URL']" if provider_login_url else "LOGIN_URL"
        assert messages[0].msg.startswith(setting) and "include('django.contrib.auth.urls')" in messages[0].hint


def test_w006_through_manage_py_check():
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    out, err = StringIO(), StringIO()
    with override_settings(LOGIN_URL="/nowhere/login/"):
        call_command("check", stdout=out, stderr=err)
        assert "oauth_provider.W006" in err.getvalue()
        with pytest.raises(SystemCheckError):
            call_command("check", "--fail-level", "WARNING", stdout=out, stderr=StringIO())


def test_e020_replay_cache_must_exist_when_private_key_jwt_is_registered():
    no_jwt_bearer = {"client_credentials": "oauth_provider.grants.client_credentials.ClientCredentialsGrant"}
    # E112: DPoP proofs need the replay cache whatever else is registered
    assert ids(REPLAY_CACHE="nope", GRANT_TYPES=no_jwt_bearer) == ["oauth_provider.E020", "oauth_provider.E112"]
    without = {"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic"}
    assert ids(REPLAY_CACHE="nope", CLIENT_AUTH_METHODS=without, GRANT_TYPES=no_jwt_bearer) == [
        "oauth_provider.E112"]


@pytest.mark.parametrize("value", [0, -1, 86400])
def test_e021_client_assertion_lifetime_is_bounded(value):
    assert ids(CLIENT_ASSERTION_MAX_LIFETIME=value) == ["oauth_provider.E021"]
    assert ids(CLIENT_ASSERTION_MAX_LIFETIME=60) == []


# -- RESOURCES (RFC 8707, RFC 9728) ----------------------------------------------------------
RS = {"https://rs.example/api": {"name": "Notes API", "scopes": ["read"]}}


def test_sound_resources_are_silent():
    assert ids(RESOURCES=RS) == []
    assert ids(RESOURCES=RS, deploy=True) == []
    # the default resource may be listed to give it a name and limit its scopes
    assert ids(RESOURCES={"https://id.example.com": {"name": "This site", "scopes": ["read", "write"]}}) == []
    # a translatable name, as hosts write every user-facing string
    assert ids(RESOURCES={"https://rs.example/api": {"name": gettext_lazy("Notes API"), "scopes": ["read"]}}) == []


@pytest.mark.req("8707-2-resource-syntax")
@pytest.mark.parametrize("identifier", [
    "/api", "api.example.com", "https://rs.example/#frag", "https://rs.example/api?tenant=1", "not a uri", "",
])
def test_e040_resource_identifier_is_an_absolute_uri_without_fragment(identifier):
    assert ids(RESOURCES={identifier: {"name": "X", "scopes": []}}) == ["oauth_provider.E040"]


@pytest.mark.parametrize("entry", [["read"], {"name": "X", "scope": ["read"]}, "Notes"])
def test_e040_resource_entry_shape(entry):
    assert ids(RESOURCES={"https://rs.example/": entry}) == ["oauth_provider.E040"]


@pytest.mark.parametrize("entry", [
    {"name": "", "scopes": ["read"]}, {"name": 7}, {"scopes": "read"}, {"scopes": ["admin"]}, {"scopes": ["openid"]},
])
def test_e041_resource_name_and_scopes(entry):
    assert ids(RESOURCES={"https://rs.example/": entry}) == ["oauth_provider.E041"]


@pytest.mark.req("9068-5-distinct-aud")
def test_e042_two_resources_one_metadata_url():
    # the default resource is the issuer's origin, https://id.example.com: with a slash it is
    # another identifier, described at the same URL
    assert ids(RESOURCES={"https://id.example.com/": {"name": "X"}}) == ["oauth_provider.E042"]
    assert ids(RESOURCES={"https://rs.example/api": {}, "https://rs.example/api/": {}}) == []
    assert ids(RESOURCES={"https://rs.example": {}, "https://rs.example/": {}}) == ["oauth_provider.E042"]


def test_w040_resource_not_https():
    assert ids(RESOURCES={"http://rs.example/": {"name": "X"}}, deploy=True) == ["oauth_provider.W040"]
    assert ids(RESOURCES={"urn:example:rs": {"name": "X"}}, deploy=True) == ["oauth_provider.W040"]


# -- the device authorization grant (RFC 8628): E060-E062, W060 ---------------------------------
@pytest.mark.parametrize("block", [
    {"failures": 0}, {"window": -1}, {"enabled": "yes"}, {"cache": "nowhere"}, {"ip_header": ""}, {"typo": 1},
    {"address_failures": 0}, {"address_failures": "20"}, {"address_failures": True},
])
def test_e060_user_code_throttle_block(block):
    assert ids(DEVICE_USER_CODE_THROTTLE=block) == ["oauth_provider.E060"]


def test_only_the_device_throttle_has_an_address_count_of_its_own():
    assert ids(DEVICE_USER_CODE_THROTTLE={"address_failures": 50}) == []
    assert ids(CLIENT_AUTH_THROTTLE={"address_failures": 50}) == ["oauth_provider.E009"]


@pytest.mark.parametrize("uri", ["/device", "ftp://example.com/d", "https://example.com/d#x"])
def test_e061_verification_uri_must_be_absolute_http(uri):
    assert ids(DEVICE_VERIFICATION_URI=uri) == ["oauth_provider.E061"]
    assert ids(DEVICE_VERIFICATION_URI="https://example.com/tv") == []


def test_e062_interval_below_lifetime_and_e006_positive():
    assert ids(DEVICE_CODE_LIFETIME=5, DEVICE_CODE_INTERVAL=5) == ["oauth_provider.E062"]
    assert ids(DEVICE_CODE_INTERVAL=0) == ["oauth_provider.E006"]
    assert ids(DEVICE_CODE_LIFETIME=0) == ["oauth_provider.E006"]


def test_w060_long_lived_device_codes_or_no_throttle():
    assert ids(DEVICE_CODE_LIFETIME=1801, deploy=True) == ["oauth_provider.W060"]
    assert ids(DEVICE_USER_CODE_THROTTLE={"enabled": False}, deploy=True) == ["oauth_provider.W060"]
    assert ids(DEVICE_CODE_LIFETIME=1800, deploy=True) == []


# -- the JWT bearer grant (RFC 7523 §2.1) ------------------------------------------------------

_JWK = {"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}


@pytest.mark.parametrize("issuers", [
    {"": {"jwks": {"keys": [_JWK]}}},
    {"https://idp.example": "https://idp.example/jwks"},
    {"https://idp.example": {"jwks_url": "https://idp.example/jwks"}},
])
def test_e100_jwt_bearer_issuers_shape(issuers):
    assert ids(JWT_BEARER_ISSUERS=issuers) == ["oauth_provider.E100"]


@pytest.mark.parametrize("entry", [
    {},
    {"jwks": {"keys": [_JWK]}, "jwks_uri": "https://idp.example/jwks"},
    {"jwks": {"keys": [{**_JWK, "d": "private"}]}},
    {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
    {"jwks_uri": "http://idp.example/jwks"},
    {"jwks_uri": "not a url"},
])
def test_e101_jwt_bearer_issuer_keys(entry):
    assert ids(JWT_BEARER_ISSUERS={"https://idp.example": entry}) == ["oauth_provider.E101"]


def test_e102_jwt_bearer_issuer_clients():
    entry = {"jwks": {"keys": [_JWK]}, "clients": "svc"}
    assert ids(JWT_BEARER_ISSUERS={"https://idp.example": entry}) == ["oauth_provider.E102"]
    entry["clients"] = ["svc"]
    assert ids(JWT_BEARER_ISSUERS={"https://idp.example": entry}) == []
    assert ids(JWT_BEARER_ISSUERS={"https://idp.example": {"jwks_uri": "https://idp.example/jwks"}}) == []


@pytest.mark.parametrize("value", [0, -5, 7200])
def test_e103_jwt_bearer_lifetime_is_bounded(value):
    assert ids(JWT_BEARER_MAX_LIFETIME=value) == ["oauth_provider.E103"]


def test_e104_replay_cache_must_exist_when_the_jwt_bearer_grant_is_registered():
    without = {"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic"}
    assert ids(REPLAY_CACHE="nope", CLIENT_AUTH_METHODS=without) == ["oauth_provider.E104", "oauth_provider.E112"]


# -- DPoP (RFC 9449) ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithms", [[], ["none"], ["HS256"], ["ES256", "HS512"], ["ES257"], [256]])
def test_e110_dpop_algorithms_are_asymmetric(algorithms):
    assert ids(DPOP_SIGNING_ALGORITHMS=algorithms) == ["oauth_provider.E110"]


def test_w112_require_dpop_makes_form_body_tokens_pointless():
    assert ids(REQUIRE_DPOP=True, BEARER_FORM_BODY=True) == ["oauth_provider.W112"]
    assert ids(REQUIRE_DPOP=True) == [] and ids(BEARER_FORM_BODY=True) == []
    # the FAPI 2.0 profile requires DPoP too (unless the host turns it off, which E135 reports)
    assert "oauth_provider.W112" in ids(PROFILE="fapi2", BEARER_FORM_BODY=True)
    assert "oauth_provider.W112" not in ids(PROFILE="fapi2", BEARER_FORM_BODY=True, REQUIRE_DPOP=False)


def test_dpop_algorithms_may_be_narrowed():
    assert ids(DPOP_SIGNING_ALGORITHMS=["PS256", "ES256", "EdDSA"]) == []


@pytest.mark.parametrize("value", [0, -5, 301, 3600])
def test_e111_dpop_proof_max_age_is_bounded(value):
    assert ids(DPOP_PROOF_MAX_AGE=value) == ["oauth_provider.E111"]
    assert ids(DPOP_PROOF_MAX_AGE=300) == []


def test_dpop_switches_are_booleans():
    assert ids(DPOP_NONCE="yes") == ["oauth_provider.E003"]
    assert ids(REQUIRE_DPOP=1) == ["oauth_provider.E003"]
    assert ids(DPOP_NONCE=True, REQUIRE_DPOP=True) == []


@pytest.mark.parametrize("value", [0, -5, 601, 3600])
def test_e120_the_request_uri_lifetime_is_short(value):
    assert ids(PUSHED_AUTHORIZATION_REQUEST_LIFETIME=value) == ["oauth_provider.E120"]
    assert ids(PUSHED_AUTHORIZATION_REQUEST_LIFETIME=90) == []


def test_e121_par_required_but_off():
    assert ids(REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=True, PUSHED_AUTHORIZATION_REQUESTS=False) == [
        "oauth_provider.E121"]
    assert ids(REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=True) == []


def test_e122_signed_request_objects_required_but_off():
    assert ids(REQUIRE_SIGNED_REQUEST_OBJECT=True, REQUEST_OBJECTS=False) == ["oauth_provider.E122"]
    assert ids(REQUIRE_SIGNED_REQUEST_OBJECT=True) == []


def test_par_settings_of_the_wrong_type_are_e003_only():
    assert ids(PUSHED_AUTHORIZATION_REQUEST_LIFETIME="60") == ["oauth_provider.E003"]
    assert ids(REQUIRE_PUSHED_AUTHORIZATION_REQUESTS="yes") == ["oauth_provider.E003"]


# -- W073: per-address throttles behind a proxy -------------------------------------------------

PROXY = {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def w073(deploy: bool = True, **extra: Any) -> list[str]:
    """The W073 messages for ``OAUTH_PROVIDER = BASE | extra`` under the proxy settings."""
    with override_settings(OAUTH_PROVIDER={**BASE, **extra}, **PROXY):
        messages = run_checks(include_deployment_checks=deploy)
    return [m.msg for m in messages if m.id == "oauth_provider.W073"]


def test_w073_a_proxy_without_ip_header_makes_every_caller_one_address():
    """Behind a proxy REMOTE_ADDR is the proxy's: without ip_header one caller spends the
    per-address counts of everyone (client authentication, registration, public clients'
    device and pushed requests; the device page's user codes)."""
    messages = w073()
    assert len(messages) == 2
    assert "CLIENT_AUTH_THROTTLE has no 'ip_header'" in messages[0] and "SECURE_PROXY_SSL_HEADER" in messages[0]
    assert "DEVICE_USER_CODE_THROTTLE has no 'ip_header'" in messages[1]
    assert w073(deploy=False) == []  # a deploy warning
    with override_settings(OAUTH_PROVIDER=BASE, USE_X_FORWARDED_HOST=True):
        assert [m.id for m in run_checks(include_deployment_checks=True)].count("oauth_provider.W073") == 2
    with override_settings(OAUTH_PROVIDER=BASE):  # no sign of a proxy: REMOTE_ADDR is the caller
        assert "oauth_provider.W073" not in [m.id for m in run_checks(include_deployment_checks=True)]


def test_w073_silent_once_each_throttle_names_its_header_or_counts_nothing():
    header = {"ip_header": "HTTP_X_REAL_IP"}
    assert w073(CLIENT_AUTH_THROTTLE=header, DEVICE_USER_CODE_THROTTLE=header) == []
    (only,) = w073(CLIENT_AUTH_THROTTLE=header)
    assert "(SECURE_PROXY_SSL_HEADER)" in only and "DEVICE_USER_CODE_THROTTLE" in only
    off = {"enabled": False}
    # the client-auth header also names the caller for registrations and public clients' requests
    assert len(w073(CLIENT_AUTH_THROTTLE=off, DEVICE_USER_CODE_THROTTLE=header)) == 1
    assert w073(CLIENT_AUTH_THROTTLE=off, REGISTRATION_THROTTLE=off, PUBLIC_CLIENT_THROTTLE=off,
                DEVICE_USER_CODE_THROTTLE=header) == []
    grants = {k: v for k, v in DEFAULTS["GRANT_TYPES"].default.items() if k != DEVICE_GRANT}
    assert w073(CLIENT_AUTH_THROTTLE=header, GRANT_TYPES=grants) == []  # no device flow, no device page

"""The device authorization endpoint (RFC 8628 §3.1-3.2) and its metadata (§4)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider.conf import DEFAULTS
from oauth_provider.models import DeviceCode
from oauth_provider.secrets import USER_CODE_ALPHABET
from tests.conftest import basic_auth
from tests.support.device_helpers import DEVICE_AUTHORIZATION, start, started
from tests.support.factories import DEVICE_GRANT, ClientFactory, DeviceClientFactory
from tests.support.settings import oauth_settings
from tests.support.token_helpers import assert_error, assert_no_store, post_form

pytestmark = pytest.mark.django_db

METADATA = "/o/.well-known/oauth-authorization-server"
DISCOVERY = "/o/.well-known/openid-configuration"
USER_CODE = re.compile(rf"[{USER_CODE_ALPHABET}]{{5}}-[{USER_CODE_ALPHABET}]{{5}}")


@pytest.fixture
def api():
    return HttpClient()


@pytest.fixture
def device_client(db):
    return DeviceClientFactory(name="TV")


@pytest.mark.req("8628-3.1-endpoint")
def test_a_public_client_gets_every_field_uncached(api, device_client):
    response = start(api, device_client, scope="read")
    assert response.status_code == 200, response.content
    assert_no_store(response)
    body = response.json()
    assert set(body) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                         "expires_in", "interval"}
    assert USER_CODE.fullmatch(body["user_code"])
    assert body["verification_uri"] == "https://testserver/o/device/"
    assert body["verification_uri_complete"] == f"https://testserver/o/device/?user_code={body['user_code']}"
    assert body["expires_in"] == 600 and body["interval"] == 5
    device = DeviceCode.objects.get()
    assert device.client == device_client and device.scope == "read" and device.status == "pending"
    # only digests are stored: neither code appears in the row
    stored = " ".join(str(v) for v in DeviceCode.objects.values().get().values())
    assert body["device_code"] not in stored
    assert body["user_code"] not in stored and body["user_code"].replace("-", "") not in stored


def test_a_device_needs_no_csrf_cookie(device_client):
    """Devices are not browsers: the endpoint is CSRF-exempt like the token endpoint."""
    strict = HttpClient(enforce_csrf_checks=True)
    assert start(strict, device_client, scope="read").status_code == 200


@pytest.mark.req("8628-3.1-endpoint")
def test_get_is_405(api, device_client):
    response = api.get(DEVICE_AUTHORIZATION, {"client_id": device_client.client_id})
    assert response.status_code == 405
    assert DeviceCode.objects.count() == 0


@pytest.mark.req("8628-3.1-endpoint")
def test_client_authentication_is_the_token_endpoints(api):
    confidential = ClientFactory(grant_types=DEVICE_GRANT)
    wrong = post_form(api, {"scope": "read"}, DEVICE_AUTHORIZATION,
                      HTTP_AUTHORIZATION=basic_auth(confidential.client_id, "wrong"))
    assert_error(wrong, "invalid_client")
    assert wrong["WWW-Authenticate"].startswith("Basic")
    unknown = post_form(api, {"client_id": "nobody", "scope": "read"}, DEVICE_AUTHORIZATION)
    assert_error(unknown, "invalid_client")
    no_secret = post_form(api, {"client_id": confidential.client_id, "scope": "read"}, DEVICE_AUTHORIZATION)
    assert_error(no_secret, "invalid_client")
    assert DeviceCode.objects.count() == 0
    assert start(api, confidential, scope="read").status_code == 200


@pytest.mark.req("8628-3.1-params")
def test_parameters_empty_unknown_and_repeated(api, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DEFAULT_SCOPES=["read"])
    empty = started(api, device_client, scope="", foo="bar")
    assert DeviceCode.objects.by_device_code(empty["device_code"]).get().scope == "read"
    for repeated in ([("client_id", device_client.client_id)] * 2,
                     [("client_id", device_client.client_id), ("scope", "read"), ("scope", "write")]):
        response = post_form(api, repeated, DEVICE_AUTHORIZATION)
        assert_error(response, "invalid_request")
    assert DeviceCode.objects.count() == 1


def test_scope_is_checked_like_the_authorization_endpoints(api):
    limited = DeviceClientFactory(allowed_scopes="read")
    assert_error(start(api, limited, scope="read write"), "invalid_scope")
    assert_error(start(api, limited, scope="unknown"), "invalid_scope")
    assert_error(start(api, limited, scope='bad"scope'), "invalid_scope")
    assert_error(start(api, limited), "invalid_scope")  # no scope, no default
    assert started(api, limited, scope="read")


@pytest.mark.req("DERIVED-client-policy")
def test_a_client_must_be_registered_for_the_grant(api, public_client):
    refused = assert_error(start(api, public_client, scope="read"), "unauthorized_client")
    assert refused["error_description"] == "This client may not use the device authorization grant."
    assert DeviceCode.objects.count() == 0


@pytest.mark.req("OIDC-11-offline-access")
def test_offline_access_follows_the_device_clients_refresh_grant(api):
    """OIDC Core §11, as at the authorization endpoint: a device that may use refresh tokens
    keeps ``offline_access`` in what the user is asked for; one that may not has it dropped
    (ignored, not an error), so the consent page never promises it."""
    with_refresh = DeviceClientFactory(allowed_scopes="read", grant_types=f"{DEVICE_GRANT} refresh_token")
    assert started(api, with_refresh, scope="read offline_access")
    assert DeviceCode.objects.get(client=with_refresh).scope == "read offline_access"
    without = DeviceClientFactory(allowed_scopes="read offline_access", grant_types=DEVICE_GRANT)
    assert started(api, without, scope="read offline_access")
    assert DeviceCode.objects.get(client=without).scope == "read"


@pytest.mark.req("8707-2.1-unknown-resource")
def test_the_resource_policy_is_asked_for_the_device_client(api, settings):
    """RFC 8707 §2: a resource the host's policy refuses to this client is ``invalid_target``
    at the device authorization endpoint, and one it allows to that client is stored; the
    policy (here ``OnlyResourceA``) decides by the client asking."""
    from tests.support.audience_urls import RESOURCES, RS_B, SCOPES

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    assert_error(start(api, DeviceClientFactory(name="TV"), scope="read", resource=RS_B), "invalid_target")
    trusted = DeviceClientFactory(name="Trusted RP")
    assert started(api, trusted, scope="read", resource=RS_B)
    assert DeviceCode.objects.get().client == trusted and DeviceCode.objects.get().resources == RS_B


def test_in_development_the_verification_uri_and_the_default_resource_come_from_the_request(api, device_client,
                                                                                          settings):
    """DEBUG with no ISSUER: the device is sent to this site's own device page, and may name
    the default resource (the origin the request came to), as at the token endpoint."""
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None,
                                             RESOURCES={"https://rs-a.example/": {"name": "A", "scopes": ["write"]}})
    flow = started(api, device_client, resource="http://testserver")
    assert flow["verification_uri"] == "http://testserver/o/device/"
    assert DeviceCode.objects.get().resources in ("", "http://testserver")


def test_an_inactive_client_is_refused(api, device_client):
    device_client.is_active = False
    device_client.save()
    assert_error(start(api, device_client, scope="read"), "invalid_client")


@pytest.mark.req("8628-5.2-device-code-entropy")
def test_device_codes_are_long_random_and_unrelated_to_user_codes(api, device_client):
    flows = [started(api, device_client) for _ in range(50)]
    codes = [f["device_code"] for f in flows]
    assert len(set(codes)) == len(codes) and all(len(c) >= 43 for c in codes)
    assert len({c[:4] for c in codes}) > 40  # no shared prefix
    assert not any(f["user_code"].replace("-", "") in f["device_code"] for f in flows)
    assert len({f["user_code"] for f in flows}) == len(flows)


def test_verification_uri_setting(api, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DEVICE_VERIFICATION_URI="https://ex.example/tv")
    flow = started(api, device_client)
    assert flow["verification_uri"] == "https://ex.example/tv"
    assert flow["verification_uri_complete"] == f"https://ex.example/tv?user_code={flow['user_code']}"


def test_lifetime_and_interval_settings(api, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DEVICE_CODE_LIFETIME=300, DEVICE_CODE_INTERVAL=8)
    flow = started(api, device_client)
    assert (flow["expires_in"], flow["interval"]) == (300, 8)


def grants_without_device():
    return {k: v for k, v in DEFAULTS["GRANT_TYPES"].default.items() if k != DEVICE_GRANT}


def test_disabled_grant_answers_404_everywhere(api, device_client, browser):
    with override_settings(OAUTH_PROVIDER=oauth_settings(GRANT_TYPES=grants_without_device())):
        assert start(api, device_client, scope="read").status_code == 404
        assert browser.get("/o/device/").status_code == 404
        assert "device_authorization_endpoint" not in api.get(METADATA).json()


@pytest.mark.req("BCP-2.6-metadata")
def test_metadata_lists_the_device_grant_only_while_a_client_is_registered(api, db):
    def document(path=METADATA):
        return api.get(path).json()

    for path in (METADATA, DISCOVERY):
        doc = document(path)
        assert DEVICE_GRANT not in doc["grant_types_supported"]
        assert "device_authorization_endpoint" not in doc
    client = DeviceClientFactory()
    for path in (METADATA, DISCOVERY):
        doc = document(path)
        assert DEVICE_GRANT in doc["grant_types_supported"]
        assert doc["device_authorization_endpoint"] == "https://testserver/o/device_authorization/"
    client.is_active = False
    client.save()
    assert "device_authorization_endpoint" not in document()
    # a grant type that merely contains the name is not a registration for it
    lookalike = ClientFactory()  # as an extension grant of the registry would be stored
    type(lookalike).objects.filter(pk=lookalike.pk).update(grant_types=f"authorization_code {DEVICE_GRANT}x")
    assert "device_authorization_endpoint" not in document()
    ClientFactory(grant_types=f"authorization_code {DEVICE_GRANT} refresh_token")
    assert DEVICE_GRANT in document()["grant_types_supported"]


def test_the_metadata_costs_one_cached_query_for_the_opt_in_grants(api, db, assert_num_queries):
    """One query on a cold cache, none after; saving or deleting a client forgets the answer."""
    with assert_num_queries(1):
        assert "device_authorization_endpoint" not in api.get(METADATA).json()
    with assert_num_queries(0):
        assert "device_authorization_endpoint" not in api.get(METADATA).json()
    client = DeviceClientFactory()
    with assert_num_queries(1):
        assert "device_authorization_endpoint" in api.get(METADATA).json()
    with assert_num_queries(0):
        assert "device_authorization_endpoint" in api.get(METADATA).json()
    client.delete()
    assert "device_authorization_endpoint" not in api.get(METADATA).json()


def test_the_metadata_survives_a_cache_outage(api, db, settings):
    settings.CACHES = {"default": {"BACKEND": "tests.test_throttling.BrokenCache"}}
    DeviceClientFactory()
    assert "device_authorization_endpoint" in api.get(METADATA).json()


def test_the_documented_defaults():
    assert settings.OAUTH_PROVIDER.get("DEVICE_CODE_LIFETIME") is None
    assert DEFAULTS["DEVICE_CODE_LIFETIME"].default == 600
    assert DEFAULTS["DEVICE_CODE_INTERVAL"].default == 5
    assert DEVICE_GRANT in DEFAULTS["GRANT_TYPES"].default


def test_a_public_clients_requests_are_throttled_per_address_and_store_nothing_past_the_limit(api, device_client):
    """A public client proves only its client_id, so anyone can start flows in its name: past
    ``PUBLIC_CLIENT_THROTTLE`` from one address the endpoint answers 429 with Retry-After and
    stores no device code; another address, and a confidential client, are not held back."""
    confidential = ClientFactory(grant_types=DEVICE_GRANT)
    with override_settings(OAUTH_PROVIDER=oauth_settings(PUBLIC_CLIENT_THROTTLE={"requests": 2, "window": 60})):
        # a refused request counts too: the limit is on what an address sends
        assert_error(start(api, device_client, scope="nonsense"), "invalid_scope")
        assert start(api, device_client, scope="read").status_code == 200
        refused = start(api, device_client, scope="read")
        assert_error(refused, "invalid_request", status=429)
        assert refused["Retry-After"] == "60"
        assert DeviceCode.objects.count() == 1
        elsewhere = start(HttpClient(REMOTE_ADDR="192.0.2.9"), device_client, scope="read")
        assert elsewhere.status_code == 200
        assert start(api, confidential, scope="read").status_code == 200
    assert DeviceCode.objects.count() == 3


def test_a_page_making_its_visitors_browsers_start_flows_cannot_lock_out_their_devices(public_client):
    """Any page can make its visitors' browsers POST forms to this endpoint (no CORS preflight
    for a form) and to the PAR endpoint (open to browsers by design), both counted by
    ``PUBLIC_CLIENT_THROTTLE``. Those requests carry ``Origin``/``Sec-Fetch-Site``; a device
    sends neither, and its count is its own: the TV behind the visitor's NAT still starts its
    flow. The page's requests are held by a count of their own."""
    from tests.support.par_helpers import push

    home = "198.51.100.7"
    tv = DeviceClientFactory(name="Living-room TV")
    page = HttpClient(REMOTE_ADDR=home, HTTP_ORIGIN="https://ads.example", HTTP_SEC_FETCH_SITE="cross-site")
    with override_settings(OAUTH_PROVIDER=oauth_settings(PUBLIC_CLIENT_THROTTLE={"requests": 3, "window": 60})):
        statuses = [start(page, tv, scope="read").status_code for _ in range(2)]
        statuses += [push(public_client, page).status_code for _ in range(2)]
        assert statuses == [200, 200, 201, 429]
        assert start(HttpClient(REMOTE_ADDR=home), tv, scope="read").status_code == 200
        # a caller pretending to be a browser only moves its own requests to the browsers' count
        pretender = HttpClient(REMOTE_ADDR="192.0.2.50", HTTP_ORIGIN="https://x.example")
        assert [start(pretender, tv, scope="read").status_code for _ in range(4)] == [200, 200, 200, 429]

"""Throttling of failed client authentication (OAuth 2.1 §2.4.1; figure F25).

Black-box through the token, introspection and revocation endpoints: ``failures`` wrong
credentials per address and per confidential client_id are answered 401 as usual, the next
wrong ones 429 ``invalid_client`` with ``Retry-After`` until the window that began with the
first failure ends. Correct credentials are never refused because of anyone's failures
(issue 12, item 3: the lock must not be a denial of service), and are never counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache.backends.base import BaseCache
from django.core.checks import run_checks
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import throttling
from oauth_provider.errors import ClientAuthThrottled, PublicClientThrottled, RegistrationThrottled
from oauth_provider.throttling import client_ip, count_public_client_request, count_registration, throttle_settings
from tests.support.endpoints import provider_settings
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.token_helpers import TOKEN_ERRORS, FrozenClock, assert_no_store, post_form

from .conftest import basic_auth

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials", "scope": "read"}
THRESHOLD = 10  # the documented default
ATTACKER, OTHER = "198.51.100.7", "203.0.113.9"


def token_request(client, secret: str, address: str = ATTACKER, **extra: Any):
    return post_form(
        HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret), REMOTE_ADDR=address, **extra
    )


def assert_throttled(response) -> int:
    """429 invalid_client, RFC 6749 §5.2 shaped, no-store, Retry-After in seconds; returns it."""
    assert response.status_code == 429, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_client" and body["error"] in TOKEN_ERRORS
    assert "access_token" not in body
    assert_no_store(response)
    assert not response.has_header("WWW-Authenticate")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def fail(client, times: int, address: str = ATTACKER) -> list[int]:
    return [token_request(client, "wrong-secret", address).status_code for _ in range(times)]


@pytest.fixture
def clock():
    return FrozenClock()


def test_the_documented_defaults():
    conf = throttle_settings()
    assert (conf.enabled, conf.failures, conf.window, conf.cache, conf.ip_header) == (True, 10, 60, "default", None)


@pytest.mark.req("O21-2.4.1-brute-force")
def test_wrong_secrets_are_throttled_at_the_threshold_until_the_window_ends(conf_client, clock, figure):
    statuses = fail(conf_client, THRESHOLD)
    assert statuses == [401] * THRESHOLD
    assert assert_throttled(token_request(conf_client, "wrong-secret")) == 60
    clock.advance(45)
    assert assert_throttled(token_request(conf_client, "wrong-secret")) == 15
    clock.advance(16)
    assert token_request(conf_client, "wrong-secret").status_code == 401
    figure("F25", f"client auth throttled after {statuses.count(401)} failures/60 s (documented: {THRESHOLD}); "
                  "429 + Retry-After for wrong credentials until the window ends; correct ones always pass")


# -- the lock is not a denial of service (issue 12, item 3) ----------------------------------


@pytest.mark.req("O21-2.4.1-brute-force")
def test_the_right_secret_is_accepted_after_50_failures_from_another_address(conf_client, clock):
    fail(conf_client, 50)
    response = token_request(conf_client, conf_client.raw_secret, address=OTHER)
    assert response.status_code == 200, response.content
    # and at the other two endpoints
    good = basic_auth(conf_client.client_id, conf_client.raw_secret)
    for path in ("/o/introspect/", "/o/revoke/"):
        response = post_form(HttpClient(), {"token": "x" * 43}, path=path, HTTP_AUTHORIZATION=good, REMOTE_ADDR=OTHER)
        assert response.status_code == 200, (path, response.content)
    # while wrong guesses stay throttled, from any address
    assert_throttled(token_request(conf_client, "wrong-secret", address="192.0.2.77"))


def test_the_right_secret_is_accepted_from_the_attackers_own_address(conf_client, clock):
    """Behind a reverse proxy with the default ``ip_header`` every caller has the proxy's
    address: an attacker's failures there must not lock out the clients behind it."""
    proxy = "10.0.0.2"
    for i in range(50):
        post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(f"guess-{i}", "x"), REMOTE_ADDR=proxy)
    fail(conf_client, 50, address=proxy)
    other = ClientFactory()
    assert token_request(conf_client, conf_client.raw_secret, address=proxy).status_code == 200
    assert token_request(other, other.raw_secret, address=proxy).status_code == 200
    assert_throttled(token_request(other, "wrong-secret", address=proxy))


def test_a_public_client_is_not_locked(db, clock):
    """A public client has no secret to guess: failures naming it (a secret sent for it, from
    many addresses) lock nothing, and its own requests go on."""
    public = PublicClientFactory()
    for i in range(50):
        post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(public.client_id, "x"),
                  REMOTE_ADDR=f"192.0.2.{i + 1}")
    body = {"token": "x" * 43, "client_id": public.client_id}
    response = post_form(HttpClient(), body, path="/o/revoke/", REMOTE_ADDR=OTHER)
    assert response.status_code == 200, response.content
    # a failure naming it from a fresh address is an ordinary 401, not 429
    response = post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(public.client_id, "x"), REMOTE_ADDR=OTHER)
    assert response.status_code == 401


def test_unknown_client_ids_have_no_count_of_their_own(db, clock):
    """An unknown client_id is only counted for the caller's address: failures spread over
    many addresses do not throttle it (nor fill the cache with invented ids)."""
    for i in range(50):
        response = post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth("ghost", "x"),
                             REMOTE_ADDR=f"192.0.2.{i + 1}")
        assert response.status_code == 401
    response = post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth("ghost", "x"), REMOTE_ADDR=OTHER)
    assert response.status_code == 401


def test_browsers_made_to_fail_at_the_cors_open_revocation_endpoint_lock_nobody_out(conf_client, clock):
    """Revocation answers any origin (CORS), so a hostile page can make its visitors' browsers
    send failing requests naming a client: the client's own requests still succeed."""
    auth = basic_auth(conf_client.client_id, "wrong-secret")
    for i in range(50):
        response = post_form(HttpClient(), {"token": "x" * 43}, path="/o/revoke/", HTTP_AUTHORIZATION=auth,
                             HTTP_ORIGIN="https://evil.example", REMOTE_ADDR=f"198.18.0.{i + 1}")
        assert response["Access-Control-Allow-Origin"] == "*"
    good = basic_auth(conf_client.client_id, conf_client.raw_secret)
    response = post_form(HttpClient(), {"token": "x" * 43}, path="/o/revoke/", HTTP_AUTHORIZATION=good,
                         REMOTE_ADDR=OTHER)
    assert response.status_code == 200
    assert token_request(conf_client, conf_client.raw_secret, address=OTHER).status_code == 200


@pytest.mark.req("O21-2.4.1-brute-force")
def test_each_attempt_past_the_threshold_is_throttled(conf_client, clock):
    fail(conf_client, THRESHOLD)
    for _ in range(20):
        assert_throttled(token_request(conf_client, "wrong-secret"))
        clock.advance(1)


@pytest.mark.req("O21-2.4.1-brute-force")
def test_per_client_id_across_addresses(conf_client, clock):
    """A distributed guesser: one failure from each of ten addresses locks the client_id."""
    for i in range(THRESHOLD):
        assert token_request(conf_client, "wrong-secret", address=f"192.0.2.{i + 1}").status_code == 401
    assert_throttled(token_request(conf_client, "wrong-secret", address="192.0.2.200"))
    assert token_request(conf_client, conf_client.raw_secret, address="192.0.2.200").status_code == 200
    other = ClientFactory()
    assert token_request(other, other.raw_secret, address="192.0.2.200").status_code == 200


@pytest.mark.req("O21-2.4.1-brute-force")
def test_per_address_across_client_ids(db, clock):
    """One address spraying many client_ids (known and unknown) is stopped for all of them."""
    victim = ClientFactory()
    for i in range(THRESHOLD):
        response = post_form(
            HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(f"guess-{i}", "x"), REMOTE_ADDR=ATTACKER
        )
        assert response.status_code == 401
    assert_throttled(token_request(victim, "wrong-secret", address=ATTACKER))
    assert token_request(victim, "wrong-secret", address=OTHER).status_code == 401
    # the right secret passes from both
    assert token_request(victim, victim.raw_secret, address=ATTACKER).status_code == 200


def test_successful_traffic_is_never_counted(conf_client, clock):
    for _ in range(3 * THRESHOLD):
        assert token_request(conf_client, conf_client.raw_secret).status_code == 200
    assert fail(conf_client, THRESHOLD - 1) == [401] * (THRESHOLD - 1)
    # Successes in between neither count nor clear the failures.
    assert token_request(conf_client, conf_client.raw_secret).status_code == 200
    assert fail(conf_client, 1) == [401]
    assert_throttled(token_request(conf_client, "wrong-secret"))
    assert token_request(conf_client, conf_client.raw_secret).status_code == 200


def test_a_new_window_counts_from_one_again(conf_client, clock):
    fail(conf_client, THRESHOLD - 1)
    clock.advance(61)
    assert fail(conf_client, THRESHOLD) == [401] * THRESHOLD
    assert_throttled(token_request(conf_client, "wrong-secret"))


@pytest.mark.req("O21-2.4.1-brute-force")
def test_public_client_identification_failures_count_too(db, clock):
    public = PublicClientFactory()
    body = {"grant_type": "authorization_code", "code": "x" * 43, "client_id": public.client_id + "x"}
    for _ in range(THRESHOLD):
        assert post_form(HttpClient(), body, REMOTE_ADDR=ATTACKER).status_code == 401
    assert_throttled(post_form(HttpClient(), body, REMOTE_ADDR=ATTACKER))
    # the real client_id identifies the public client: past the client check (the code is bogus)
    response = post_form(HttpClient(), {**body, "client_id": public.client_id}, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.req("O21-2.4.1-brute-force")
@pytest.mark.parametrize("path", ["/o/introspect/", "/o/revoke/"])
def test_introspection_and_revocation_are_throttled_too(conf_client, clock, path):
    auth = basic_auth(conf_client.client_id, "wrong-secret")
    for _ in range(THRESHOLD):
        response = post_form(HttpClient(), {"token": "x" * 43}, path=path, HTTP_AUTHORIZATION=auth,
                             REMOTE_ADDR=ATTACKER)
        assert response.status_code == 401
    response = post_form(HttpClient(), {"token": "x" * 43}, path=path, HTTP_AUTHORIZATION=auth, REMOTE_ADDR=OTHER)
    assert_throttled(response)  # the client_id's count is spent, whichever endpoint is asked


def test_failures_at_one_endpoint_count_at_the_others(conf_client, clock):
    auth = basic_auth(conf_client.client_id, "wrong-secret")
    for path in ["/o/introspect/", "/o/revoke/"] * (THRESHOLD // 2):
        post_form(HttpClient(), {"token": "x" * 43}, path=path, HTTP_AUTHORIZATION=auth, REMOTE_ADDR=ATTACKER)
    assert_throttled(token_request(conf_client, "wrong-secret", address=OTHER))


def test_a_forwarded_header_is_ignored_unless_configured(conf_client, clock):
    """Without ``ip_header`` an attacker cannot pick a fresh address per attempt."""
    for i in range(THRESHOLD):
        token_request(ClientFactory.build(client_id=f"c{i}"), "x", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    other = ClientFactory()
    assert_throttled(token_request(other, "wrong-secret", HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_the_configured_proxy_header_names_the_address(conf_client, clock):
    conf = {"CLIENT_AUTH_THROTTLE": {"ip_header": "HTTP_X_FORWARDED_FOR"}}
    with override_settings(OAUTH_PROVIDER=provider_settings(**conf)):
        for i in range(THRESHOLD):
            # The proxy appends the real peer last; what the client put before it is ignored.
            token_request(ClientFactory.build(client_id=f"c{i}"), "x", address="10.0.0.1",
                          HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, {ATTACKER}")
        assert_throttled(token_request(conf_client, "wrong-secret", address="10.0.0.1",
                                       HTTP_X_FORWARDED_FOR=ATTACKER))
        response = token_request(conf_client, "wrong-secret", address="10.0.0.1", HTTP_X_FORWARDED_FOR=OTHER)
        assert response.status_code == 401


def test_disabled_never_throttles(conf_client):
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"enabled": False})):
        assert fail(conf_client, 3 * THRESHOLD) == [401] * (3 * THRESHOLD)
        assert token_request(conf_client, conf_client.raw_secret).status_code == 200


def test_a_custom_threshold_and_window(conf_client, clock):
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 3, "window": 10})):
        assert fail(conf_client, 3) == [401] * 3
        assert 1 <= assert_throttled(token_request(conf_client, "wrong-secret")) <= 10
        clock.advance(10)
        assert token_request(conf_client, "wrong-secret").status_code == 401


def test_failure_counts_leave_the_cache_with_their_window(conf_client):
    """A count (and when it started) is kept for its window, then dropped by the cache: made-up
    client_ids and addresses cannot pile up entries that never expire."""
    import time

    from django.core.cache import caches

    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 3, "window": 90})):
        assert fail(conf_client, 1) == [401]
        left = [None if expiry is None else expiry - time.time()
                for key, expiry in caches["default"]._expire_info.items() if "oauth_provider:throttle:" in key]
        assert left and all(value is not None and 85 < value <= 90 for value in left), left
        # a count evicted between its read and its increment is stored again for what is left
        for key in [k for k in caches["default"]._expire_info if "oauth_provider:throttle:" in k and "since" not in k]:
            caches["default"].delete(key.split(":", 2)[-1])
        assert fail(conf_client, 1) == [401]
    left = [None if expiry is None else expiry - time.time()
            for key, expiry in caches["default"]._expire_info.items() if "oauth_provider:throttle:" in key]
    assert left and all(value is not None and 85 < value <= 90 for value in left), left


def test_a_spent_count_holds_to_the_windows_last_instant_and_the_next_window_counts_from_one(
        conf_client, whole_clock):
    """Wrong credentials stay throttled until the window (from the first failure) is over,
    its last fraction of a second included (``Retry-After: 1``, never 0); at exactly its end a
    new window starts, whose count begins at 1 again."""
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 3, "window": 60})):
        assert fail(conf_client, 3) == [401] * 3
        whole_clock.advance(10.25)
        assert assert_throttled(token_request(conf_client, "wrong-secret")) == 50  # 49.75 s left, rounded up
        whole_clock.advance(49.5)
        assert assert_throttled(token_request(conf_client, "wrong-secret")) == 1  # 0.25 s left
        whole_clock.advance(0.25)  # exactly the window's end
        assert fail(conf_client, 3) == [401] * 3
        assert assert_throttled(token_request(conf_client, "wrong-secret")) == 60


@pytest.mark.parametrize("failures", [1, 3])
def test_failure_counters_evicted_mid_window_count_from_one(conf_client, whole_clock, failures):
    """Counters evicted while their window's start survives restart at 1 (not 0, not 2): a
    missing count spends nothing, ``failures`` more wrong credentials are answered 401 before
    the throttle engages, and it then holds to the end of the window that began with the
    first failure."""
    from django.core.cache import cache

    with override_settings(OAUTH_PROVIDER=provider_settings(
            CLIENT_AUTH_THROTTLE={"failures": failures, "window": 60})):
        assert fail(conf_client, 1) == [401]
        counters = [k for k in cache._cache if ":throttle:" in k and not k.endswith(":since")]
        assert len(counters) == 2  # the address's and the client_id's
        for key in counters:
            cache.delete(key.split(":", 2)[2])  # locmem keys are "prefix:version:key"
        whole_clock.advance(20)
        assert fail(conf_client, failures) == [401] * failures
        assert assert_throttled(token_request(conf_client, "wrong-secret")) == 40


def test_a_count_pushed_past_the_threshold_stays_spent(rf, conf_client, whole_clock, caplog):
    """Simultaneous wrong credentials can all pass the check before any is counted, so a count
    may go past ``failures``; it is spent all the same, for the client_id and the address,
    until its window ends (and so is a count kept when ``failures`` is lowered mid-window).
    The warning is logged once per count, when it is spent, not for each failure past it."""
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 3, "window": 60})), \
            caplog.at_level("WARNING", "oauth_provider.throttling"):
        for _ in range(5):  # five concurrent requests, all checked before the first was counted
            throttling.record_failure(rf.post("/o/token/", REMOTE_ADDR=ATTACKER), conf_client.client_id)
        assert len([r for r in caplog.records if "throttle engaged" in r.getMessage()]) == 2
        for client_id, address in ((conf_client.client_id, OTHER), (None, ATTACKER)):
            with pytest.raises(ClientAuthThrottled) as throttled:
                throttling.check(rf.post("/o/token/", REMOTE_ADDR=address), client_id)
            assert throttled.value.retry_after == 60
        whole_clock.advance(60)
        throttling.check(rf.post("/o/token/", REMOTE_ADDR=ATTACKER), conf_client.client_id)


@pytest.mark.parametrize(("later", "holds"), [(10.25, 50), (59.75, 1)])
def test_the_warning_says_how_long_the_throttle_holds(conf_client, whole_clock, caplog, later, holds):
    """A count spent mid-window holds until the window that began with its first failure
    ends: the warning gives those seconds, rounded up, at least 1."""
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 2, "window": 60})), \
            caplog.at_level("WARNING", "oauth_provider.throttling"):
        fail(conf_client, 1)
        whole_clock.advance(later)
        fail(conf_client, 1)
    assert sorted(r.getMessage() for r in caplog.records if r.name == "oauth_provider.throttling") == sorted([
        f"client-authentication throttle engaged for address {ATTACKER} for {holds} s",
        f"client-authentication throttle engaged for client_id {conf_client.client_id!r} for {holds} s",
    ])


def test_the_throttle_warns_when_a_large_threshold_is_reached(rf, conf_client, whole_clock, caplog):
    """The warning comes with the failure that spends a count whatever ``failures`` is, also
    beyond the integers CPython caches (counts come back from the cache as new objects)."""
    request = rf.post("/o/token/", REMOTE_ADDR=ATTACKER)
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 300})), \
            caplog.at_level("WARNING", "oauth_provider.throttling"):
        for _ in range(299):
            throttling.record_failure(request, conf_client.client_id)
        assert not caplog.records
        throttling.record_failure(request, conf_client.client_id)
    assert len([r for r in caplog.records if "throttle engaged" in r.getMessage()]) == 2


def test_the_warning_names_a_long_client_id_by_its_first_100_characters(rf, whole_clock, caplog):
    """A client_id may be 255 characters (a client metadata document's URL): the log line a
    monitor reads names it by a bounded, quoted prefix."""
    client_id = "https://client.example/" + "m" * 232
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": 1})), \
            caplog.at_level("WARNING", "oauth_provider.throttling"):
        throttling.record_failure(rf.post("/o/token/", REMOTE_ADDR=ATTACKER), client_id)
    assert sorted(r.getMessage() for r in caplog.records) == sorted([
        f"client-authentication throttle engaged for address {ATTACKER} for 60 s",
        f"client-authentication throttle engaged for client_id {client_id[:100]!r} for 60 s",
    ])


@pytest.mark.parametrize("failures", [1, 2, 10])
def test_the_throttle_warns_once_for_each_count_it_spends(conf_client, clock, caplog, failures):
    """The warning a monitoring system watches for is logged by the failure that spends a count
    (the address's and the client_id's), including the very first one when ``failures`` is 1,
    and not again while the count stays spent."""

    def warnings() -> list[str]:
        return sorted(r.getMessage() for r in caplog.records if r.name == "oauth_provider.throttling")

    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"failures": failures})), \
            caplog.at_level("WARNING", "oauth_provider.throttling"):
        fail(conf_client, failures - 1)
        assert warnings() == []
        fail(conf_client, 1)
        engaged = sorted([
            f"client-authentication throttle engaged for address {ATTACKER} for 60 s",
            f"client-authentication throttle engaged for client_id {conf_client.client_id!r} for 60 s",
        ])
        assert warnings() == engaged
        fail(conf_client, 3)
        assert warnings() == engaged


class BrokenCache(BaseCache):
    """A cache whose every call fails, like an unreachable Redis."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)

    def __getattribute__(self, name: str) -> Any:
        if name in ("get_many", "set_many", "get", "set", "add", "incr"):
            raise ConnectionError("cache unreachable")
        return super().__getattribute__(name)


def test_a_cache_outage_serves_instead_of_failing(conf_client):
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "broken": {"BACKEND": "tests.test_throttling.BrokenCache"}}
    with override_settings(CACHES=caches,
                           OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"cache": "broken"})):
        assert fail(conf_client, THRESHOLD + 2) == [401] * (THRESHOLD + 2)
        assert token_request(conf_client, conf_client.raw_secret).status_code == 200


@pytest.mark.parametrize(("meta", "expected"), [
    ({"REMOTE_ADDR": "192.0.2.1"}, "192.0.2.1"),
    ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"),
    ({"REMOTE_ADDR": "2001:db8:1:2:ffff::1"}, "2001:db8:1:2::/64"),
    ({"REMOTE_ADDR": "::ffff:192.0.2.1"}, "192.0.2.1"),
    ({"REMOTE_ADDR": "not an address"}, "unknown"),
    ({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}, "192.0.2.1"),
])
def test_client_ip_without_a_proxy_header(rf, meta, expected):
    assert client_ip(rf.post("/", **meta)) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("203.0.113.1", "203.0.113.1"),
    ("1.2.3.4, 203.0.113.1", "203.0.113.1"),
    ("garbage", "192.0.2.1"),
    ("", "192.0.2.1"),
])
def test_client_ip_from_the_configured_header(rf, header, expected):
    request = rf.post("/", REMOTE_ADDR="192.0.2.1", HTTP_X_REAL_IP=header)
    assert client_ip(request, "HTTP_X_REAL_IP") == expected


def check_ids(**block: Any) -> list[str]:
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE=block)):
        return sorted(m.id for m in run_checks() if m.id.startswith("oauth_provider."))


def test_a_partial_block_passes_the_checks():
    assert check_ids(failures=5) == []
    assert check_ids(enabled=False, ip_header="HTTP_X_REAL_IP") == []


@pytest.mark.parametrize("block", [
    {"retries": 3},
    {"enabled": "yes"},
    {"failures": 0},
    {"failures": True},
    {"window": -1},
    {"window": 1.5},
    {"cache": "nonexistent"},
    {"cache": 3},
    {"ip_header": ""},
    {"ip_header": ["HTTP_X_REAL_IP"]},
])
def test_e009_invalid_blocks(block):
    assert check_ids(**block) == ["oauth_provider.E009"]


# -- the registration throttle (RFC 7591 §3: open registration "rate-limited") ---------------------
# Called directly with a frozen clock on a whole second, so the window's bounds and the
# Retry-After arithmetic can be asserted to the second.
REGISTRAR = "192.0.2.44"


@pytest.fixture
def whole_clock():
    return FrozenClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


def register_attempts(rf, times: int, address: str = REGISTRAR, **meta: Any) -> list[int | None]:
    """``times`` attempts from ``address``: None for each let through, else its Retry-After."""
    outcomes: list[int | None] = []
    for _ in range(times):
        try:
            count_registration(rf.post("/o/register/", REMOTE_ADDR=address, **meta))
            outcomes.append(None)
        except RegistrationThrottled as throttled:
            assert throttled.status == 429
            assert throttled.headers["Retry-After"] == str(throttled.retry_after)
            outcomes.append(throttled.retry_after)
    return outcomes


def registration_throttle(**block: Any):
    return override_settings(OAUTH_PROVIDER=provider_settings(REGISTRATION_THROTTLE=block))


@pytest.mark.req("7591-3-initial-access-token")
def test_registration_default_is_60_per_10_minutes(rf, whole_clock):
    """The documented default: 60 attempts per address in 600 s, the 61st refused with the
    whole remaining window as Retry-After."""
    assert register_attempts(rf, 60) == [None] * 60
    assert register_attempts(rf, 1) == [600]
    whole_clock.advance(599)
    assert register_attempts(rf, 1) == [1]
    whole_clock.advance(1)  # the window, counted from the first attempt, is over
    assert register_attempts(rf, 1) == [None]


@pytest.mark.req("7591-3-initial-access-token")
def test_registration_limit_is_exact_and_retry_after_counts_down_to_the_window_end(rf, whole_clock):
    """``registrations`` attempts pass, every later one in the window gets 429 with the
    seconds left until the window (from the first attempt) ends, rounded up, at least 1."""
    with registration_throttle(registrations=3, window=60):
        assert register_attempts(rf, 3) == [None] * 3
        assert register_attempts(rf, 2) == [60, 60]
        whole_clock.advance(10.25)
        assert register_attempts(rf, 1) == [50]  # 49.75 s left, rounded up
        whole_clock.advance(49.5)
        assert register_attempts(rf, 1) == [1]  # 0.25 s left: never "Retry-After: 0"
        whole_clock.advance(0.25)  # exactly the window's end: a new window, counting from 1
        assert register_attempts(rf, 4) == [None, None, None, 60]


@pytest.mark.req("7591-3-initial-access-token")
def test_registration_window_starts_at_the_first_attempt_not_the_last(rf, whole_clock):
    with registration_throttle(registrations=2, window=100):
        assert register_attempts(rf, 1) == [None]
        whole_clock.advance(99)
        assert register_attempts(rf, 2) == [None, 1]
        whole_clock.advance(1)
        assert register_attempts(rf, 3) == [None, None, 100]
        whole_clock.advance(250)  # long past the window (a cache that kept the count)
        assert register_attempts(rf, 2) == [None, None]


def test_registration_counts_per_address_with_the_client_auth_address_rule(rf, whole_clock):
    """Another address has its own count; the address is ``CLIENT_AUTH_THROTTLE``'s
    (``ip_header`` when configured, IPv6 per /64)."""
    with registration_throttle(registrations=1, window=60):
        assert register_attempts(rf, 2) == [None, 60]
        assert register_attempts(rf, 1, address="192.0.2.45") == [None]
        assert register_attempts(rf, 1, address="2001:db8::1") == [None]
        assert register_attempts(rf, 1, address="2001:db8::2") == [60]  # same /64
    with override_settings(OAUTH_PROVIDER=provider_settings(
            REGISTRATION_THROTTLE={"registrations": 1, "window": 60},
            CLIENT_AUTH_THROTTLE={"ip_header": "HTTP_X_REAL_IP"})):
        # behind the proxy every REMOTE_ADDR is the proxy's: the header tells callers apart
        assert register_attempts(rf, 1, HTTP_X_REAL_IP="198.51.100.1") == [None]
        assert register_attempts(rf, 1, HTTP_X_REAL_IP="198.51.100.2") == [None]
        assert register_attempts(rf, 1, HTTP_X_REAL_IP="198.51.100.1") == [60]


def test_registration_throttle_disabled_counts_nothing(rf, whole_clock):
    with registration_throttle(enabled=False, registrations=1):
        assert register_attempts(rf, 5) == [None] * 5
    with registration_throttle(registrations=1):  # nothing was counted while disabled
        assert register_attempts(rf, 2) == [None, 600]


def test_registration_counter_evicted_mid_window_counts_from_one(rf, whole_clock):
    """A counter evicted while its window's start survives restarts at 1 (not 0, not 2)."""
    from django.core.cache import cache

    with registration_throttle(registrations=2, window=60):
        assert register_attempts(rf, 1) == [None]
        counters = [k for k in cache._cache if ":register:" in k and not k.endswith(":since")]
        assert len(counters) == 1
        cache.delete(counters[0].split(":", 2)[2])  # locmem keys are "prefix:version:key"
        whole_clock.advance(20)
        assert register_attempts(rf, 3) == [None, None, 40]


def test_registration_throttle_warns_once_when_it_engages(rf, whole_clock, caplog):
    with registration_throttle(registrations=2, window=60), caplog.at_level("WARNING", "oauth_provider.throttling"):
        register_attempts(rf, 2)
        assert not caplog.records
        register_attempts(rf, 1)  # the first refused attempt warns
        assert len(caplog.records) == 1
        register_attempts(rf, 4)  # later ones do not
    assert [r.getMessage() for r in caplog.records] == [f"registration throttle engaged for address {REGISTRAR}"]
    caplog.clear()
    with registration_throttle(registrations=301, window=60), caplog.at_level("WARNING", "oauth_provider.throttling"):
        assert register_attempts(rf, 302, address="192.0.2.46")[-2:] == [None, 60]  # odd, beyond small ints
    assert len(caplog.records) == 1


def test_a_cache_outage_lets_registrations_through(rf, whole_clock, caplog):
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "broken": {"BACKEND": "tests.test_throttling.BrokenCache"}}
    with override_settings(CACHES=caches, OAUTH_PROVIDER=provider_settings(
            REGISTRATION_THROTTLE={"registrations": 1}, CLIENT_AUTH_THROTTLE={"cache": "broken"})):
        assert register_attempts(rf, 3) == [None] * 3
    assert "registration throttle: cache failed" in caplog.text


# -- public clients' device authorization and pushed requests (PUBLIC_CLIENT_THROTTLE) --------------
def public_attempts(rf, client, times: int, address: str = REGISTRAR) -> list[int | None]:
    """``times`` requests of ``client`` from ``address``: None for each let through, else its Retry-After."""
    outcomes: list[int | None] = []
    for _ in range(times):
        try:
            count_public_client_request(rf.post("/o/par/", REMOTE_ADDR=address), client)
            outcomes.append(None)
        except PublicClientThrottled as throttled:
            assert (throttled.status, throttled.error) == (429, "invalid_request")
            assert throttled.headers["Retry-After"] == str(throttled.retry_after)
            outcomes.append(throttled.retry_after)
    return outcomes


def public_client_throttle(**block: Any):
    return override_settings(OAUTH_PROVIDER=provider_settings(PUBLIC_CLIENT_THROTTLE=block))


def test_public_client_requests_default_to_120_a_minute_per_address(rf, whole_clock):
    """The documented default: 120 requests of public clients per address in 60 s, the 121st
    refused with the rest of the window as Retry-After; the next window counts from 1."""
    client = PublicClientFactory.build()
    assert public_attempts(rf, client, 120) == [None] * 120
    assert public_attempts(rf, client, 1) == [60]
    whole_clock.advance(45.5)
    assert public_attempts(rf, client, 1) == [15]
    whole_clock.advance(14.5)
    assert public_attempts(rf, client, 1) == [None]


def test_public_client_requests_are_counted_per_address_never_per_client(rf, whole_clock):
    """What one address sends is limited, whichever public clients it names (a flood cannot
    spread over client_ids); a client's requests from another address are not, so nobody
    can lock a public client's real users out by spending its count."""
    first, second = PublicClientFactory.build(), PublicClientFactory.build()
    with public_client_throttle(requests=2, window=60):
        assert public_attempts(rf, first, 1) + public_attempts(rf, second, 1) == [None, None]
        assert public_attempts(rf, second, 1) == [60]
        assert public_attempts(rf, first, 1) == [60]
        assert public_attempts(rf, first, 2, address="192.0.2.77") == [None, None]
        assert public_attempts(rf, first, 1, address="2001:db8::1") == [None]


def test_confidential_clients_are_never_counted(rf, whole_clock):
    """A confidential client authenticated before the count: it is accountable, not throttled,
    and its requests spend nothing of its address's count."""
    with public_client_throttle(requests=1, window=60):
        assert public_attempts(rf, ClientFactory.build(), 50) == [None] * 50
        assert public_attempts(rf, PublicClientFactory.build(), 2) == [None, 60]


def test_the_public_client_throttle_disabled_counts_nothing(rf, whole_clock, caplog):
    client = PublicClientFactory.build()
    with public_client_throttle(enabled=False, requests=1):
        assert public_attempts(rf, client, 5) == [None] * 5
    with public_client_throttle(requests=1), caplog.at_level("WARNING", "oauth_provider.throttling"):
        assert public_attempts(rf, client, 3) == [None, 60, 60]
    assert [r.getMessage() for r in caplog.records] == [
        f"public-client request throttle engaged for address {REGISTRAR}"]


def test_the_public_client_count_is_apart_from_the_registration_count(rf, whole_clock):
    with override_settings(OAUTH_PROVIDER=provider_settings(
            PUBLIC_CLIENT_THROTTLE={"requests": 1}, REGISTRATION_THROTTLE={"registrations": 1})):
        assert public_attempts(rf, PublicClientFactory.build(), 1) == [None]
        assert register_attempts(rf, 1) == [None]
        assert register_attempts(rf, 1) == [600]
        assert public_attempts(rf, PublicClientFactory.build(), 1) == [60]


def test_check_e072_refuses_a_bad_public_client_throttle(settings):
    from oauth_provider.checks import check_public_client_throttle

    assert check_public_client_throttle() == []
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER,
                               "PUBLIC_CLIENT_THROTTLE": {"requests": 0, "window": True, "enabled": 1, "x": 1}}
    assert [m.msg for m in check_public_client_throttle()] == [
        "OAUTH_PROVIDER['PUBLIC_CLIENT_THROTTLE']: unknown key 'x'.",
        "OAUTH_PROVIDER['PUBLIC_CLIENT_THROTTLE']: 'enabled' must be True or False.",
        "OAUTH_PROVIDER['PUBLIC_CLIENT_THROTTLE']: 'requests' must be a positive integer.",
        "OAUTH_PROVIDER['PUBLIC_CLIENT_THROTTLE']: 'window' must be a positive integer.",
    ]
    assert {m.id for m in check_public_client_throttle()} == {"oauth_provider.E072"}
    assert "oauth_provider.E072" in {m.id for m in run_checks()}


def test_per_address_counts_leave_the_cache_with_their_window(db):
    """The registration count (and when it started) lives for its window, also after a count
    was evicted between its read and its increment: made-up addresses cannot pile up entries
    that never expire."""
    import time

    from django.core.cache import caches
    from django.test import RequestFactory

    def left() -> list:
        return [None if expiry is None else expiry - time.time()
                for key, expiry in caches["default"]._expire_info.items() if "oauth_provider:throttle:" in key]

    request = RequestFactory().post("/o/register/", REMOTE_ADDR="198.51.100.77")
    with override_settings(OAUTH_PROVIDER=provider_settings(REGISTRATION_THROTTLE={"registrations": 5, "window": 90})):
        count_registration(request)
        assert left() and all(value is not None and 85 < value <= 90 for value in left()), left()
        for key in [k for k in caches["default"]._expire_info if "oauth_provider:throttle:" in k and "since" not in k]:
            caches["default"].delete(key.split(":", 2)[-1])  # the count evicted, its start kept
        count_registration(request)
    assert left() and all(value is not None and 85 < value <= 90 for value in left()), left()


# -- what browsers send is counted apart (no page can spend its visitors' counts) ---------------
@pytest.mark.parametrize(("meta", "browser"), [
    ({}, False),
    ({"HTTP_ORIGIN": "https://ads.example"}, True),
    ({"HTTP_ORIGIN": "null"}, True),
    ({"HTTP_SEC_FETCH_SITE": "cross-site"}, True),
    ({"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "https://testserver"}, True),
    ({"HTTP_REFERER": "https://ads.example/"}, False),
])
def test_a_browser_is_known_by_origin_or_fetch_metadata(rf, meta, browser):
    assert throttling.browser_sent(rf.post("/o/register/", **meta)) is browser


def test_registrations_browsers_send_are_counted_apart_from_the_others(rf, whole_clock):
    with registration_throttle(registrations=1, window=60):
        assert register_attempts(rf, 2, HTTP_ORIGIN="https://ads.example") == [None, 60]
        assert register_attempts(rf, 1, HTTP_SEC_FETCH_SITE="cross-site") == [60]  # the browsers' count
        assert register_attempts(rf, 2) == [None, 60]  # the address's own, untouched until now


def test_document_fetches_are_counted_apart_and_a_logged_in_users_apart_again(rf, whole_clock, user):
    """A client ID metadata document fetch counts like a registration, in a count of its own;
    the fetches for a logged-in user's request (which no cross-site subrequest carries) in
    another; a request with no user at all (a host's own code) like an anonymous one."""
    from django.contrib.auth.models import AnonymousUser

    from oauth_provider.errors import MetadataDocumentThrottled

    def fetches(times: int, who: Any) -> list[int | None]:
        outcomes: list[int | None] = []
        for _ in range(times):
            request = rf.get("/o/authorize/", REMOTE_ADDR=REGISTRAR)
            if who is not None:
                request.user = who
            try:
                throttling.count_document_fetch(request)
                outcomes.append(None)
            except MetadataDocumentThrottled as throttled:
                outcomes.append(throttled.retry_after)
        return outcomes

    with registration_throttle(registrations=1, window=60):
        assert register_attempts(rf, 1) == [None]
        assert fetches(2, AnonymousUser()) == [None, 60]
        assert fetches(1, None) == [60]
        assert fetches(2, user) == [None, 60]
        assert register_attempts(rf, 1) == [60]


class _CountsGone(BaseCache):
    """A cache whose decr finds nothing (the window ended) or that is unreachable."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)
        self.location = location

    def decr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        if self.location == "down":
            raise ConnectionError("cache unreachable")
        raise ValueError(f"Key {key!r} not found")


@pytest.mark.parametrize("location", ["gone", "down"])
def test_handing_back_an_attempt_never_fails_the_request(rf, db, location, caplog):
    from tests.support.factories import UserFactory

    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "odd": {"BACKEND": "tests.test_throttling._CountsGone", "LOCATION": location}}
    request = rf.post("/o/device/", REMOTE_ADDR=REGISTRAR)
    request.user = UserFactory.build(pk=7)
    throttle = throttling.Throttle("DEVICE_USER_CODE_THROTTLE", "device-", "device user-code")
    with override_settings(CACHES=caches, OAUTH_PROVIDER=provider_settings(
            DEVICE_USER_CODE_THROTTLE={"cache": "odd"})):
        throttle.give_back(request, {"user 7": "device-user:7"})
    assert ("cache write failed" in caplog.text) is (location == "down")


def test_reserving_while_disabled_counts_nothing_and_refuses_nothing(rf, whole_clock):
    throttle = throttling.Throttle("DEVICE_USER_CODE_THROTTLE", "device-", "device user-code")
    request = rf.post("/o/device/", REMOTE_ADDR=REGISTRAR)
    user = {"user 7": "device-user:7"}
    with override_settings(OAUTH_PROVIDER=provider_settings(DEVICE_USER_CODE_THROTTLE={"enabled": False})):
        assert [throttle.reserve(request, user) for _ in range(8)] == [0] * 8
    assert [throttle.reserve(request, user) for _ in range(6)] == [0] * 5 + [300]

"""Races on one-time and count-bounded things that tests/security/test_concurrency.py does
not prove (an outside review's tests). Same way of running parallel workers: threads, each
with its own database connection and test client, released by a barrier, against a
committed database (``django_db(transaction=True)``). Runs on PostgreSQL and MariaDB
(``OAUTH_PROVIDER_TEST_DB=postgres`` / ``mariadb``); the throttle and replay tests also need
Redis (``OAUTH_PROVIDER_TEST_REDIS``, default 127.0.0.1:6379, one database per xdist worker).

The review found, each test failing 5 runs of 5 on both databases before its fix: a token
exchange racing the revocation of its subject token left live exchanged tokens; a refresh
racing its family's revocation stored a JWT the denylist never saw; a grace retry racing its
successor's use got tokens instead of being reuse; the registration and public-client
throttles let a burst through at a window's start; two key rotations at once left two
current keys. (A file-based ``REPLAY_CACHE`` accepting one assertion several times is what
check W008 now names: its ``add()`` cannot be made atomic here.)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client as HttpClient

from tests.conftest import basic_auth, consent_blob
from tests.support.factories import ClientFactory
from tests.support.token_helpers import access_token_row, post_form

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor not in ("postgresql", "mysql"),
        reason="needs a real server database (PostgreSQL, MariaDB)",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 50


def parallel(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run each job in its own thread, all released together; an exception is returned as
    ``("exception", repr)``. Each thread closes its own database connection."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = jobs[i]()
        except Exception as exc:  # noqa: BLE001
            results[i] = ("exception", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def statuses(results: list[Any]) -> Counter:
    return Counter(r.status_code if hasattr(r, "status_code") else 599 for r in results)


# -- 1. registration / public-client throttles: N requests at the start of a window ----------------
REDIS_URL = os.environ.get(
    "OAUTH_PROVIDER_TEST_REDIS",
    # one database per xdist worker: each test empties its own
    f"redis://127.0.0.1:6379/{10 + int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)}",
)


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:  # noqa: BLE001
        return False


needs_redis = pytest.mark.skipif(not _redis_available(), reason=f"no Redis at {REDIS_URL} (OAUTH_PROVIDER_TEST_REDIS)")


@pytest.fixture
def shared_cache(settings):
    """A cache shared by every worker, as the throttle's docs ask (Redis), named ``shared``."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    settings.CACHES = {**settings.CACHES, "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                     "LOCATION": REDIS_URL}}
    yield "shared"
    redis.Redis.from_url(REDIS_URL).flushdb()


@needs_redis
def test_a_burst_of_registrations_at_a_windows_start_is_counted_whole(settings, shared_cache, figure):
    """REGISTRATION_THROTTLE = 5 per window, counts in Redis. 50 registrations sent at once
    from one address (a window not started yet) must not store more than 5 clients."""
    from oauth_provider.models import get_client_model

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "open",
                               "CLIENT_AUTH_THROTTLE": {"cache": shared_cache},
                               "REGISTRATION_THROTTLE": {"enabled": True, "registrations": 5, "window": 60}}
    body = json.dumps({"redirect_uris": ["https://rp.example/cb"]})
    before = get_client_model().objects.count()
    results = parallel([lambda: HttpClient(raise_request_exception=False).post(
        "/o/register/", body, content_type="application/json") for _ in range(THREADS)])
    got = statuses(results)
    stored = get_client_model().objects.count() - before
    figure("R-reg-throttle", f"registration throttle burst ({connection.vendor}, Redis): {dict(got)}, {stored} stored")
    assert got[201] <= 5 and stored <= 5, (got, stored)


@needs_redis
def test_a_burst_of_public_client_requests_at_a_windows_start_is_counted_whole(settings, shared_cache, figure):
    """PUBLIC_CLIENT_THROTTLE = 5 device authorization requests per window, counts in Redis:
    50 at once from one address must not store more than 5 device codes."""
    from oauth_provider.models import DeviceCode
    from tests.support.device_helpers import start
    from tests.support.factories import DeviceClientFactory

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "CLIENT_AUTH_THROTTLE": {"cache": shared_cache},
                               "PUBLIC_CLIENT_THROTTLE": {"enabled": True, "requests": 5, "window": 60}}
    device_client = DeviceClientFactory(client_type="public", client_secret_hash="")
    assert device_client.is_public
    results = parallel([lambda: start(HttpClient(raise_request_exception=False), device_client, scope="read")
                        for _ in range(THREADS)])
    got = statuses(results)
    figure("R-public-throttle", f"public-client throttle burst ({connection.vendor}, Redis): {dict(got)}")
    assert got[200] <= 5 and DeviceCode.objects.count() <= 5, (got, DeviceCode.objects.count())


# -- 2. token exchange racing the revocation of its subject token -----------------------------------
def test_token_exchanges_racing_the_subject_tokens_revocation_leave_no_live_token(oauth, figure):
    """RFC 8693 lineage: "revoking the subject token revokes what it produced". A client sends
    exchanges of a token while the token is revoked (revocation endpoint): every exchanged
    token must be dead afterwards."""
    from oauth_provider.grants.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE
    from oauth_provider.models import AccessToken

    client = ClientFactory(grant_types=f"authorization_code refresh_token {GRANT_TYPE}")
    auth = basic_auth(client.client_id, client.raw_secret)
    survivors, outcomes = [], []
    for _ in range(5):
        subject = oauth.tokens(client, scope="read")["access_token"]
        body = {"grant_type": GRANT_TYPE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE,
                "scope": "read"}

        def exchange(body=body):
            return post_form(HttpClient(raise_request_exception=False), body, HTTP_AUTHORIZATION=auth)

        def revoke(subject=subject):
            time.sleep(0.05)  # land while exchanges are in flight
            return post_form(HttpClient(raise_request_exception=False),
                             {"token": subject, "token_type_hint": "access_token"}, "/o/revoke/",
                             HTTP_AUTHORIZATION=auth)

        results = parallel([exchange] * (THREADS - 1) + [revoke])
        outcomes.append(dict(statuses(results[:-1])))
        assert results[-1].status_code == 200, results[-1]
        assert not any(getattr(r, "status_code", 599) >= 500 for r in results), statuses(results)
        row = access_token_row(subject)
        assert row.revoked_at is not None
        children = AccessToken.objects.filter(subject_token=row)
        survivors.append(sum(1 for c in children.select_related("authorization", "client", "user") if c.is_live()))
    figure("R-exchange", f"token exchange vs subject revocation ({connection.vendor}): live children per trial "
                         f"{survivors}, exchange statuses {outcomes}")
    assert survivors == [0] * len(survivors), survivors


# -- 3. refresh racing the family's revocation: a JWT access token escapes the denylist -------------
def test_a_refresh_racing_its_familys_revocation_leaves_no_accepted_jwt(oauth, conf_client, settings,
                                                                          signing_key, figure):
    """JWT access tokens with the denylist on. The client's refresh token is revoked (revocation
    endpoint: the family goes) while a refresh with it is in flight. No JWT access token of the
    revoked family may still be accepted by the resource layer afterwards."""
    from oauth_provider import resource
    from oauth_provider.errors import InvalidToken

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "ACCESS_TOKEN_FORMAT": "jwt",
                               "JWT_ACCESS_TOKEN_DENYLIST": True}
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    pairs = 20
    families = [oauth.tokens(conf_client) for _ in range(pairs)]
    jobs: list[Callable[[], Any]] = []
    for tokens in families:
        rt = tokens["refresh_token"]
        jobs.append(lambda rt=rt: post_form(HttpClient(raise_request_exception=False),
                                            {"grant_type": "refresh_token", "refresh_token": rt},
                                            HTTP_AUTHORIZATION=auth))
        jobs.append(lambda rt=rt: post_form(HttpClient(raise_request_exception=False),
                                            {"token": rt, "token_type_hint": "refresh_token"}, "/o/revoke/",
                                            HTTP_AUTHORIZATION=auth))
    results = parallel(jobs)
    assert not any(getattr(r, "status_code", 599) >= 500 for r in results), statuses(results)
    accepted = refreshed = 0
    for i, tokens in enumerate(families):
        refresh, revoke = results[2 * i], results[2 * i + 1]
        assert revoke.status_code == 200
        if refresh.status_code != 200:
            continue
        refreshed += 1
        family_revoked = access_token_row(tokens["access_token"]).authorization.revoked_at is not None
        assert family_revoked
        try:
            resource.verify_jwt(refresh.json()["access_token"])
            accepted += 1
        except InvalidToken:
            pass
    figure("R-refresh-revoke", f"refresh vs family revocation ({connection.vendor}): {refreshed}/{pairs} refreshes "
                               f"won, {accepted} new JWT ATs of revoked families still accepted")
    assert accepted == 0, (accepted, refreshed)


# -- 4. client assertion jti: the same private_key_jwt assertion sent 50 times at once ---------------
def _assertion_race(trials: int) -> list[Counter]:
    from tests.test_client_assertions import assertion_form, make_client, sign

    client = make_client()
    out = []
    for _ in range(trials):
        assertion = sign(client)
        results = parallel([lambda: post_form(HttpClient(raise_request_exception=False), assertion_form(assertion))
                            for _ in range(THREADS)])
        out.append(statuses(results))
    return out


def test_parallel_replays_of_one_client_assertion():
    """OIDC Core §9 / RFC 7523 §3: one assertion, 50 simultaneous token requests, one token
    (the default cache: an atomic ``add``); the replays 401, or 429 once the failed-
    authentication throttle engages for the client_id."""
    got = _assertion_race(5)
    assert all(c[200] == 1 and set(c) <= {200, 401, 429} for c in got), got


@needs_redis
def test_parallel_replays_of_one_client_assertion_with_redis(settings, shared_cache):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "REPLAY_CACHE": shared_cache}
    got = _assertion_race(5)
    assert all(c[200] == 1 and set(c) <= {200, 401, 429} for c in got), got


# -- 5. DPoP proof jti at the token endpoint ----------------------------------------------------------
def _dpop_race(trials: int = 3) -> list[Counter]:
    from tests.support.dpop import DPoPKey

    client = ClientFactory(grant_types="client_credentials", redirect_uris="")
    auth = basic_auth(client.client_id, client.raw_secret)
    key = DPoPKey()
    out = []
    for _ in range(trials):
        proof = key.proof("POST", "https://testserver/o/token/")
        results = parallel([lambda: post_form(HttpClient(raise_request_exception=False),
                                              {"grant_type": "client_credentials", "scope": "read"},
                                              HTTP_AUTHORIZATION=auth, HTTP_DPOP=proof) for _ in range(THREADS)])
        out.append(Counter(r.json().get("error", "ok") if hasattr(r, "json") else "exc" for r in results))
    return out


def test_parallel_replays_of_one_dpop_proof_at_the_token_endpoint():
    """RFC 9449 §11.1: one DPoP proof sent with 50 simultaneous client_credentials requests:
    one token, the rest ``invalid_dpop_proof``."""
    got = _dpop_race()
    assert all(c == Counter({"ok": 1, "invalid_dpop_proof": THREADS - 1}) for c in got), got


@needs_redis
def test_parallel_replays_of_one_dpop_proof_at_the_token_endpoint_with_redis(settings, shared_cache):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "REPLAY_CACHE": shared_cache}
    got = _dpop_race(5)
    assert all(c == Counter({"ok": 1, "invalid_dpop_proof": THREADS - 1}) for c in got), got


# -- 6. RFC 7592 update twice at once -----------------------------------------------------------------
def test_parallel_updates_with_one_registration_access_token(settings):
    """RFC 7592 §2.2: 50 updates at once with the same registration access token: exactly one
    succeeds and gets a new token; the token it returned is the only one that works."""
    from oauth_provider import secrets
    from oauth_provider.models import ClientRegistration

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "open",
                               "REGISTRATION_THROTTLE": {"enabled": False}}
    for _ in range(3):
        r = HttpClient().post("/o/register/", json.dumps({"redirect_uris": ["https://rp.example/cb"],
                                                          "token_endpoint_auth_method": "none"}),
                              content_type="application/json")
        assert r.status_code == 201, r.content
        info = r.json()
        uri = info["registration_client_uri"].replace("https://testserver", "")
        update = {k: v for k, v in info.items()
                  if k not in ("registration_access_token", "registration_client_uri", "client_id_issued_at",
                               "client_secret_expires_at")}
        update["client_name"] = "updated"
        raw = info["registration_access_token"]
        results = parallel([lambda: HttpClient(raise_request_exception=False).put(
            uri, json.dumps(update), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
            for _ in range(THREADS)])
        assert statuses(results) == Counter({200: 1, 401: THREADS - 1}), statuses(results)
        winner = next(r for r in results if r.status_code == 200).json()["registration_access_token"]
        row = ClientRegistration.objects.get(client__client_id=info["client_id"])
        assert row.token_hash == secrets.hash_token(winner)


# -- 7. initial access token with 3 uses -------------------------------------------------------------
def test_three_use_initial_access_token_registers_exactly_three_clients(settings):
    from oauth_provider.models import InitialAccessToken, get_client_model

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "token",
                               "REGISTRATION_THROTTLE": {"enabled": False}}
    body = json.dumps({"redirect_uris": ["https://rp.example/cb"]})
    for _ in range(3):
        row, raw = InitialAccessToken.objects.create_token(uses=3)
        before = get_client_model().objects.count()
        results = parallel([lambda: HttpClient(raise_request_exception=False).post(
            "/o/register/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
            for _ in range(THREADS)])
        assert statuses(results) == Counter({201: 3, 401: THREADS - 3}), statuses(results)
        assert get_client_model().objects.count() == before + 3
        row.refresh_from_db()
        assert row.uses_left == 0


# -- 8. device code: approve and deny at once --------------------------------------------------------
def test_parallel_approve_and_deny_of_one_device_code(user):
    """The user's browser sends the consent form's Allow and Deny many times at once: exactly
    one decision is taken, never a 5xx."""
    from oauth_provider.models import DeviceCode
    from tests.support.device_helpers import VERIFICATION, enter, started
    from tests.support.device_helpers import consent_blob as device_blob
    from tests.support.factories import DeviceClientFactory

    device_client = DeviceClientFactory()
    browser = HttpClient()
    browser.force_login(user)
    for _ in range(5):
        flow = started(HttpClient(), device_client)
        page = enter(browser, flow["user_code"])
        assert page.status_code == 200
        blob = device_blob(page.content.decode())

        def post(i: int, blob=blob):
            http = HttpClient(raise_request_exception=False)
            http.cookies = browser.cookies
            data = {"device_request": blob, ("allow" if i % 2 else "deny"): "1"}
            return http.post(VERIFICATION, data)

        results = parallel([lambda i=i: post(i) for i in range(THREADS)])
        got = statuses(results)
        assert got[200] == 1 and not any(s >= 500 for s in got), got
        assert DeviceCode.objects.by_device_code(flow["device_code"]).get().status in ("approved", "denied")


# -- 9. remembered consent: the same approval twice at once --------------------------------------------
def _consent_race(user, oauth, atomic: bool, monkeypatch) -> list[Counter]:
    from oauth_provider.models import Consent

    if atomic:
        monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
        monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    out = []
    for _ in range(5):
        client = ClientFactory()
        params, _verifier = oauth.authorize_params(client)
        page = oauth.browser.get("/o/authorize/", params)
        assert page.status_code == 200
        data = {"oauth_request": consent_blob(page.content.decode()), "allow": "allow", "remember": "1"}

        def post(data=data):
            assert connection.settings_dict.get("ATOMIC_REQUESTS", False) is atomic
            http = HttpClient(raise_request_exception=False)
            http.cookies = oauth.browser.cookies
            return http.post("/o/authorize/", data)

        results = parallel([post] * 10)
        out.append(statuses(results))
        assert Consent.objects.filter(user=user, client=client).count() == 1
    return out


def test_parallel_approvals_with_remember_record_one_consent(user, oauth, monkeypatch):
    got = _consent_race(user, oauth, False, monkeypatch)
    assert all(c == Counter({302: 10}) for c in got), got


def test_parallel_approvals_with_remember_under_atomic_requests(user, oauth, monkeypatch):
    """The same with ``ATOMIC_REQUESTS = True`` (a common host setting)."""
    got = _consent_race(user, oauth, True, monkeypatch)
    assert all(c == Counter({302: 10}) for c in got), got


# -- 10. back-channel logout delivery claimed by parallel senders -------------------------------------
def test_parallel_claims_of_one_logout_delivery():
    from datetime import timedelta

    from oauth_provider import secrets
    from oauth_provider.models import LogoutDelivery

    client = ClientFactory()
    for _ in range(5):
        now = secrets.now()
        row = LogoutDelivery.objects.create(client=client, issuer="https://testserver/o", subject="1",
                                            next_attempt_at=now)
        won = parallel([lambda: LogoutDelivery.objects.claim(row.pk, now, timedelta(seconds=60))
                        for _ in range(THREADS)])
        assert won.count(True) == 1 and won.count(False) == THREADS - 1, Counter(map(str, won))
        row.refresh_from_db()
        assert row.attempts == 1


# -- 11. key rotation twice at once ------------------------------------------------------------------
def test_parallel_key_rotations_leave_one_current_key(signing_key):
    """``rotatekeys`` run twice at once (two deploy hooks): afterwards one key is not retired
    (the newest), not two; and neither run fails."""
    from oauth_provider import keys
    from oauth_provider.models import SigningKey

    for _ in range(5):
        results = parallel([lambda: keys.create_key("ES256", prepublish=True) for _ in range(2)])
        assert not any(isinstance(r, tuple) for r in results), results
        unretired = SigningKey.objects.filter(retired_at__isnull=True).count()
        assert unretired == 1, [(k.kid[:8], k.not_before, k.retired_at) for k in SigningKey.objects.all()]


# -- 12. refresh grace retry racing the successor's use ----------------------------------------------
def test_a_grace_retry_racing_the_successors_use_is_reuse(oauth, conf_client, settings, monkeypatch):
    """REFRESH_TOKEN_GRACE_PERIOD: a rotated refresh token R0 is honoured once more "only while
    its successor is unused". Deterministic interleaving: the replay of R0 has read R1 as
    unused; the client's use of R1 (another connection) commits before the replay goes on. The
    replay must then be what it would be one moment later: reuse (refused, family revoked)."""
    import oauth_provider.grants.refresh_token as grant

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD": 30}
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    r0 = oauth.tokens(conf_client)["refresh_token"]
    r1 = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": r0}).json()["refresh_token"]
    used: list[Any] = []
    original = grant.share_refresh_token

    def share_after_the_successor_was_used(pk, when):
        def use():
            try:
                used.append(post_form(HttpClient(raise_request_exception=False),
                                      {"grant_type": "refresh_token", "refresh_token": r1}, HTTP_AUTHORIZATION=auth))
            finally:
                connection.close()
        t = threading.Thread(target=use)
        t.start()
        t.join()
        return original(pk, when)

    monkeypatch.setattr(grant, "share_refresh_token", share_after_the_successor_was_used)
    replay = post_form(HttpClient(raise_request_exception=False),
                       {"grant_type": "refresh_token", "refresh_token": r0}, HTTP_AUTHORIZATION=auth)
    assert used and used[0].status_code == 200, used
    assert replay.status_code == 400, (replay.status_code, replay.content[:300])

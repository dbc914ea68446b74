"""Races on one-time credentials (figures F9-F12 of shared/specs/test-figures.md).

50 threads, released together by a barrier, each with its own database connection and its own
``django.test.Client``, redeem one authorization code (or refresh one refresh token) at once.
The conditional UPDATE in the grant must let exactly one through (code) or at most one
(refresh token), answer the rest ``invalid_grant``, never 5xx, and the losers' replay must
revoke the winner's tokens. Runs on PostgreSQL and MariaDB (``OAUTH_PROVIDER_TEST_DB=postgres``
/ ``mariadb``) and on a file SQLite database (``--ds tests.sqlite_file_settings``: writers
queue on SQLite's database lock with a busy timeout, so SQLite proves the same guarantees);
CI runs all three and reports F9-F12 in the run's summary. Skipped on the in-memory SQLite
test database, whose shared-cache table locks answer concurrent writers "database table is
locked" instead of making them wait. On every database, tests/grants/test_authorization_code.py
also makes a redemption lose the single-use UPDATE deterministically (no threads).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client as HttpClient

from oauth_provider.models import RefreshToken
from oauth_provider.secrets import set_clock
from tests.conftest import basic_auth
from tests.support.token_helpers import FrozenClock, access_token_row, family_of_access_token, post_form

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor not in ("postgresql", "mysql")
        and not (connection.vendor == "sqlite" and not connection.is_in_memory_db()),
        reason="needs row locking (PostgreSQL, MariaDB) or a file SQLite database (tests.sqlite_file_settings)",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 50
# 20 trials per figure, as F9/F11 ask: the whole file takes about 15 s on 2 cores.
TRIALS = 20

Outcome = tuple[int, str]  # (HTTP status, error code or "ok")


def race(send: Callable[[HttpClient], HttpResponse]) -> tuple[list[Outcome], list[dict]]:
    """Run ``send`` in THREADS threads released at the same instant. Returns one outcome per
    thread and the JSON bodies of the successful responses."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[Outcome] = [(0, "not run")] * THREADS
    winners: list[dict] = []

    def worker(i: int) -> None:
        http = HttpClient(raise_request_exception=False)
        try:
            barrier.wait(timeout=60)
            r = send(http)
            body = r.json() if r["Content-Type"] == "application/json" else {}
            outcomes[i] = (r.status_code, body.get("error", "ok" if r.status_code == 200 else "?"))
            if r.status_code == 200:
                winners.append(body)
        except Exception as exc:  # counted as a 5xx: the server side must never blow up
            outcomes[i] = (599, repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, winners


def summarise(trials: list[list[Outcome]]) -> tuple[list[int], int, Counter[str]]:
    successes = [sum(1 for status, _ in t if status == 200) for t in trials]
    server_errors = sum(1 for t in trials for status, _ in t if status >= 500)
    errors = Counter(error for t in trials for status, error in t if status != 200)
    return successes, server_errors, errors


@pytest.mark.req("DERIVED-code-race")
@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
def test_parallel_redemptions_of_one_code(oauth, conf_client, figure):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    trials: list[list[Outcome]] = []
    winners_revoked = 0
    for _ in range(TRIALS):
        code, verifier = oauth.get_code(conf_client)
        body = {
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": conf_client.redirect_uri_list[0],
        }
        outcomes, winners = race(lambda http, body=body: post_form(http, body, HTTP_AUTHORIZATION=auth))
        trials.append(outcomes)
        for won in winners:
            dead = not access_token_row(won["access_token"]).is_active()
            dead = dead and family_of_access_token(won["access_token"]).revoked_at is not None
            again = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": won["refresh_token"]})
            winners_revoked += dead and again.status_code == 400 and again.json()["error"] == "invalid_grant"

    successes, server_errors, errors = summarise(trials)
    exact = sum(1 for s in successes if s == 1)
    vendor = connection.vendor
    figure("F9", f"code race ({vendor}): {exact}/{TRIALS} trials of {THREADS} threads exactly one success, "
                 f"{server_errors} 5xx, errors {dict(errors)}")
    figure("F10", f"replayed code ({vendor}): {winners_revoked}/{sum(successes)} winners' AT and RT revoked")
    assert successes == [1] * TRIALS
    assert server_errors == 0
    assert errors == Counter({"invalid_grant": TRIALS * (THREADS - 1)})
    assert winners_revoked == TRIALS


@pytest.mark.req("DERIVED-refresh-race")
@pytest.mark.req("BCP-4.14.2-public-replay-detection")
def test_parallel_refreshes_of_one_refresh_token(oauth, conf_client, figure):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    trials: list[list[Outcome]] = []
    families_revoked = 0
    for _ in range(TRIALS):
        tokens = oauth.tokens(conf_client)
        body = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        outcomes, winners = race(lambda http, body=body: post_form(http, body, HTTP_AUTHORIZATION=auth))
        trials.append(outcomes)
        family = family_of_access_token(tokens["access_token"])
        issued = [tokens, *winners]
        dead = family.revoked_at is not None
        dead = dead and not any(access_token_row(t["access_token"]).is_active() for t in issued)
        for t in winners:
            again = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
            dead = dead and again.status_code == 400 and again.json()["error"] == "invalid_grant"
        families_revoked += dead

    successes, server_errors, errors = summarise(trials)
    at_most_one = sum(1 for s in successes if s <= 1)
    vendor = connection.vendor
    figure("F11", f"refresh race ({vendor}): {at_most_one}/{TRIALS} trials of {THREADS} threads at most one "
                  f"success (successes {sum(successes)}), {server_errors} 5xx, errors {dict(errors)}")
    figure("F12", f"refresh reuse ({vendor}): {families_revoked}/{TRIALS} families fully revoked")
    assert at_most_one == TRIALS
    assert server_errors == 0
    assert set(errors) == {"invalid_grant"}
    assert families_revoked == TRIALS


GRACE = 30


@pytest.mark.req("DERIVED-refresh-race")
def test_parallel_refreshes_in_grace_mode_succeed_only_inside_the_window(oauth, conf_client, figure, settings):
    """F11 with ``REFRESH_TOKEN_GRACE_PERIOD``: a refresh token may be redeemed once more while
    its rotation is younger than the grace period, so of racing refreshes at most two succeed
    (the rotation and one retry, answered with the same successor); the family must not fork
    (one live refresh token afterwards), and once the window has passed the same token is
    reuse: refused, and the family revoked."""
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD": GRACE}
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    trials: list[list[Outcome]] = []
    forks = late_refused = 0
    for _ in range(TRIALS // 4):
        clock = FrozenClock()
        tokens = oauth.tokens(conf_client)
        body = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        outcomes, _winners = race(lambda http, body=body: post_form(http, body, HTTP_AUTHORIZATION=auth))
        trials.append(outcomes)
        family = family_of_access_token(tokens["access_token"])
        live = RefreshToken.objects.filter(authorization=family, rotated_at__isnull=True, revoked_at__isnull=True)
        forks += live.count() > 1
        clock.advance(GRACE + 1)
        late = oauth.token(conf_client, body)
        family.refresh_from_db()
        late_refused += late.status_code == 400 and family.revoked_at is not None
        set_clock(None)

    successes, server_errors, errors = summarise(trials)
    figure("F11b", f"refresh race in grace mode ({connection.vendor}, {GRACE} s): successes per trial {successes} "
                   f"inside the window, {server_errors} 5xx, forked families {forks}, "
                   f"{late_refused}/{len(trials)} refused and revoked after the window")
    assert server_errors == 0 and set(errors) <= {"invalid_grant"}
    assert all(1 <= s <= 2 for s in successes)
    assert forks == 0
    assert late_refused == len(trials)


@pytest.mark.req("DERIVED-device-code-single-use")
def test_parallel_polls_of_one_approved_device_code(browser, figure):
    """RFC 8628: 50 devices polling one approved device code at once get exactly one set of
    tokens; the rest ``invalid_grant`` (or ``slow_down``: they all polled at once), never 5xx;
    a poll 30 s later is still ``invalid_grant``."""
    from oauth_provider.models import AccessToken, DeviceCode
    from tests.support.device_helpers import approve, poll, started
    from tests.support.factories import DeviceClientFactory

    device_client = DeviceClientFactory()
    api = HttpClient()
    trials: list[list[Outcome]] = []
    late_refused = 0
    for _ in range(TRIALS):
        flow = started(api, device_client)
        approve(browser, flow["user_code"])
        outcomes, _winners = race(lambda http, code=flow["device_code"]: poll(http, device_client, code))
        trials.append(outcomes)
        clock = FrozenClock()
        clock.advance(30)
        late = poll(api, device_client, flow["device_code"])
        late_refused += late.status_code == 400 and late.json()["error"] == "invalid_grant"
        set_clock(None)
        assert DeviceCode.objects.by_device_code(flow["device_code"]).get().status == "consumed"

    successes, server_errors, errors = summarise(trials)
    exact = sum(1 for s in successes if s == 1)
    figure("F-device-race", f"device-code race ({connection.vendor}): {exact}/{TRIALS} trials of {THREADS} "
                            f"threads exactly one success, {server_errors} 5xx, errors {dict(errors)}, "
                            f"{late_refused}/{TRIALS} late polls invalid_grant")
    assert successes == [1] * TRIALS
    assert server_errors == 0
    assert set(errors) <= {"invalid_grant", "slow_down"}
    assert late_refused == TRIALS
    assert AccessToken.objects.filter(client=device_client).count() == TRIALS


@pytest.mark.req("DERIVED-device-claim-once")
def test_parallel_entries_of_one_user_code_by_different_users():
    """50 users enter one user code at once: exactly one claims it, the others are refused."""
    from oauth_provider.models import DeviceCode
    from tests.support.device_helpers import VERIFICATION, started
    from tests.support.factories import DeviceClientFactory, UserFactory

    device_client = DeviceClientFactory()
    users = [UserFactory(username=f"racer{i}") for i in range(THREADS)]
    flow = started(HttpClient(), device_client)
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = [0] * THREADS

    def worker(i: int) -> None:
        http = HttpClient(raise_request_exception=False, REMOTE_ADDR=f"198.51.100.{i}")
        try:
            http.force_login(users[i])
            barrier.wait(timeout=60)
            statuses[i] = http.post(VERIFICATION, {"user_code": flow["user_code"]}).status_code
        except Exception:
            statuses[i] = 599
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [403] * (THREADS - 1), Counter(statuses)
    owner = DeviceCode.objects.by_device_code(flow["device_code"]).get().user
    assert owner == users[statuses.index(200)]


@pytest.mark.req("7523-3-grant-time")
def test_parallel_uses_of_one_jwt_bearer_assertion(user, settings, figure):
    """RFC 7523 §3 item 7 / RFC 7521 §8.2: one assertion, 50 simultaneous token requests,
    exactly one token; the jti is consumed by an atomic add in the shared replay cache."""
    from tests.grants.test_jwt_bearer import GRANT_TYPE, claims, configure, sign
    from tests.support.factories import ClientFactory

    configure(settings)
    service = ClientFactory(grant_types=GRANT_TYPE, redirect_uris="")
    trials = []
    for _ in range(5):
        assertion = sign(claims())
        outcomes, _winners = race(lambda http: post_form(
            http, {"grant_type": GRANT_TYPE, "assertion": assertion, "scope": "read"},
            HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret)))
        trials.append(outcomes)
    successes, server_errors, errors = summarise(trials)
    assert successes == [1] * len(trials) and server_errors == 0, (successes, errors)
    assert set(errors) == {"invalid_grant"}
# -- dynamic registration: the last use of an initial access token --------------------------
def test_one_use_initial_access_token_registers_exactly_one_client(settings):
    """``--uses 1``: 50 registrations at once with the same token, 5 trials: exactly one 201
    each time, the rest 401 ``invalid_token`` (the use is spent by a conditional UPDATE)."""
    import json

    from oauth_provider.models import InitialAccessToken, get_client_model

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "token",
                               "REGISTRATION_THROTTLE": {"enabled": False}}
    body = json.dumps({"redirect_uris": ["https://rp.example/cb"]})
    for _ in range(5):
        _row, raw = InitialAccessToken.objects.create_token(uses=1)
        before = get_client_model().objects.count()
        outcomes, _ = race(lambda http: http.post(
            "/o/register/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"))
        statuses = Counter(status for status, _ in outcomes)
        assert statuses == {201: 1, 401: THREADS - 1}, statuses
        assert get_client_model().objects.count() == before + 1


@pytest.mark.req("9126-4-one-time-expiry")
def test_parallel_authorizations_with_one_pushed_request_uri(user, figure):
    """RFC 9126 §4: 50 browsers bring one pushed request_uri of a first-party client (no consent
    page: each request completes the authorization at once) at the same instant. The
    conditional UPDATE that spends it, in the transaction that stores the code, lets exactly
    one through; the others get the error page, never a second code, never a 5xx."""
    from oauth_provider.models import AuthorizationCode
    from tests.support.factories import ClientFactory
    from tests.support.par_helpers import AUTHORIZE, pushed_uri

    client = ClientFactory(skip_consent=True)
    login = HttpClient()
    login.force_login(user)
    trials = 5
    results: list[Counter[int]] = []
    for _ in range(trials):
        request_uri = pushed_uri(client)
        query = {"client_id": client.client_id, "request_uri": request_uri}
        barrier = threading.Barrier(THREADS)
        statuses: list[int] = [0] * THREADS

        def worker(i: int, query: dict = query, statuses: list[int] = statuses,
                   barrier: threading.Barrier = barrier) -> None:
            http = HttpClient(raise_request_exception=False)
            http.cookies = login.cookies
            try:
                barrier.wait(timeout=60)
                r = http.get(AUTHORIZE, query)
                statuses[i] = 302 if r.status_code == 302 and "code=" in r["Location"] else r.status_code
            except Exception:
                statuses[i] = 599
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.append(Counter(statuses))
    figure("F-par-race", f"pushed request_uri race ({connection.vendor}): {trials} trials of {THREADS} browsers: "
                         f"{[dict(c) for c in results]}")
    assert all(c == Counter({302: 1, 400: THREADS - 1}) for c in results), results
    assert AuthorizationCode.objects.count() == trials

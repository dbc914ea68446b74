"""Client authentication does not leak through timing (OIDC Core §16.12; figure F21).

Three views of it, with the throttle off so every attempt is a real check:

* white-box: an unknown client_id costs the same hash and constant-time comparison as a
  known one with a wrong secret (``client_auth.authenticate`` hashes against a dummy digest);
* a wrong secret that differs from the right one in its first character and one that differs
  only in its last take the same time (no early exit in the comparison): medians of 200
  interleaved requests each within 5 ms and 10 %;
* an unknown client_id and a known one with a wrong secret of the same length: medians within
  5 ms over HTTP (F21b, the relative gap reported: a loaded machine moves it by several %),
  and within 10 % in ``client_auth.authenticate`` itself, where the difference lived: loading
  a known client's row costs a few tens of microseconds that a miss does not (about 30 us,
  30 % of the call and 10-15 % of a request, before ``client_auth.LookupTimer`` made a miss
  spend as much CPU time as a hit).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import client_auth, secrets
from oauth_provider.errors import OAuthError

from .conftest import basic_auth
from .endpoints.helpers import provider_settings
from .token_helpers import post_form

pytestmark = pytest.mark.django_db
SAMPLES = 200
WARM_UP = 20


@pytest.fixture(autouse=True)
def _no_throttle():
    with override_settings(OAUTH_PROVIDER=provider_settings(CLIENT_AUTH_THROTTLE={"enabled": False})):
        yield


def attempt(client_id: str, secret: str) -> Callable[[], float]:
    api = HttpClient()
    auth = basic_auth(client_id, secret)

    def timed() -> float:
        started = time.perf_counter()
        response = post_form(api, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=auth)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    return timed


def medians(a: Callable[[], float], b: Callable[[], float]) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, interleaved so that load drifts hit both alike."""
    times_a, times_b = [], []
    for i in range(WARM_UP + SAMPLES):
        first, second = (a, b) if i % 2 else (b, a)
        one, two = first(), second()
        if i >= WARM_UP:
            (times_a if first is a else times_b).append(one)
            (times_b if first is a else times_a).append(two)
    return statistics.median(times_a), statistics.median(times_b)


@pytest.mark.req("OIDC-16.12-timing")
def test_an_unknown_client_costs_the_same_hash_as_a_wrong_secret(conf_client, monkeypatch):
    assert client_auth._DUMMY_HASH  # computed once at import, not per request
    calls: list[str] = []
    real = secrets.hash_token
    monkeypatch.setattr(secrets, "hash_token", lambda value: calls.append(value) or real(value))
    attempt("no-such-client", "x" * 43)()
    unknown = len(calls)
    calls.clear()
    attempt(conf_client.client_id, "x" * 43)()
    assert unknown == len(calls) == 1


@pytest.mark.req("OIDC-16.12-timing")
@pytest.mark.cve("CVE-2016-7036")
def test_where_a_wrong_secret_differs_does_not_show_in_timing(conf_client, figure):
    right = conf_client.raw_secret
    early = "!" + right[1:] if right[0] != "!" else "?" + right[1:]
    late = right[:-1] + ("A" if right[-1] != "A" else "B")
    first, last = medians(attempt(conf_client.client_id, early), attempt(conf_client.client_id, late))
    gap = abs(first - last)
    figure("F21", f"client auth, n={SAMPLES} each: wrong secret differing at the first vs the last character "
                  f"{first * 1000:.3f} / {last * 1000:.3f} ms (gap {gap * 1000:.3f} ms, "
                  f"{100 * gap / min(first, last):.1f} %)")
    assert gap < 0.005
    assert gap < 0.10 * min(first, last)


@pytest.mark.req("OIDC-16.12-timing")
def test_an_unknown_client_id_and_a_wrong_secret_take_about_as_long(conf_client, figure):
    wrong = "w" * len(conf_client.raw_secret)
    unknown, known = medians(attempt("an-unknown-client-id", wrong), attempt(conf_client.client_id, wrong))
    gap = abs(unknown - known)
    figure("F21b", f"client auth, n={SAMPLES} each: unknown client_id vs known with a wrong secret "
                   f"{unknown * 1000:.3f} / {known * 1000:.3f} ms (gap {gap * 1000:.3f} ms, "
                   f"{100 * gap / min(unknown, known):.1f} %; target < 5 ms and < 10 %)")
    assert gap < 0.005


@pytest.mark.req("OIDC-16.12-timing")
def test_authentication_takes_as_long_for_an_unknown_client_id_as_for_a_known_one(conf_client, rf):
    wrong = "w" * len(conf_client.raw_secret)
    params = {"grant_type": "client_credentials"}

    def call(client_id: str) -> Callable[[], float]:
        request = rf.post("/o/token/", HTTP_AUTHORIZATION=basic_auth(client_id, wrong))

        def timed() -> float:
            started = time.perf_counter()
            with pytest.raises(OAuthError):
                client_auth.authenticate(request, params)
            return time.perf_counter() - started

        return timed

    unknown, known = [], []
    for _ in range(5):  # the best of five rounds: a loaded machine adds noise, never equality
        a, b = medians(call("an-unknown-client-id"), call(conf_client.client_id))
        unknown.append(a)
        known.append(b)
        if abs(a - b) < 0.10 * min(a, b):
            break
    assert abs(a - b) < 0.10 * min(a, b), (unknown, known)


def test_a_lookup_that_finds_no_client_costs_as_much_cpu_as_one_that_finds_one():
    timer = client_auth.LookupTimer()
    started = timer.start()
    timer.missed(started)  # nothing measured yet: no wait
    assert time.thread_time() - started < 0.002
    for took in (0.003, 0.004, 0.005):
        timer.found(timer.start() - took)
    started = timer.start()
    timer.missed(started)
    assert time.thread_time() - started >= 0.004  # the median of the hits, in CPU time
    timer.found(timer.start() - 10)  # an outlier is never spun for in full
    timer.found(timer.start() - 10)
    started = time.perf_counter()
    timer.missed(timer.start())
    assert time.perf_counter() - started < 1

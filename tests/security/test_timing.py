"""Client authentication does not leak through timing (OIDC Core §16.12; figure F21).

What a test can prove here, and how:

* **Structurally (asserted).** An unknown client_id and a known one with a wrong secret take
  the same path: the same SQL statements, one SHA-256 of the presented secret, one
  constant-time comparison (against a dummy digest for the unknown client). That
  ``secrets.constant_time_equals`` is ``hmac.compare_digest`` and that every secret comparison
  goes through it is asserted in ``tests/test_secrets.py``.
* **By the clock (reported, not asserted).** An early-exit comparison of two SHA-256 hex
  digests differs from a constant-time one by tens of nanoseconds; a Django request costs
  hundreds of microseconds and jitters by more than that on a busy 2-core machine. No
  wall-clock threshold can detect a leaky comparison (so no test here claims to, including
  for CVE-2016-7036: see ``tests/test_secrets.py``), and a tight one would be flaky. Figure F21
  (unknown client vs wrong secret, n=200 each) is measured and printed with whether the
  checklist's target (< 5 ms and < 10 %) was met; the spec makes it "not a CI gate if noisy".
  The relative gap is often above 10 % even with identical code paths: building a known
  client's model instance costs tens of microseconds that "no row" does not, and a client_id
  is an identifier, not a secret.
* **In ``client_auth.authenticate`` itself (asserted, best of five rounds).** Without the
  request around it the row load is visible: about 30 us, 30 % of the call, before
  ``client_auth.LookupTimer`` made a miss spend as much CPU time as a hit. The unknown and
  the known client must be within 10 %.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider import client_auth, secrets
from oauth_provider.errors import OAuthError
from tests.conftest import basic_auth, real_queries
from tests.support.endpoints import provider_settings
from tests.support.token_helpers import post_form

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


def trace(client_id: str, secret: str, monkeypatch) -> tuple[list[str], list[str], list[tuple]]:
    """What one failed authentication does: its SQL, the values it hashes, its comparisons."""
    hashed: list[str] = []
    compared: list[tuple] = []
    real_hash, real_equals = secrets.hash_token, secrets.constant_time_equals
    monkeypatch.setattr(secrets, "hash_token", lambda value: hashed.append(value) or real_hash(value))
    monkeypatch.setattr(secrets, "constant_time_equals",
                        lambda a, b: compared.append((a, b)) or real_equals(a, b))
    with CaptureQueriesContext(connection) as captured:
        attempt(client_id, secret)()
    monkeypatch.undo()
    return real_queries(captured), hashed, compared


@pytest.mark.req("OIDC-16.12-timing")
def test_an_unknown_client_takes_the_same_path_as_a_wrong_secret(conf_client, monkeypatch):
    wrong = "x" * len(conf_client.raw_secret)
    sql_known, hashed_known, compared_known = trace(conf_client.client_id, wrong, monkeypatch)
    sql_unknown, hashed_unknown, compared_unknown = trace("no-such-client", wrong, monkeypatch)
    # the same statements (the client lookup), differing only in the id looked up
    assert len(sql_known) == len(sql_unknown) >= 1
    assert [s.replace(conf_client.client_id, "?") for s in sql_known] == \
        [s.replace("no-such-client", "?") for s in sql_unknown]
    # one hash of the presented secret each, and one constant-time comparison each
    assert hashed_known == hashed_unknown == [wrong]
    assert compared_known == [(secrets.hash_token(wrong), conf_client.client_secret_hash)]
    # the unknown client's comparison is against a precomputed digest of the same shape
    assert compared_unknown == [(secrets.hash_token(wrong), client_auth._DUMMY_HASH)]
    assert re.fullmatch(r"[0-9a-f]{64}", client_auth._DUMMY_HASH)
    assert client_auth._DUMMY_HASH != conf_client.client_secret_hash


@pytest.mark.req("OIDC-16.12-timing")
def test_figure_f21_unknown_client_id_vs_wrong_secret(conf_client, figure):
    """Measures and reports F21; asserts only what cannot be noise: both medians were taken
    (n=200 each) and both requests failed the same way (``attempt`` checks the 401)."""
    wrong = "w" * len(conf_client.raw_secret)
    unknown, known = medians(attempt("an-unknown-client-id", wrong), attempt(conf_client.client_id, wrong))
    gap = abs(unknown - known)
    relative = gap / min(unknown, known)
    met = "met" if gap < 0.005 and relative < 0.10 else "missed (see tests/security/test_timing.py)"
    figure("F21", f"client auth, n={SAMPLES} each: unknown client_id vs known with a wrong secret "
                  f"{unknown * 1000:.3f} / {known * 1000:.3f} ms (gap {gap * 1000:.3f} ms, {100 * relative:.1f} %; "
                  f"target < 5 ms and < 10 %: {met}; reported, not a gate)")
    assert unknown > 0 and known > 0


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


class _HandClock:
    """``time.thread_time`` moved by hand (and by 1 µs per read, so a spin ends), from zero as
    in a new thread: a lookup may then take longer than all the thread's CPU time before it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


def _hit(timer: client_auth.LookupTimer, clock: _HandClock, took: float) -> None:
    started = timer.start()
    clock.now += took
    timer.found(started)


def test_a_miss_is_padded_to_the_lower_median_of_the_recent_hits(monkeypatch):
    """The padding is the median hit, never more: with an even count the lower of the two
    middle values (a miss must not cost more than a typical hit, only as much)."""
    clock = _HandClock()
    monkeypatch.setattr(client_auth.time, "thread_time", clock)
    timer = client_auth.LookupTimer()
    for took in (0.004, 0.001, 0.003, 0.002):
        _hit(timer, clock, took)
    assert timer.target == pytest.approx(0.002, abs=1e-5)
    started = clock()
    timer.missed(started)
    assert clock.now - started == pytest.approx(0.002, abs=1e-5)
    _hit(timer, clock, 0.005)  # five hits: the middle one
    assert timer.target == pytest.approx(0.003, abs=1e-5)


def test_the_padding_is_recomputed_every_eighth_hit_once_eight_are_known(monkeypatch):
    """Sorting 64 samples on every request would cost more than the padding saves: the
    median is recomputed on each of the first seven hits, then on every EVERY-th (9, 17, ...)."""
    clock = _HandClock()
    monkeypatch.setattr(client_auth.time, "thread_time", clock)
    timer = client_auth.LookupTimer()
    targets = []
    for hit in range(1, 18):
        _hit(timer, clock, (30 - hit) / 10_000)  # each faster than the last: every recomputation shows
        targets.append(round(timer.target * 10_000))  # in tenths of a millisecond
    # hits 1-7: the lower median of what is known; hit 8 keeps hit 7's (2.6 ms, though the eight
    # samples' lower median is 2.5); hit 9 recomputes, hits 10-16 keep it; hit 17 recomputes
    assert targets == [29, 28, 28, 27, 27, 26, 26, 26, 25, 25, 25, 25, 25, 25, 25, 25, 21]


def test_a_slow_spell_of_hits_never_makes_a_miss_spin_past_ten_milliseconds(monkeypatch):
    """Lookups slowed by a stalled database or a busy machine must not turn every unknown
    client_id into a long spin (a cheap way to burn the server's CPU): the padding is capped."""
    clock = _HandClock()
    monkeypatch.setattr(client_auth.time, "thread_time", clock)
    timer = client_auth.LookupTimer()
    for _ in range(9):
        _hit(timer, clock, 0.5)
    assert timer.target == client_auth.LookupTimer.LONGEST == 0.01
    started = clock()
    timer.missed(started)
    assert clock.now - started == pytest.approx(0.01, abs=1e-5)


def test_a_hit_racing_another_thread_never_fails_the_request(monkeypatch):
    """Under a threaded server another request may append a sample while this one sorts them
    ("deque mutated during iteration"): the target stays as it was, the lookup goes on."""
    from collections import deque

    class Racing(deque):
        def __iter__(self):
            raise RuntimeError("deque mutated during iteration")

    clock = _HandClock()
    monkeypatch.setattr(client_auth.time, "thread_time", clock)
    timer = client_auth.LookupTimer()
    for took in (0.001, 0.002, 0.003):
        _hit(timer, clock, took)
    before = timer.target
    timer.samples = Racing(timer.samples, maxlen=timer.SAMPLES)
    _hit(timer, clock, 0.009)
    assert timer.target == before


def test_the_padding_forgets_hits_older_than_the_last_sixty_four(monkeypatch):
    """The median is of the recent hits only: a burst of slow lookups long ago stops
    counting, and the samples kept (sorted every eighth hit) never grow with the traffic."""
    clock = _HandClock()
    monkeypatch.setattr(client_auth.time, "thread_time", clock)
    timer = client_auth.LookupTimer()
    for _ in range(100):
        _hit(timer, clock, 0.008)
    for _ in range(64):
        _hit(timer, clock, 0.001)
    assert len(timer.samples) == client_auth.LookupTimer.SAMPLES == 64
    assert timer.target == pytest.approx(0.001, abs=1e-5)

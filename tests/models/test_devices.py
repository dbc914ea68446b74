"""DeviceCode state (RFC 8628): user codes, the states a poll reports, and the conditional
UPDATEs that claim, decide and redeem one."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.test import override_settings

from oauth_provider import secrets
from oauth_provider.models import DeviceCode
from tests.support.factories import DeviceCodeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.req("8628-5.1-user-code-entropy")
def test_user_codes_are_unambiguous_random_and_long_enough(figure):
    codes = [secrets.generate_user_code() for _ in range(10_000)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    letters = Counter("".join(c.replace("-", "") for c in codes))
    assert set(letters) == set(secrets.USER_CODE_ALPHABET)
    assert not set(letters) & set("AEIOU0O1IL5S2Z8B"[:9])  # no vowels, digits or look-alike pairs
    expected = 100_000 / len(secrets.USER_CODE_ALPHABET)
    chi_square = sum((n - expected) ** 2 / expected for n in letters.values())
    assert chi_square < 43.8  # 19 degrees of freedom, p = 0.001
    bits = secrets.USER_CODE_LENGTH * math.log2(len(secrets.USER_CODE_ALPHABET))
    assert bits >= 40
    figure("F-user-code", f"user codes: {bits:.1f} bits, 10,000 unique, chi-square {chi_square:.1f} (< 43.8)")


def test_user_codes_come_from_the_csprng(monkeypatch):
    """White-box companion of 8628-5.1: ``random`` is never consulted (django-oauth-toolkit
    #1734 replaced random.choice)."""
    monkeypatch.setattr(random, "choice", lambda seq: pytest.fail("random.choice used"))
    monkeypatch.setattr(random, "choices", lambda *a, **k: pytest.fail("random.choices used"))
    secrets.generate_user_code()


@pytest.mark.parametrize(("typed", "normalized"), [
    ("WDJBM-KHTXZ", "WDJBMKHTXZ"), ("wdjbm-khtxz", "WDJBMKHTXZ"), ("wdjbmkhtxz", "WDJBMKHTXZ"),
    (" WDJBM KHTXZ ", "WDJBMKHTXZ"), ("W-D-J-B-M-K-H-T-X-Z", "WDJBMKHTXZ"),
    ("WDJBM-KHTX", None), ("WDJBM-KHTXZZ", None), ("WDJBA-KHTXZ", None), ("WDJBM-KHTX0", None),
    ("WDJBM_KHTXZ", None), ("", None), ("ẞDJBM-KHTXZ", None),
])
def test_typed_codes_are_compared_case_and_dash_insensitively(typed, normalized):
    assert secrets.normalize_user_code(typed) == normalized


def test_the_stored_user_code_is_keyed_by_the_secret_key():
    """43 bits are exhausted quickly: a plain SHA-256 would be reversible, the HMAC needs SECRET_KEY."""
    digest = secrets.user_code_digest("WDJBMKHTXZ")
    assert digest != secrets.hash_token("WDJBMKHTXZ")
    with override_settings(SECRET_KEY="another-secret-key-for-this-test"):
        assert secrets.user_code_digest("WDJBMKHTXZ") != digest


def test_states_in_the_order_a_poll_reports_them():
    now = secrets.now()
    assert DeviceCodeFactory().state(now) == "pending"
    assert DeviceCodeFactory(status="approved").state(now) == "approved"
    assert DeviceCodeFactory(status="denied").state(now) == "denied"
    assert DeviceCodeFactory(status="consumed", expires_at=now - timedelta(1)).state(now) == "consumed"
    assert DeviceCodeFactory(status="denied", expires_at=now).state(now) == "expired"
    assert DeviceCodeFactory().state(now + timedelta(days=1)) == "expired", "at the instant given"
    # as read from the database (a poll's row), a redeemed code stays redeemed after its expiry
    redeemed = DeviceCodeFactory(status="consumed", expires_at=now - timedelta(1))
    assert DeviceCode.objects.get(pk=redeemed.pk).state(now) == "consumed"


def test_querysets_agree_with_the_rows():
    now = secrets.now()
    rows = {
        "pending": DeviceCodeFactory(),
        "approved": DeviceCodeFactory(status="approved"),
        "denied": DeviceCodeFactory(status="denied"),
        "consumed": DeviceCodeFactory(status="consumed"),
        "expired": DeviceCodeFactory(expires_at=now - timedelta(seconds=1)),
    }
    live = set(DeviceCode.objects.live(now).values_list("pk", flat=True))
    assert live == {rows["pending"].pk, rows["approved"].pk}
    assert all(row.is_live(now) == (row.pk in live) for row in rows.values())
    assert set(DeviceCode.objects.pending(now).values_list("pk", flat=True)) == {rows["pending"].pk}
    assert set(DeviceCode.objects.dead(now).values_list("pk", flat=True)) == {rows["expired"].pk}
    inactive = DeviceCodeFactory()
    type(inactive.client).objects.filter(pk=inactive.client.pk).update(is_active=False)
    assert not DeviceCode.objects.live(now).filter(pk=inactive.pk).exists()
    # each set is taken at the instant given: once every code has expired, none is live
    later = now + timedelta(days=1)
    assert not DeviceCode.objects.live(later).exists() and not DeviceCode.objects.pending(later).exists()
    assert DeviceCode.objects.dead(later).count() == DeviceCode.objects.count()


@pytest.mark.req("DERIVED-device-claim-once")
def test_a_code_is_claimed_by_one_user():
    device = DeviceCodeFactory()
    earlier, alice, bob = UserFactory(username="e1"), UserFactory(username="a1"), UserFactory(username="b1")
    assert not device.claimed_by_other(alice) and not device.claimed_by_other(bob)
    assert device.claim(alice) and device.user == alice
    # whoever else comes, with a lower or a higher id, finds it claimed by another
    assert device.claimed_by_other(earlier) and device.claimed_by_other(bob) and not device.claimed_by_other(alice)
    assert device.claim(alice), "the owner may enter it again"
    seen_by_bob = DeviceCode.objects.get(pk=device.pk)
    assert not seen_by_bob.claim(bob)
    assert seen_by_bob.user == alice, "a lost claim changes nothing, in hand either"
    assert DeviceCode.objects.get(pk=device.pk).user == alice


@pytest.mark.req("DERIVED-device-approval-owner")
def test_only_the_owner_decides_and_only_once():
    device = DeviceCodeFactory(scope="read write")
    alice, bob = UserFactory(username="a2"), UserFactory(username="b2")
    assert not device.decide(alice, "read"), "nobody claimed it yet"
    later = secrets.now() + timedelta(days=1)
    assert not DeviceCodeFactory().claim(alice, later), "expired by then"
    device.claim(alice)
    assert not device.decide(alice, "read", now=later), "expired by then"
    assert not device.decide(bob, "read write")
    assert device.decide(alice, "read")
    # the row in hand says what was decided (the signals send it to their receivers)...
    assert (device.status, device.scope, device.decided_at is not None) == ("approved", "read", True)
    assert not device.decide(alice, None), "decided already"
    # ...and a decision not taken changes nothing, in the database or in hand
    assert (device.status, device.scope) == ("approved", "read")
    stored = DeviceCode.objects.get(pk=device.pk)
    assert (stored.status, stored.scope, stored.user) == ("approved", "read", alice)


def test_an_approval_is_redeemed_once_and_not_after_expiry():
    now = secrets.now()
    device = DeviceCodeFactory(status="approved")
    assert device.consume(now) and not device.consume(now)
    late = DeviceCodeFactory(status="approved", expires_at=now)
    assert not late.consume(now)
    assert not DeviceCodeFactory(status="approved").consume(now + timedelta(days=1)), "at the instant given"
    on_time = DeviceCodeFactory(status="approved")
    assert on_time.consume(now + timedelta(seconds=1))
    assert DeviceCode.objects.get(pk=on_time.pk).consumed_at == now + timedelta(seconds=1)
    assert not DeviceCodeFactory(status="denied").consume(now)


@pytest.mark.req("8628-3.5-slow-down")
def test_poll_records_the_time_and_refuses_too_soon():
    now = secrets.now()
    device = DeviceCodeFactory(raw="d" * 43)
    client = device.client.pk
    assert DeviceCode.objects.poll("d" * 43, client, now)
    assert not DeviceCode.objects.poll("d" * 43, client, now + timedelta(seconds=4))
    assert DeviceCode.objects.poll("d" * 43, client, now + timedelta(seconds=5))
    assert not DeviceCode.objects.poll("d" * 43, client + 1, now + timedelta(seconds=60)), "another client"
    assert not DeviceCode.objects.poll("x" * 43, client, now + timedelta(seconds=60))
    device.refresh_from_db()
    assert device.last_polled_at == now + timedelta(seconds=5)
    # too_soon says why a poll was refused, with the same bound: the whole interval waited is enough
    assert device.too_soon(now + timedelta(seconds=9.999))
    assert not device.too_soon(now + timedelta(seconds=10)) and not device.too_soon(now + timedelta(seconds=60))
    assert not DeviceCodeFactory().too_soon(now)
    assert device.slow_down(now, timedelta(seconds=600)) == timedelta(seconds=10)
    assert device.slow_down(now, timedelta(seconds=12)) == timedelta(seconds=12), "bounded"
    assert DeviceCode.objects.get(pk=device.pk).interval == timedelta(seconds=12)

"""Signing keys: rotation continuity, encryption at rest, JWKS contents, independent verification."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings
from joserfc import jws
from joserfc.jwk import KeySet

from oauth_provider import jwt, keys, secrets
from oauth_provider.models import SigningKey

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"


def _claims(**extra):
    now = int(secrets.now().timestamp())
    return {"iss": ISS, "sub": "1", "iat": now, "exp": now + 300, **extra}


def _at(delta: timedelta):
    base = secrets.now()
    secrets.set_clock(lambda: base + delta)


def _published_kids(client):
    return [k["kid"] for k in client.get("/o/jwks/").json()["keys"]]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
@pytest.mark.req("OIDC-15.1-rs256")
def test_each_algorithm_signs_and_an_independent_library_verifies(client, algorithm):
    key = keys.create_key(algorithm, prepublish=False)
    token = jwt.encode(_claims())
    keyset = KeySet.import_key_set(client.get("/o/jwks/").json())
    result = jws.deserialize_compact(token, keyset, algorithms=[algorithm])
    assert result.headers()["kid"] == key.kid
    assert result.headers()["alg"] == algorithm
    assert jwt.decode(token, typ=None, issuer=ISS)["sub"] == "1"


@pytest.mark.req("OIDC-10.1.1-rotation")
@pytest.mark.req("OIDC-10.1-kid")
def test_rotation_publishes_before_signing_and_keeps_retired_keys_while_tokens_live(client):
    old = keys.create_key("RS256", prepublish=False)
    old_token = jwt.encode(_claims())
    new = keys.create_key("RS256")  # pre-published: in the JWKS, not signing yet
    assert new.kid != old.kid
    assert set(_published_kids(client)) == {old.kid, new.kid}
    assert jwt.header(jwt.encode(_claims()))["kid"] == old.kid
    assert SigningKey.objects.get(pk=new.pk).state == "next"

    _at(timedelta(days=1, seconds=1))  # past SIGNING_KEY_PREPUBLICATION (1 day)
    keys.clear_cache()
    assert jwt.header(jwt.encode(_claims()))["kid"] == new.kid
    assert SigningKey.objects.get(pk=old.pk).state == "retired"
    assert set(_published_kids(client)) == {old.kid, new.kid}
    # a token the retired key signed still verifies while it may be alive
    assert jwt.decode(old_token, typ=None, issuer=ISS, verify_exp=False)["sub"] == "1"

    _at(timedelta(days=1, seconds=1) + timedelta(hours=1, seconds=1))  # window = max token lifetime (1 h)
    keys.clear_cache()
    assert _published_kids(client) == [new.kid]
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(old_token, typ=None, issuer=ISS, verify_exp=False)


def _hand_clock(monkeypatch, start: float) -> list[float]:
    """The key cache's monotonic clock, moved by hand (``clock[0] += 1.1``) from ``start``; the
    last miss-driven reload set 5 s before it, so a test's first unknown kid may reload. Both
    are restored after the test."""
    clock = [start]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(keys._cache, "last_miss_reload", start - 5)
    return clock


def test_private_keys_are_encrypted_at_rest_and_survive_secret_key_rotation():
    key = keys.create_key("RS256", prepublish=False)
    stored = SigningKey.objects.get(pk=key.pk).private_key
    # A Fernet token (version byte 0x80), not a PEM: no loader can read a key out of it.
    # (No substring test on the ciphertext: random base64 contains "MII" now and then.)
    assert stored.startswith("gAAAAA") and "PRIVATE KEY" not in stored
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(stored.encode(), password=None)
    assert keys.decrypt_private_key(stored).startswith(b"-----BEGIN PRIVATE KEY-----")
    token = jwt.encode(_claims())
    with override_settings(SECRET_KEY="a-new-secret", SECRET_KEY_FALLBACKS=["tests-only-not-secret"]):
        keys.clear_cache()
        assert jwt.header(jwt.encode(_claims()))["kid"] == key.kid
        assert jwt.decode(token, typ=None, issuer=ISS)["sub"] == "1"
    with override_settings(SECRET_KEY="a-new-secret", SECRET_KEY_FALLBACKS=[]):
        keys.clear_cache()
        with pytest.raises(ImproperlyConfigured):
            jwt.encode(_claims())


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_encryption_key_is_refused_rather_than_encrypting_under_a_known_one(empty):
    """A private key encrypted under a key derived from an empty value is as good as stored in
    clear: an empty first entry of ``KEY_ENCRYPTION_KEYS`` (check E013 names it, but checks do
    not run in every process) is refused when a key is stored, and nothing is stored."""
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISS, "KEY_ENCRYPTION_KEYS": [empty, "a" * 32]}):
        with pytest.raises(ImproperlyConfigured,
                           match=r"^No key to encrypt signing keys with: set SECRET_KEY or KEY_ENCRYPTION_KEYS\.$"):
            keys.create_key("ES256", prepublish=False)
    assert not SigningKey.objects.exists()


def test_encryption_keys_setting_rotates_by_prepending():
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISS, "KEY_ENCRYPTION_KEYS": ["first"]}):
        keys.create_key("ES256", prepublish=False)
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISS, "KEY_ENCRYPTION_KEYS": ["second", "first"]}):
        keys.clear_cache()
        assert jwt.encode(_claims())


def test_debug_creates_a_first_key_on_demand_and_production_refuses():
    with override_settings(DEBUG=False):
        with pytest.raises(ImproperlyConfigured):
            keys.signing_key()
    assert not SigningKey.objects.exists()
    with override_settings(DEBUG=True):
        key = keys.signing_key()
    assert SigningKey.objects.get().kid == key.kid


def test_rotatekeys_command(capsys):
    call_command("rotatekeys", "--algorithm", "ES256")
    out = capsys.readouterr().out
    key = SigningKey.objects.get()
    assert key.kid in out and key.state == "active"  # first key signs at once
    call_command("rotatekeys")
    assert [k.state for k in SigningKey.objects.order_by("created_at")] == ["active", "next"]
    call_command("rotatekeys", "--now")
    states = [k.state for k in SigningKey.objects.order_by("created_at")]
    assert states[-1] == "active" and states[0] == "retired"


def test_kid_is_the_rfc7638_thumbprint():
    from joserfc.jwk import RSAKey

    key = keys.create_key("RS256", prepublish=False)
    imported = RSAKey.import_key(key.public_jwk)
    assert imported.thumbprint() == key.kid


@pytest.mark.req("OIDC-10.1.1-rotation")
def test_compromised_rotation_withdraws_the_old_key_at_once(client):
    old = keys.create_key("RS256", prepublish=False)
    leaked_token = jwt.encode(_claims())
    call_command("rotatekeys", "--compromised")
    keys.clear_cache()
    assert old.kid not in _published_kids(client)
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked_token, typ=None, issuer=ISS)
    assert jwt.header(jwt.encode(_claims()))["kid"] != old.kid


def test_a_retired_key_cannot_mint_new_tokens(client):
    """A key retired by a normal rotation stays published for the tokens it signed, but a
    token it signs after its retirement (a leaked key in an attacker's hands) is refused."""
    old = keys.create_key("RS256", prepublish=False)
    private = keys.signing_key().private
    keys.create_key("RS256", prepublish=False)  # old retired now
    keys.clear_cache()
    import jwt as pyjwt

    now = int(secrets.now().timestamp())
    before = pyjwt.encode({"iss": ISS, "sub": "1", "iat": now - 30, "exp": now + 300}, private,
                          algorithm="RS256", headers={"kid": old.kid})
    assert jwt.decode(before, typ=None, issuer=ISS)["sub"] == "1"
    late = now + 3600  # signed an hour after retirement (well past one key-cache period)
    _at(timedelta(hours=1))
    forged = pyjwt.encode({"iss": ISS, "sub": "1", "iat": late, "exp": late + 300}, private,
                          algorithm="RS256", headers={"kid": old.kid})
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(forged, typ=None, issuer=ISS)


def test_tokens_living_longer_than_anything_issued_are_refused():
    keys.create_key("RS256", prepublish=False)
    now = int(secrets.now().timestamp())
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(jwt.encode({"iss": ISS, "sub": "1", "iat": now, "exp": now + 10 * 365 * 86400}),
                   typ=None, issuer=ISS)


# -- no signing key: refuse before anything is spent (issue 12, item 17) -----------------------
def _no_key_driver():
    from django.test import Client as HttpClient

    from tests.support.factories import UserFactory

    from .conftest import OAuthDriver

    browser = HttpClient()
    browser.force_login(UserFactory(username="bob"))
    return OAuthDriver(browser, HttpClient())


def test_without_a_signing_key_plain_oauth_with_opaque_tokens_still_works():
    """Nothing to sign, nothing to refuse."""
    from tests.support.factories import ClientFactory

    rp = ClientFactory()
    oauth = _no_key_driver()
    with override_settings(DEBUG=False):
        body = oauth.tokens(rp, scope="read")
    assert body["access_token"] and "id_token" not in body


@pytest.mark.parametrize(("client", "scope"), [({}, "openid read"), ({"access_token_format": "jwt"}, "read")])
def test_without_a_signing_key_the_token_endpoint_keeps_the_code_unspent(caplog, client, scope):
    """The key vanished between authorization and exchange (or the code was issued before the
    pre-check existed): the token endpoint answers 503 ``temporarily_unavailable`` in JSON,
    not a 500, and leaves the code unspent, so the same exchange succeeds once a key exists.
    The same for an ID token and for a client whose own access tokens are JWTs."""
    from oauth_provider.models import AuthorizationCode
    from tests.support.factories import ClientFactory

    rp = ClientFactory(**client)
    oauth = _no_key_driver()
    keys.create_key("RS256", prepublish=False)
    code, verifier = oauth.get_code(rp, scope=scope)
    SigningKey.objects.all().delete()
    keys.clear_cache()
    with override_settings(DEBUG=False):
        r = oauth.exchange(rp, code, verifier)
        assert r.status_code == 503, r.content
        assert r.json()["error"] == "temporarily_unavailable" and "rotatekeys" in r.json()["error_description"]
        assert r["Cache-Control"] == "no-store"
        assert AuthorizationCode.objects.get().consumed_at is None
        assert "manage.py rotatekeys" in caplog.text
        call_command("rotatekeys", "--now")
        r = oauth.exchange(rp, code, verifier)
    assert r.status_code == 200 and r.json()["access_token"]
    assert ("id_token" in r.json()) == ("openid" in scope)


def test_without_a_signing_key_client_credentials_jwt_is_a_protocol_error_not_a_500():
    from tests.support.factories import ClientFactory
    from tests.support.token_helpers import post_form

    from .conftest import basic_auth

    rp = ClientFactory(access_token_format="jwt")
    oauth = _no_key_driver()
    with override_settings(DEBUG=False):
        r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                      HTTP_AUTHORIZATION=basic_auth(rp.client_id, rp.raw_secret))
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"


def test_without_a_signing_key_a_refresh_is_refused_and_the_refresh_token_survives():
    """The same for the refresh grant: 503 ``temporarily_unavailable``, and the refresh token
    is still the live one afterwards (the rotation is undone with the failed issue)."""
    from tests.support.factories import ClientFactory

    rp = ClientFactory()
    oauth = _no_key_driver()
    keys.create_key("RS256", prepublish=False)
    refresh = oauth.tokens(rp, scope="openid read")["refresh_token"]
    SigningKey.objects.all().delete()
    keys.clear_cache()
    with override_settings(DEBUG=False):
        r = oauth.token(rp, {"grant_type": "refresh_token", "refresh_token": refresh})
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
        keys.create_key("RS256", prepublish=False)
        r = oauth.token(rp, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 200 and r.json()["id_token"]


# -- a rotation reaches every worker within a second (issue 12, item 8) ------------------------
def _elsewhere_rotated(compromised: bool) -> None:
    """What ``rotatekeys`` in another process leaves behind: new rows, and a new generation
    in the shared cache; this process's loaded keys are not cleared."""
    saved = keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at
    keys.create_key("RS256", compromised=compromised)
    keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at = saved


def test_a_rotation_in_another_process_is_seen_at_the_next_generation_check(client, django_assert_num_queries):
    old = keys.create_key("RS256", prepublish=False)
    leaked = jwt.encode(_claims())
    assert _published_kids(client) == [old.kid]
    _elsewhere_rotated(compromised=True)
    with django_assert_num_queries(0):  # checked less than a second ago: nothing read
        assert _published_kids(client) == [old.kid]
    keys._cache.generation_checked_at -= keys.GENERATION_CHECK_INTERVAL  # a second later
    assert old.kid not in _published_kids(client)
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked, typ=None, issuer=ISS)
    assert jwt.header(jwt.encode(_claims()))["kid"] != old.kid


def test_an_unchanged_generation_costs_a_cache_read_and_no_query(client, django_assert_num_queries):
    keys.create_key("RS256", prepublish=False)
    keys.signing_key()
    keys._cache.generation_checked_at -= keys.GENERATION_CHECK_INTERVAL
    with django_assert_num_queries(0):
        keys.jwks()
        keys.signing_key()


def test_an_unreachable_cache_leaves_the_ttl(caplog):
    """A broken cache never breaks signing; each process then reloads every
    SIGNING_KEY_CACHE_SECONDS as before."""
    from django.conf import settings as django_settings

    broken = {**django_settings.CACHES, "default": {"BACKEND": "tests.no_such_module.Cache"}}
    with override_settings(CACHES=broken):
        keys.create_key("RS256", prepublish=False)
        assert jwt.decode(jwt.encode(_claims()), typ=None, issuer=ISS)["sub"] == "1"
    assert "signing-key generation" in caplog.text or "announce the new signing keys" in caplog.text


def test_deleting_a_key_is_announced_like_a_rotation(django_capture_on_commit_callbacks):
    """The admin's delete (one key, or a selection) changes the generation once committed."""
    from django.core.cache import caches

    first = keys.create_key("RS256", prepublish=False)
    second = keys.create_key("RS256", prepublish=False)
    for delete in (lambda: SigningKey.objects.get(pk=first.pk).delete(),
                   lambda: SigningKey.objects.filter(pk=second.pk).delete()):
        before = caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY)
        with django_capture_on_commit_callbacks(execute=True):
            delete()
        assert caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY) not in (None, before)


def test_rotatekeys_list_says_when_there_is_no_key(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("rotatekeys", "--list", stdout=out)
    assert out.getvalue() == "No signing keys yet. Create the first with `python manage.py rotatekeys --now`.\n"
    from oauth_provider.models import SigningKey

    assert not SigningKey.objects.exists(), "--list only lists"
    call_command("rotatekeys", "--now", stdout=StringIO())
    out = StringIO()
    call_command("rotatekeys", "--list", stdout=out)
    assert "No signing keys" not in out.getvalue() and out.getvalue().startswith("active")


# -- a flood of made-up kids (the throttle of verification_key) -----------------------------------
def test_unknown_kids_reload_the_key_set_at_most_once_a_second(django_assert_num_queries, monkeypatch):
    """RFC 8725 §3.10: ``kid`` is attacker input. An unknown kid may be a key published a
    moment ago by another worker, so it reloads the key set, but at most once a second
    (``_MISS_RELOAD_INTERVAL``): a flood of made-up kids costs one query a second, not one each."""
    key = keys.create_key("RS256", prepublish=False)
    keys.signing_key()  # loaded, as in any running worker
    clock = _hand_clock(monkeypatch, 1000.0)
    keys._cache.loaded_at = keys._cache.generation_checked_at = clock[0]
    with django_assert_num_queries(1):
        assert keys.verification_key("made-up-1") is None
    with django_assert_num_queries(0):
        for n in range(50):
            assert keys.verification_key(f"made-up-{n}") is None
        clock[0] += 0.9
        assert keys.verification_key("made-up-x") is None
    clock[0] += 0.2  # more than a second after the last reload
    with django_assert_num_queries(0):
        assert keys.verification_key(key.kid).kid == key.kid  # a known kid never reloads
    with django_assert_num_queries(1):
        assert keys.verification_key("made-up-y") is None


def test_a_worker_compares_the_key_set_generation_once_a_second(client, django_assert_num_queries, monkeypatch):
    """A withdrawal in another process (``rotatekeys --compromised``) reaches this worker
    within one second (``GENERATION_CHECK_INTERVAL``), not a key-cache period later; and
    within that second no cache read or query is made."""
    old = keys.create_key("RS256", prepublish=False)
    leaked = jwt.encode(_claims())
    clock = _hand_clock(monkeypatch, 5000.0)
    keys.clear_cache()
    assert _published_kids(client) == [old.kid]  # loaded at 5000.0
    _elsewhere_rotated(compromised=True)
    clock[0] += 0.9
    with django_assert_num_queries(0):
        assert jwt.decode(leaked, typ=None, issuer=ISS)["sub"] == "1"  # not compared yet
    clock[0] += 0.2  # 1.1 s after the load
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked, typ=None, issuer=ISS)
    assert old.kid not in _published_kids(client)


def test_a_first_key_made_in_another_process_is_published_within_a_second(client, monkeypatch,
                                                                          django_assert_num_queries):
    """Before any key exists the JWK Set is empty and not to be cached; a first key made by
    ``rotatekeys --now`` in another process, announced to a cache this worker does not share
    (the default per-process cache), is published within a second, not a key-cache period
    (60 s) later, while a relying party may already hold an ID token it signed. Looking costs
    one query a second at most."""
    from django.core.cache import caches

    clock = _hand_clock(monkeypatch, 7000.0)
    keys.clear_cache()
    response = client.get("/o/jwks/")
    assert response.json() == {"keys": []} and response["Cache-Control"] == "no-cache"
    generation = caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY)
    saved = keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at
    made = keys.create_key("RS256", prepublish=False)  # rotatekeys --now, elsewhere
    keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at = saved
    caches[keys.GENERATION_CACHE].set(keys.GENERATION_KEY, generation, timeout=None)  # announced elsewhere
    clock[0] += 0.5
    with django_assert_num_queries(0):
        assert _published_kids(client) == []
    clock[0] += 0.6
    response = client.get("/o/jwks/")
    assert [k["kid"] for k in response.json()["keys"]] == [made.kid]
    assert response["Cache-Control"].startswith("public, max-age=")


def test_the_generation_outlives_the_caches_default_timeout():
    """The announced generation is stored without expiry, whatever the host's cache sets as
    its default ``TIMEOUT`` (here 0: Django then keeps nothing it is not told to keep): with
    the default timeout a withdrawal announced with ``--compromised`` would reach the other
    workers only after SIGNING_KEY_CACHE_SECONDS."""
    from django.conf import settings as django_settings

    eager = {**django_settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                                   "LOCATION": "generation-timeout-test", "TIMEOUT": 0}}
    with override_settings(CACHES=eager):
        keys.announce_change()
        first = keys._generation()
        assert first is not None
        keys.announce_change()
        assert keys._generation() not in (None, first)


def test_a_cache_outage_is_logged_with_its_cause(caplog):
    """The warnings of an unreachable generation cache (announcing a rotation, reading the
    generation) carry the exception, so an operator sees why the cache failed, not only that
    rotations now take SIGNING_KEY_CACHE_SECONDS to reach other workers."""
    from django.conf import settings as django_settings

    broken = {**django_settings.CACHES, "default": {"BACKEND": "tests.no_such_module.Cache"}}
    with override_settings(CACHES=broken):
        keys.announce_change()
        assert keys._generation() is None
    warnings = [r for r in caplog.records if r.name == "oauth_provider.keys"]
    assert [w.getMessage() for w in warnings] == [
        "Cannot announce the new signing keys through the 'default' cache: other workers see them "
        "within SIGNING_KEY_CACHE_SECONDS.",
        "Cannot read the signing-key generation from the 'default' cache.",
    ]
    assert all(r.levelname == "WARNING" and r.exc_info and r.exc_info[0] is not None for r in warnings)


# -- key material ----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["HS256", "none", "PS256", "RS512", "ES384", "Ed25519", "rs256", "ZZZ",
                                       "ES", "A256KW", "EC"])
def test_keys_are_made_only_for_our_three_algorithms(algorithm):
    """Only RS256, ES256 and EdDSA keys are ever made (RFC 8725 §3.1: a fixed list; never an
    HMAC or ``none``): any other name is refused, whichever way it sorts, and nothing is stored."""
    with pytest.raises(ValueError, match="Unsupported signing algorithm"):
        keys.generate_private_key(algorithm)
    with pytest.raises(ValueError, match="Unsupported signing algorithm"):
        keys.create_key(algorithm)
    assert not SigningKey.objects.exists()


@pytest.mark.req("FAPI2-5.4.1-keys-and-entropy")
def test_rs256_keys_are_2048_bit_rsa_with_exponent_65537():
    """RFC 7518 §3.3 and FAPI 2.0 §5.4.1: at least 2048 bits; exactly 2048 with e = 65537, the
    size and exponent every verifier expects (a longer key only slows every signature)."""
    private = keys.generate_private_key("RS256")
    assert private.key_size == 2048 and private.public_key().public_numbers().e == 65537
    jwk = keys.create_key("RS256", prepublish=False).public_jwk
    assert jwk["e"] == "AQAB" and len(base64.urlsafe_b64decode(jwk["n"] + "==")) == 256


def test_without_an_announced_generation_the_key_set_reloads_after_the_cache_period(client, monkeypatch):
    """With a per-process cache (or an evicted generation) nothing announces a rotation made
    elsewhere: the key set is still re-read once ``SIGNING_KEY_CACHE_SECONDS`` (60 s) have
    passed, so a withdrawn key stops verifying then at the latest."""
    from django.core.cache import caches

    old = keys.create_key("RS256", prepublish=False)
    leaked = jwt.encode(_claims())
    clock = _hand_clock(monkeypatch, 9000.0)
    keys.clear_cache()
    assert _published_kids(client) == [old.kid]  # loaded at 9000.0
    generation = caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY)
    _elsewhere_rotated(compromised=True)
    caches[keys.GENERATION_CACHE].set(keys.GENERATION_KEY, generation, timeout=None)  # never announced
    clock[0] += 59
    assert jwt.decode(leaked, typ=None, issuer=ISS)["sub"] == "1"
    clock[0] += 2  # 61 s after the load
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked, typ=None, issuer=ISS)
    assert old.kid not in _published_kids(client)


def test_without_a_signing_key_a_jwt_client_keeps_its_code_unspent():
    """A client whose access tokens are JWTs needs a signing key even without ``openid``:
    with none, the token endpoint answers 503 ``temporarily_unavailable`` before the code is
    spent, and the same exchange succeeds once a key exists."""
    from oauth_provider.models import AuthorizationCode
    from tests.support.factories import ClientFactory

    rp = ClientFactory(access_token_format="jwt")
    oauth = _no_key_driver()
    code, verifier = oauth.get_code(rp, scope="read")
    with override_settings(DEBUG=False):
        r = oauth.exchange(rp, code, verifier)
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
        assert AuthorizationCode.objects.get().consumed_at is None
        keys.create_key("RS256", prepublish=False)
        r = oauth.exchange(rp, code, verifier)
    assert r.status_code == 200 and jwt.header(r.json()["access_token"])["typ"] == "at+jwt"


def test_a_retired_key_never_signs_again_even_when_its_successor_is_deleted():
    """Retired means it signs nothing (module docstring): if the key that replaced it is
    deleted, the retired key is not brought back to sign; without DEBUG there is then no
    signing key until ``rotatekeys`` runs."""
    start = int(secrets.now().timestamp()) + 1
    secrets.set_clock(lambda: datetime.fromtimestamp(start, tz=UTC))
    old = keys.create_key("RS256", prepublish=False)
    successor = keys.create_key("RS256", prepublish=False)  # old retires at ``start``
    SigningKey.objects.filter(pk=successor.pk).delete()
    keys.clear_cache()
    for later in (0, 1, 3599):
        secrets.set_clock(lambda later=later: datetime.fromtimestamp(start + later, tz=UTC))
        keys.clear_cache()
        with override_settings(DEBUG=False), pytest.raises(keys.NoSigningKey):
            keys.signing_key()
        assert keys.verification_key(old.kid) is not None  # still published for what it signed


def test_a_token_from_a_key_created_elsewhere_verifies_at_once(monkeypatch):
    """A worker that just created a key signs with it at once; another worker meets the new
    kid before its cache period or generation check is due: the unknown kid re-reads the key
    set (at most once a second), so the token verifies instead of being refused for a while."""
    from django.core.cache import caches

    keys.create_key("RS256", prepublish=False)
    clock = _hand_clock(monkeypatch, 7000.0)
    keys.clear_cache()
    keys.signing_key()  # this worker's key set, loaded at 7000.0
    generation = caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY)
    _elsewhere_rotated(compromised=True)  # the other worker signs with the new key at once
    caches[keys.GENERATION_CACHE].set(keys.GENERATION_KEY, generation, timeout=None)  # not yet announced
    new = SigningKey.objects.latest("created_at")
    private = serialization.load_pem_private_key(keys.decrypt_private_key(new.private_key), password=None)
    import jwt as pyjwt

    token = pyjwt.encode(_claims(), private, algorithm="RS256", headers={"kid": new.kid})
    clock[0] += 0.5
    assert jwt.decode(token, typ=None, issuer=ISS)["sub"] == "1"


def test_a_rotation_elsewhere_updates_the_retirement_of_a_key_this_worker_holds(monkeypatch):
    """After a normal rotation in another process, this worker's copy of the old key learns its
    retirement at the next generation check: a token that key signs long after (a leaked key)
    is refused here too, not only where the rotation ran."""
    import jwt as pyjwt

    old = keys.create_key("RS256", prepublish=False)
    private = keys.signing_key().private
    clock = _hand_clock(monkeypatch, 8000.0)
    keys.clear_cache()
    assert keys.verification_key(old.kid).retired_at is None  # loaded at 8000.0
    saved = keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at
    keys.create_key("RS256", prepublish=False)  # elsewhere: old retires now
    keys._cache.keys, keys._cache.loaded_at, keys._cache.generation, keys._cache.generation_checked_at = saved
    clock[0] += 1.5
    assert keys.verification_key(old.kid).retired_at is not None
    late = int(secrets.now().timestamp()) + 600
    _at(timedelta(seconds=600))
    forged = pyjwt.encode({"iss": ISS, "sub": "1", "iat": late, "exp": late + 300}, private,
                          algorithm="RS256", headers={"kid": old.kid})
    with pytest.raises(jwt.InvalidJWT, match="signed after its key was retired"):
        jwt.decode(forged, typ=None, issuer=ISS)


@pytest.mark.parametrize("parts", [("RS", "256"), ("ES", "256"), ("Ed", "DSA")])
def test_an_algorithm_name_read_at_run_time_makes_its_key(parts):
    """``manage.py rotatekeys --algorithm ES256`` and a setting read from the environment hand
    over a string built at run time, not the literal: it is compared by value, so the key and
    its JWK are made for that algorithm."""
    algorithm = "".join(parts)
    key = keys.create_key(algorithm, prepublish=False)
    assert key.algorithm == algorithm and key.public_jwk["alg"] == algorithm
    assert key.public_jwk["kty"] == {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[algorithm]
    assert jwt.decode(jwt.encode(_claims()), typ=None, issuer=ISS)["sub"] == "1"


def test_a_worker_with_no_signing_key_re_reads_the_key_set_before_giving_up(monkeypatch):
    """When no loaded key signs (the first ``rotatekeys`` just ran in another process, not yet
    announced here), signing re-reads the key set at once instead of answering
    ``temporarily_unavailable`` until the next cache period."""
    from django.core.cache import caches

    clock = _hand_clock(monkeypatch, 6000.0)
    keys.clear_cache()
    assert keys.jwks() == {"keys": []}  # loaded, empty, at 6000.0
    generation = caches[keys.GENERATION_CACHE].get(keys.GENERATION_KEY)
    _elsewhere_rotated(compromised=False)
    caches[keys.GENERATION_CACHE].set(keys.GENERATION_KEY, generation, timeout=None)  # not yet announced
    clock[0] += 0.5
    with override_settings(DEBUG=False):
        assert keys.signing_key().kid == SigningKey.objects.get().kid


def test_a_withdrawn_key_is_unpublished_at_once_even_where_the_clock_is_a_moment_behind(client):
    """``rotatekeys --compromised`` dates the old key's retirement back past the publication
    window and one second more, so a worker whose clock runs up to a second behind the one that
    ran the command also stops publishing (and accepting) it at once."""
    start = int(secrets.now().timestamp()) + 1
    secrets.set_clock(lambda: datetime.fromtimestamp(start, tz=UTC))
    keys.create_key("RS256", prepublish=False)
    leaked = jwt.encode(_claims())
    new = keys.create_key("RS256", compromised=True)
    secrets.set_clock(lambda: datetime.fromtimestamp(start - 0.9, tz=UTC))  # another worker's clock
    keys.clear_cache()
    assert _published_kids(client) == [new.kid]
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(leaked, typ=None, issuer=ISS)


def test_a_worker_started_just_after_boot_loads_its_keys_at_once(client, monkeypatch):
    """The key cache's monotonic clock counts from the machine's boot, so a worker started at
    boot reads a few seconds on it: its key set, never loaded, must be loaded at once. It was
    taken as loaded at 0.0: without an announced generation (a per-process cache, or an evicted
    one) the JWKS was empty (served with up to an hour's max-age) and no token verified until
    ``SIGNING_KEY_CACHE_SECONDS`` after boot; and a worker that had loaded its keys in its first
    second compared the generation with none of the second's rotations."""
    from django.core.cache import caches

    old = keys.create_key("RS256", prepublish=False)
    token = jwt.encode(_claims())
    caches[keys.GENERATION_CACHE].delete(keys.GENERATION_KEY)  # nothing announced in this cache
    uptime = [0.5]
    monkeypatch.setattr(keys.time, "monotonic", lambda: uptime[0])
    monkeypatch.setattr(keys, "_cache", keys._KeyCache())  # a worker just started
    assert _published_kids(client) == [old.kid]
    monkeypatch.setattr(keys, "_cache", keys._KeyCache())  # another one
    assert jwt.decode(token, typ=None, issuer=ISS)["sub"] == "1"
    _elsewhere_rotated(compromised=True)  # announced; this worker loaded its keys at 0.5 s
    uptime[0] = 1.6
    with pytest.raises(jwt.InvalidJWT):
        jwt.decode(token, typ=None, issuer=ISS)


def test_of_two_keys_signing_at_once_the_newest_signs():
    """Two keys whose periods overlap (an imported key, a retirement undone in the admin): the
    one that started last signs, never the older one, whatever order the rows are read in."""
    from datetime import timedelta

    from oauth_provider import secrets as our_secrets

    start = our_secrets.now()
    our_secrets.set_clock(lambda: start - timedelta(hours=2))
    older = keys.create_key("ES256", prepublish=False)
    our_secrets.set_clock(lambda: start - timedelta(hours=1))
    newer = keys.create_key("ES256", prepublish=False)
    our_secrets.set_clock(lambda: start)
    SigningKey.objects.update(retired_at=None)
    keys.clear_cache()
    assert keys.signing_key().kid == newer.kid != older.kid
    # and the other way round in the table: the older row written last
    SigningKey.objects.filter(kid=older.kid).update(not_before=start - timedelta(minutes=30))
    keys.clear_cache()
    assert keys.signing_key().kid == older.kid


def test_key_material_as_published_and_as_stored_at_rest(settings):
    """A generated RSA key is 2048 bits; each published JWK says it is for signatures
    (``use: sig``, RFC 7517 §4.2) with its algorithm; and a private key is encrypted at rest
    under a key derived from SECRET_KEY in a fixed way, so keys stored by an earlier version
    still decrypt after an upgrade (and a wrong SECRET_KEY says what went wrong)."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet
    from django.core.exceptions import ImproperlyConfigured

    assert keys.generate_private_key("RS256").key_size == 2048
    for algorithm in ("RS256", "ES256", "EdDSA"):
        jwk = keys.public_jwk(keys.generate_private_key(algorithm).public_key(), algorithm)
        assert (jwk["use"], jwk["alg"]) == ("sig", algorithm)
    stored_before = Fernet(base64.urlsafe_b64encode(
        hashlib.sha256(b"oauth_provider.signing-key:" + settings.SECRET_KEY.encode()).digest())).encrypt(b"-----PEM")
    assert keys.decrypt_private_key(stored_before.decode()) == b"-----PEM"
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "another-" + "k" * 50, []
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY / KEY_ENCRYPTION_KEYS changed without keeping "
                                                   "the old value as a fallback"):
        keys.decrypt_private_key(stored_before.decode())

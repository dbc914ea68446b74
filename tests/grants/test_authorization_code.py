"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3,
RFC 7636 §4.6): single use, revocation on replay, expiry, client and redirect binding, PKCE."""

from __future__ import annotations

import base64
import hashlib
import secrets as stdlib_secrets

import pytest

from oauth_provider.conf import DEFAULTS, provider_settings
from oauth_provider.models import AccessToken, Authorization, RefreshToken
from oauth_provider.signals import authorization_code_replayed, token_issued
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.settings import override_oauth as provider
from tests.support.token_helpers import FrozenClock, access_token_row, assert_error, family_of_access_token, post_form

pytestmark = pytest.mark.django_db


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()




@pytest.fixture
def received():
    """Collects (signal name, kwargs) for the signals these tests look at."""
    seen: list[tuple[str, dict]] = []
    receivers = {}
    for name, signal in (("replayed", authorization_code_replayed), ("issued", token_issued)):
        def receiver(sender, _name=name, **kwargs):
            seen.append((_name, {"sender": sender, **kwargs}))

        receivers[name] = (signal, receiver)
        signal.connect(receiver)
    yield seen
    for signal, receiver in receivers.values():
        signal.disconnect(receiver)


def refresh(oauth, client, refresh_token: str):
    return oauth.token(client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


# -- single use -------------------------------------------------------------------------------------


@pytest.mark.req("6749-4.1.2-single-use")
@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
@pytest.mark.parametrize("delay", [0, 30])
def test_second_redemption_fails_and_revokes_the_first_tokens(oauth, conf_client, received, delay):
    clock = FrozenClock()
    code, verifier = oauth.get_code(conf_client)
    first = oauth.exchange(conf_client, code, verifier)
    assert first.status_code == 200, first.content
    tokens = first.json()
    family = family_of_access_token(tokens["access_token"])
    assert family.revoked_at is None and access_token_row(tokens["access_token"]).is_active()

    clock.advance(delay)
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")

    family.refresh_from_db()
    assert family.revoked_at is not None
    assert not access_token_row(tokens["access_token"]).is_active()
    assert RefreshToken.objects.by_value(tokens["refresh_token"]).get().authorization_id == family.pk
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")
    replays = [kw for name, kw in received if name == "replayed"]
    assert len(replays) == 1
    assert replays[0]["client"] == conf_client and replays[0]["authorization"].pk == family.pk
    assert replays[0]["sender"] is type(conf_client)
    # the replaying request itself, for a receiver that logs where the code came back from
    assert replays[0]["request"].path == "/o/token/" and replays[0]["request"].POST["code"]


@pytest.mark.req("6749-4.1.2-single-use")
def test_replay_by_a_public_client_revokes_too(oauth, public_client):
    code, verifier = oauth.get_code(public_client)
    tokens = oauth.exchange(public_client, code, verifier).json()
    assert_error(oauth.exchange(public_client, code, verifier), "invalid_grant")
    assert not access_token_row(tokens["access_token"]).is_active()
    assert_error(refresh(oauth, public_client, tokens["refresh_token"]), "invalid_grant")


def test_missing_and_unknown_codes(oauth, conf_client):
    assert_error(oauth.token(conf_client, {"grant_type": "authorization_code"}), "invalid_request")
    _, verifier = oauth.get_code(conf_client)
    assert_error(oauth.exchange(conf_client, stdlib_secrets.token_urlsafe(32), verifier), "invalid_grant")


# -- lifetime -------------------------------------------------------------------------------------


@pytest.mark.req("O21-4.1.2-short-lifetime")
def test_default_code_lifetime_is_at_most_ten_minutes():
    assert DEFAULTS["AUTHORIZATION_CODE_LIFETIME"].default <= 600
    assert provider_settings.AUTHORIZATION_CODE_LIFETIME <= 600


@pytest.mark.req("O21-4.1.2-short-lifetime")
@provider(AUTHORIZATION_CODE_LIFETIME=60)
def test_expired_code_is_invalid_grant(oauth, conf_client):
    clock = FrozenClock()
    code, verifier = oauth.get_code(conf_client)
    clock.advance(61)
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")

    code, verifier = oauth.get_code(conf_client)
    clock.advance(59)
    assert oauth.exchange(conf_client, code, verifier).status_code == 200


# -- binding to client and redirect_uri --------------------------------------------------------------


@pytest.mark.req("O21-4.1.3-bound-to-client")
def test_code_of_one_confidential_client_is_useless_to_another(oauth, conf_client):
    other = ClientFactory()
    code, verifier = oauth.get_code(conf_client)
    assert_error(oauth.exchange(other, code, verifier), "invalid_grant")


@pytest.mark.req("O21-4.1.3-bound-to-client")
def test_code_of_one_public_client_is_useless_to_another(oauth, public_client):
    other = PublicClientFactory()
    code, verifier = oauth.get_code(public_client)
    r = post_form(oauth.api, {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": public_client.redirect_uri_list[0], "client_id": other.client_id,
    })
    assert_error(r, "invalid_grant")


@pytest.mark.req("O21-4.1.3-bound-to-client")
def test_code_of_a_confidential_client_cannot_be_redeemed_without_its_secret(oauth, conf_client):
    code, verifier = oauth.get_code(conf_client)
    r = post_form(oauth.api, {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": conf_client.redirect_uri_list[0], "client_id": conf_client.client_id,
    })
    assert_error(r, "invalid_client")


@pytest.mark.req("6749-4.1.3-redirect-uri-at-token")
@pytest.mark.parametrize(
    "redirect_uri",
    ["https://rp.example/cb2", "https://rp.example/cb/", "https://RP.example/cb", "https://rp.example/cb?x=1", None],
)
def test_redirect_uri_must_match_the_authorization_request(oauth, conf_client, redirect_uri):
    code, verifier = oauth.get_code(conf_client)
    assert_error(oauth.exchange(conf_client, code, verifier, redirect_uri=redirect_uri), "invalid_grant")


def test_redirect_uri_may_be_omitted_when_it_was_omitted_at_authorization(oauth, conf_client):
    code, verifier = oauth.get_code(conf_client, redirect_uri=None)
    assert oauth.exchange(conf_client, code, verifier, redirect_uri=None).status_code == 200


# -- PKCE -------------------------------------------------------------------------------------------

VALID_43 = "a" * 20 + "-._~" + "Z9" * 9 + "q"
ILLEGAL = {
    "plus": "a" * 42 + "+",
    "slash": "a" * 42 + "/",
    "equals": "a" * 42 + "=",
    "space": "a" * 21 + " " + "a" * 21,
    "trailing newline": "a" * 43 + "\n",
    "non-ascii": "a" * 42 + "é",
}


def pkce_case(case: str) -> tuple[str, str | None]:
    """(challenge sent at /authorize, verifier sent at /token) for a matrix case. The bad
    verifiers are sent with *their own* S256 challenge, so only the syntax rule can stop them."""
    good = stdlib_secrets.token_urlsafe(48)
    if case == "correct":
        return s256(good), good
    if case == "correct 43":
        return s256(VALID_43), VALID_43
    if case == "correct 128":
        return s256("b" * 128), "b" * 128
    if case == "wrong":
        return s256(good), stdlib_secrets.token_urlsafe(48)
    if case == "missing":
        return s256(good), None
    if case == "42 chars":
        return s256("c" * 42), "c" * 42
    if case == "129 chars":
        return s256("d" * 129), "d" * 129
    return s256(ILLEGAL[case]), ILLEGAL[case]


PKCE_CASES = ["correct", "correct 43", "correct 128", "wrong", "missing", "42 chars", "129 chars", *ILLEGAL]


@pytest.mark.req("BCP-2.1.1-pkce-supported")
@pytest.mark.req("O21-4.1.3-verifier-iff-challenge")
@pytest.mark.req("7636-4.1-verifier-syntax")
@pytest.mark.parametrize("kind", ["confidential", "public"])
@pytest.mark.parametrize("case", PKCE_CASES)
def test_pkce_matrix_only_the_correct_verifier_succeeds(oauth, conf_client, public_client, kind, case):
    client = conf_client if kind == "confidential" else public_client
    challenge, verifier = pkce_case(case)
    code, _ = oauth.get_code(client, code_challenge=challenge)
    r = oauth.exchange(client, code, verifier)
    if case.startswith("correct"):
        assert r.status_code == 200, r.content
        assert r.json()["access_token"]
    else:
        assert_error(r, "invalid_grant")
        assert not AccessToken.objects.exists()


@pytest.mark.req("7636-4.6-verifier-match")
def test_verifier_of_another_transaction_is_refused(oauth, conf_client):
    code_a, _ = oauth.get_code(conf_client)
    _, verifier_b = oauth.get_code(conf_client)
    assert_error(oauth.exchange(conf_client, code_a, verifier_b), "invalid_grant")


# -- what a successful exchange returns and announces -------------------------------------------------


def test_token_issued_signal_carries_the_rows_not_the_raw_values(oauth, conf_client, user, received):
    code, verifier = oauth.get_code(conf_client, scope="read write")
    tokens = oauth.exchange(conf_client, code, verifier).json()
    issued = [kw for name, kw in received if name == "issued"]
    assert len(issued) == 1
    kw = issued[0]
    assert kw["sender"] is type(conf_client)
    assert kw["client"] == conf_client and kw["user"] == user
    assert kw["grant_type"] == "authorization_code" and kw["scope"] == "read write"
    assert kw["access_token"] == access_token_row(tokens["access_token"])
    assert kw["refresh_token"] == RefreshToken.objects.by_value(tokens["refresh_token"]).get()
    assert kw["request"].path == "/o/token/"
    raw_values = {tokens["access_token"], tokens["refresh_token"], code, verifier}
    assert not raw_values & {v for v in kw.values() if isinstance(v, str)}


def test_successful_exchange_response(oauth, conf_client, user, assert_num_queries):
    from django.db import connection

    code, verifier = oauth.get_code(conf_client, scope="read write")
    # client, code, UPDATE, the two tokens (UPDATE and INSERTs one statement on PostgreSQL)
    with assert_num_queries(3 if connection.vendor == "postgresql" else 5):
        r = oauth.exchange(conf_client, code, verifier)
    body = r.json()
    assert r.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    assert body["expires_in"] == provider_settings.ACCESS_TOKEN_LIFETIME
    row = access_token_row(body["access_token"])
    assert row.user == user and row.client == conf_client and row.scope == "read write"


def test_no_refresh_token_for_a_client_without_the_refresh_grant(oauth):
    client = ClientFactory(grant_types="authorization_code")
    code, verifier = oauth.get_code(client)
    r = oauth.exchange(client, code, verifier)
    assert r.status_code == 200, r.content
    assert "refresh_token" not in r.json()
    assert not RefreshToken.objects.exists()


def test_no_refresh_token_when_the_refresh_grant_is_turned_off(oauth, conf_client):
    grants = {k: v for k, v in provider_settings.GRANT_TYPES.items() if k != "refresh_token"}
    code, verifier = oauth.get_code(conf_client)
    with provider(GRANT_TYPES=grants):
        r = oauth.exchange(conf_client, code, verifier)
    assert r.status_code == 200, r.content
    assert "refresh_token" not in r.json()


@pytest.mark.req("O21-4.3.1-grant-active")
def test_code_of_a_deactivated_user_is_invalid_grant(oauth, conf_client, user):
    code, verifier = oauth.get_code(conf_client)
    user.is_active = False
    user.save()
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")


@pytest.mark.req("O21-4.3.1-grant-active")
def test_code_of_a_revoked_authorization_is_invalid_grant(oauth, conf_client):
    code, verifier = oauth.get_code(conf_client)
    Authorization.objects.all().revoke()
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")


@pytest.mark.req("DERIVED-client-policy")
def test_client_not_registered_for_the_code_grant_is_unauthorized(oauth, conf_client):
    code, verifier = oauth.get_code(conf_client)
    type(conf_client).objects.filter(pk=conf_client.pk).update(grant_types="client_credentials")
    assert_error(oauth.exchange(conf_client, code, verifier), "unauthorized_client")


# -- replay detection does not depend on the replay being otherwise valid ----------------------------


@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
@pytest.mark.parametrize("how", ["wrong verifier", "no verifier", "wrong redirect_uri", "after expiry"])
@provider(AUTHORIZATION_CODE_LIFETIME=60)
def test_a_replayed_code_revokes_its_tokens_even_when_the_replay_is_otherwise_invalid(
        oauth, conf_client, received, how):
    """RFC 6749 §4.1.2: a code presented twice is a replay, whatever else is wrong with the
    second request. An attacker replaying a stolen code does not hold the verifier, may not
    know the redirect_uri and may come late: the replay must still revoke what the code
    produced (the "already used" check comes before every other check on the code)."""
    clock = FrozenClock()
    code, verifier = oauth.get_code(conf_client)
    tokens = oauth.exchange(conf_client, code, verifier).json()
    replay = {
        "wrong verifier": {"code_verifier": stdlib_secrets.token_urlsafe(32)},
        "no verifier": {"code_verifier": None},
        "wrong redirect_uri": {"redirect_uri": "https://attacker.example/cb"},
        "after expiry": {},
    }[how]
    if how == "after expiry":
        clock.advance(61)
    assert_error(oauth.exchange(conf_client, code, verifier, **replay), "invalid_grant")
    assert family_of_access_token(tokens["access_token"]).revoked_at is not None
    assert not access_token_row(tokens["access_token"]).is_active()
    assert [name for name, _ in received].count("replayed") == 1


@pytest.mark.req("6749-4.1.2-single-use")
@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
def test_a_redemption_that_loses_the_single_use_update_gets_nothing(oauth, conf_client, received, monkeypatch):
    """RFC 6749 §4.1.2: only the request whose conditional UPDATE flips ``consumed_at`` gets
    tokens. Here a concurrent redemption wins between this request's lookup and its UPDATE
    (made deterministic by consuming the code right after the lookup), so the UPDATE changes
    no row: this request must be ``invalid_grant`` and the family revoked, not issued tokens
    from a code it did not consume. This is the race tests/security/test_concurrency.py runs for real
    on PostgreSQL and MariaDB, proven here on every database."""
    from oauth_provider.grants import authorization_code as grant
    from oauth_provider.models import AuthorizationCode
    from oauth_provider.secrets import now

    code, verifier = oauth.get_code(conf_client)
    real_lookup = grant.code_by_value

    def lookup_then_lose_the_race(raw):
        row = real_lookup(raw)
        AuthorizationCode.objects.filter(pk=row.pk).update(consumed_at=now())  # the other request won
        return row

    monkeypatch.setattr(grant, "code_by_value", lookup_then_lose_the_race)
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    family = Authorization.objects.get()
    assert family.revoked_at is not None
    assert [name for name, _ in received] == ["replayed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("6749-4.1.2-single-use")
def test_the_code_is_consumed_and_its_tokens_stored_atomically_in_the_fewest_round_trips(oauth, conf_client):
    """The single-use UPDATE and the two INSERTs are one atomic unit: on PostgreSQL one
    statement sent in autocommit (no BEGIN or COMMIT round trip: the statement is its own
    transaction), elsewhere three statements inside one transaction (one commit)."""
    from django.db import connection

    code, verifier = oauth.get_code(conf_client)
    writes: list[tuple[str, bool]] = []

    def record(execute, sql, params, many, context):
        verb = sql.split(None, 1)[0].upper()
        if verb in {"UPDATE", "INSERT", "DELETE", "WITH"}:  # not SELECTs, not SQLite's explicit BEGIN
            writes.append((verb, connection.get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        r = oauth.exchange(conf_client, code, verifier)
    assert r.status_code == 200
    if connection.vendor == "postgresql":
        assert writes == [("WITH", True)]
    else:
        assert writes == [("UPDATE", False), ("INSERT", False), ("INSERT", False)]
    assert AccessToken.objects.count() == 1 and RefreshToken.objects.count() == 1


# -- found by mutation testing (docs/mutation-report.md) ---------------------------------------------


@pytest.mark.req("O21-4.1.3-bound-to-client")
def test_a_code_is_bound_to_its_client_whichever_was_registered_first(oauth, conf_client):
    """The binding is equality of the client, not an ordering of ids: a code of a client
    registered later is as useless to an earlier one as the other way round."""
    newer = ClientFactory(redirect_uris=conf_client.redirect_uris)
    assert newer.pk > conf_client.pk
    code, verifier = oauth.get_code(newer)
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")
    assert not AccessToken.objects.exists()
    assert oauth.exchange(newer, code, verifier).status_code == 200


@pytest.mark.req("7636-4.4.1-unsupported-method")
@pytest.mark.parametrize("method", ["plain", "S255", "s256", ""])
def test_a_code_stored_with_another_challenge_method_is_refused(oauth, conf_client, method):
    """Only S256 is verified (OAuth 2.1 §4.1.1). A code row carrying another method (one
    migrated from a provider that allowed "plain", say) is refused even when its challenge
    happens to equal S256(verifier)."""
    from oauth_provider.models import AuthorizationCode

    code, verifier = oauth.get_code(conf_client)
    AuthorizationCode.objects.update(code_challenge_method=method, code_challenge=s256(verifier))
    assert_error(oauth.exchange(conf_client, code, verifier), "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_client_with_a_large_id_redeems_its_own_code(oauth):
    """The code's client and the authenticated client are compared by value: ids beyond the
    small integers Python caches are distinct objects even when equal."""
    client = ClientFactory(pk=100_000)
    code, verifier = oauth.get_code(client)
    assert oauth.exchange(client, code, verifier).status_code == 200


@pytest.mark.parametrize(("case", "error", "description"), [
    ("no code", "invalid_request", "The code parameter is required."),
    ("unknown code", "invalid_grant", "The authorization code is invalid or was issued to another client."),
    ("other redirect_uri", "invalid_grant", "redirect_uri does not match the authorization request."),
    ("no verifier", "invalid_grant", "code_verifier is required."),
    ("short verifier", "invalid_grant", "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]."),
    ("other verifier", "invalid_grant", "code_verifier does not match the code_challenge."),
    ("used", "invalid_grant", "The authorization code was already used."),
    ("expired", "invalid_grant", "The authorization code has expired."),
    ("revoked", "invalid_grant", "The authorization was revoked."),
    ("user inactive", "invalid_grant", "The resource owner is no longer active."),
])
def test_each_refused_redemption_says_why(oauth, conf_client, user, case, error, description):
    """RFC 6749 §5.2: the error, and an ``error_description`` that tells the client's developer
    which of the redemption's rules the request broke."""
    clock = FrozenClock()
    code, verifier = oauth.get_code(conf_client)
    data: dict = {}
    if case == "no code":
        code = None
    elif case == "unknown code":
        code = "x" * 43
    elif case == "other redirect_uri":
        data["redirect_uri"] = "https://rp.example/elsewhere"
    elif case == "no verifier":
        verifier = None
    elif case == "short verifier":
        verifier = "a" * 42
    elif case == "other verifier":
        verifier = "b" * 43
    elif case == "used":
        assert oauth.exchange(conf_client, code, verifier).status_code == 200
    elif case == "expired":
        clock.advance(provider_settings.AUTHORIZATION_CODE_LIFETIME + 1)
    elif case == "revoked":
        Authorization.objects.filter(client=conf_client).update(revoked_at=clock.current)
    elif case == "user inactive":
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    body = assert_error(oauth.exchange(conf_client, code, verifier, **data), error)
    assert body["error_description"] == description


def test_a_redemption_that_loses_the_race_is_a_replay_with_its_client_and_request(oauth, conf_client, received,
                                                                                  monkeypatch):
    """Two redemptions at once (the race test proves it on PostgreSQL and MariaDB): the one
    whose conditional UPDATE finds the code already consumed is handled as a replay, on
    SQLite too: no token, the grant revoked, and receivers told which client and request."""
    from oauth_provider.grants.authorization_code import AuthorizationCodeGrant
    from oauth_provider.models import AuthorizationCode

    code, verifier = oauth.get_code(conf_client)
    checked = AuthorizationCodeGrant.check

    def check_then_lose_the_race(self, row, params):
        checked(self, row, params)
        AuthorizationCode.objects.filter(pk=row.pk).update(consumed_at=row.created_at)  # the other one won

    monkeypatch.setattr(AuthorizationCodeGrant, "check", check_then_lose_the_race)
    r = oauth.exchange(conf_client, code, verifier)
    assert assert_error(r, "invalid_grant")["error_description"] == "The authorization code was already used."
    assert not AccessToken.objects.exists()
    assert Authorization.objects.get(client=conf_client).revoked_at is not None
    replays = [kw for name, kw in received if name == "replayed"]
    assert [(kw["client"], kw["request"].path) for kw in replays] == [(conf_client, "/o/token/")]

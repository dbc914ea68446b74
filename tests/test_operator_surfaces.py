"""The operator's surfaces as an attacker sees them (an outside review's tests): the admin, the
management commands, signing keys and the JWKS, and the connected-apps page.

Each test is one attack. The review found four that worked, now fixed: a relying party's
answer reaching the operator's terminal and logs with its escape sequences, view-only staff
filtering the registration credentials by their digests, and the connected-apps page acting
on (and signalling the revocation of) a client the user never used.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client as HttpClient

from oauth_provider import keys, secrets
from oauth_provider.models import (
    AccessToken,
    Authorization,
    AuthorizationCode,
    Consent,
    LogoutDelivery,
    RefreshToken,
    SigningKey,
    get_client_model,
)
from oauth_provider.models.registrations import ClientRegistration, InitialAccessToken
from tests.support.admin_pages import url
from tests.support.factories import (
    AccessTokenFactory,
    AuthorizationCodeFactory,
    AuthorizationFactory,
    ClientFactory,
    ConsentFactory,
    PublicClientFactory,
    RefreshTokenFactory,
    UserFactory,
)
from tests.support.settings import override_oauth

pytestmark = pytest.mark.django_db
Client = get_client_model()
HOSTILE = '<img src=x onerror="alert(1)">'
CONNECTED = "/o/connected-apps/"


# --- admin: lookups on secret columns ----------------------------------------------------------

@pytest.mark.parametrize("model, lookup", [
    (InitialAccessToken, "token_hash__startswith"),
    (ClientRegistration, "token_hash__startswith"),
])
def test_view_only_staff_cannot_filter_registration_tokens_by_their_hash(viewer, model, lookup):
    """The admin refuses changelist lookups on every secret column (``NoSecretLookups``), but
    its list (``admin._secret_columns``) leaves out the two registration credentials: the
    initial access token (opens dynamic registration) and the registration access token
    (RFC 7592: read, change or delete a client). A view-only staff member reads their stored
    digests one character at a time from which rows a ``?token_hash__startswith=`` keeps."""
    row, _raw = InitialAccessToken.objects.create_token(description="partner")
    if model is ClientRegistration:
        ClientRegistration.objects.create(client=ClientFactory(), token_hash=secrets.hash_token("rat"),
                                          initial_token=row)
        digest = secrets.hash_token("rat")
    else:
        digest = row.token_hash
    changelist = url(model, "changelist")
    hit = viewer.get(changelist, {lookup: digest[:1]})
    miss = viewer.get(changelist, {lookup: "z"})
    # the rule the admin states for every other hash column: a 400, never an answer
    assert (hit.status_code, miss.status_code) == (400, 400), (
        f"{model.__name__}: {lookup} answered {hit.status_code}/{miss.status_code}; "
        f"rows shown for the right prefix: {'1 ' in hit.content.decode()}")


# --- admin: stored XSS against staff -----------------------------------------------------------

def test_a_self_registered_clients_name_is_inert_in_every_admin_page(admin_browser):
    """A client registered through RFC 7591 picks its own ``client_name``; the admin lists it,
    shows it on the change page, in the action messages and on the secret page."""
    client = ClientFactory(name=HOSTILE, registration_method="dynamic", contacts="a@example.com",
                           grant_types="authorization_code refresh_token")
    public = PublicClientFactory(name=HOSTILE + "2", registration_method="dynamic")
    AccessTokenFactory(client=client)
    pages = [
        admin_browser.get(url(Client, "changelist")),
        admin_browser.get(url(Client, "change", client.pk)),
        admin_browser.get(url(AccessToken, "changelist")),
        admin_browser.post(url(Client, "changelist"), {"action": "generate_new_secret",
                                              "_selected_action": [str(client.pk), str(public.pk)]}),
        admin_browser.post(url(Client, "changelist"), {"action": "deactivate", "_selected_action": [str(client.pk)]},
                  follow=True),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert HOSTILE not in html and "&lt;img src=x" in html


# --- admin: view-only staff ----------------------------------------------------------------------

def test_view_only_staff_cannot_change_redirect_uris_or_the_trust_flags(viewer):
    client = ClientFactory(redirect_uris="https://rp.example/cb")
    form = {"name": client.name, "client_type": "confidential", "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": "https://attacker.example/cb", "grant_types": ["authorization_code"],
            "is_active": "on", "skip_consent": "on", "owner": ""}
    answer = viewer.post(url(Client, "change", client.pk), form)
    assert answer.status_code == 403
    client.refresh_from_db()
    assert client.redirect_uris == "https://rp.example/cb" and not client.skip_consent


def test_view_only_staff_cannot_revoke_tokens_nor_delete_keys(viewer, signing_key):
    token = AccessTokenFactory()
    viewer.post(url(AccessToken, "changelist"), {"action": "revoke", "_selected_action": [str(token.pk)]})
    viewer.post(url(SigningKey, "changelist"), {"action": "delete_selected",
                                                "_selected_action": [str(signing_key.pk)], "post": "yes"})
    assert AccessToken.objects.get(pk=token.pk).revoked_at is None
    assert SigningKey.objects.filter(pk=signing_key.pk).exists()


def test_admin_actions_need_the_csrf_token(db):
    staff = get_user_model().objects.create_superuser("root2", "r2@example.com", "pw")
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(staff)
    client = ClientFactory()
    before = Client.objects.get(pk=client.pk).client_secret_hash
    answer = browser.post(url(Client, "changelist"), {"action": "generate_new_secret",
                                                      "_selected_action": [str(client.pk)]})
    assert answer.status_code == 403
    assert Client.objects.get(pk=client.pk).client_secret_hash == before
    count = SigningKey.objects.count()
    browser.post(url(SigningKey, "changelist"), {"action": "rotate"})
    assert SigningKey.objects.count() == count


def test_no_signing_key_page_nor_rotatekeys_shows_private_material(admin_browser, signing_key):
    """Changelist, change, history and delete-confirmation pages, and ``rotatekeys --list``."""
    row = SigningKey.objects.get(pk=signing_key.pk)
    pem = keys.decrypt_private_key(row.private_key).decode()
    body = "".join(pem.splitlines()[1:-1])
    pages = [admin_browser.get(url(SigningKey, v, *a)).content.decode() for v, a in (
        ("changelist", ()), ("change", (row.pk,)), ("history", (row.pk,)), ("delete", (row.pk,)))]
    out = StringIO()
    call_command("rotatekeys", "--list", stdout=out)
    for text in [*pages, out.getvalue()]:
        assert row.private_key[:40] not in text and body[:40] not in text and "PRIVATE KEY" not in text


# --- JWKS and rotation ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", keys.ALGORITHMS)
def test_the_jwks_holds_public_members_only(db, client, algorithm):
    keys.create_key(algorithm, prepublish=False)
    document = client.get("/o/jwks/").json()
    (jwk,) = document["keys"]
    assert set(jwk) <= {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}
    assert jwk["kty"] in {"RSA", "EC", "OKP"}  # never "oct" (a symmetric key)


def test_a_private_member_slipped_into_the_stored_jwk_is_not_published(db, client):
    """Should a stored public_jwk carry a private member (a bad import, a hand edit in the
    database), the endpoint filters it out."""
    key = keys.create_key("RS256", prepublish=False)
    SigningKey.objects.filter(pk=key.pk).update(public_jwk={**key.public_jwk, "d": "SECRET", "p": "P", "k": "K"})
    keys.clear_cache()
    (jwk,) = client.get("/o/jwks/").json()["keys"]
    assert not {"d", "p", "k"} & set(jwk)


def test_a_compromised_rotation_withdraws_the_old_key_at_once_and_a_normal_one_keeps_it(db, client):
    first = keys.create_key("RS256", prepublish=False)
    second = keys.create_key("RS256")  # pre-published: the first still signs, both published
    kids = {k["kid"] for k in client.get("/o/jwks/").json()["keys"]}
    assert kids == {first.kid, second.kid}
    assert keys.signing_key().kid == first.kid
    out = StringIO()
    call_command("rotatekeys", "--compromised", stdout=out)
    kids = {k["kid"] for k in client.get("/o/jwks/").json()["keys"]}
    assert first.kid not in kids and second.kid not in kids and len(kids) == 1
    assert keys.verification_key(first.kid) is None and keys.verification_key(second.kid) is None


def test_a_retired_key_stays_published_for_its_tokens_lifetime_then_goes(db, client):
    """``rotatekeys --now`` retires the old key at once: it signs nothing more, but stays in
    the JWKS (and verifies) while what it signed may live, and no longer."""
    from oauth_provider.models.signing import publication_window

    old = keys.create_key("RS256", prepublish=False)
    call_command("rotatekeys", "--now", stdout=StringIO())
    assert keys.signing_key().kid != old.kid
    assert old.kid in {k["kid"] for k in client.get("/o/jwks/").json()["keys"]}
    assert keys.verification_key(old.kid) is not None
    later = secrets.now() + publication_window() + timedelta(seconds=2)
    secrets.set_clock(lambda: later)
    keys.clear_cache()
    assert old.kid not in {k["kid"] for k in client.get("/o/jwks/").json()["keys"]}
    assert keys.verification_key(old.kid) is None


# --- commands: hostile input ---------------------------------------------------------------------

def _rotate_import(path: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("rotatekeys", "--import", path, stdout=StringIO(), stderr=StringIO())
    return str(caught.value)


def test_rotatekeys_import_refuses_hostile_files_cleanly(db, tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_pem = weak.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    files = {
        "huge.pem": b"-----BEGIN PRIVATE KEY-----\n" + b"A" * (2 * 1024 * 1024) + b"\n-----END PRIVATE KEY-----\n",
        "garbage.pem": b"-----BEGIN PRIVATE KEY-----\n!!!notbase64***\n-----END PRIVATE KEY-----\n",
        "binary.pem": bytes(range(256)) * 10,
        "empty.pem": b"",
        "weak.pem": weak_pem,
        "public.pem": weak.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo),
        "label.pem": b"-----BEGIN \x1b[31mPRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        message = _rotate_import(str(tmp_path / name))
        assert message and "\x1b" not in message
        assert "MII" not in message  # never key material
    assert _rotate_import(str(tmp_path))  # a directory
    assert _rotate_import(str(tmp_path / "missing.pem"))
    assert SigningKey.objects.count() == 0


def test_rotatekeys_import_kid_with_control_characters_is_refused(db, tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "k.pem").write_bytes(pem)
    for kid in ("a\nb", "\x1b[2J", "x" * 129, "a b", "<script>"):
        with pytest.raises(CommandError):
            call_command("rotatekeys", "--import", str(tmp_path / "k.pem"), "--kid", kid, stdout=StringIO())
    assert SigningKey.objects.count() == 0


@pytest.mark.parametrize("args", [
    ["bad\x1b[2Jname", "--redirect-uri", "https://rp.example/cb"],
    ["bad\nname", "--redirect-uri", "https://rp.example/cb"],
    ["nul\x00name", "--redirect-uri", "https://rp.example/cb"],
    ["x" * 5000, "--redirect-uri", "https://rp.example/cb"],
    ["ok", "--redirect-uri", "https://rp.example/cb", "--jwks", "{not json"],
    ["ok", "--auth-method", "private_key_jwt", "--redirect-uri", "https://rp.example/cb", "--jwks",
     json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})],
    ["ok", "--redirect-uri", "javascript:alert(1)"],
    ["ok", "--redirect-uri", "https://rp.example/cb", "--logo-uri", "javascript:alert(1)"],
    ["ok", "--redirect-uri", "https://rp.example/cb", "--owner", "nobody\x1b"],
])
def test_createclient_refuses_hostile_input_with_a_clean_error(db, args):
    with pytest.raises(CommandError):
        call_command("createclient", *args, stdout=StringIO(), stderr=StringIO())
    assert not Client.objects.exists()


def test_createclient_refuses_a_private_jwk(db):
    """A client's registered key set is shown to view-only staff: a private RSA member must
    never be stored (nor a symmetric key)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), as_dict=True)
    with pytest.raises(CommandError):
        call_command("createclient", "ok", "--auth-method", "private_key_jwt", "--redirect-uri",
                     "https://rp.example/cb", "--jwks", json.dumps({"keys": [private]}), stdout=StringIO())
    assert not Client.objects.exists()


def test_createclient_json_prints_the_secret_once_and_stores_only_its_hash(db):
    out = StringIO()
    call_command("createclient", "Billing", "--grant-type", "client_credentials", "--json", stdout=out)
    data = json.loads(out.getvalue())
    stored = Client.objects.get(client_id=data["client_id"])
    assert data["client_secret"] and data["client_secret"] not in stored.client_secret_hash
    assert stored.check_secret(data["client_secret"])


# --- sendlogouts: what a relying party's server says reaches the operator's terminal -------------

def _bad_status_server(payload: bytes):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.settimeout(5)

    def serve() -> None:
        try:
            conn, _addr = sock.accept()
            conn.settimeout(2)
            try:
                conn.recv(65536)
            except OSError:
                pass
            conn.sendall(payload)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, thread


def test_a_relying_partys_answer_reaches_the_operators_terminal_and_log_inert(db, signing_key, caplog):
    """A client (possibly self-registered) controls the server behind its
    ``backchannel_logout_uri``. It answers the logout POST with a malformed status line full of
    terminal escape sequences; ``http.client`` puts that line verbatim in ``BadStatusLine``,
    ``fetch`` copies ``str(exc)`` into ``FetchError.detail``, the delivery keeps it in
    ``last_error``, and ``sendlogouts --list`` writes it to the operator's terminal unescaped
    (and the give-up warning writes it to the log): the relying party can retitle the window,
    clear the screen, hide lines or forge output in the operator's terminal and log."""
    escape = b"\x1b]0;owned\x07\x1b[2J\x1b[1A\rFAKE: 0 pending\x1b[8m"
    sock, thread = _bad_status_server(escape + b"\r\n\r\n")
    try:
        port = sock.getsockname()[1]
        with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH={"timeout": 3, "connect_timeout": 1}):
            rp = ClientFactory(backchannel_logout_uri=f"http://127.0.0.1:{port}/logout")
            delivery = LogoutDelivery.objects.create(client=rp, issuer="https://testserver/o", subject="1",
                                                     next_attempt_at=secrets.now())
            from oauth_provider.oidc import logout as backchannel

            backchannel.deliver([delivery.pk])
    finally:
        thread.join(5)
        sock.close()
    delivery.refresh_from_db()
    assert delivery.state == "pending", delivery.last_error
    out = StringIO()
    call_command("sendlogouts", "--list", stdout=out)
    listed = out.getvalue()
    assert "owned" in listed  # the client's text is there...
    assert "\x1b" not in listed and "\x07" not in listed and "\r" not in listed  # ...but must be inert


def test_sendlogouts_and_the_admin_escape_last_error_in_html(admin_browser):
    rp = ClientFactory(backchannel_logout_uri="https://rp.example/logout")
    LogoutDelivery.objects.create(client=rp, issuer="https://testserver/o", subject="1",
                                  next_attempt_at=secrets.now(), last_error=HOSTILE)
    html = admin_browser.get(url(LogoutDelivery, "changelist")).content.decode()
    assert HOSTILE not in html


# --- cleartokens --------------------------------------------------------------------------------

def test_cleartokens_keeps_everything_still_usable(db):
    now = secrets.now()
    family = AuthorizationFactory()
    live_access = AccessTokenFactory(authorization=family, client=family.client, user=family.user)
    live_refresh = RefreshTokenFactory(authorization=family)
    rotated_unexpired = RefreshTokenFactory(authorization=family, rotated_at=now - timedelta(minutes=5))
    used_code = AuthorizationCodeFactory(authorization=family, consumed_at=now)
    lone = AccessTokenFactory(authorization=None, user=None)  # client_credentials
    exchanged = AccessTokenFactory(client=family.client, user=family.user, authorization=family,
                                   subject_token=live_access, expires_at=live_access.expires_at)
    old_family = AuthorizationFactory(created_at=now - timedelta(days=400))  # older than the lifetime...
    old_but_live = RefreshTokenFactory(authorization=old_family)  # ...but its refresh token lives
    dead_access = AccessTokenFactory(expires_at=now - timedelta(seconds=1))
    call_command("cleartokens", stdout=StringIO())
    for model, row in ((AccessToken, live_access), (RefreshToken, live_refresh), (RefreshToken, rotated_unexpired),
                       (AuthorizationCode, used_code), (AccessToken, lone), (AccessToken, exchanged),
                       (RefreshToken, old_but_live), (Authorization, old_family), (Authorization, family)):
        assert model.objects.filter(pk=row.pk).exists(), (model.__name__, row.pk)
    assert not AccessToken.objects.filter(pk=dead_access.pk).exists()


# --- connected apps -------------------------------------------------------------------------------

@pytest.fixture
def two_users(db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    shared = ClientFactory(name="Shared app")
    grants = {}
    for user in (alice, bob):
        family = AuthorizationFactory(client=shared, user=user)
        grants[user.username] = (
            family, AccessTokenFactory(client=shared, user=user, authorization=family),
            RefreshTokenFactory(authorization=family), ConsentFactory(user=user, client=shared))
    return alice, bob, shared, grants


def test_a_user_revoking_an_app_touches_only_their_own_grant(two_users):
    alice, bob, shared, grants = two_users
    browser = HttpClient()
    browser.force_login(alice)
    answer = browser.post(CONNECTED, {"client_id": shared.client_id})
    assert answer.status_code == 302
    a_family, a_access, _a_refresh, _a_consent = grants["alice"]
    b_family, b_access, b_refresh, b_consent = grants["bob"]
    assert not AccessToken.objects.get(pk=a_access.pk).is_live()
    assert Authorization.objects.get(pk=a_family.pk).revoked_at is not None
    assert Authorization.objects.get(pk=b_family.pk).revoked_at is None
    assert AccessToken.objects.get(pk=b_access.pk).is_live()
    assert RefreshToken.objects.filter(pk=b_refresh.pk, revoked_at__isnull=True).exists()
    assert Consent.objects.filter(pk=b_consent.pk).exists()


def test_the_revoke_needs_the_csrf_token(two_users):
    alice, _bob, shared, grants = two_users
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    answer = browser.post(CONNECTED, {"client_id": shared.client_id}, HTTP_REFERER="https://testserver/")
    assert answer.status_code == 403
    assert Authorization.objects.get(pk=grants["alice"][0].pk).revoked_at is None


def test_a_logged_out_visitor_revokes_nothing(two_users):
    _alice, _bob, shared, grants = two_users
    answer = HttpClient().post(CONNECTED, {"client_id": shared.client_id})
    assert answer.status_code == 302 and "login" in answer["Location"]
    assert not Authorization.objects.filter(revoked_at__isnull=False).exists()


def test_the_connected_apps_page_shows_a_hostile_client_inert(db):
    user = UserFactory(username="carol")
    client = ClientFactory(name=HOSTILE, registration_method="dynamic", grant_types="authorization_code refresh_token",
                           client_uri="https://rp.example/", logo_uri="https://evil.example/track.png")
    ConsentFactory(user=user, client=client)
    browser = HttpClient()
    browser.force_login(user)
    pages = [browser.get(CONNECTED), browser.post(CONNECTED, {"client_id": client.client_id, "step": "confirm"})]
    for page in pages:
        html = page.content.decode()
        assert HOSTILE not in html and "&lt;img src=x" in html
        assert "evil.example" not in html  # a self-registered client's logo is never hot-linked


def test_a_forged_revoked_notice_names_nothing(two_users):
    alice, _bob, shared, _grants = two_users
    from django.core import signing

    browser = HttpClient()
    browser.force_login(alice)
    forged = signing.dumps(shared.client_id, salt="oauth_provider.connected_apps.revoked:999")
    page = browser.get(CONNECTED, {"revoked": forged}).content.decode()
    assert "can no longer access" not in page


def test_only_the_users_own_apps_can_be_confirmed_revoked_and_signalled(db):
    """Note-level: the connected-apps POST accepts any client_id, including a client the user
    has no grant or consent with (or an inactive one): it shows that client's confirm page
    (name, links) and then fires ``token_revoked`` (reason "user") for a revocation of
    nothing, which audit receivers record as real. It should only act on the user's apps."""
    from oauth_provider.signals import token_revoked

    stranger = UserFactory(username="mallory")
    other = ClientFactory(name="Internal admin tool", is_active=False)
    fired = []

    def receiver(**kwargs):
        fired.append(kwargs.get("client"))

    token_revoked.connect(receiver)
    try:
        browser = HttpClient()
        browser.force_login(stranger)
        confirm = browser.post(CONNECTED, {"client_id": other.client_id, "step": "confirm"})
        browser.post(CONNECTED, {"client_id": other.client_id})
    finally:
        token_revoked.disconnect(receiver)
    shown = "Internal admin tool" in confirm.content.decode()
    assert (shown, fired) == (False, []), f"confirm page names the stranger's client: {shown}; signal fired: {fired}"


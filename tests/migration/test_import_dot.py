"""``manage.py import_dot`` on a database populated by django-oauth-toolkit itself: its
applications created with its model, its tokens by its own views (authorize + token with PKCE
for a public and a confidential application, client_credentials, a rotation and a revocation
at its endpoints); then the same bearer strings, refresh tokens and client secrets are used
against our resource server and token endpoint, unmodified.

Run with ``--ds tests.dot_settings`` (skipped otherwise), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from urllib.parse import urlencode

import jwt as pyjwt
import pytest
from django.apps import apps as installed

if not installed.is_installed("oauth2_provider"):
    pytest.skip("needs django-oauth-toolkit installed: pytest --ds tests.dot_settings tests/migration",
                allow_module_level=True)

from django.core.management import call_command  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken as DotAccessToken  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402
from oauth2_provider.models import Grant as DotGrant  # noqa: E402
from oauth2_provider.models import RefreshToken as DotRefreshToken  # noqa: E402

from oauth_provider.models import (  # noqa: E402
    AccessToken,
    Authorization,
    Client,
    Consent,
    ImportedToken,
    RefreshToken,
    SigningKey,
)
from oauth_provider.secrets import hash_token  # noqa: E402
from tests.conftest import basic_auth  # noqa: E402
from tests.migration import dot_flows  # noqa: E402
from tests.migration.dot_flows import APP_CB, BILLING_SECRET, WEB_CB, WEB_SECRET, DotSite, build_site  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=False)

API = "/api/drf/read/"
TABLES = (Client, Authorization, AccessToken, RefreshToken, Consent, SigningKey)


@pytest.fixture
def dot_site(db) -> DotSite:
    return build_site()


def import_dot(*args: str) -> str:
    out = StringIO()
    call_command("import_dot", *args, stdout=out)
    return out.getvalue()


def bearer(value: str):
    return HttpClient().get(API, HTTP_AUTHORIZATION=f"Bearer {value}")


def our_token(data: dict, *, client_id: str, secret: str | None = None):
    extra = {"HTTP_AUTHORIZATION": basic_auth(client_id, secret)} if secret else {}
    if secret is None:
        data = {**data, "client_id": client_id}
    return HttpClient().post("/o/token/", urlencode(data), content_type="application/x-www-form-urlencoded", **extra)


def snapshot() -> dict:
    return {model.__name__: sorted(map(repr, model.objects.values())) for model in TABLES}


# -- the rows DOT wrote are DOT's ---------------------------------------------------------------
def test_the_fixture_holds_what_dot_wrote(dot_site):
    """Guard on the fixture itself: DOT stored checksums of the values its clients hold, hashed
    the web secret with PBKDF2, kept one refresh token revoked by rotation and one by /revoke_token/."""
    web = Application.objects.get(pk=dot_site.apps["web"].pk)
    assert web.client_secret.startswith("pbkdf2_sha256$")
    alice = dot_site.tokens["alice_web"]
    assert DotAccessToken.objects.filter(token_checksum=hash_token(alice["access_token"])).exists()
    assert DotRefreshToken.objects.filter(revoked__isnull=False).count() == 2
    assert DotGrant.objects.count() == 1


def test_both_apps_live_side_by_side():
    """Different app labels, tables and URL namespaces: DOT and this library migrate into one
    database and mount their endpoints without a clash."""
    from django.apps import apps
    from django.urls import reverse

    dot = {m._meta.db_table for m in apps.get_app_config("oauth2_provider").get_models()}
    ours = {m._meta.db_table for m in apps.get_app_config("oauth_provider").get_models()}
    assert dot and ours and not dot & ours
    for dot_name, our_name in (("authorize", "authorize"), ("token", "token"), ("user-info", "userinfo")):
        assert reverse(f"oauth2_provider:{dot_name}").startswith("/dot/")
        assert reverse(f"oauth_provider:{our_name}").startswith("/o/")


# -- dry run --------------------------------------------------------------------------------
def test_dry_run_reports_everything_and_writes_nothing(dot_site):
    before = snapshot()
    out = import_dot("--dry-run")
    assert snapshot() == before
    assert "Dry run: nothing was written." in out
    assert "application: 4 would be imported, 3 refused" in out
    assert "refresh token: 3 would be imported, 2 skipped" in out
    assert "access token: 4 would be imported, 1 skipped" in out
    assert "signing key: 2 would be imported" in out
    assert "consent: 2 would be imported" in out
    for client_id, reason in (
        (dot_site.apps["legacy"].client_id, "the password grant is not offered"),
        (dot_site.apps["spa"].client_id, "the implicit grant is not offered"),
        (dot_site.apps["insecure"].client_id, "Plain http is only allowed on loopback hosts"),
    ):
        assert any(line.startswith(f"refused  application {client_id}") and reason in line
                   for line in out.splitlines()), (client_id, out)
    assert "redirect URI http://notes.example/legacy dropped" in out
    assert "skip_authorization is not carried over for a public client" in out
    assert "authorization code (1): codes live a minute" in out
    assert "ID token (1): not stored here" in out


# -- the same values keep working ------------------------------------------------------------
def test_clients_keep_their_tokens_and_secrets(dot_site):
    out = import_dot()
    assert "application: 4 imported, 3 refused" in out, out
    tokens, apps = dot_site.tokens, dot_site.apps

    # the same bearer strings at our resource server (DRF), by DOT's token_checksum
    for name, user in (("alice_web", "alice"), ("bob_app", "bob"), ("bob_web", "bob")):
        r = bearer(tokens[name]["access_token"])
        assert r.status_code == 200, (name, r.content)
        assert r.json()["user"] == user
    assert bearer(tokens["billing"]["access_token"]).json()["client_id"] == apps["billing"].client_id
    for gone in ("billing_old", "bob_web_rotated", "carol_web"):  # expired, rotated, revoked at DOT
        assert bearer(tokens[gone]["access_token"]).status_code == 401, gone

    # the same refresh tokens at our token endpoint: the public one by client_id, the confidential
    # one with the same secret, checked with PBKDF2 once and then stored as SHA-256
    web = Client.objects.get(client_id=apps["web"].client_id)
    assert web.client_secret_hash.startswith("pbkdf2_sha256$")
    r = our_token({"grant_type": "refresh_token", "refresh_token": tokens["alice_web"]["refresh_token"]},
                  client_id=web.client_id, secret=WEB_SECRET)
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "openid read write"
    web.refresh_from_db()
    assert web.client_secret_hash == hash_token(WEB_SECRET)
    r = our_token({"grant_type": "refresh_token", "refresh_token": tokens["bob_app"]["refresh_token"]},
                  client_id=apps["app"].client_id)
    assert r.status_code == 200, r.content
    assert bearer(r.json()["access_token"]).json()["user"] == "bob"
    r = our_token({"grant_type": "refresh_token", "refresh_token": tokens["bob_web"]["refresh_token"]},
                  client_id=web.client_id, secret=WEB_SECRET)
    assert r.status_code == 200, r.content
    for gone in ("bob_web_rotated", "carol_web"):
        r = our_token({"grant_type": "refresh_token", "refresh_token": tokens[gone]["refresh_token"]},
                      client_id=web.client_id, secret=WEB_SECRET)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", gone
    assert our_token({"grant_type": "refresh_token", "refresh_token": tokens["alice_web"]["refresh_token"]},
                     client_id=web.client_id, secret="wrong").status_code == 401

    # the service's clear-text secret, now stored hashed, still authenticates
    billing = Client.objects.get(client_id=apps["billing"].client_id)
    assert billing.client_secret_hash == hash_token(BILLING_SECRET)
    r = our_token({"grant_type": "client_credentials", "scope": "read"}, client_id=billing.client_id,
                  secret=BILLING_SECRET)
    assert r.status_code == 200, r.content


def test_refresh_tokens_are_stored_only_as_their_digest(dot_site):
    import_dot()
    raw = dot_site.tokens["alice_web"]["refresh_token"]
    stored = RefreshToken.objects.get(token_hash=hash_token(raw))
    assert raw not in json.dumps(list(RefreshToken.objects.values()), default=str)
    family = stored.authorization
    assert family.scope == "openid read write" and family.user.username == "alice"
    access = AccessToken.objects.get(token_hash=hash_token(dot_site.tokens["alice_web"]["access_token"]))
    assert access.authorization_id == family.pk  # one grant: revoking it reaches both
    assert stored.expires_at > timezone.now()


def test_clients_keep_their_settings_under_our_rules(dot_site):
    import_dot()
    apps = dot_site.apps
    web = Client.objects.get(client_id=apps["web"].client_id)
    assert web.redirect_uri_list == [WEB_CB]  # the http one was dropped, and said so
    assert web.post_logout_redirect_uri_list == ["https://notes.example/bye"]
    assert web.grant_type_list == ["authorization_code", "refresh_token"]
    app = Client.objects.get(client_id=apps["app"].client_id)
    assert app.is_public and app.token_endpoint_auth_method == "none"
    assert (app.application_type, web.application_type) == ("native", "web")  # com.example.notes:/callback
    assert app.registration_method == web.registration_method == "command"
    assert app.skip_consent is False  # DOT's skip_authorization never silences a public client
    assert app.redirect_uri_list == [APP_CB, "com.example.notes:/callback"]
    hybrid = Client.objects.get(client_id=apps["hybrid"].client_id)
    assert hybrid.grant_type_list == ["authorization_code", "refresh_token"]
    assert Client.objects.get(client_id=apps["billing"].client_id).grant_type_list == ["client_credentials"]
    refused = [apps[name].client_id for name in ("legacy", "spa", "insecure")]
    assert not Client.objects.filter(client_id__in=refused).exists()


@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_a_public_client_that_skipped_consent_at_dot_shows_the_page_here(dot_site):
    import_dot()
    app = Client.objects.get(client_id=dot_site.apps["app"].client_id)
    browser = HttpClient()
    browser.force_login(dot_site.users["bob"])
    from tests.conftest import pkce_pair

    _verifier, challenge = pkce_pair()
    page = browser.get("/o/authorize/", {
        "response_type": "code", "client_id": app.client_id, "redirect_uri": APP_CB, "scope": "read",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    assert page.status_code == 200 and b'name="oauth_request"' in page.content


def test_consent_is_inferred_only_where_dot_would_have_skipped_the_page(dot_site):
    """DOT (REQUEST_APPROVAL_PROMPT "auto") skipped its page while a user held a live token for the
    scopes: alice's and bob's grants to the confidential web client become remembered consents;
    bob's grant to the public app does not (RFC 8252 §8.6); carol's revoked one does not."""
    import_dot()
    web = Client.objects.get(client_id=dot_site.apps["web"].client_id)
    consents = {(c.user.username, c.client_id): c.scope for c in Consent.objects.select_related("user")}
    assert consents == {("alice", web.pk): "openid read write", ("bob", web.pk): "read"}


@pytest.mark.parametrize("prompt", ["force"])
def test_no_consent_is_inferred_when_dot_always_asked(dot_site, settings, prompt):
    from oauth2_provider.settings import oauth2_settings

    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REQUEST_APPROVAL_PROMPT": prompt}
    oauth2_settings.reload()
    try:
        import_dot()
    finally:
        settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REQUEST_APPROVAL_PROMPT": "auto"}
        oauth2_settings.reload()
    assert not Consent.objects.exists()
    assert AccessToken.objects.count() == 4


# -- signing keys ----------------------------------------------------------------------------
def test_dot_signing_key_keeps_its_kid_and_its_id_tokens_verify(dot_site):
    dot_jwks = HttpClient().get("/dot/.well-known/jwks.json").json()
    import_dot()
    ours = HttpClient().get("/o/jwks/").json()
    assert {k["kid"] for k in ours["keys"]} == {k["kid"] for k in dot_jwks["keys"]}  # active and inactive
    by_kid = {k["kid"]: k for k in ours["keys"]}

    # an ID token DOT signed before the move verifies with the JWKS we publish
    id_token = dot_site.tokens["alice_web"]["id_token"]
    header = pyjwt.get_unverified_header(id_token)
    key = pyjwt.PyJWK(by_kid[header["kid"]])
    claims = pyjwt.decode(id_token, key.key, algorithms=["RS256"], audience=dot_site.apps["web"].client_id)
    assert claims["nonce"] == "n-1"

    # and the ID tokens we sign from now on carry DOT's active kid: cached JWKS stay valid
    r = our_token({"grant_type": "refresh_token", "refresh_token": dot_site.tokens["alice_web"]["refresh_token"]},
                  client_id=dot_site.apps["web"].client_id, secret=WEB_SECRET)
    assert pyjwt.get_unverified_header(r.json()["id_token"])["kid"] == header["kid"]
    ours = pyjwt.decode(r.json()["id_token"], key.key, algorithms=["RS256"], audience=dot_site.apps["web"].client_id)
    assert ours["iss"] == claims["iss"] and ours["sub"] == claims["sub"]


def test_an_issuer_that_changes_is_reported(dot_site, settings):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "ISSUER": "https://new.example/o"}
    out = import_dot("--dry-run")
    assert "differs from DOT's OIDC_ISS_ENDPOINT https://testserver/o" in out


# -- idempotent ------------------------------------------------------------------------------
def test_running_twice_changes_nothing(dot_site):
    import_dot()
    before = snapshot()
    out = import_dot()
    assert snapshot() == before
    assert "application: 4 already present, 3 refused" in out, out
    assert "refresh token: 3 already present, 2 skipped" in out
    assert "access token: 4 already present, 1 skipped" in out
    assert "signing key: 2 already present" in out
    assert not re.search(r"[0-9]+ imported", out), out


def test_a_new_token_at_dot_is_added_by_a_second_run(dot_site):
    import_dot()
    late = dot_flows.token(HttpClient(), dot_site.apps["billing"], {"grant_type": "client_credentials"},
                           secret=BILLING_SECRET)
    out = import_dot()
    assert "access token: 1 imported, 4 already present, 1 skipped" in out, out
    assert bearer(late["access_token"]).status_code == 200


def test_batches_of_one_import_the_same(dot_site):
    import_dot("--batch-size", "1")
    assert AccessToken.objects.count() == 4 and RefreshToken.objects.count() == 3


# -- what an attacker could try to carry over ------------------------------------------------
def test_a_token_restricted_to_an_unknown_resource_is_not_widened(dot_site):
    """A DOT token bound to an API this site does not know (RFC 8707 ``resource``) would be
    accepted by this site's API without its audience: it is left behind, and said so."""
    value = dot_site.tokens["billing"]["access_token"]
    DotAccessToken.objects.filter(token_checksum=hash_token(value)).update(resource=["https://billing.example/"])
    out = import_dot()
    assert "restricted to resources (RFC 8707) not kept here: The requested resource is unknown." in out, out
    assert bearer(value).status_code == 401


def test_a_token_restricted_to_a_known_resource_keeps_its_audience(dot_site, settings):
    value = dot_site.tokens["billing"]["access_token"]
    DotAccessToken.objects.filter(token_checksum=hash_token(value)).update(resource=["https://billing.example/"])
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER,
                               "RESOURCES": {"https://billing.example/": {"name": "Billing", "scopes": ["read"]}}}
    import_dot()
    assert AccessToken.objects.get(token_hash=hash_token(value)).audience == "https://billing.example/"
    assert bearer(value).status_code == 401  # this site's own API is not its audience
    assert bearer(dot_site.tokens["bob_web"]["access_token"]).status_code == 200  # no resource at DOT: ours


def test_a_weak_signing_key_is_refused_and_reported(dot_site, settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from oauth2_provider.settings import oauth2_settings

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    previous = settings.OAUTH2_PROVIDER
    settings.OAUTH2_PROVIDER = {**previous, "OIDC_RSA_PRIVATE_KEY": weak, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": []}
    oauth2_settings.reload()
    try:
        out = import_dot()
    finally:
        settings.OAUTH2_PROVIDER = previous
        oauth2_settings.reload()
    assert "refused  signing key OIDC_RSA_PRIVATE_KEY: " in out and "2048" in out.replace(",", ""), out
    assert not SigningKey.objects.exists()


def test_an_existing_client_is_never_overwritten(dot_site):
    """A client_id already registered here keeps its settings (an operator may have changed
    them since a first run): only DOT's tokens for it are added."""
    import_dot()
    web = Client.objects.get(client_id=dot_site.apps["web"].client_id)
    Client.objects.filter(pk=web.pk).update(name="Renamed here", redirect_uris="https://notes.example/new")
    import_dot()
    web.refresh_from_db()
    assert (web.name, web.redirect_uris) == ("Renamed here", "https://notes.example/new")


def test_a_token_revoked_and_cleaned_up_here_does_not_come_back(dot_site):
    """Alice revokes the web client on our connected-apps page and cleartokens deletes the rows;
    DOT still holds them. A later run must not resurrect them."""
    import_dot()
    web = Client.objects.get(client_id=dot_site.apps["web"].client_id)
    Consent.objects.revoke_client(dot_site.users["alice"], web)
    call_command("cleartokens", stdout=StringIO())
    out = import_dot()
    assert "deleted here since (revoked, then cleaned up): not brought back" in out, out
    tokens = dot_site.tokens["alice_web"]
    assert bearer(tokens["access_token"]).status_code == 401
    r = our_token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                  client_id=web.client_id, secret=WEB_SECRET)
    assert r.status_code == 400, r.content


def test_a_token_a_later_run_imported_and_cleaned_up_here_does_not_come_back(dot_site):
    """Runs early, again and again: a token the *second* run imported, revoked here and cleaned
    up by cleartokens, is still DOT's live token; a third run must not bring it back."""
    import_dot()
    late = dot_flows.token(HttpClient(), dot_site.apps["billing"], {"grant_type": "client_credentials"},
                           secret=BILLING_SECRET)
    import_dot()
    AccessToken.objects.filter(token_hash=hash_token(late["access_token"])).revoke()
    call_command("cleartokens", stdout=StringIO())
    assert not AccessToken.objects.filter(token_hash=hash_token(late["access_token"])).exists()
    out = import_dot()
    assert "deleted here since (revoked, then cleaned up): not brought back" in out, out
    assert bearer(late["access_token"]).status_code == 401


def test_what_dot_revokes_after_a_later_run_imported_it_is_revoked_here(dot_site):
    """A token the second run imported and DOT revoked afterwards is revoked here by the third
    run, as one the first run imported would be."""
    import_dot()
    late = dot_flows.token(HttpClient(), dot_site.apps["billing"], {"grant_type": "client_credentials"},
                           secret=BILLING_SECRET)
    import_dot()
    assert bearer(late["access_token"]).status_code == 200
    dot_flows.revoke(dot_site.apps["billing"], late["access_token"], secret=BILLING_SECRET)
    out = import_dot()
    assert "access token: 1 revoked as at DOT" in out.replace("already present, ", "").replace(
        "4 ", ""), out
    assert bearer(late["access_token"]).status_code == 401


def test_what_dot_revokes_between_two_runs_is_revoked_here(dot_site):
    """Imported once early; then, still at DOT, alice's client refreshes (DOT rotates) and the
    billing job's token is revoked. The second run carries the new tokens and revokes the stale
    ones here: a stolen old refresh token is not a way in after the switch."""
    import_dot()
    apps, tokens = dot_site.apps, dot_site.tokens
    grant = {"grant_type": "refresh_token", "refresh_token": tokens["alice_web"]["refresh_token"]}
    rotated = dot_flows.token(HttpClient(), apps["web"], grant, secret=WEB_SECRET)
    dot_flows.revoke(apps["billing"], tokens["billing"]["access_token"], secret=BILLING_SECRET)
    out = import_dot()
    assert "refresh token: 1 imported, 2 already present, 1 revoked as at DOT" in out, out
    assert bearer(tokens["alice_web"]["access_token"]).status_code == 401
    assert bearer(tokens["billing"]["access_token"]).status_code == 401
    old = our_token({"grant_type": "refresh_token", "refresh_token": tokens["alice_web"]["refresh_token"]},
                    client_id=apps["web"].client_id, secret=WEB_SECRET)
    assert old.status_code == 400
    assert bearer(rotated["access_token"]).json()["user"] == "alice"
    new = our_token({"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
                    client_id=apps["web"].client_id, secret=WEB_SECRET)
    assert new.status_code == 200, new.content


def test_queries_grow_with_the_tokens_written_not_with_lookups(dot_site, figure):
    """Reads are per batch (which tokens are here already, when DOT's families began), so a
    token costs only its INSERTs: the family, the refresh token, the access token."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import real_queries

    for _ in range(5):  # five more of the billing job's tokens: one INSERT each
        dot_flows.token(HttpClient(), dot_site.apps["billing"], {"grant_type": "client_credentials"},
                        secret=BILLING_SECRET)
    with CaptureQueriesContext(connection) as captured:
        import_dot()
    inserts = [q for q in real_queries(captured) if q.lstrip().upper().startswith("INSERT")]
    reads = len(real_queries(captured)) - len(inserts)
    # 4 clients, 2 keys, 3 families + 3 refresh + 3 access tokens, 6 client tokens, 2 consents,
    # and one INSERT per batch of the records of what it imported (the refresh and the lone batch)
    assert AccessToken.objects.count() == 9 and RefreshToken.objects.count() == 3
    assert ImportedToken.objects.count() == 12
    assert len(inserts) == 4 + 2 + 9 + 6 + 2 + 2
    # per batch: which of its tokens are here, which an earlier run imported, when its DOT families
    # began; and the revocations of what DOT revoked, each access-token revocation that revoked
    # something run twice (the second for what an exchange racing it stored)
    assert reads <= 28, (reads, "\n".join(q for q in real_queries(captured) if not q.startswith("INSERT")))
    figure("import_dot", f"{len(inserts)} INSERTs and {reads} other statements for 4 clients and 12 tokens")


def test_a_metadata_document_client_is_refused_and_a_dynamic_one_noted(db):
    """DOT's client ID metadata document clients are not stored clients: here they present
    their document again. A dynamically registered one comes over without its RFC 7592 token."""
    Application.objects.create(
        client_id="https://app.example/client.json", registration_source="cimd", client_type="public",
        authorization_grant_type="authorization-code", redirect_uris="https://app.example/cb", name="CIMD app",
    )
    dcr = Application.objects.create(
        registration_source="dcr", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="https://dcr.example/cb", name="DCR app",
    )
    out = import_dot()
    assert "refused  application https://app.example/client.json (CIMD app): a client ID metadata document" in out
    assert "registration access token (RFC 7592) is not carried over" in out
    assert list(Client.objects.values_list("client_id", flat=True)) == [dcr.client_id]


# -- nothing imported outlives or widens what DOT allowed (outside review, session 17) ---------

def test_an_imported_refresh_token_expires_no_later_than_our_lifetime_allows(dot_site):
    from datetime import timedelta

    from oauth_provider.conf import provider_settings

    import_dot()
    lifetime = timedelta(seconds=provider_settings.REFRESH_TOKEN_LIFETIME)
    rows = list(RefreshToken.objects.select_related("authorization"))
    assert rows
    assert all(rt.expires_at <= rt.authorization.created_at + lifetime for rt in rows)


def test_an_imported_refresh_token_expires_no_later_than_dot_would_have_let_it(dot_site, settings):
    from datetime import timedelta

    from oauth2_provider.settings import oauth2_settings

    from oauth_provider import secrets

    original = settings.OAUTH2_PROVIDER
    settings.OAUTH2_PROVIDER = {**original, "REFRESH_TOKEN_EXPIRE_SECONDS": 2 * 86400}
    oauth2_settings.reload()
    try:
        import_dot()
    finally:
        settings.OAUTH2_PROVIDER = original
        oauth2_settings.reload()
    rows = list(RefreshToken.objects.all())
    assert rows
    assert all(rt.expires_at <= secrets.now() + timedelta(days=2, hours=10) for rt in rows)


def test_a_confidential_application_with_a_private_use_scheme_keeps_none_of_it(dot_site):
    Application.objects.create(
        name="Odd", client_id="odd-confidential", client_type="confidential", client_secret="s3cret-0123456789",
        authorization_grant_type="authorization-code", hash_client_secret=False,
        redirect_uris="https://odd.example/cb com.example.odd:/cb")
    import_dot()
    assert Client.objects.get(client_id="odd-confidential").redirect_uri_list == ["https://odd.example/cb"]


def test_a_public_application_with_client_credentials_is_refused(dot_site):
    Application.objects.create(name="Odd public", client_id="odd-public", client_type="public",
                               authorization_grant_type="client-credentials", redirect_uris="")
    out = import_dot()
    assert not Client.objects.filter(client_id="odd-public").exists()
    assert "client_credentials needs a confidential client" in out

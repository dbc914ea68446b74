"""The Django admin: every page renders with a bounded number of queries, the client form
enforces the registration rules, a new secret is shown once and only its hash is stored, and
the revoke/deactivate/secret actions do what they say."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest
from django.test import Client as HttpClient
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider import secrets
from oauth_provider.models import (
    AccessToken,
    Authorization,
    AuthorizationCode,
    Consent,
    DeviceCode,
    ImportedToken,
    RefreshToken,
    get_client_model,
)
from tests.support.factories import (
    AccessTokenFactory,
    AuthorizationCodeFactory,
    AuthorizationFactory,
    ClientFactory,
    ConsentFactory,
    DeviceCodeFactory,
    PublicClientFactory,
    RefreshTokenFactory,
    UserFactory,
)
from tests.support.settings import oauth_settings
from tests.support.token_helpers import post_form

from .conftest import basic_auth
from .support.admin_pages import url

pytestmark = pytest.mark.django_db
Client = get_client_model()
SECRET_IN_PAGE = re.compile(r"<code>([A-Za-z0-9_-]{43})</code>")


def make_rows(model, n: int) -> list:
    """``n`` rows of ``model``, each with its own client, user and family, so a list that
    fetched related rows one by one would cost more queries for more rows."""
    if model is Client:
        return [ClientFactory(owner=UserFactory()) for _ in range(n)]
    if model is Authorization:
        return AuthorizationFactory.create_batch(n)
    if model is AuthorizationCode:
        return AuthorizationCodeFactory.create_batch(n)
    if model is AccessToken:
        return [AccessTokenFactory(authorization=AuthorizationFactory()) for _ in range(n)]
    if model is RefreshToken:
        return RefreshTokenFactory.create_batch(n)
    if model is DeviceCode:
        return [DeviceCodeFactory(user=UserFactory()) for _ in range(n)]
    if model is ImportedToken:
        return [ImportedToken.objects.create(token_hash=secrets.hash_token(secrets.generate_token()), kind="access",
                                             expires_at=secrets.now() + timedelta(hours=1)) for _ in range(n)]
    return ConsentFactory.create_batch(n)


ALL_MODELS = [Client, Authorization, AuthorizationCode, AccessToken, RefreshToken, Consent, DeviceCode, ImportedToken]


def client_form(**overrides) -> dict:
    data = {
        "name": "Notes web",
        "client_id": "notes-web",
        "client_type": "confidential",
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": "https://rp.example/cb\r\nhttps://rp.example/other",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "allowed_scopes": ["read", "write"],
        "is_active": "on",
        "owner": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_a_public_client_cannot_be_set_to_skip_consent(admin_browser):
    """Any app can claim a public client's client_id (RFC 8252 §8.6): the form says so on the
    field, and nothing is saved."""
    form = client_form(client_type="public", token_endpoint_auth_method="none", skip_consent="on",
                       redirect_uris="http://127.0.0.1/cb", grant_types=["authorization_code"])
    r = admin_browser.post(url(Client, "add"), form)
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert "skip_consent" in errors, errors
    assert "public client cannot skip the consent page" in str(errors["skip_consent"])
    assert not Client.objects.exists()
    # and an existing public client cannot be switched to it either
    native = PublicClientFactory()
    r = admin_browser.post(url(Client, "change", native.pk), client_form(
        client_id=native.client_id, client_type="public", token_endpoint_auth_method="none", skip_consent="on",
        redirect_uris="http://127.0.0.1/cb", grant_types=["authorization_code"]))
    assert r.status_code == 200 and "skip_consent" in r.context["adminform"].form.errors
    native.refresh_from_db()
    assert native.skip_consent is False


@override_settings(OAUTH_PROVIDER=oauth_settings(RESOURCES={"https://rs-a.example/": {"name": "A"}}))
def test_a_resource_server_lists_the_resources_it_serves(admin_browser):
    """RFC 7662 §4: which tokens a resource server may introspect is set on its row; a
    resource the provider does not know, or one given to a client that is not a resource
    server, is refused on the field, nothing saved."""
    base = client_form(redirect_uris="", grant_types=["client_credentials"])
    r = admin_browser.post(url(Client, "add"), {**base, "is_resource_server": "on",
                                                "served_resources": "https://rs-b.example/"})
    assert r.status_code == 200
    assert "is not a resource" in str(r.context["adminform"].form.errors["served_resources"])
    r = admin_browser.post(url(Client, "add"), {**base, "served_resources": "https://rs-a.example/"})
    assert r.status_code == 200
    assert "Only a resource server" in str(r.context["adminform"].form.errors["served_resources"])
    assert not Client.objects.exists()
    r = admin_browser.post(url(Client, "add"), {
        **base, "is_resource_server": "on",
        "served_resources": " https://rs-a.example/\r\n\r\nhttps://testserver\r\nhttps://rs-a.example/ "})
    assert r.status_code == 200 and r.templates[0].name == "oauth_provider/admin_client_secret.html"
    row = Client.objects.get()
    assert row.is_resource_server and row.served_resource_list == ["https://rs-a.example/", "https://testserver"]
    page = admin_browser.get(url(Client, "change", row.pk)).content.decode()
    assert 'name="served_resources"' in page and "https://rs-a.example/" in page


def secrets_in(html: str) -> list[str]:
    return SECRET_IN_PAGE.findall(html)


def stored_for_later(response) -> str:
    """Everything the response left for a later request: the message cookie (decoded: it is
    signed and may be compressed) and every session."""
    morsel = response.cookies.get(CookieStorage.cookie_name)
    kept = CookieStorage(HttpRequest())._decode(morsel.value) if morsel and morsel.value else None
    sessions = [str(s.get_decoded()) for s in Session.objects.all()]
    return " ".join([*(str(m.message) for m in kept or ()), *sessions])


# -- every page renders --------------------------------------------------------------------

@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_renders_with_a_query_count_independent_of_the_rows(model, admin_browser, assert_num_queries):
    make_rows(model, 2)
    r = admin_browser.get(url(model, "changelist"))
    assert r.status_code == 200
    assert len(r.context["cl"].result_list) == 2
    baseline = None
    for extra in (0, 5):
        make_rows(model, extra)
        with CaptureQueriesContext(connection) as ctx:
            r = admin_browser.get(url(model, "changelist"))
        assert r.status_code == 200
        baseline = baseline if baseline is not None else len(ctx.captured_queries)
        assert len(ctx.captured_queries) == baseline, "changelist queries grow with the number of rows"
    assert len(r.context["cl"].result_list) == 7
    with assert_num_queries(baseline):  # the budget is also small in absolute terms
        admin_browser.get(url(model, "changelist"))
    assert baseline <= 8


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_change_page_renders(model, admin_browser):
    row = make_rows(model, 1)[0]
    r = admin_browser.get(url(model, "change", row.pk))
    assert r.status_code == 200
    assert r.context["original"].pk == row.pk  # this row's page, not an error or another row
    assert r.context["adminform"].form.instance.pk == row.pk


@pytest.mark.parametrize(("model", "fields"), [
    (Client, {"name", "client_type", "redirect_uris", "grant_types"}),
    (Consent, {"user", "client", "scope"}),
], ids=lambda m: getattr(m, "__name__", ""))
def test_add_page_renders(model, fields, admin_browser):
    r = admin_browser.get(url(model, "add"))
    assert r.status_code == 200
    form = r.context["adminform"].form
    assert form.instance.pk is None and fields <= set(form.fields)
    html = r.content.decode()
    assert all(f'name="{name}"' in html for name in fields)


@pytest.mark.parametrize("model", [Authorization, AuthorizationCode, AccessToken, RefreshToken, DeviceCode],
                         ids=lambda m: m.__name__)
def test_protocol_rows_cannot_be_added_by_hand(model, admin_browser):
    assert admin_browser.get(url(model, "add")).status_code == 403


def test_import_records_are_read_only_and_never_filtered_by_digest(admin_browser):
    """A record of ``import_dot`` is what keeps a later run from bringing a cleaned-up token
    back: it cannot be added or edited here, and its digest answers no filter (a prefix lookup
    would tell, row by row, what the digest of a live token begins with)."""
    record = make_rows(ImportedToken, 1)[0]
    assert admin_browser.get(url(ImportedToken, "add")).status_code == 403
    r = admin_browser.post(url(ImportedToken, "change", record.pk), {"kind": "refresh"})
    assert r.status_code == 403
    record.refresh_from_db()
    assert record.kind == "access"
    probe = admin_browser.get(url(ImportedToken, "changelist"), {"token_hash__startswith": record.token_hash[:4]})
    assert probe.status_code == 400
    assert record.token_hash not in admin_browser.get(url(ImportedToken, "changelist")).content.decode()


def test_codes_are_view_only(admin_browser):
    code = AuthorizationCodeFactory()
    r = admin_browser.post(url(AuthorizationCode, "change", code.pk), {"redirect_uri": "https://evil.example/"})
    assert r.status_code == 403
    code.refresh_from_db()
    assert code.redirect_uri == "https://rp.example/cb"


def test_search_and_status_filter(admin_browser):
    now = secrets.now()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    live = AccessTokenFactory(user=alice)
    expired = AccessTokenFactory(user=alice, expires_at=now - timedelta(seconds=1))
    revoked = AccessTokenFactory(user=bob, revoked_at=now)
    family_revoked = AccessTokenFactory(user=bob, authorization=AuthorizationFactory(revoked_at=now))

    def listed(**params) -> set[int]:
        r = admin_browser.get(url(AccessToken, "changelist"), params)
        assert r.status_code == 200
        return {t.pk for t in r.context["cl"].result_list}

    assert listed(q="alice") == {live.pk, expired.pk}
    assert listed(status="active") == {live.pk}
    assert listed(status="expired") == {expired.pk}
    assert listed(status="revoked") == {revoked.pk, family_revoked.pk}


def test_refresh_tokens_filter_by_rotated(admin_browser):
    """A reuse investigation starts from the rotated tokens of a family: the filter lists those,
    not the current ones."""
    current = RefreshTokenFactory()
    rotated = RefreshTokenFactory(rotated_at=secrets.now())
    r = admin_browser.get(url(RefreshToken, "changelist"), {"status": "rotated"})
    assert r.status_code == 200
    assert {t.pk for t in r.context["cl"].result_list} == {rotated.pk} and current.pk != rotated.pk


def test_codes_filter_by_used_and_revoked(admin_browser):
    """A replay investigation starts from the codes already redeemed, and from those whose grant
    was revoked (a replay revokes it): each filter lists those and no other."""
    unused = AuthorizationCodeFactory()
    used = AuthorizationCodeFactory(consumed_at=secrets.now())
    revoked = AuthorizationCodeFactory(authorization=AuthorizationFactory(revoked_at=secrets.now()))

    def listed(status: str) -> set[int]:
        r = admin_browser.get(url(AuthorizationCode, "changelist"), {"status": status})
        assert r.status_code == 200
        return {c.pk for c in r.context["cl"].result_list}

    assert listed("consumed") == {used.pk}
    assert listed("revoked") == {revoked.pk}
    assert unused.pk in listed("active") and revoked.pk not in listed("active")


def test_a_token_is_named_by_a_short_prefix_of_its_digest_only():
    """The admin and logs name a token or code by the first 8 characters of its digest: enough
    to tell rows apart, not the lookup key itself."""
    for row, kind, digest in (
        (AccessTokenFactory(), "access token", "token_hash"),
        (RefreshTokenFactory(), "refresh token", "token_hash"),
        (AuthorizationCodeFactory(), "code", "code_hash"),
    ):
        value = getattr(row, digest)
        assert str(row) == f"{kind} {value[:8]}…" and value[:9] not in str(row)
    # a grant is named by its client, its user (a service's: "-") and scope
    service = AuthorizationFactory(user=None, scope="read")
    assert str(service) == f"{service.client_id} / -: read"
    person = AuthorizationFactory(scope="read write")
    assert str(person) == f"{person.client_id} / {person.user_id}: read write"


def test_an_exchanged_token_shows_where_it_came_from_and_is_revoked_with_it(admin_browser):
    """Token exchange (RFC 8693): the admin lists the token a token was exchanged for, filters
    exchanged tokens, shows the actor chain, and its Revoke action takes the exchanged ones along."""
    subject = AccessTokenFactory()
    exchanged = AccessTokenFactory(user=subject.user, subject_token=subject, exchange_depth=1,
                                   act={"sub": "svc", "client_id": "svc"})
    listing = admin_browser.get(url(AccessToken, "changelist"))
    assert {t.pk for t in admin_browser.get(url(AccessToken, "changelist"), {"status": "exchanged"})
            .context["cl"].result_list} == {exchanged.pk}
    assert subject.token_hash[:12] in listing.content.decode()
    page = admin_browser.get(url(AccessToken, "change", exchanged.pk)).content.decode()
    assert "exchanged from" in page.lower() and "svc" in page
    admin_browser.post(url(AccessToken, "changelist"),
                       {"action": "revoke", "_selected_action": [subject.pk], "post": "yes"})
    exchanged.refresh_from_db()
    assert exchanged.revoked_at is not None


@pytest.mark.req("6819-5.1.4.1.3-no-cleartext")
def test_token_pages_show_no_plaintext(admin_browser):
    token = AccessTokenFactory(raw="plaintext-access-token-value-0123456789abcdef")
    for page in (url(AccessToken, "changelist"), url(AccessToken, "change", token.pk)):
        html = admin_browser.get(page).content.decode()
        assert "plaintext-access-token-value" not in html
        assert token.token_hash[:12] in html


def test_device_codes_are_listed_read_only_without_codes(admin_browser):
    device = DeviceCodeFactory(user_code="BCDFG-HJKLM", user=UserFactory(username="tv-owner"))
    expired = DeviceCodeFactory(expires_at=secrets.now() - timedelta(seconds=1))
    for page in (url(DeviceCode, "changelist"), url(DeviceCode, "change", device.pk)):
        html = admin_browser.get(page).content.decode()
        assert "BCDFG" not in html and "BCDFGHJKLM" not in html
        assert device.device_code_hash not in html and device.user_code_hash not in html
    listed = admin_browser.get(url(DeviceCode, "changelist"), {"status": "pending"}).context["cl"].result_list
    assert [d.pk for d in listed] == [device.pk]
    assert admin_browser.get(url(DeviceCode, "changelist"), {"q": "tv-owner"}).context["cl"].result_list[0] == device
    assert {d.pk for d in admin_browser.get(url(DeviceCode, "changelist"), {"status": "expired"})
            .context["cl"].result_list} == {expired.pk}
    r = admin_browser.post(url(DeviceCode, "change", device.pk), {"status": "approved"})
    assert r.status_code == 403
    device.refresh_from_db()
    assert device.status == "pending"
    # no filtering on the stored digests either
    assert admin_browser.get(url(DeviceCode, "changelist"), {"user_code_hash__startswith": "a"}).status_code == 400


# -- creating a client -----------------------------------------------------------------------

@pytest.mark.req("6819-5.1.4.1.3-no-cleartext")
@pytest.mark.req("O21-7.7-entropy")
def test_adding_a_confidential_client_shows_the_secret_once_and_stores_its_hash(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form())
    assert r.status_code == 200, r.content[:2000]
    assert r.templates[0].name == "oauth_provider/admin_client_secret.html"
    html = r.content.decode()
    found = secrets_in(html)
    assert len(found) == 1
    raw = found[0]
    assert "Copy it now, it will not be shown again" in html
    assert "no-store" in r["Cache-Control"]

    client = Client.objects.get(client_id="notes-web")
    row = Client.objects.filter(pk=client.pk).values().get()
    assert all(raw not in str(value) for value in row.values()), "the raw secret was stored"
    assert client.client_secret_hash == secrets.hash_token(raw)
    assert client.check_secret(raw) and not client.check_secret(raw + "x")
    assert client.redirect_uri_list == ["https://rp.example/cb", "https://rp.example/other"]
    assert client.grant_type_list == ["authorization_code", "refresh_token", "client_credentials"]
    assert client.allowed_scopes == "read write"

    # Shown on that response only: not kept in the message cookie, not on the next page.
    assert raw not in stored_for_later(r)
    later = admin_browser.get(url(Client, "change", client.pk)).content.decode()
    assert raw not in later and raw not in admin_browser.get(url(Client, "changelist")).content.decode()

    # ... and it is the working credential.
    token = post_form(HttpClient(), {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                              HTTP_AUTHORIZATION=basic_auth("notes-web", raw))
    assert token.status_code == 200, token.content


@pytest.mark.req("8252-8.5-native-public")
def test_public_client_is_forced_to_auth_method_none_and_gets_no_secret(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form(
        client_id="spa", client_type="public", token_endpoint_auth_method="client_secret_post",
        redirect_uris="http://127.0.0.1/cb\ncom.example.app:/cb",
        grant_types=["authorization_code", "refresh_token"],
    ))
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    client = Client.objects.get(client_id="spa")
    assert client.token_endpoint_auth_method == "none"
    assert client.client_secret_hash == ""


def test_confidential_client_choosing_none_gets_client_secret_basic(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form(token_endpoint_auth_method="none"))
    assert r.status_code == 200 and secrets_in(r.content.decode())
    assert Client.objects.get(client_id="notes-web").token_endpoint_auth_method == "client_secret_basic"


def test_making_a_public_client_confidential_shows_a_new_secret(admin_browser):
    client = PublicClientFactory(redirect_uris="https://spa.example/cb")
    data = client_form(name=client.name, client_type="confidential", redirect_uris="https://spa.example/cb")
    r = admin_browser.post(url(Client, "change", client.pk), data)
    assert r.status_code == 200
    (raw,) = secrets_in(r.content.decode())
    client.refresh_from_db()
    assert client.token_endpoint_auth_method == "client_secret_basic" and client.check_secret(raw)
    assert client.client_id != "notes-web", "client_id is read-only once the client exists"


def test_editing_a_confidential_client_keeps_its_secret(admin_browser):
    client = ClientFactory()
    r = admin_browser.post(url(Client, "change", client.pk), client_form(name="Renamed"))
    assert r.status_code == 302
    assert not secrets_in(admin_browser.get(r["Location"]).content.decode())
    stored = Client.objects.get(pk=client.pk)
    assert stored.name == "Renamed" and stored.client_id == client.client_id
    assert stored.check_secret(client.raw_secret)


BAD_REDIRECTS = [
    pytest.param("https://rp.example/*", "Wildcards", marks=pytest.mark.req("O21-2.3.1-register-full-uri"),
                 id="wildcard-path"),
    pytest.param("https://*.rp.example/cb", "Wildcards", marks=pytest.mark.req("O21-2.3.1-register-full-uri"),
                 id="wildcard-host"),
    pytest.param("/cb", "not absolute", marks=pytest.mark.req("O21-2.3.1-register-full-uri"), id="relative"),
    pytest.param("https://rp.example/cb#x", "fragment", marks=pytest.mark.req("O21-2.3.1-no-fragment"),
                 id="fragment"),
    pytest.param("http://rp.example/cb", "loopback", marks=pytest.mark.req("BCP-2.6-no-http-redirect"),
                 id="http-non-loopback"),
    pytest.param("javascript:alert(1)//", "scheme is not allowed",
                 marks=pytest.mark.req("DERIVED-redirect-scheme-denylist"), id="javascript"),
    pytest.param("data:text/html,hi", "scheme is not allowed",
                 marks=pytest.mark.req("DERIVED-redirect-scheme-denylist"), id="data"),
    pytest.param("https://rp.example/a b", "one URI per line", id="space-inside"),
]


@pytest.mark.parametrize(("uri", "message"), BAD_REDIRECTS)
def test_bad_redirect_uris_are_form_errors(admin_browser, uri, message):
    r = admin_browser.post(url(Client, "add"), client_form(redirect_uris=f"https://rp.example/cb\n{uri}"))
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert "redirect_uris" in errors and message in " ".join(errors["redirect_uris"])
    assert not Client.objects.exists()


@pytest.mark.req("8252-8.4-private-scheme-dot")
def test_private_use_scheme_needs_a_dot_and_a_public_client(admin_browser):
    public = {"client_type": "public", "grant_types": ["authorization_code"]}
    r = admin_browser.post(url(Client, "add"), client_form(redirect_uris="myapp:/cb", **public))
    assert "reverse domain" in " ".join(r.context["adminform"].form.errors["redirect_uris"])
    r = admin_browser.post(url(Client, "add"), client_form(redirect_uris="com.example.app:/cb",
                                                            application_type="web"))
    assert "application_type native" in " ".join(r.context["adminform"].form.errors["redirect_uris"])
    r = admin_browser.post(url(Client, "add"), client_form(redirect_uris="com.example.app:/cb", **public))
    assert r.status_code == 302
    assert Client.objects.get().redirect_uri_list == ["com.example.app:/cb"]


def test_public_client_cannot_have_client_credentials(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form(client_type="public"))
    assert "client_credentials" in " ".join(r.context["adminform"].form.errors["grant_types"])
    assert not Client.objects.exists()


def test_authorization_code_needs_a_redirect_uri_and_grants_are_required(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form(redirect_uris=""))
    assert "redirect_uris" in r.context["adminform"].form.errors
    r = admin_browser.post(url(Client, "add"), client_form(grant_types=None))
    assert "grant_types" in r.context["adminform"].form.errors
    r = admin_browser.post(url(Client, "add"), client_form(grant_types=["password"]))
    assert "grant_types" in r.context["adminform"].form.errors
    assert not Client.objects.exists()


def test_scope_checkboxes_follow_settings(admin_browser):
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://testserver/o", "SCOPES": {"alpha": "A"}}):
        html = admin_browser.get(url(Client, "add")).content.decode()
        assert 'value="alpha"' in html and 'value="read"' not in html
        r = admin_browser.post(url(Client, "add"), client_form(allowed_scopes=["read"]))
        assert "allowed_scopes" in r.context["adminform"].form.errors
    html = admin_browser.get(url(Client, "add")).content.decode()
    assert 'value="read"' in html and 'value="alpha"' not in html


def test_scope_removed_from_settings_is_kept_on_the_client(admin_browser):
    client = ClientFactory(allowed_scopes="read")
    # "legacy" was registered when the client was saved, and removed from SCOPES since.
    Client.objects.filter(pk=client.pk).update(allowed_scopes="read legacy")
    html = admin_browser.get(url(Client, "change", client.pk)).content.decode()
    assert 'value="legacy"' in html and "not in SCOPES" in html


# -- actions -----------------------------------------------------------------------------

def run_action(browser, model, action: str, rows, **extra):
    data = {"action": action, "_selected_action": [str(r.pk) for r in rows], **extra}
    return browser.post(url(model, "changelist"), data)


def test_generate_new_secret_action_shows_each_new_secret_once(admin_browser):
    first, second, other = ClientFactory(), ClientFactory(), ClientFactory()
    public = PublicClientFactory()
    r = run_action(admin_browser, Client, "generate_new_secret", [first, second, public])
    assert r.status_code == 200
    html = r.content.decode()
    found = secrets_in(html)
    assert len(found) == 2 and len(set(found)) == 2
    assert html.count("Copy it now, it will not be shown again") == 2
    assert "is a public client" in html
    left = stored_for_later(r)
    assert "is a public client" not in left, "messages were not consumed on this response"
    assert all(raw not in left for raw in found)
    for client, raw in zip((first, second), found, strict=True):
        stored = Client.objects.get(pk=client.pk)
        assert stored.check_secret(raw) and not stored.check_secret(client.raw_secret)
    assert Client.objects.get(pk=other.pk).check_secret(other.raw_secret)
    assert Client.objects.get(pk=public.pk).client_secret_hash == ""


def test_deactivate_action(admin_browser):
    target, bystander = ClientFactory(), ClientFactory()
    r = run_action(admin_browser, Client, "deactivate", [target])
    assert r.status_code == 302
    assert not Client.objects.get(pk=target.pk).is_active
    assert Client.objects.get(pk=bystander.pk).is_active
    token = post_form(HttpClient(), {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                              HTTP_AUTHORIZATION=basic_auth(target.client_id, target.raw_secret))
    assert token.status_code == 401


@pytest.mark.req("O21-4.3.1-grant-active")
def test_revoke_all_tokens_action_kills_the_clients_grants(admin_browser, oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    cc_token = AccessTokenFactory(client=conf_client, user=None, authorization=None)
    bystander = AccessTokenFactory()
    r = run_action(admin_browser, Client, "revoke_all_tokens", [conf_client])
    assert r.status_code == 302
    assert not Authorization.objects.filter(client=conf_client, revoked_at__isnull=True).exists()
    assert AccessToken.objects.get(pk=cc_token.pk).revoked_at is not None
    assert AccessToken.objects.get(pk=bystander.pk).is_active()
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    issued = AccessToken.objects.get(token_hash=secrets.hash_token(tokens["access_token"]))
    assert not issued.is_active()


@pytest.mark.req("O21-4.3.1-grant-active")
def test_revoke_action_on_authorizations(admin_browser, oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    family = Authorization.objects.get(client=conf_client)
    other = AuthorizationFactory()
    assert run_action(admin_browser, Authorization, "revoke", [family]).status_code == 302
    assert Authorization.objects.get(pk=family.pk).revoked_at is not None
    assert Authorization.objects.get(pk=other.pk).revoked_at is None
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("factory", [AccessTokenFactory, RefreshTokenFactory], ids=["access", "refresh"])
def test_revoke_action_on_tokens(admin_browser, factory):
    target, bystander = factory(), factory()
    earlier = secrets.now() - timedelta(days=1)
    already = factory(revoked_at=earlier)
    model = type(target)
    assert run_action(admin_browser, model, "revoke", [target, already]).status_code == 302
    assert model.objects.get(pk=target.pk).revoked_at is not None
    assert model.objects.get(pk=bystander.pk).revoked_at is None
    assert model.objects.get(pk=already.pk).revoked_at == earlier, "the first revocation time is kept"


def test_revoked_refresh_token_is_refused(admin_browser, oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    rt = RefreshToken.objects.get(token_hash=secrets.hash_token(tokens["refresh_token"]))
    run_action(admin_browser, RefreshToken, "revoke", [rt])
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_delete_consent_action(admin_browser):
    target, bystander = ConsentFactory(), ConsentFactory()
    r = run_action(admin_browser, Consent, "delete_selected", [target], post="yes")
    assert r.status_code == 302
    assert list(Consent.objects.values_list("pk", flat=True)) == [bystander.pk]


def test_signing_key_admin_rotates_and_never_shows_the_private_key(db):
    from django.test import Client as HttpClient

    from oauth_provider import keys
    from oauth_provider.models import SigningKey

    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    browser = HttpClient()
    browser.force_login(admin_user)
    first = keys.create_key("RS256", prepublish=False)
    r = browser.get("/admin/oauth_provider/signingkey/")
    assert r.status_code == 200 and first.kid in r.content.decode()
    r = browser.get(f"/admin/oauth_provider/signingkey/{first.pk}/change/")
    assert r.status_code == 200
    assert SigningKey.objects.get(pk=first.pk).private_key not in r.content.decode()
    assert browser.get("/admin/oauth_provider/signingkey/add/").status_code == 403
    r = browser.post("/admin/oauth_provider/signingkey/", {"action": "rotate", "index": "0"}, follow=True)
    assert r.status_code == 200
    assert [k.state for k in SigningKey.objects.order_by("created_at")] == ["active", "next"]


# -- no lookup on a secret column (issue 12, item 7) -------------------------------------------
def _secret_rows():
    from oauth_provider import keys

    signing = keys.create_key("RS256", prepublish=False)
    code = AuthorizationCodeFactory()
    access = AccessTokenFactory(authorization=code.authorization, client=code.authorization.client,
                                user=code.authorization.user)
    refresh = RefreshTokenFactory(authorization=code.authorization)
    ConsentFactory(user=code.authorization.user, client=code.authorization.client)
    return signing, code, access, refresh


SECRET_LOOKUPS = [
    # the encrypted private signing key: Fernet tokens all start with "gAAAAA"
    ("signingkey", "private_key__regex", "^gAAAAA"),
    ("signingkey", "private_key__startswith", "gAAAAA"),
    ("signingkey", "private_key__gt", "g"),
    ("signingkey", "private_key__iregex", "."),
    ("signingkey", "private_key__isnull", "False"),
    ("signingkey", "private_key", "x"),
    # hashes of client secrets, tokens and codes
    ("client", "client_secret_hash__startswith", "0"),
    ("client", "client_secret_hash__regex", "^[0-9a-f]"),
    ("accesstoken", "token_hash__startswith", "0"),
    ("accesstoken", "token_hash__regex", "^[0-9a-f]"),
    ("accesstoken", "token_hash__gt", "0"),
    ("refreshtoken", "token_hash__startswith", "0"),
    ("refreshtoken", "token_hash__lt", "g"),
    ("authorizationcode", "code_hash__startswith", "0"),
    ("authorizationcode", "code_hash__range", "0,g"),
    # the same columns reached through relations
    ("authorization", "codes__code_hash__startswith", "0"),
    ("authorization", "access_tokens__token_hash__regex", "^[0-9a-f]"),
    ("authorization", "refresh_tokens__token_hash__gt", "0"),
    ("authorization", "client__client_secret_hash__startswith", "0"),
    ("accesstoken", "authorization__codes__code_hash__startswith", "0"),
    ("accesstoken", "client__client_secret_hash__regex", "."),
    ("refreshtoken", "authorization__access_tokens__token_hash__gt", "0"),
    ("authorizationcode", "authorization__refresh_tokens__token_hash__lt", "g"),
    ("consent", "client__client_secret_hash__startswith", "0"),
    ("accesstoken", "user__password__startswith", "pbkdf2"),
    ("client", "owner__password__regex", "."),
]


@pytest.mark.parametrize("model_name, lookup, value", SECRET_LOOKUPS)
def test_view_only_staff_cannot_filter_on_a_secret_column(viewer, model_name, lookup, value):
    """A changelist filter on a secret column is an oracle: ``?private_key__regex=^gAAAAA``
    tells, row by row and character by character, what the column holds. Every spelling,
    directly or through a relation, is refused with a 400 (never a 500, never a 200)."""
    _secret_rows()
    changelist = f"/admin/oauth_provider/{model_name}/"
    assert viewer.get(changelist).status_code == 200
    r = viewer.get(changelist, {lookup: value})
    assert r.status_code == 400, (lookup, r.status_code)


def test_ordinary_filters_still_work_for_view_only_staff(viewer):
    """Refusing secret lookups leaves the admin's own filters and searches alone."""
    signing, code, access, refresh = _secret_rows()
    assert viewer.get("/admin/oauth_provider/signingkey/", {"algorithm": "RS256"}).status_code == 200
    assert viewer.get("/admin/oauth_provider/accesstoken/", {"status": "active"}).status_code == 200
    r = viewer.get("/admin/oauth_provider/accesstoken/", {"q": access.client.client_id})
    assert r.status_code == 200
    assert viewer.get("/admin/oauth_provider/client/", {"is_active__exact": "1"}).status_code == 200
    assert viewer.get("/admin/oauth_provider/refreshtoken/", {"authorization__id__exact": refresh.authorization_id}
                      ).status_code == 200


@pytest.mark.parametrize("model, factory", [(RefreshToken, RefreshTokenFactory), (AccessToken, AccessTokenFactory)])
def test_a_token_of_a_revoked_grant_shows_when_the_grant_was_revoked(admin_browser, model, factory):
    """Revoking a grant (reuse detection, the user's Revoke, the admin action on authorizations)
    leaves its tokens' own revoked_at empty: the admin shows the grant's revocation instead of "-"."""
    when = secrets.now().replace(microsecond=0) - timedelta(hours=1)
    token = factory(authorization=AuthorizationFactory(revoked_at=when))
    own = factory(revoked_at=when)
    live = factory()
    change = admin_browser.get(url(model, "change", token.pk)).content.decode()
    label = re.search(r"<label>Revoked at:</label>\s*<div class=\"readonly\">([^<]*)</div>", change)
    assert label and label.group(1).endswith("(its grant was revoked)") and label.group(1) != "-"
    assert 'name="revoked_at"' not in change, "revocation is the Revoke action's, never a form field"
    assert "(its grant was revoked)" not in admin_browser.get(url(model, "change", own.pk)).content.decode()
    listing = admin_browser.get(url(model, "changelist")).content.decode()
    assert listing.count("(its grant was revoked)") == 1
    cells = re.findall(r'<td class="field-revoked[^"]*">([^<]*)</td>', listing)
    assert sorted(c == "-" for c in cells) == [False, False, True], cells
    assert live


# -- client metadata (issue 13) ------------------------------------------------------------

EXTENSION_GRANT = "urn:example:params:oauth:grant-type:example"


def test_the_form_offers_registered_grant_types_and_methods(admin_browser, settings):
    """Issue 13 item 1: an extension grant or authentication method is assignable in the admin
    as soon as it is registered, and a removed one is no longer offered."""
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(
        GRANT_TYPES={"client_credentials": "oauth_provider.grants.client_credentials.ClientCredentialsGrant",
                     EXTENSION_GRANT: "tests.test_client_metadata.ExampleGrant"},
        CLIENT_AUTH_METHODS={"client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic",
                             "example_mtls": "tests.test_client_metadata.ExampleMethod"},
    )
    html = admin_browser.get(url(Client, "add")).content.decode()
    assert f'value="{EXTENSION_GRANT}"' in html and 'value="authorization_code"' not in html
    assert 'value="example_mtls"' in html and 'value="client_secret_post"' not in html
    r = admin_browser.post(url(Client, "add"), client_form(
        redirect_uris="", grant_types=[EXTENSION_GRANT], token_endpoint_auth_method="example_mtls"))
    assert r.status_code == 200 and r.templates[0].name == "oauth_provider/admin_client_secret.html"
    client = Client.objects.get()
    assert client.grant_type_list == [EXTENSION_GRANT] and client.token_endpoint_auth_method == "example_mtls"
    r = admin_browser.post(url(Client, "add"), client_form(client_id="other", grant_types=["authorization_code"]))
    assert "grant_types" in r.context["adminform"].form.errors


def test_new_metadata_fields_are_edited_and_checked_by_the_shared_validator(admin_browser):
    from oauth_provider.client_metadata import InvalidClientMetadata, validate

    bad = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}'
    r = admin_browser.post(url(Client, "add"), client_form(jwks=bad, contacts="ops@rp.example\nnot-an-address"))
    errors = r.context["adminform"].form.errors
    with pytest.raises(InvalidClientMetadata) as info:
        validate({"redirect_uris": ["https://rp.example/cb"], "jwks": bad, "contacts": ["not-an-address"]},
                 source="admin")
    messages = {p.field: p.description for p in info.value.errors}
    assert errors["jwks"] == [messages["jwks"]] and errors["contacts"] == [messages["contacts"]]
    r = admin_browser.post(url(Client, "add"), client_form(
        contacts="ops@rp.example\r\n\r\ndev@rp.example", software_id="notes", software_version="3.1",
        jwks_uri="https://rp.example/jwks.json", application_type="web"))
    assert r.status_code == 200 and r.templates[0].name == "oauth_provider/admin_client_secret.html"
    client = Client.objects.get()
    assert client.contact_list == ["ops@rp.example", "dev@rp.example"]
    assert (client.software_id, client.software_version, client.jwks_uri) == ("notes", "3.1",
                                                                              "https://rp.example/jwks.json")
    assert client.registration_method == "admin"


def test_registration_method_is_shown_read_only_with_a_filter(admin_browser):
    by_command = ClientFactory(registration_method="command", name="By command")
    ClientFactory(name="By admin")
    page = admin_browser.get(url(Client, "change", by_command.pk))
    form = page.context["adminform"].form
    assert "registration_method" not in form.fields and "createclient command" in page.content.decode()
    r = admin_browser.post(url(Client, "change", by_command.pk), client_form(
        name="By command", client_id=by_command.client_id, registration_method="dynamic"))
    assert r.status_code == 302
    by_command.refresh_from_db()
    assert by_command.registration_method == "command"
    listed = admin_browser.get(url(Client, "changelist") + "?registration_method__exact=command")
    assert [c.name for c in listed.context["cl"].result_list] == ["By command"]


def test_a_public_native_app_gets_native_when_the_type_is_left_empty(admin_browser):
    r = admin_browser.post(url(Client, "add"), client_form(
        client_type="public", grant_types=["authorization_code"], redirect_uris="com.example.app:/cb"))
    assert r.status_code == 302
    assert Client.objects.get().application_type == "native"


def test_a_private_key_jwt_client_is_added_without_a_secret(admin_browser):
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    jwk = {**ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True), "kid": "k1"}
    form = client_form(token_endpoint_auth_method="private_key_jwt", grant_types=["client_credentials"],
                       redirect_uris="")
    r = admin_browser.post(url(Client, "add"), form)
    assert "jwks or jwks_uri" in " ".join(r.context["adminform"].form.errors["jwks"])
    r = admin_browser.post(url(Client, "add"), {**form, "jwks": json.dumps({"keys": [jwk]})})
    assert r.status_code == 302  # no secret page: there is no secret
    client = Client.objects.get()
    assert client.client_secret_hash == "" and client.jwks_dict == {"keys": [jwk]}
    run_action(admin_browser, Client, "generate_new_secret", [client])
    client.refresh_from_db()
    assert client.client_secret_hash == ""


def test_the_resources_of_a_grant_and_the_audience_of_a_token_are_shown_never_edited(admin_browser):
    """RFC 8707: what a grant and a token are good for is what the protocol issued; an
    editable field would let staff widen a token's audience."""
    family = AuthorizationFactory(resources="https://rs-a.example/")
    token = AccessTokenFactory(authorization=family, audience="https://rs-a.example/")
    for model, pk, name in ((Authorization, family.pk, "resources"), (AccessToken, token.pk, "audience")):
        change = admin_browser.get(url(model, "change", pk)).content.decode()
        assert "https://rs-a.example/" in change
        assert f'name="{name}"' not in change, name
    listing = admin_browser.get(url(AccessToken, "changelist")).content.decode()
    assert 'class="field-audience">https://rs-a.example/<' in listing

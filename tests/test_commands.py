"""``createclient`` and ``cleartokens``."""

from __future__ import annotations

import io
import json
import shlex
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from oauth_provider import scopes, secrets
from oauth_provider.management.commands import createclient
from oauth_provider.models import (
    AccessToken,
    Authorization,
    AuthorizationCode,
    ImportedToken,
    RefreshToken,
    cleanup,
    get_client_model,
)
from tests.support.factories import (
    AccessTokenFactory,
    AuthorizationCodeFactory,
    AuthorizationFactory,
    ClientFactory,
    DeviceCodeFactory,
    RefreshTokenFactory,
    UserFactory,
)
from tests.support.settings import override_oauth
from tests.support.token_helpers import post_form

from .conftest import basic_auth

pytestmark = pytest.mark.django_db
Client = get_client_model()
BENCH_REDIRECT = "https://client.example.com/cb"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def create_json(*args: str) -> dict:
    out = run("createclient", *args, "--json")
    return json.loads(out)  # exactly one JSON document, nothing else on stdout


# -- createclient ------------------------------------------------------------------------

def test_the_benchmark_adapter_calls_work():
    """The exact calls of /work/shared/bench/hosts/ours_host/adapter.py."""
    code = ("--grant-type", "authorization_code", "--grant-type", "refresh_token")
    scope = ("--scope", "read write")
    public = create_json("bench-public", "--public", "--redirect-uri", BENCH_REDIRECT, *code, *scope)
    conf = create_json("bench-conf", "--redirect-uri", BENCH_REDIRECT, *code,
                       "--grant-type", "client_credentials", *scope)
    rs = create_json("bench-resource-server", "--grant-type", "client_credentials", "--resource-server", *scope)

    assert public["client_secret"] is None and public["client_type"] == "public"
    assert public["redirect_uris"] == [BENCH_REDIRECT] and public["scope"] == "read write"
    assert conf["grant_types"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert rs["client_type"] == "confidential" and rs["redirect_uris"] == []
    stored = {c.client_id: c for c in Client.objects.all()}
    assert stored[public["client_id"]].token_endpoint_auth_method == "none"
    assert stored[rs["client_id"]].is_resource_server and not stored[conf["client_id"]].is_resource_server
    for creds in (conf, rs):
        r = post_form(HttpClient(), {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
                              HTTP_AUTHORIZATION=basic_auth(creds["client_id"], creds["client_secret"]))
        assert r.status_code == 200, r.content


@pytest.mark.req("6819-5.1.4.1.3-no-cleartext")
def test_secret_is_printed_once_and_only_its_hash_is_stored():
    data = create_json("Web", "--redirect-uri", "https://rp.example/cb")
    raw = data["client_secret"]
    assert len(raw) >= 43
    row = Client.objects.filter(client_id=data["client_id"]).values().get()
    assert all(raw not in str(v) for v in row.values())
    assert row["client_secret_hash"] == secrets.hash_token(raw)
    assert set(data) >= {"client_id", "client_secret", "name", "client_type", "grant_types",
                         "redirect_uris", "scope"}


def test_defaults():
    data = create_json("Web", "--redirect-uri", "https://rp.example/cb")
    client = Client.objects.get(client_id=data["client_id"])
    assert client.grant_type_list == ["authorization_code", "refresh_token"]
    assert client.client_type == "confidential" and client.token_endpoint_auth_method == "client_secret_basic"
    assert client.allowed_scopes == "" and data["scope"] == " ".join(scopes.registered())
    assert not client.skip_consent and not client.is_resource_server and client.owner is None


def test_list_options_take_several_values_and_repeat():
    a, b = "https://rp.example/a", "https://rp.example/b"
    one_flag = create_json("One", "--redirect-uri", a, b, "--grant-type", "authorization_code", "refresh_token",
                           "--scope", "read", "write")
    repeated = create_json("Two", "--redirect-uri", a, "--redirect-uri", b, "--grant-type", "authorization_code",
                           "--grant-type", "refresh_token", "--scope", "read write")
    for data in (one_flag, repeated):
        client = Client.objects.get(client_id=data["client_id"])
        assert client.redirect_uri_list == [a, b]
        assert client.grant_type_list == ["authorization_code", "refresh_token"]
        assert client.allowed_scope_tuple == ("read", "write")


def test_other_options():
    owner = UserFactory(username="carol")
    data = create_json("Post", "--redirect-uri", "https://rp.example/cb", "--auth-method", "client_secret_post",
                       "--skip-consent", "--owner", "carol")
    client = Client.objects.get(client_id=data["client_id"])
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.skip_consent and client.owner == owner
    assert data["token_endpoint_auth_method"] == "client_secret_post"


def test_human_output():
    out = run("createclient", "Web", "--redirect-uri", "https://rp.example/cb")
    client = Client.objects.get()
    raw = out.split("client_secret:", 1)[1].split()[0]
    assert client.client_id in out and client.check_secret(raw)
    assert "it will not be shown again" in out
    out = run("createclient", "App", "--public", "--redirect-uri", "http://127.0.0.1/cb")
    assert "client_secret: (none" in out


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(("--redirect-uri", "https://rp.example/*"), "Wildcards", id="wildcard",
                 marks=pytest.mark.req("O21-2.3.1-register-full-uri")),
    pytest.param(("--redirect-uri", "http://rp.example/cb"), "loopback", id="http",
                 marks=pytest.mark.req("BCP-2.6-no-http-redirect")),
    pytest.param(("--redirect-uri", "javascript:alert(1)"), "not allowed", id="javascript",
                 marks=pytest.mark.req("DERIVED-redirect-scheme-denylist")),
    pytest.param((), "needs at least one redirect URI", id="no-redirect"),
    pytest.param(("--public", "--grant-type", "client_credentials"), "confidential client", id="public-cc"),
    pytest.param(("--public", "--auth-method", "client_secret_post", "--redirect-uri", "http://127.0.0.1/cb"),
                 "public client uses 'none'", id="public-with-auth-method"),
    pytest.param(("--redirect-uri", "https://rp.example/cb", "--scope", "read admin"), "Unknown scope: admin",
                 id="unknown-scope"),
    pytest.param(("--redirect-uri", "https://rp.example/cb", "--owner", "nobody"), "No user named",
                 id="unknown-owner"),
    pytest.param(("--public", "--skip-consent", "--redirect-uri", "http://127.0.0.1/cb"),
                 "public client cannot skip the consent page", id="public-skip-consent",
                 marks=pytest.mark.req("8252-8.6-no-silent-public-approval")),
    pytest.param(("--redirect-uri", "https://rp.example/cb", "--logo-uri", "http://rp.example/logo.png"),
                 "https://", id="http-logo"),
])
def test_invalid_input_is_a_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        run("createclient", "Bad", *args)
    assert not Client.objects.exists()


RS_A = "https://rs-a.example/"


@override_oauth(RESOURCES={RS_A: {"name": "Resource A"}})
def test_a_resource_server_names_the_resources_it_serves():
    rs = create_json("Reports API", "--grant-type", "client_credentials", "--resource-server",
                     "--serves", RS_A, "--serves", RS_A)
    assert rs["is_resource_server"] is True and rs["served_resources"] == [RS_A]
    assert Client.objects.get(client_id=rs["client_id"]).served_resource_list == [RS_A]
    plain = create_json("Default API", "--grant-type", "client_credentials", "--resource-server")
    assert plain["served_resources"] == []  # the default resource
    assert "served_resources" not in create_json("App", "--redirect-uri", "https://rp.example/cb")


@override_oauth(RESOURCES={RS_A: {"name": "Resource A"}})
@pytest.mark.parametrize(("args", "message"), [
    pytest.param(("--resource-server", "--serves", "https://rs-b.example/"), "is not a resource", id="unknown"),
    pytest.param(("--resource-server", "--serves", "https://rs-a.example"), "is not a resource", id="near-miss"),
    pytest.param(("--serves", RS_A), "Only a resource server serves resources", id="not-a-resource-server"),
])
def test_served_resources_must_be_known_and_need_the_flag(args, message):
    with pytest.raises(CommandError, match=message):
        run("createclient", "Bad RS", "--grant-type", "client_credentials", *args)
    assert not Client.objects.exists()


def test_invalid_input_exits_non_zero_with_the_message(capsys):
    cmd = createclient.Command()
    with pytest.raises(SystemExit) as exit_info:
        cmd.run_from_argv(["manage.py", "createclient", "Bad", "--redirect-uri", "https://rp.example/*"])
    assert exit_info.value.code != 0
    assert "Wildcards are not allowed" in capsys.readouterr().err


def test_an_unregistered_grant_type_exits_non_zero_with_the_message(capsys):
    # (run_from_argv closes the database connections when it ends: one call per test)
    with pytest.raises(SystemExit) as exit_info:
        createclient.Command().run_from_argv(["manage.py", "createclient", "Bad", "--grant-type", "password"])
    assert exit_info.value.code != 0
    assert "Unknown grant type: password" in capsys.readouterr().err


def test_help_reads_well():
    text = createclient.Command().create_parser("manage.py", "createclient").format_help()
    assert "Register an OAuth client" in text
    assert "--redirect-uri URI [URI ...]" in text and "--public" in text
    # The examples keep their lines (RawDescriptionHelpFormatter), not re-wrapped into a blob.
    assert '\n  manage.py createclient "Notes web" --redirect-uri https://notes.example/callback' in text
    assert "only its hash is stored" in text


def test_help_examples_work():
    commands = createclient.EPILOG.replace("\\\n", " ").splitlines()
    examples = [shlex.split(line)[2:] for line in commands if line.strip().startswith("manage.py createclient")]
    assert len(examples) == 6
    for args in examples:
        run("createclient", *args)
    assert Client.objects.count() == 6


# -- cleartokens -------------------------------------------------------------------------

def _ago(**kw) -> object:
    return secrets.now() - timedelta(**kw)


def _ahead(**kw) -> object:
    return secrets.now() + timedelta(**kw)


@pytest.fixture
def rows():
    """A mix of live and dead rows; names say which should survive."""
    client = ClientFactory()
    live_family = AuthorizationFactory(client=client)
    revoked_family = AuthorizationFactory(client=client, revoked_at=_ago(minutes=1))
    old = _ago(days=31)  # beyond the default 30-day REFRESH_TOKEN_LIFETIME
    r = {
        "live_family": live_family,
        "young_empty_family": AuthorizationFactory(client=client),
        "old_family_with_live_token": AuthorizationFactory(client=client, created_at=old),
        "dead:revoked_family": revoked_family,
        "dead:old_empty_family": AuthorizationFactory(client=client, created_at=old),
        "dead:old_family_only_dead_tokens": AuthorizationFactory(client=client, created_at=old),
    }
    r.update({
        "live_code": AuthorizationCodeFactory(authorization=live_family),
        "used_unexpired_code": AuthorizationCodeFactory(authorization=live_family, consumed_at=_ago(seconds=5)),
        "dead:expired_code": AuthorizationCodeFactory(authorization=live_family, expires_at=_ago(seconds=1)),
        "dead:code_of_revoked_family": AuthorizationCodeFactory(authorization=revoked_family),
        "live_access": AccessTokenFactory(client=client, authorization=live_family),
        "live_cc_access": AccessTokenFactory(client=client, user=None, authorization=None),
        "live_access_of_old_family": AccessTokenFactory(client=client, authorization=r["old_family_with_live_token"]),
        "dead:expired_access": AccessTokenFactory(client=client, authorization=live_family, expires_at=_ago(seconds=1)),
        "dead:expired_cc_access": AccessTokenFactory(client=client, authorization=None, expires_at=_ago(hours=2)),
        "dead:revoked_access": AccessTokenFactory(client=client, revoked_at=_ago(seconds=1)),
        "dead:access_of_revoked_family": AccessTokenFactory(client=client, authorization=revoked_family),
        "dead:expired_access_of_old_family": AccessTokenFactory(
            client=client, authorization=r["dead:old_family_only_dead_tokens"], expires_at=_ago(days=1)),
        "live_refresh": RefreshTokenFactory(authorization=live_family),
        "rotated_unexpired_refresh": RefreshTokenFactory(authorization=live_family, rotated_at=_ago(days=2)),
        "dead:rotated_expired_refresh": RefreshTokenFactory(authorization=live_family, rotated_at=_ago(days=40),
                                                            expires_at=_ago(days=1)),
        "dead:expired_refresh": RefreshTokenFactory(authorization=live_family, expires_at=_ago(seconds=1)),
        "dead:revoked_refresh": RefreshTokenFactory(authorization=live_family, revoked_at=_ago(seconds=1)),
        "dead:refresh_of_revoked_family": RefreshTokenFactory(authorization=revoked_family),
        "pending_device": DeviceCodeFactory(),
        "redeemed_unexpired_device": DeviceCodeFactory(status="consumed", consumed_at=_ago(seconds=5)),
        "dead:expired_device": DeviceCodeFactory(expires_at=_ago(seconds=1)),
        "dead:approved_expired_device": DeviceCodeFactory(status="approved", expires_at=_ago(minutes=5)),
        # import_dot's record of a token outlives the token, until the token would have expired
        "record_of_unexpired_import": ImportedToken.objects.create(
            token_hash="a" * 64, kind="refresh", expires_at=_ahead(days=3)),
        "dead:record_of_expired_import": ImportedToken.objects.create(
            token_hash="b" * 64, kind="access", expires_at=_ago(seconds=1)),
    })
    return r


def surviving(rows: dict) -> set[str]:
    return {name for name, obj in rows.items() if type(obj).objects.filter(pk=obj.pk).exists()}


EXPECTED_COUNTS = {"authorization codes": 2, "access tokens": 5, "refresh tokens": 4, "authorizations": 3,
                   "device codes": 2, "tokens imported from django-oauth-toolkit": 1}


def test_cleartokens_deletes_dead_rows_and_keeps_live_ones(rows):
    out = run("cleartokens")
    assert surviving(rows) == {name for name in rows if not name.startswith("dead:")}
    for name, count in EXPECTED_COUNTS.items():
        assert f"{name}: {count} deleted" in out
    assert "authorization codes: 0 deleted" in run("cleartokens"), "a second run has nothing left to do"


def test_dry_run_deletes_nothing_and_counts_what_a_real_run_deletes(rows):
    out = run("cleartokens", "--dry-run")
    assert surviving(rows) == set(rows)
    for name, count in EXPECTED_COUNTS.items():
        assert f"{name}: {count} would be deleted" in out
    assert cleanup.clear(dry_run=True) == cleanup.clear()
    assert surviving(rows) == {name for name in rows if not name.startswith("dead:")}, "clear() deletes by default"


def test_a_batch_of_one_row_goes_on_from_the_last_row_deleted():
    family = AuthorizationFactory()
    AccessTokenFactory.create_batch(3, authorization=family, expires_at=_ago(seconds=1))
    with CaptureQueriesContext(connection) as ctx:
        out = run("cleartokens", "--batch-size", "1")
    assert "access tokens: 3 deleted" in out
    deletes = [q for q in ctx.captured_queries if q["sql"].startswith("DELETE") and "accesstoken" in q["sql"].lower()]
    assert len(deletes) == 3, "one row per statement, as asked"
    assert not AccessToken.objects.exists()


def test_deletes_in_batches_of_pk_lists():
    family = AuthorizationFactory()
    AccessTokenFactory.create_batch(7, authorization=family, expires_at=_ago(seconds=1))
    live = AccessTokenFactory(authorization=family)
    with CaptureQueriesContext(connection) as ctx:
        run("cleartokens", "--batch-size", "3")
    deletes = [q["sql"] for q in ctx.captured_queries
               if q["sql"].startswith("DELETE") and "accesstoken" in q["sql"].lower()]
    assert len(deletes) == 3  # 3 + 3 + 1
    assert all(" IN (" in sql for sql in deletes)
    unquoted = [q["sql"].replace('"', "").replace("`", "") for q in ctx.captured_queries]
    pages = [sql for sql in unquoted if sql.startswith("SELECT oauth_provider_accesstoken.id AS pk FROM")
             and " LIMIT " in sql]
    assert len(pages) == 3, "a short page is the last: no query for a page after it"
    assert list(AccessToken.objects.values_list("pk", flat=True)) == [live.pk]


def test_batches_stay_under_the_databases_parameter_limit(monkeypatch):
    """The IN list of a batch never holds more values than the backend takes (SQLite's
    bound-parameter limit), whatever ``--batch-size`` says."""
    family = AuthorizationFactory()
    AccessTokenFactory.create_batch(5, authorization=family, expires_at=_ago(seconds=1))
    monkeypatch.setattr(connection.features, "max_query_params", 2)
    with CaptureQueriesContext(connection) as ctx:
        run("cleartokens", "--batch-size", "100")
    deletes = [q for q in ctx.captured_queries
               if q["sql"].startswith("DELETE") and "accesstoken" in q["sql"].lower()]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert not AccessToken.objects.exists()


def test_a_batch_larger_than_small_integers_goes_on_to_the_next_one():
    """A full batch of 300 is followed by the next (a comparison by identity would stop after
    the first: integers above 256 are distinct objects)."""
    family = AuthorizationFactory()
    AccessToken.objects.bulk_create([
        AccessTokenFactory.build(authorization=family, client=family.client, user=family.user,
                                 expires_at=_ago(seconds=1)) for _ in range(301)])
    assert "access tokens: 301 deleted" in run("cleartokens", "--batch-size", "300")
    assert not AccessToken.objects.exists()


def test_verbosity_2_reports_progress_after_every_batch():
    family = AuthorizationFactory()
    AccessTokenFactory.create_batch(7, authorization=family, expires_at=_ago(seconds=1))
    out = run("cleartokens", "--batch-size", "3", "-v", "2")
    lines = [line.strip() for line in out.splitlines() if "so far" in line and line.strip().startswith("access")]
    assert [line.split(" (")[0] for line in lines] == [
        "access tokens: 3 deleted so far", "access tokens: 6 deleted so far", "access tokens: 7 deleted so far",
    ]
    assert "3 batches" in lines[-1]
    assert "so far" not in run("cleartokens"), "the default verbosity prints only the totals"


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError, match="positive"):
        run("cleartokens", "--batch-size", "0")


def test_live_flow_survives_cleanup_and_keeps_working(oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    call_command("cleartokens", stdout=io.StringIO())
    assert AuthorizationCode.objects.count() == 1 and RefreshToken.objects.count() == 1
    r = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.content
    call_command("cleartokens", stdout=io.StringIO())
    assert RefreshToken.objects.count() == 2, "the rotated token is kept for reuse detection"


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
def test_rotated_token_kept_by_cleanup_still_trips_reuse_detection(oauth, public_client):
    conf_client = public_client
    first = oauth.tokens(conf_client)
    r = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    call_command("cleartokens", stdout=io.StringIO())
    replay = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert Authorization.objects.get(client=conf_client).revoked_at is not None
    call_command("cleartokens", stdout=io.StringIO())
    assert not Authorization.objects.filter(client=conf_client).exists()
    assert not RefreshToken.objects.exists() and not AccessToken.objects.exists()


def test_createclient_registers_a_public_device_client(db):
    """RFC 8628: ``--grant-type urn:ietf:params:oauth:grant-type:device_code --public``, no
    redirect URI needed; the client can start a device flow at once."""
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    data = create_json("Living-room TV", "--grant-type", grant, "refresh_token", "--public", "--scope", "read")
    assert data["client_secret"] is None and data["grant_types"] == [grant, "refresh_token"]
    r = post_form(HttpClient(), {"client_id": data["client_id"], "scope": "read"}, "/o/device_authorization/")
    assert r.status_code == 200, r.content
    help_text = createclient.Command().create_parser("manage.py", "createclient").format_help()
    assert f"--grant-type {grant} --public" in help_text


def test_createclient_access_token_format(db):
    import io
    import json as _json

    from django.core.management import call_command

    from oauth_provider.models import get_client_model

    out = io.StringIO()
    call_command("createclient", "JWT app", "--redirect-uri", "https://rp.example/cb", "--access-token-format",
                 "jwt", "--json", stdout=out)
    data = _json.loads(out.getvalue())
    assert data["access_token_format"] == "jwt"
    assert get_client_model().objects.get(client_id=data["client_id"]).access_token_format == "jwt"


# -- client metadata (issue 13) ------------------------------------------------------------

def test_createclient_records_its_registration_and_the_new_metadata():
    data = create_json("Agent", "--redirect-uri", "https://agent.example/cb", "--contact", "ops@agent.example",
                       "dev@agent.example", "--software-id", "agent", "--software-version", "1.2",
                       "--jwks-uri", "https://agent.example/jwks.json")
    client = Client.objects.get(client_id=data["client_id"])
    assert client.registration_method == "command"
    assert client.contact_list == ["ops@agent.example", "dev@agent.example"]
    assert (client.software_id, client.software_version) == ("agent", "1.2")
    assert data["contacts"] == ["ops@agent.example", "dev@agent.example"]
    assert data["jwks_uri"] == "https://agent.example/jwks.json" and data["application_type"] == "web"


def test_application_type_follows_the_redirect_uris_unless_given():
    native = create_json("CLI", "--public", "--redirect-uri", "com.example.cli:/cb", "http://127.0.0.1/cb")
    assert native["application_type"] == "native"
    loopback_only = create_json("Dev", "--public", "--redirect-uri", "http://127.0.0.1/cb")
    assert loopback_only["application_type"] == "web"
    explicit = create_json("Desk", "--public", "--application-type", "native", "--redirect-uri", "http://127.0.0.1/cb")
    assert explicit["application_type"] == "native"
    with pytest.raises(CommandError, match="application_type native"):
        run("createclient", "Bad", "--public", "--application-type", "web", "--redirect-uri", "com.example.x:/cb")


def test_jwks_goes_through_the_shared_validator():
    with pytest.raises(CommandError, match="public keys only"):
        run("createclient", "Bad", "--grant-type", "client_credentials",
            "--jwks", '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}')
    with pytest.raises(CommandError, match="not both"):
        run("createclient", "Bad", "--grant-type", "client_credentials",
            "--jwks", '{"keys": []}', "--jwks-uri", "https://rp.example/jwks")
    with pytest.raises(CommandError, match="jwks_uri"):
        run("createclient", "Bad", "--grant-type", "client_credentials", "--jwks-uri", "http://rp.example/jwks")
    with pytest.raises(CommandError, match="not an e-mail address"):
        run("createclient", "Bad", "--grant-type", "client_credentials", "--contact", "nobody")
    assert not Client.objects.exists()


def test_a_registered_extension_grant_and_method_can_be_given(settings):
    from tests.support.settings import oauth_settings

    grant = "urn:example:params:oauth:grant-type:example"
    settings.OAUTH_PROVIDER = oauth_settings(
        GRANT_TYPES={grant: "tests.test_client_metadata.ExampleGrant"},
        CLIENT_AUTH_METHODS={"example_mtls": "tests.test_client_metadata.ExampleMethod"},
    )
    data = create_json("Ext", "--grant-type", grant, "--auth-method", "example_mtls")
    assert data["grant_types"] == [grant] and data["token_endpoint_auth_method"] == "example_mtls"
    with pytest.raises(CommandError, match="Unknown grant type: client_credentials"):
        run("createclient", "Old", "--grant-type", "client_credentials", "--auth-method", "example_mtls")
    with pytest.raises(CommandError, match="Unsupported token_endpoint_auth_method"):
        run("createclient", "Old", "--grant-type", grant, "--auth-method", "client_secret_post")
    help_text = createclient.Command().create_parser("manage.py", "createclient").format_help()
    assert grant in help_text and "example_mtls" in help_text


def test_a_private_key_jwt_client_gets_keys_and_no_secret():
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    jwk = {**ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True), "kid": "k1"}
    data = create_json("Signer", "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
                       "--jwks", json.dumps({"keys": [jwk]}), "--signing-alg", "ES256")
    client = Client.objects.get(client_id=data["client_id"])
    assert data["client_secret"] is None and client.client_secret_hash == ""
    assert data["jwks"] == {"keys": [jwk]} and data["token_endpoint_auth_signing_alg"] == "ES256"
    assert client.client_type == "confidential"
    text = run("createclient", "Signer 2", "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
               "--jwks-uri", "https://signer.example/jwks.json")
    assert "client_secret: (none: it authenticates with private_key_jwt)" in text
    with pytest.raises(CommandError, match="jwks or jwks_uri"):
        run("createclient", "No keys", "--grant-type", "client_credentials", "--auth-method", "private_key_jwt")
    with pytest.raises(CommandError, match="use --public"):
        run("createclient", "None", "--auth-method", "none", "--redirect-uri", "https://rp.example/cb")
@pytest.mark.skipif(apps.is_installed("oauth2_provider"), reason="django-oauth-toolkit is installed here")
def test_import_dot_says_dot_must_stay_installed(db):
    """Without django-oauth-toolkit in INSTALLED_APPS there is nothing to read: a clear error,
    not a traceback (tests/migration/ runs the import itself, with DOT installed)."""
    with pytest.raises(CommandError, match="oauth2_provider"):
        call_command("import_dot", "--dry-run", stdout=io.StringIO())


@pytest.mark.req("9449-5.2-dpop-required")
def test_createclient_dpop_bound_access_tokens():
    made = create_json("Bound", "--grant-type", "client_credentials", "--dpop-bound-access-tokens")
    assert made["dpop_bound_access_tokens"] is True
    assert get_client_model().objects.get(client_id=made["client_id"]).dpop_bound_access_tokens
    plain = create_json("Plain", "--grant-type", "client_credentials")
    assert "dpop_bound_access_tokens" not in plain
    assert not get_client_model().objects.get(client_id=plain["client_id"]).dpop_bound_access_tokens
def test_createclient_par_and_jar_options():
    data = create_json("Bank", "--redirect-uri", "https://bank.example/cb", "--auth-method", "private_key_jwt",
                       "--jwks-uri", "https://bank.example/jwks.json", "--require-pushed-authorization-requests",
                       "--require-signed-request-object", "--request-object-signing-alg", "PS256")
    client = Client.objects.get(client_id=data["client_id"])
    assert client.require_pushed_authorization_requests and client.require_signed_request_object
    assert client.request_object_signing_alg == "PS256"
    assert data["require_pushed_authorization_requests"] is True
    with pytest.raises(CommandError):
        run("createclient", "Bad", "--redirect-uri", "https://bad.example/cb", "--request-object-signing-alg", "none")

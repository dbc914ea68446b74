"""With ``DYNAMIC_CLIENT_IDLE_TIMEOUT`` set, ``cleartokens`` deletes dynamically registered
clients nothing uses; how that could go wrong or be abused.

MCP clients often register once per connection, so an open registration endpoint collects
clients for ever: what must go is a registration nothing has used for the timeout. What must
stay: a client in use (a live grant, however old; a use within the timeout, even after its
rows were cleaned away), a client an admin blocked (deleting it would let it back as new), one
registered by an operator, one whose registration an admin deleted to keep it, one updated
recently, a resource server (its introspections leave no row), one a host's row holds (and the
run must not fail on it). And a client used between the moment the run picks it and the moment
it deletes it is not deleted.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.conf import DEFAULTS
from oauth_provider.models import (
    AccessToken,
    Authorization,
    ClientRegistration,
    DeviceCode,
    PushedAuthorization,
    cleanup,
    get_client_model,
)
from oauth_provider.secrets import set_clock
from tests.conftest import basic_auth, pkce_pair
from tests.endpoints.test_registration import MCP_CLIENT
from tests.support.factories import ClientFactory
from tests.support.settings import override_oauth

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_forget_throttle")]
Client = get_client_model()
TIMEOUT_DAYS = 90
WEB_CLIENT = {"redirect_uris": ["https://rp.example/cb"], "client_name": "A web app", "scope": "read"}
DEVICE_CLIENT = {"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "token_endpoint_auth_method": "none",
                 "client_name": "A TV", "scope": "read"}


@pytest.fixture
def _forget_throttle():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _open_registration():
    with override_oauth(DYNAMIC_REGISTRATION="open", DYNAMIC_CLIENT_IDLE_TIMEOUT=TIMEOUT_DAYS * 86400):
        yield


def register(metadata: dict) -> dict:
    response = HttpClient().post("/o/register/", json.dumps(metadata), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def stored(info: dict):
    return Client.objects.get(client_id=info["client_id"])


_START = secrets.now()


def on_day(day: float) -> None:
    """Move the library's clock to ``day`` days after the test module started."""
    set_clock(lambda: _START + timedelta(days=day))


def cleartokens(*args: str) -> str:
    out = io.StringIO()
    call_command("cleartokens", *args, stdout=out)
    return out.getvalue()


def exists(info: dict) -> bool:
    return Client.objects.filter(client_id=info["client_id"]).exists()


def redeem_a_bogus_code(info: dict):
    return HttpClient().post(
        "/o/token/", urlencode({"grant_type": "authorization_code", "code": "bogus", "code_verifier": "v" * 43,
                                "redirect_uri": WEB_CLIENT["redirect_uris"][0]}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic_auth(info["client_id"], info["client_secret"]))


def start_a_device_flow(info: dict):
    return HttpClient().post("/o/device_authorization/", urlencode({"client_id": info["client_id"], "scope": "read"}),
                             content_type="application/x-www-form-urlencoded")


def kept_until_the_timeout_from(day: int, *infos: dict) -> None:
    """Each client of ``infos`` outlives the timeout counted from its registration, stays until
    the timeout counted from ``day`` (its last use or change) and goes a day after that."""
    for today, kept in ((TIMEOUT_DAYS + 1, True), (day + TIMEOUT_DAYS - 1, True), (day + TIMEOUT_DAYS + 1, False)):
        on_day(today)
        cleartokens()
        assert [exists(info) for info in infos] == [kept] * len(infos), f"day {today}"


def test_a_client_never_used_goes_once_the_timeout_has_passed():
    info = register(WEB_CLIENT)
    assert redeem_a_bogus_code(info).json()["error"] == "invalid_grant", "the client authenticates"
    on_day(TIMEOUT_DAYS - 1)
    assert "clients: 0 deleted" in cleartokens() and exists(info)
    on_day(TIMEOUT_DAYS + 1)
    out = cleartokens()
    assert "clients: 1 deleted" in out and "dynamic registrations: 1 deleted" in out
    assert not exists(info)
    refused = redeem_a_bogus_code(info)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    config = HttpClient().get(info["registration_client_uri"].split("testserver")[1],
                              HTTP_AUTHORIZATION=f"Bearer {info['registration_access_token']}")
    assert config.status_code == 401, "its registration access token opens nothing any more"
    assert register(WEB_CLIENT)["client_id"] != info["client_id"], "it can register again, as a new client"


def test_a_use_is_remembered_after_cleanup_deleted_its_rows(oauth, user):
    """An MCP client's grant at day 0, a refresh at day 20: its rows are gone by day 60, yet it
    stays until 90 days after the refresh."""
    info = register(MCP_CLIENT)
    client = stored(info)
    client.raw_secret = None
    first = oauth.tokens(client, redirect_uri=MCP_CLIENT["redirect_uris"][0])
    on_day(20)
    refreshed = oauth.token(client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.content
    on_day(60)  # the family (30-day refresh lifetime) and its tokens are dead and deleted now
    cleartokens()
    assert not Authorization.objects.filter(client=client).exists()
    assert not AccessToken.objects.filter(client=client).exists()
    registration = ClientRegistration.objects.get(client=client)
    assert registration.last_used_at == AccessToken._meta.get_field("created_at").to_python(
        _START + timedelta(days=20)), "the refresh's token was the newest use"
    kept_until_the_timeout_from(20, info)


def test_a_live_grant_keeps_its_client_however_old(oauth, user):
    with override_oauth(REFRESH_TOKEN_LIFETIME=400 * 86400):
        info = register(MCP_CLIENT)
        client = stored(info)
        client.raw_secret = None
        tokens = oauth.tokens(client, redirect_uri=MCP_CLIENT["redirect_uris"][0])
        on_day(TIMEOUT_DAYS * 3)
        assert "clients: 0 deleted" in cleartokens()
        refreshed = oauth.token(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, "the refresh token still works after the cleanup"


def test_every_kind_of_use_counts():
    """A device flow started, a pushed request: each keeps the client for the timeout after
    it, though its row is gone (grants and tokens: above)."""
    device = register(DEVICE_CLIENT)
    pusher = register({**MCP_CLIENT, "client_name": "Pushes"})
    on_day(50)
    assert start_a_device_flow(device).status_code == 200
    pushed = HttpClient().post("/o/par/", urlencode({
        "client_id": pusher["client_id"], "response_type": "code", "redirect_uri": MCP_CLIENT["redirect_uris"][0],
        "scope": "read", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256",
    }), content_type="application/x-www-form-urlencoded")
    assert pushed.status_code == 201, pushed.content
    assert PushedAuthorization.objects.filter(client=stored(pusher)).exists()
    kept_until_the_timeout_from(50, device, pusher)


def test_what_is_never_deleted_however_idle():
    blocked = register({**WEB_CLIENT, "client_name": "Blocked by an admin"})
    Client.objects.filter(client_id=blocked["client_id"]).update(is_active=False)
    kept = register({**WEB_CLIENT, "client_name": "Kept by an admin"})
    ClientRegistration.objects.filter(client=stored(kept)).delete()
    operators = ClientFactory(name="Registered in the admin")
    idle = register({**WEB_CLIENT, "client_name": "Idle"})
    on_day(TIMEOUT_DAYS * 5)
    out = cleartokens()
    assert "clients: 1 deleted" in out
    assert exists(blocked) and exists(kept) and Client.objects.filter(pk=operators.pk).exists()
    assert not exists(idle)


def test_off_by_default():
    assert DEFAULTS["DYNAMIC_CLIENT_IDLE_TIMEOUT"].default is None
    with override_oauth(DYNAMIC_CLIENT_IDLE_TIMEOUT=None):
        info = register(WEB_CLIENT)
        on_day(TIMEOUT_DAYS * 10)
        out = cleartokens()
        assert "clients" not in out and "dynamic registrations" not in out
        assert exists(info)


def test_a_change_to_the_client_or_its_registration_restarts_the_clock():
    edited = register({**WEB_CLIENT, "client_name": "Edited in the admin"})
    updated = register({**WEB_CLIENT, "client_name": "Updated itself"})
    day_50 = _START + timedelta(days=50)
    Client.objects.filter(client_id=edited["client_id"]).update(updated_at=day_50)
    ClientRegistration.objects.filter(client=stored(updated)).update(updated_at=day_50)
    kept_until_the_timeout_from(50, edited, updated)


def test_an_update_through_the_configuration_endpoint_keeps_the_client():
    info = register(WEB_CLIENT)
    ClientRegistration.objects.filter(client=stored(info)).update(created_at=_START - timedelta(days=200),
                                                                    updated_at=_START - timedelta(days=200))
    Client.objects.filter(client_id=info["client_id"]).update(updated_at=_START - timedelta(days=200))
    update = HttpClient().put(
        info["registration_client_uri"].split("testserver")[1],
        json.dumps({**WEB_CLIENT, "client_id": info["client_id"], "client_name": "Renamed"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {info['registration_access_token']}")
    assert update.status_code == 200, update.content
    assert "clients: 0 deleted" in cleartokens()
    assert exists(info)


def test_a_dry_run_counts_and_deletes_nothing():
    info = register(WEB_CLIENT)
    on_day(TIMEOUT_DAYS + 1)
    assert "clients: 1 would be deleted" in cleartokens("--dry-run")
    assert exists(info)
    assert ClientRegistration.objects.get(client=stored(info)).last_used_at is None
    assert cleanup.clear(dry_run=True)[Client._meta.label] == 1


def test_a_client_used_after_it_was_picked_is_not_deleted():
    """The run lists idle clients, then deletes them: a use in between (here a device flow
    started) keeps the client and what the use made. Simulated right after the listing
    statement."""
    info = register(DEVICE_CLIENT)
    on_day(TIMEOUT_DAYS + 1)
    client_table = Client._meta.db_table
    used = []

    def use_it_after_the_listing(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not used and sql.startswith("SELECT") and client_table in sql and "LIMIT" in sql:
            used.append(True)
            assert start_a_device_flow(info).status_code == 200
        return result

    with connection.execute_wrapper(use_it_after_the_listing):
        out = cleartokens()
    assert used, "the listing statement was seen"
    assert "clients: 0 deleted" in out
    assert exists(info) and DeviceCode.objects.filter(client=stored(info)).exists()


def test_a_recorded_use_never_moves_back_to_an_older_row():
    """A registration last used on day 50 whose client still holds a grant from day 0: the
    grant does not pull its last use back to day 0 (else the client would be deleted 50 days
    early once the grant is gone)."""
    info = register(WEB_CLIENT)
    client = stored(info)
    Authorization.objects.create(client=client, scope="read", created_at=_START)
    day_50 = _START + timedelta(days=50)
    ClientRegistration.objects.filter(client=client).update(last_used_at=day_50)
    assert cleanup.record_use() == 0
    assert ClientRegistration.objects.get(client=client).last_used_at == day_50
    Authorization.objects.create(client=client, scope="read", created_at=_START + timedelta(days=60))
    assert cleanup.record_use() == 1, "one registration changed"
    assert ClientRegistration.objects.get(client=client).last_used_at == _START + timedelta(days=60)


def test_the_cleanup_records_use_in_one_statement_per_kind_of_row():
    register(WEB_CLIENT)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        cleanup.record_use()
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == len(cleanup.USE_EVIDENCE) == 4
    assert len(ctx.captured_queries) == 4


@pytest.mark.django_db(transaction=True)
def test_a_client_one_of_the_hosts_models_protects_stays_and_the_others_go():
    """A host's model with a foreign key to the client and ``on_delete=PROTECT`` makes Django
    refuse that client's deletion (simulated here by a ``pre_delete`` receiver raising the same
    ``ProtectedError``, inside Django's delete transaction, as no test model has such a key):
    that client stays, the rest of its batch goes, and the run does not fail."""
    from django.db.models import ProtectedError
    from django.db.models.signals import pre_delete

    infos = [register({**WEB_CLIENT, "client_name": f"Idle {n}"}) for n in range(3)]
    held = stored(infos[1])

    def protect(sender, instance, **kwargs):
        if instance.pk == held.pk:
            raise ProtectedError("held by the host's Integration", {instance})

    pre_delete.connect(protect, sender=Client, dispatch_uid="test.protect")
    try:
        on_day(TIMEOUT_DAYS + 1)
        out = cleartokens("--batch-size", "10")
        assert "clients: 2 deleted" in out
        assert [exists(info) for info in infos] == [False, True, False]
        assert "clients: 0 deleted" in cleartokens(), "the next run leaves it too, without failing"
        assert exists(infos[1])
    finally:
        pre_delete.disconnect(dispatch_uid="test.protect", sender=Client)
    assert "clients: 1 deleted" in cleartokens(), "once the host lets go, it goes"


def test_a_resource_server_is_kept_however_idle_its_rows_look(oauth, user):
    """Only an admin makes a client a resource server, and its use (introspection) leaves no
    row: a self-registered one an admin made a resource server is never deleted as idle
    (found by the session-24 review: it was deleted while it introspected every day)."""
    rs_info = register({**WEB_CLIENT, "client_name": "An API"})
    Client.objects.filter(client_id=rs_info["client_id"]).update(is_resource_server=True)
    app = ClientFactory(name="Registered by an operator")
    for day in range(0, TIMEOUT_DAYS + 2, 30):
        on_day(day)
        answer = HttpClient().post(
            "/o/introspect/", urlencode({"token": oauth.tokens(app)["access_token"]}),
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=basic_auth(rs_info["client_id"], rs_info["client_secret"]))
        assert answer.status_code == 200 and answer.json()["active"] is True, (day, answer.content)
    on_day(TIMEOUT_DAYS * 3)
    cleartokens()
    assert exists(rs_info)


@pytest.mark.django_db(transaction=True)
def test_a_client_only_the_database_knows_is_held_stays_and_the_others_go():
    """A table of another application (or an unmanaged model, or ``on_delete=DO_NOTHING``)
    with a foreign key to a client: the database refuses that client's deletion. It stays,
    the others go, the run does not fail (found by the session-24 review: an IntegrityError
    stopped every daily run there)."""
    infos = [register({**WEB_CLIENT, "client_name": f"Idle {n}"}) for n in range(3)]
    held = stored(infos[1])
    pk_type = "bigint" if connection.vendor != "sqlite" else "integer"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE host_integration (id integer PRIMARY KEY, client_id {pk_type} NOT NULL "
                       f"REFERENCES {Client._meta.db_table}(id))")
        cursor.execute("INSERT INTO host_integration (id, client_id) VALUES (1, %s)", [held.pk])
    try:
        on_day(TIMEOUT_DAYS + 1)
        assert "clients: 2 deleted" in cleartokens("--batch-size", "10")
        assert [exists(info) for info in infos] == [False, True, False]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE host_integration")

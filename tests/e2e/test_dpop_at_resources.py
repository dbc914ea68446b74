"""DPoP (RFC 9449) with an unmodified third-party client, requests-oauth2client, over real HTTP
against a DRF view of the test project: the client makes its own keys and proofs, follows our
``use_dpop_nonce`` challenges by itself, and a thief holding only the token gets nowhere."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from django.conf import settings
from django.test import override_settings

from tests.support.factories import ClientFactory, UserFactory
from tests.support.resource_helpers import user_token

from . import test_third_party_clients as third_party

#: the fixture: the provider on the live server's origin, its endpoints and its API (the DRF views)
issuer = third_party.issuer

requests_oauth2client = pytest.importorskip("requests_oauth2client")

pytestmark = [pytest.mark.e2e]
TIMEOUT = 10
VIEW = "/api/drf/read/"


@pytest.fixture
def key():
    return requests_oauth2client.DPoPKey.generate()


@pytest.fixture
def bound(issuer, key) -> str:
    """An access token bound to the client's key, as our token endpoint binds them."""
    client, user = ClientFactory(), UserFactory(username="alice")
    return user_token(client, user, scope="read", dpop_jkt=key.dpop_jkt)[0]


def get(live_server, auth=None, **headers) -> requests.Response:
    return requests.get(live_server.url + VIEW, auth=auth, headers=headers, timeout=TIMEOUT)


@pytest.mark.req("9449-7.1-rs-checks")
@pytest.mark.req("9449-7.2-no-bearer-downgrade")
def test_the_clients_dpop_token_works_and_a_thief_gets_nowhere(live_server, bound, key):
    token = requests_oauth2client.DPoPToken(access_token=bound, _dpop_key=key)
    ok = get(live_server, auth=token)
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"] == "alice"
    sent = ok.request.headers
    assert sent["Authorization"] == f"DPoP {bound}" and sent["DPoP"]
    # the thief has the token and the proof the client sent: replay, downgrade, own key
    replayed = get(live_server, Authorization=f"DPoP {bound}", DPoP=sent["DPoP"])
    assert replayed.status_code == 401 and replayed.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]
    as_bearer = get(live_server, Authorization=f"Bearer {bound}")
    assert as_bearer.status_code == 401 and 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    # (by hand: the library takes any 401 DPoP challenge for a nonce request)
    ath = base64.urlsafe_b64encode(hashlib.sha256(bound.encode()).digest()).rstrip(b"=").decode()
    own = requests_oauth2client.DPoPKey.generate().proof(htm="GET", htu=live_server.url + VIEW, ath=ath)
    stolen = get(live_server, Authorization=f"DPoP {bound}", DPoP=str(own))
    assert stolen.status_code == 401 and "key binding" in stolen.headers["WWW-Authenticate"]


@pytest.mark.req("9449-9-rs-nonce")
def test_the_client_follows_the_resource_nonce_by_itself(live_server, bound, key, issuer):
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": issuer, "DPOP_NONCE": True}):
        token = requests_oauth2client.DPoPToken(access_token=bound, _dpop_key=key)
        answer = get(live_server, auth=token)
        assert answer.status_code == 200, (answer.status_code, answer.headers.get("WWW-Authenticate"))
        assert key.rs_nonce  # it read DPoP-Nonce from our 401 use_dpop_nonce and retried with it
        first = answer.history[0] if answer.history else None
        assert first is None or first.status_code == 401
        again = get(live_server, auth=token)  # the nonce it keeps is still good
        assert again.status_code == 200


@pytest.mark.req("9449-5-token-binding")
def test_client_credentials_with_dpop_then_the_api(live_server, issuer):
    client = ClientFactory(grant_types="client_credentials")
    oauth = requests_oauth2client.OAuth2Client(
        token_endpoint=issuer + "/token/", client_id=client.client_id, client_secret=client.raw_secret,
        dpop_bound_access_tokens=True, testing=True,  # testing: plain http on the loopback live server
    )
    token = oauth.client_credentials(scope="read")
    assert isinstance(token, requests_oauth2client.DPoPToken) and token.token_type == "DPoP"
    answer = requests.get(live_server.url + VIEW, auth=token, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"] == "anonymous"
    downgraded = requests.get(live_server.url + VIEW, headers={"Authorization": f"Bearer {token.access_token}"},
                              timeout=TIMEOUT)
    assert downgraded.status_code == 401

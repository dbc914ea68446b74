"""The whole code + PKCE + refresh flow through the public endpoints, with query budgets."""

import pytest

from tests.support.token_helpers import post_form

from .conftest import basic_auth

pytestmark = pytest.mark.django_db


def test_code_flow_then_refresh_then_client_credentials(oauth, conf_client, assert_max_queries, assert_num_queries):
    code, verifier = oauth.get_code(conf_client, scope="read write")
    with assert_max_queries(5):
        r = oauth.exchange(conf_client, code, verifier)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    assert r["Cache-Control"] == "no-store" and r["Pragma"] == "no-cache"
    with assert_max_queries(5):
        r = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert r.status_code == 200, r.content
    assert r.json()["refresh_token"] != body["refresh_token"]
    with assert_num_queries(2):
        r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "read"}, "/o/token/",
            HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
        )
    assert r.status_code == 200 and "refresh_token" not in r.json()

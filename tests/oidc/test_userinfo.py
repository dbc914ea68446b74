"""The UserInfo endpoint (OpenID Connect Core §5.3, RFC 6750 errors)."""

import json

import pytest

from tests.support.factories import ClientFactory
from tests.support.resource_helpers import client_token, user_token
from tests.support.token_helpers import post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user):
    user.first_name, user.last_name, user.email = "Alice", "Liddell", "alice@example.com"
    user.save()
    return user


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.req("OIDC-5.3-userinfo")
@pytest.mark.req("OIDC-5.4-scope-claims")
def test_get_and_post_answer_sub_and_the_granted_claims(oauth, conf_client, alice, signing_key):
    body = oauth.tokens(conf_client, scope="openid profile")
    from oauth_provider import jwt

    sub = jwt.decode(body["id_token"], typ=None, issuer="https://testserver/o")["sub"]
    for method in (oauth.api.get, oauth.api.post):
        r = method("/o/userinfo/", **bearer(body["access_token"]))
        assert r.status_code == 200, r.content
        info = r.json()
        assert info["sub"] == sub
        assert info["name"] == "Alice Liddell" and info["family_name"] == "Liddell"
        assert "email" not in info
        assert r["Cache-Control"] == "no-store" and r["Access-Control-Allow-Origin"] == "*"


def test_claims_parameter_cannot_add_unconsented_claims(oauth, conf_client, alice, signing_key):
    request = json.dumps({"userinfo": {"email": None}})
    body = oauth.tokens(conf_client, scope="openid", claims=request)
    info = oauth.api.get("/o/userinfo/", **bearer(body["access_token"])).json()
    assert info == {"sub": str(alice.pk)}


@pytest.mark.req("OIDC-5.3-userinfo")
@pytest.mark.req("6750-3-challenges")
def test_errors_are_rfc6750_challenges(oauth, conf_client, alice, signing_key):
    r = oauth.api.get("/o/userinfo/")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in r["WWW-Authenticate"]
    r = oauth.api.get("/o/userinfo/", **bearer("garbage"))
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]
    raw, _row = user_token(conf_client, alice, scope="read")
    r = oauth.api.get("/o/userinfo/", **bearer(raw))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r["WWW-Authenticate"] and 'scope="openid"' in r["WWW-Authenticate"]


@pytest.mark.req("O21-5.1-no-query-token")
def test_token_in_query_string_is_ignored(oauth, conf_client, alice, signing_key):
    token = oauth.tokens(conf_client, scope="openid")["access_token"]
    assert oauth.api.get("/o/userinfo/", {"access_token": token}).status_code == 401


def test_client_credentials_token_has_no_user_info(oauth, signing_key):
    service = ClientFactory(grant_types="client_credentials", redirect_uris="")
    raw, _row = client_token(service, scope="openid")
    r = oauth.api.get("/o/userinfo/", **bearer(raw))
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]
    # and through the real token endpoint
    r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "openid"}, "/o/token/",
                       HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret))
    assert oauth.api.get("/o/userinfo/", **bearer(r.json()["access_token"])).status_code == 401


def test_deactivated_user_and_revoked_token(oauth, conf_client, alice, signing_key):
    body = oauth.tokens(conf_client, scope="openid")
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    post_form(oauth.api, {"token": body["access_token"]}, "/o/revoke/", HTTP_AUTHORIZATION=auth)
    assert oauth.api.get("/o/userinfo/", **bearer(body["access_token"])).status_code == 401
    body = oauth.tokens(conf_client, scope="openid")
    alice.is_active = False
    alice.save()
    assert oauth.api.get("/o/userinfo/", **bearer(body["access_token"])).status_code == 401


def test_a_jwt_access_token_without_a_live_user_gets_no_userinfo(oauth, alice, signing_key):
    """As for an opaque token: a JWT client_credentials token stands for no user, and one of
    a user deactivated since is refused (the user is read from the token's row)."""
    service = ClientFactory(grant_types="client_credentials", redirect_uris="", access_token_format="jwt")
    r = post_form(oauth.api, {"grant_type": "client_credentials", "scope": "openid"}, "/o/token/",
                  HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret))
    r = oauth.api.get("/o/userinfo/", **bearer(r.json()["access_token"]))
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]
    assert "does not represent a user" in r["WWW-Authenticate"]
    token = oauth.tokens(ClientFactory(access_token_format="jwt"), scope="openid profile")["access_token"]
    assert oauth.api.get("/o/userinfo/", **bearer(token)).status_code == 200
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    r = oauth.api.get("/o/userinfo/", **bearer(token))
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]


def test_jwt_access_token_at_userinfo(oauth, alice, signing_key):
    rp = ClientFactory(access_token_format="jwt")
    request = json.dumps({"userinfo": {"email": None}})
    body = oauth.tokens(rp, scope="openid profile", claims=request)
    info = oauth.api.get("/o/userinfo/", **bearer(body["access_token"])).json()
    assert info["sub"] == str(alice.pk) and info["given_name"] == "Alice"
    assert "email" not in info  # asked for through claims, but the email scope was not granted


# -- the token in a form-encoded POST body (RFC 6750 §2.2; issue 12, item 16) ------------------


@pytest.mark.req("OIDC-5.3-userinfo")
def test_a_token_in_a_form_encoded_post_body_is_accepted(oauth, conf_client, alice, signing_key):
    """pyoidc's default UserInfo call: POST, access_token in an urlencoded body. Accepted
    whatever BEARER_FORM_BODY says for the host's own APIs (it is off here)."""
    token = oauth.tokens(conf_client, scope="openid profile")["access_token"]
    r = post_form(oauth.api, {"access_token": token}, "/o/userinfo/")
    assert r.status_code == 200, r.content
    assert r.json()["sub"] == str(alice.pk) and r.json()["name"] == "Alice Liddell"


@pytest.mark.req("6750-3-challenges")
def test_a_bad_token_in_the_body_gets_an_invalid_token_challenge(oauth, conf_client, alice, signing_key):
    r = post_form(oauth.api, {"access_token": "not-a-live-token"}, "/o/userinfo/")
    assert r.status_code == 401 and 'error="invalid_token"' in r["WWW-Authenticate"]
    assert r.json()["error"] == "invalid_token"


def test_a_token_in_the_header_and_the_body_is_invalid_request(oauth, conf_client, alice, signing_key):
    token = oauth.tokens(conf_client, scope="openid")["access_token"]
    r = post_form(oauth.api, {"access_token": token}, "/o/userinfo/", **bearer(token))
    assert r.status_code == 400 and 'error="invalid_request"' in r["WWW-Authenticate"]


@pytest.mark.parametrize("kind", ["multipart", "json"])
def test_a_body_of_another_type_says_where_the_token_goes(oauth, conf_client, alice, signing_key, kind):
    token = oauth.tokens(conf_client, scope="openid")["access_token"]
    if kind == "multipart":
        r = oauth.api.post("/o/userinfo/", {"access_token": token})
    else:
        r = oauth.api.post("/o/userinfo/", {"access_token": token}, content_type="application/json")
    assert r.status_code == 400, r.content
    challenge = r["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_request"' in challenge
    assert "application/x-www-form-urlencoded" in r.json()["error_description"]
    assert "Authorization header" in r.json()["error_description"]


def test_a_get_never_reads_a_body_token(oauth, conf_client, alice, signing_key):
    token = oauth.tokens(conf_client, scope="openid")["access_token"]
    r = oauth.api.generic("GET", "/o/userinfo/", f"access_token={token}",
                          content_type="application/x-www-form-urlencoded")
    assert r.status_code == 401 and "error=" not in r["WWW-Authenticate"]


# -- a JWT access token at UserInfo: the authorization server reads its row anyway ----------------
def _jwt_bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.req("6749-4.1.2-revoke-on-reuse")
def test_a_revoked_jwt_access_token_gets_no_userinfo(oauth, user, signing_key):
    """UserInfo runs where the token's row is: a JWT access token revoked (RFC 7009), or whose
    family a replayed code revoked, or of a deactivated client, releases no claims there, even
    with the resource servers' denylist off."""
    from django.test import Client as HttpClient

    from tests.conftest import basic_auth
    from tests.support.factories import ClientFactory
    from tests.support.token_helpers import post_form

    rp = ClientFactory(access_token_format="jwt")
    token = oauth.tokens(rp, scope="openid profile")["access_token"]
    assert oauth.api.get("/o/userinfo/", **_jwt_bearer(token)).status_code == 200
    r = post_form(HttpClient(), {"token": token}, "/o/revoke/",
                  HTTP_AUTHORIZATION=basic_auth(rp.client_id, rp.raw_secret))
    assert r.status_code == 200
    assert oauth.api.get("/o/userinfo/", **_jwt_bearer(token)).status_code == 401

    code, verifier = oauth.get_code(rp, scope="openid profile")
    replayed = oauth.exchange(rp, code, verifier).json()["access_token"]
    assert oauth.api.get("/o/userinfo/", **_jwt_bearer(replayed)).status_code == 200
    assert oauth.exchange(rp, code, verifier).status_code == 400  # the replay revokes the family
    assert oauth.api.get("/o/userinfo/", **_jwt_bearer(replayed)).status_code == 401

    other = oauth.tokens(rp, scope="openid profile")["access_token"]
    type(rp).objects.filter(pk=rp.pk).update(is_active=False)
    assert oauth.api.get("/o/userinfo/", **_jwt_bearer(other)).status_code == 401


def test_userinfo_query_budget_for_opaque_and_jwt_access_tokens(oauth, user, signing_key, conf_client,
                                                              assert_num_queries):
    """An opaque token: its one lookup (client, user and family joined). A JWT: its row's
    lookup too (the liveness check), which also gives its user, client and claims request: 1."""
    from tests.support.factories import ClientFactory

    opaque = oauth.tokens(conf_client, scope="openid profile")["access_token"]
    with assert_num_queries(1):
        assert oauth.api.get("/o/userinfo/", **_jwt_bearer(opaque)).status_code == 200
    token = oauth.tokens(ClientFactory(access_token_format="jwt"), scope="openid profile")["access_token"]
    with assert_num_queries(1):
        assert oauth.api.get("/o/userinfo/", **_jwt_bearer(token)).status_code == 200

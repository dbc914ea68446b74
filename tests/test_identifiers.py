"""Identifiers are compared as exact strings on every database.

RFC 3986 §6.2.1 simple string comparison: a ``client_id`` that differs from a registered one
in letter case or by trailing spaces names no client. MariaDB/MySQL compare with the column's
collation (``utf8mb4_general_ci``: case-insensitive, and PAD SPACE, so ``'a' = 'a '``), so
this file proves the lookups do not inherit that on the MariaDB run of the suite.
"""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from oauth_provider.models import get_client_model, store
from tests.support.endpoints import AUTHORIZE, assert_error_page, params_for
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.token_helpers import assert_error, post_form

from .conftest import basic_auth

VARIANTS = ("swapcase", "trailing space", "trailing tab")


def variant(client_id: str, kind: str) -> str:
    if kind == "swapcase":
        return client_id.swapcase()
    return client_id + (" " if kind == "trailing space" else "\t")


@pytest.fixture
def mixed_case_client(db):
    return ClientFactory(client_id="MixedCase-Client")


@pytest.mark.req("BCP-2.1-redirect-exact-match")
@pytest.mark.parametrize("kind", VARIANTS)
def test_authorize_does_not_find_a_client_by_a_case_or_padding_variant(browser, kind):
    client = PublicClientFactory(client_id="Native-App-Id")
    response = browser.get(AUTHORIZE, params_for(client, client_id=variant(client.client_id, kind)))
    assert_error_page(response)


@pytest.mark.parametrize("kind", VARIANTS)
def test_token_endpoint_refuses_a_case_or_padding_variant_with_the_right_secret(mixed_case_client, kind):
    sent = variant(mixed_case_client.client_id, kind)
    response = post_form(
        HttpClient(), {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic_auth(sent, mixed_case_client.raw_secret),
    )
    assert_error(response, "invalid_client")


def test_the_exact_client_id_still_authenticates(mixed_case_client):
    response = post_form(
        HttpClient(), {"grant_type": "client_credentials", "scope": "read"},
        HTTP_AUTHORIZATION=basic_auth(mixed_case_client.client_id, mixed_case_client.raw_secret),
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("kind", VARIANTS)
def test_public_client_identification_is_exact(db, kind):
    client = PublicClientFactory(client_id="Public-SPA")
    sent = variant(client.client_id, kind)
    response = post_form(HttpClient(), {"grant_type": "authorization_code", "code": "x" * 43, "client_id": sent})
    assert_error(response, "invalid_client")


class _CollatingLookup:
    """The client lookup as MariaDB/MySQL's ``utf8mb4_general_ci`` answers it: letter case
    ignored, trailing spaces ignored (PAD SPACE). SQLite compares exactly, so without this the
    second, exact comparison in ``client_by_id`` is never reached on the default test run."""

    @staticmethod
    def get(value: str):
        def folded(text: str) -> str:
            return text.rstrip(" ").lower()

        return next((c for c in get_client_model().objects.all() if folded(c.client_id) == folded(value)), None)


@pytest.mark.parametrize("kind", ["swapcase", "trailing space"])
@pytest.mark.parametrize("registered", ["MixedCase-Client", "mIXEDcASE-cLIENT"])
def test_a_row_a_case_insensitive_collation_returns_still_names_no_client(db, monkeypatch, registered, kind):
    """RFC 3986 §6.2.1 on every database, not only on the MariaDB run: when the database hands
    back the row of a case or padding variant, the token endpoint still refuses the variant
    (401 invalid_client) with the right secret, whichever way the two identifiers sort."""
    client = ClientFactory(client_id=registered)
    monkeypatch.setattr(store, "_client", _CollatingLookup())
    sent = variant(registered, kind)
    assert _CollatingLookup.get(sent) == client  # the database would have matched it
    response = post_form(HttpClient(), {"grant_type": "client_credentials"},
                         HTTP_AUTHORIZATION=basic_auth(sent, client.raw_secret))
    assert_error(response, "invalid_client")
    exact = post_form(HttpClient(), {"grant_type": "client_credentials", "scope": "read"},
                      HTTP_AUTHORIZATION=basic_auth(registered, client.raw_secret))
    assert exact.status_code == 200 and exact.json()["token_type"] == "Bearer", exact.content


@pytest.mark.req("OIDC-9-iss-sub")
@pytest.mark.parametrize("kind", VARIANTS)
@pytest.mark.parametrize("where", ["iss and sub", "sub and the form's client_id"])
def test_a_client_assertion_naming_a_case_or_padding_variant_is_refused(db, kind, where):
    """``private_key_jwt`` (RFC 7523 §3) with an assertion signed by the client's own key but
    naming a variant of its client_id: no client, whatever the column's collation."""
    from tests.test_client_assertions import make_client, sign, token

    client = make_client(client_id="MixedCase-Assertion-Client")
    sent = variant(client.client_id, kind)
    if where == "iss and sub":
        response = token(sign(client, iss=sent, sub=sent))
    else:
        response = token(sign(client, sub=sent), sent)
    assert_error(response, "invalid_client")
    assert response.status_code == 401
    assert token(sign(client)).status_code == 200  # the exact one still authenticates

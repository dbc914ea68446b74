"""Client ID metadata document rules (:mod:`oauth_provider.metadata_documents`) that a hand-made
review broke without a failing test (December 2026): the adapter's refusal while a document is
cached, upper-case percent-encoded dot segments, and the model's field rules on a refetch."""

# ruff: noqa: F811  (the fixtures are imported from the module that defines them)
from __future__ import annotations

import pytest

from tests.support.endpoints import assert_error_page
from tests.support.settings import override_oauth
from tests.test_metadata_documents import ON, _clear_cache, authorize, cimd  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_adapter_refusal_takes_effect_while_the_document_is_still_cached(cimd, browser):
    """§6.8 and the adapter's docstring: the policy is asked "whenever a request names the
    client, so refusing a URL takes effect at once", not when the cached document expires (up
    to ``cache_max_seconds``, a day). Break: the fresh-cache shortcut in ``_document_client``
    without ``allowed and``."""
    cimd.serve(headers={"Cache-Control": "max-age=3600"})
    page, _ = authorize(browser, cimd.doc_url)
    assert b"wants to access your account" in page.content  # fetched, stored, fresh for an hour
    with override_oauth(**ON, ADAPTER="tests.test_metadata_documents.OnlyExampleCom"):
        page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)
    assert b"does not accept" in page.content
    assert cimd.hits("/client.json") == 1


@pytest.mark.parametrize("path", ["/a/%2E%2E/client.json", "/a/.%2E/client.json", "/%2E/client.json"])
def test_upper_case_percent_encoded_dot_segments_are_refused_too(cimd, browser, path):
    """CIMD §3: no ``.`` or ``..`` segment, however it is percent-encoded (RFC 3986 §2.1:
    ``%2E`` and ``%2e`` are the same octet; servers decode either before resolving dot
    segments). The suite tries lower case only. Break: ``_DOT_SEGMENT`` without
    ``re.IGNORECASE``."""
    cimd.serve()
    page, _ = authorize(browser, f"http://127.0.0.1:{cimd.port}{path}")
    assert_error_page(page)
    assert cimd.requests == []


@pytest.mark.parametrize("path", ["/a/..;/client.json", "/a/.;x/client.json", "/a/..%2Fclient.json",
                                  "/a/..%2fclient.json", "/a/%2e%2e%2fclient.json", "/a/..%5Cclient.json"])
def test_dot_segments_hidden_behind_a_parameter_or_an_encoded_slash_are_refused(cimd, browser, path):
    """CIMD §3 forbids dot segments because a URL that resolves to another path lets one
    client ID stand for another document: a host allow-listing ``https://tools.example/a/``
    would accept ``/a/..;/x`` (servlet containers drop ``;`` parameters before resolving dot
    segments) and ``/a/..%2Fx`` (servers that decode ``%2F`` before routing), both of which
    leave ``/a/``. Refused before anything is fetched."""
    cimd.serve()
    page, _ = authorize(browser, f"http://127.0.0.1:{cimd.port}{path}")
    assert_error_page(page)
    assert cimd.requests == []


@pytest.mark.parametrize("path", ["/a/..x/client.json", "/a/x;../client.json", "/a%2Dz/client.json"])
def test_names_that_merely_contain_dots_or_semicolons_are_client_ids(path):
    """The rule is about segments: ``..x`` or ``x;..`` are names, not dot segments."""
    from oauth_provider.metadata_documents import url_problem

    assert url_problem(f"https://tools.example{path}") is None


def test_a_refetched_document_with_a_value_the_model_refuses_is_an_error_page(cimd, browser):
    """The model's field rules hold on a refetch as on the first fetch (the suite checks the
    first only): a value valid as metadata but not for its column (a host with ``_`` in a
    URLField) is an error page and the stored row is unchanged, never a database error or an
    invalid row. Break: dropping ``_check_fields(stored)`` in ``_store``'s update path."""
    from django.core.cache import caches

    from oauth_provider.models import get_client_model

    cimd.serve()
    assert authorize(browser, cimd.doc_url)[0].status_code == 200
    caches["default"].clear()
    cimd.serve(backchannel_logout_uri="https://logout_host.example/bc")
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)
    assert b"backchannel_logout_uri" in page.content
    assert get_client_model()._default_manager.get(client_id=cimd.doc_url).backchannel_logout_uri == ""

"""The header audit (tests/support/header_audit.py) notices a missing header, and leaves the host's
views alone: without this, a silent audit would look the same as a passing one."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import resolve

from tests.support.header_audit import AUDIT, HeaderAuditMiddleware

PAGE = b"<!doctype html><p>a page</p>"


def audited(rf, path: str, response: HttpResponse, method: str = "get") -> list[str]:
    """What the audit reports for ``response`` to ``path``; then the audit forgets it (planted
    on purpose: neither this test's failure nor a response the suite saw)."""
    request = getattr(rf, method)(path)
    request.resolver_match = resolve(path.partition("?")[0])
    with AUDIT.lock:
        saved = (AUDIT.html, AUDIT.token_bearing, AUDIT.bad_html, AUDIT.bad_token_bearing, len(AUDIT.violations))
    HeaderAuditMiddleware(lambda r: response)(request)
    with AUDIT.lock:
        new = AUDIT.violations[saved[-1]:]
        del AUDIT.violations[saved[-1]:]
        AUDIT.html, AUDIT.token_bearing, AUDIT.bad_html, AUDIT.bad_token_bearing = saved[:4]
    return new


def test_a_page_of_ours_without_headers_is_reported(rf):
    problems = audited(rf, "/o/authorize/", HttpResponse(PAGE))
    assert [p.split(": ", 1)[1].split(" ")[0] for p in problems] == [
        "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Cache-Control"]


def test_a_token_response_without_no_store_is_reported(rf):
    response = HttpResponse(b'{"access_token":"x"}', content_type="application/json")
    assert [p[:3] for p in audited(rf, "/o/token/", response, "post")] == ["F18"]


def test_the_hosts_views_and_bodyless_answers_are_not_pages_of_ours(rf):
    assert audited(rf, "/accounts/login/", HttpResponse(PAGE)) == []
    assert audited(rf, "/admin/login/", HttpResponse(PAGE)) == []
    assert audited(rf, "/o/revoke/", HttpResponse(status=204), "options") == []

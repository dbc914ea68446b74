"""Audit of the security headers on every response the suite sees (figures F17, F18).

A test-only middleware (first in ``tests/settings.py``'s MIDDLEWARE, so it sees the final
response, whichever test client, live server or thread produced it) inspects every response
of a view that lives in the ``oauth_provider`` package. The host's own views (the admin, the
login page, the API in tests/support/resource_views.py, the docs examples) are not ours and are not
audited.

* F17, every HTML page (RFC 9700 §4.16 and §4.2.4, RFC 6749 §5.1): ``X-Frame-Options: DENY``,
  a CSP with ``frame-ancestors 'none'``, ``Referrer-Policy: no-referrer``, and ``Cache-Control: no-store``.
* F18, every response of the token, introspection, UserInfo and revocation endpoints,
  success or error, CORS preflights aside (OAuth 2.1 §3.2.3, RFC 7662 §2.2, OIDC Core
  §5.3.2): ``Cache-Control: no-store``.

Violations are collected, not raised (an exception in a live server's thread would only be a
500 the test may not look at); the autouse fixture in conftest fails the test that produced
one and reports the counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse

#: URL names whose every response carries tokens or credentials, or may
TOKEN_BEARING = frozenset({"token", "introspect", "userinfo", "revoke", "device_authorization", "par"})
REFERRER_POLICIES = frozenset({"no-referrer"})


@dataclass
class Audit:
    html: int = 0
    token_bearing: int = 0
    #: responses that failed the F17 / F18 check (one response may fail several headers)
    bad_html: int = 0
    bad_token_bearing: int = 0
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[int, int, int, int, int]:
        with self.lock:
            return self.html, self.token_bearing, self.bad_html, self.bad_token_bearing, len(self.violations)


AUDIT = Audit()


def is_ours(request: HttpRequest) -> str | None:
    """The URL name of the oauth_provider view that answered, or None for anything else
    (the host's views, and the admin: the host's UI even for our models)."""
    match = getattr(request, "resolver_match", None)
    if match is None or "admin" in match.namespaces:
        return None
    view = getattr(match.func, "view_class", match.func)
    module = getattr(view, "__module__", "") or ""
    if module == "oauth_provider" or module.startswith("oauth_provider."):
        return match.url_name or view.__name__
    return None


def is_page(response: HttpResponse) -> bool:
    """An HTML document a browser renders. Not: a redirect or a bodyless answer (204, the empty
    200 of revocation, Django's 405), whatever Content-Type Django defaulted it to; nor a 404,
    which Django renders with the host's ``handler404`` when one of our views raises Http404."""
    if not response.get("Content-Type", "").startswith("text/html"):
        return False
    if response.status_code == 404 or 300 <= response.status_code < 400:
        return False
    return bool(getattr(response, "streaming", False) or response.content)


def page_problems(response: HttpResponse) -> list[str]:
    problems = []
    if response.get("X-Frame-Options") != "DENY":
        problems.append(f"X-Frame-Options {response.get('X-Frame-Options')!r}")
    csp = response.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" not in csp:
        problems.append(f"Content-Security-Policy {csp!r}")
    if response.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {response.get('Referrer-Policy')!r}")
    if "no-store" not in response.get("Cache-Control", ""):
        problems.append(f"Cache-Control {response.get('Cache-Control')!r}")
    return problems


class HeaderAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        name = is_ours(request)
        if name is None:
            return response
        where = f"{request.method} {request.path} ({name}) -> {response.status_code}"
        with AUDIT.lock:
            if is_page(response):
                AUDIT.html += 1
                problems = page_problems(response)
                AUDIT.bad_html += bool(problems)
                AUDIT.violations += [f"F17 {where}: {p}" for p in problems]
            # A CORS preflight carries no token and is not cacheable (RFC 9110 §9.3.7).
            if name in TOKEN_BEARING and request.method != "OPTIONS":
                AUDIT.token_bearing += 1
                if "no-store" not in response.get("Cache-Control", ""):
                    AUDIT.bad_token_bearing += 1
                    AUDIT.violations.append(f"F18 {where}: Cache-Control {response.get('Cache-Control')!r}")
        return response

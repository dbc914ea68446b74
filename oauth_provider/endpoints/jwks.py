"""The JWK Set of our public signing keys (RFC 7517 §5, OIDC Core §10.1).

Public members only (OIDC Discovery §3: no ``d``, ``p``, ``q``, ...), including keys about to
sign and retired keys whose tokens may still be alive. Cacheable and open to browsers.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from .. import keys
from ..conf import provider_settings
from ..responses import allow_cors

PUBLIC_MEMBERS = frozenset({"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"})


class JWKSView(View):
    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        document = keys.jwks()
        document["keys"] = [{k: v for k, v in jwk.items() if k in PUBLIC_MEMBERS} for jwk in document["keys"]]
        response = JsonResponse(document)
        # a key set is kept no longer than a new key is published before it signs; an empty
        # one not at all: the first key signs at once (``rotatekeys --now``)
        max_age = min(3600, provider_settings.SIGNING_KEY_PREPUBLICATION or 0) if document["keys"] else 0
        response["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
        return allow_cors(response)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204))

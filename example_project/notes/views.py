"""A plain Django view guarded by ``protected_resource``: no DRF needed.

It answers for user tokens and for service tokens (client_credentials) alike, and says
which it got: ``request.resource_owner`` is the user, or None when the client acts for
itself.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from oauth_provider.decorators import protected_resource

from .models import Note


@protected_resource(scopes=["read"])
def stats(request: HttpRequest) -> JsonResponse:
    """``GET /api/stats/`` (scope ``read``): how many notes the caller may know about.

    A user's token counts that user's notes; a service token (no user) counts all of them,
    the aggregate a reporting job is trusted with, never their text."""
    token = request.oauth_token  # type: ignore[attr-defined]
    owner = request.resource_owner  # type: ignore[attr-defined]
    notes = Note.objects.filter(owner=owner) if owner is not None else Note.objects.all()
    return JsonResponse({
        "client": token.client.name,
        "user": owner.get_username() if owner is not None else None,
        "scope": " ".join(sorted(token.scopes)),
        "notes": notes.count(),
    })

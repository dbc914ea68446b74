"""Django REST framework integration: bearer-token authentication and scope permissions.

::

    from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope

    class NotesView(APIView):
        authentication_classes = [OAuth2Authentication]
        permission_classes = [TokenHasScope]
        required_scopes = ["read"]

See docs/resource-server.md for the answers each class gives.
"""

from __future__ import annotations

from .authentication import InvalidBearerRequest, OAuth2Authentication
from .permissions import (
    IsAuthenticatedOrTokenHasScope,
    TokenHasReadWriteScope,
    TokenHasResourceScope,
    TokenHasScope,
)

__all__ = [
    "InvalidBearerRequest",
    "IsAuthenticatedOrTokenHasScope",
    "OAuth2Authentication",
    "TokenHasReadWriteScope",
    "TokenHasResourceScope",
    "TokenHasScope",
]

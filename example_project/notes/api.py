"""The notes API, written with Django REST framework and the provider's DRF classes.

``OAuth2Authentication`` turns the bearer token into ``request.user`` (the user who approved
the client) and ``request.auth`` (the token). ``TokenHasReadWriteScope`` asks for the
``read`` scope on GET and ``write`` on POST, and answers 403 with an RFC 6750
``insufficient_scope`` challenge otherwise. ``IsAuthenticated`` keeps out tokens that act
for no user (client_credentials): notes are personal.
"""

from __future__ import annotations

from typing import Any

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasReadWriteScope
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated

from .models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "text", "created_at"]
        read_only_fields = ["id", "created_at"]


class NoteList(generics.ListCreateAPIView):
    """``GET /api/notes/`` (scope ``read``): the token's user's notes, newest first.
    ``POST /api/notes/`` with ``{"text": ...}`` (scope ``write``): add one."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasReadWriteScope & IsAuthenticated]
    serializer_class = NoteSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return Note.objects.filter(owner=self.request.user)

    def perform_create(self, serializer: Any) -> None:
        serializer.save(owner=self.request.user)

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasReadWriteScope

NOTES: dict[str, list[str]] = {}  # stands in for your models


class NoteList(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasReadWriteScope]  # GET needs "read", POST needs "write"

    def get(self, request):
        owner = request.user.get_username()  # "" for a client acting for itself
        return Response({
            "owner": owner,
            "client": request.auth.client.client_id,
            "scope": request.auth.scope,
            "notes": NOTES.get(owner, []),
        })

    def post(self, request):
        owner = request.user.get_username()
        NOTES.setdefault(owner, []).append(str(request.data.get("text", "")))
        return Response({"notes": NOTES[owner]}, status=status.HTTP_201_CREATED)

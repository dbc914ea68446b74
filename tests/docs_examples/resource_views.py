from django.http import JsonResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth_provider.decorators import protected_resource

MCP = "https://example.com/mcp"
REPORTS = "https://reports.example.com/"


@protected_resource(scopes=["mcp:tools"], resource=MCP)
async def mcp(request):
    # an async view: the token is checked without blocking the event loop
    return JsonResponse({"tools": ["search_notes"], "scope": request.oauth_token.scope})


class ReportList(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["reports:read"]
    oauth_resource = REPORTS  # tokens for any other resource get 401 invalid_token

    def get(self, request):
        return Response({"reports": [], "audience": list(request.auth.audience)})

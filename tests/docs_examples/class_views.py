from django.http import JsonResponse
from django.views import View

from oauth_provider.decorators import ProtectedResourceMixin


class NoteView(ProtectedResourceMixin, View):
    def get_required_scopes(self, request):
        return ["read"] if request.method == "GET" else ["write"]

    def get(self, request):
        return JsonResponse({"scope": request.oauth_token.scope})

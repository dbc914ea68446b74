from django.http import JsonResponse

from oauth_provider.decorators import protected_resource


@protected_resource(scopes=["read"])
def notes(request):
    owner = request.resource_owner
    return JsonResponse({"owner": owner.get_username() if owner else None,
                         "client": request.oauth_token.client.client_id})

"""The test site plus an async login view (``alogin``), as an ASGI site may have one."""

from django.contrib.auth import aauthenticate, alogin
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests.urls import urlpatterns as site


@csrf_exempt
async def async_login(request):
    user = await aauthenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponseBadRequest("bad credentials")
    await alogin(request, user)
    return HttpResponse("logged in")


urlpatterns = [path("alogin/", async_login), *site]

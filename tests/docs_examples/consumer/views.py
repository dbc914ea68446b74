from urllib.parse import urlencode

from authlib.integrations.django_client import OAuth
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

oauth = OAuth()
oauth.register("example")  # configured by settings.AUTHLIB_OAUTH_CLIENTS["example"]


def home(request):
    user = request.session.get("user")
    if user is None:
        return HttpResponse(format_html('<a href="{}">Log in with Example</a>', reverse("consumer:login")))
    claims = format_html_join("", "<li>{}: {}</li>", sorted(user.items()))
    return HttpResponse(format_html(
        '<p>Hello {}</p><ul>{}</ul><a href="{}">Profile</a> <a href="{}">Log out</a>',
        user.get("name") or user["sub"], claims, reverse("consumer:profile"), reverse("consumer:logout"),
    ))


def login(request):
    redirect_uri = request.build_absolute_uri(reverse("consumer:callback"))
    return oauth.example.authorize_redirect(request, redirect_uri)


def callback(request):
    # Checks state, sends the PKCE verifier, verifies the ID token's signature, iss, aud and nonce.
    token = oauth.example.authorize_access_token(request)
    request.session["user"] = dict(token["userinfo"])  # the ID token's claims
    request.session["token"] = {k: v for k, v in token.items() if k != "userinfo"}
    return redirect("consumer:home")


def profile(request):
    token = request.session.get("token")
    if token is None:
        return redirect("consumer:login")
    claims = oauth.example.userinfo(token=token)  # GET userinfo_endpoint with the access token
    return HttpResponse(format_html_join("", "<p>{}: {}</p>", sorted(claims.items())))


def logout(request):
    id_token = (request.session.get("token") or {}).get("id_token")
    request.session.flush()
    end_session = oauth.example.load_server_metadata()["end_session_endpoint"]
    return redirect(end_session + "?" + urlencode({"id_token_hint": id_token} if id_token else {}))

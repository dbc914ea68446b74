from django.urls import include, path

from .floor.views import floor_insert, floor_select_insert
from .views import Hello, HelloOneQuery, HelloOpen, Scope, hello_plain, hello_plain_open

urlpatterns = [
    path("o/", include("oauth_provider.urls")),
    path("api/hello", Hello.as_view()),
    path("api/hello-open", HelloOpen.as_view()),
    path("api/hello-one-query", HelloOneQuery.as_view()),
    path("api/scope", Scope.as_view()),
    path("api/plain", hello_plain),
    path("api/plain-open", hello_plain_open),
    path("floor/insert", floor_insert),
    path("floor/select-insert", floor_select_insert),
]

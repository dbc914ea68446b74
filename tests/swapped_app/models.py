"""A host's own client model, swapped in with ``OAUTH_PROVIDER_CLIENT_MODEL``."""

from django.db import models

from oauth_provider.models import AbstractClient


class Application(AbstractClient):
    tenant = models.CharField(max_length=50, blank=True)

    class Meta(AbstractClient.Meta):
        swappable = "OAUTH_PROVIDER_CLIENT_MODEL"

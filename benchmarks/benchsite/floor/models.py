"""A client row and an access-token-shaped row (token, unique SHA-256 checksum, expiry,
scope, client and user keys, timestamps): one INSERT here is comparable to the INSERT a
provider must do to issue a token."""

from django.conf import settings
from django.db import models


class FloorClient(models.Model):
    client_id = models.CharField(max_length=100, unique=True)
    client_secret = models.CharField(max_length=255)  # plaintext on purpose: no hashing in the floor

    def __str__(self) -> str:
        return self.client_id


class FloorToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True)
    client = models.ForeignKey(FloorClient, on_delete=models.CASCADE, null=True, blank=True)
    token = models.TextField()
    token_checksum = models.CharField(max_length=64, unique=True)
    expires = models.DateTimeField()
    scope = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.token_checksum[:8]

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FewerRoundsPBKDF2(PBKDF2PasswordHasher):
    """Django's PBKDF2 (``pbkdf2_sha256$ROUNDS$salt$hash``, the rounds written in each hash, so the
    stock hasher verifies these too), with fewer rounds to keep the DOT fixtures quick."""

    iterations = 1000

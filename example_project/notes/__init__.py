"""The example site's resource server: a small notes API guarded by the provider's tokens."""

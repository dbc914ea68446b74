"""OpenID Connect: scope-to-claims mapping and ID tokens (OpenID Connect Core 1.0)."""

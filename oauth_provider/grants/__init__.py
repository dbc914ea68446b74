"""Grant types, one module each; the registry is built from ``OAUTH_PROVIDER["GRANT_TYPES"]``
(see :func:`oauth_provider.registry.grant_types`)."""

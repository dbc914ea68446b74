"""oauth_provider: an embeddable OAuth 2.1 / OpenID Connect provider for Django."""

__version__ = "0.1.0"

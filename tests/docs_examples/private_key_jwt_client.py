from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign


class IssuerAudiencePrivateKeyJWT(PrivateKeyJWT):
    """Authlib's private_key_jwt, signing what the provider accepts by default: give the
    issuer as ``token_endpoint`` (it becomes ``aud``), and assertions live 5 minutes, not
    Authlib's default hour. Any key type Authlib reads (RSA, EC, Ed25519 PEM or JWK)."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
            alg=self.alg, claims=None, header=dict(self.headers or {}), expires_in=300,
        )

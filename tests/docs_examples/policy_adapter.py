from oauth_provider.adapter import DefaultAdapter


class PolicyAdapter(DefaultAdapter):
    def should_skip_consent(self, request, client, user, scopes):
        # Clients that our staff registered are ours: never ask.
        return client.skip_consent or (client.owner is not None and client.owner.is_staff)

    def is_user_allowed(self, request, client, user):
        # Clients named "Beta ..." are for the beta group only.
        if client.name.startswith("Beta "):
            return user.is_active and user.groups.filter(name="beta").exists()
        return super().is_user_allowed(request, client, user)

    def authentication_context(self, request, user):
        # How the user logged in, for the ID token's amr claim (RFC 8176 values).
        return {"amr": ["pwd", "otp"] if request.session.get("otp_verified") else ["pwd"]}

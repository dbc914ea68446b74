from oauth_provider.adapter import DefaultAdapter


class GroupsAdapter(DefaultAdapter):
    def scope_claims(self):
        # your own scope, releasing your own claim (list "groups" in SCOPES too)
        return {**super().scope_claims(), "groups": ("groups",)}

    def user_claims(self, user, *, client=None):
        claims = super().user_claims(user, client=client)
        claims["groups"] = sorted(user.groups.values_list("name", flat=True))
        return claims

"""Moving a site's clients, tokens and keys over from another provider.

:mod:`.dot` reads django-oauth-toolkit's own tables (the ``oauth2_provider`` app installed
beside this one) and carries over what keeps working here; :mod:`.report` is what every import
returns: counts per kind and one line per thing refused or left behind, with the reason.
``manage.py import_dot`` is the surface.
"""

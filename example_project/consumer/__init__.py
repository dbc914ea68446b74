"""The consumer site: a separate Django project (its own settings, database and session
cookie) that lets people log in with the example provider and reads their notes through
the provider's API. It does not import oauth_provider: it only speaks HTTP, through Authlib.

Run it from example_project/ with ``python manage.py runserver 127.0.0.1:8001 --settings
consumer.settings`` (``python3 dev.py serve`` does).
"""

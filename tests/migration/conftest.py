"""The migration tests need django-oauth-toolkit installed beside us (``--ds tests.dot_settings``):
under any other settings they are skipped, saying how to run them."""

import pytest
from django.apps import apps


def pytest_collection_modifyitems(config, items):
    if apps.is_installed("oauth2_provider"):
        return
    skip = pytest.mark.skip(
        reason="needs django-oauth-toolkit installed: pytest --ds tests.dot_settings tests/migration"
    )
    for item in items:
        if "tests/migration/" in str(item.fspath):
            item.add_marker(skip)
